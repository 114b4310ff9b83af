//! Notifications end to end: outbox, handler, SMTP client and a loopback SMTP sink, against
//! real PostgreSQL. One test binary, so the fixture compiles once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

mod common;
mod handler;
mod smtp;
