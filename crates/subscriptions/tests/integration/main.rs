//! The subscriptions crate against real PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

mod binding;
mod common;
mod ordering;
mod persistence;
mod precision;
