//! Whole timelines with a manual clock: status, effects, notifications, wallet and logs at each
//! step, on real PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

mod clock;
mod common;
mod scenarios;
mod stripe;
