//! The outside world, faked where the crates meet it (their traits, or SMTP on loopback).

pub mod retrier;
pub mod smtp;
pub mod twilio;
