//! The outbox against real PostgreSQL: transactions, dedupe, claims, leases, backoff, dead
//! letters, operator tools and real races. One test binary, so the fixture compiles once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

mod admin;
mod claim;
mod common;
mod concurrency;
mod deliver;
mod enqueue;
mod retry;
