//! The intake against PostgreSQL: deliveries in, their effects on subscriptions, wallets and
//! disputes, exactly once, in any order, with retries that really retry.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

mod capture;
mod flows;
mod idempotency;
mod matching;
mod money;
mod ordering;
mod retries;
mod support;
mod sync;
mod top_ups;
