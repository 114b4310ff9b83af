//! The customer actions over HTTP, against a real database and wiremock providers on loopback:
//! starting a subscription, canceling, pausing and resuming it, the payment-method link and
//! wallet top-ups, each idempotent; every provider request asserted exactly (idempotency keys,
//! amounts, return URLs); nothing written when a provider fails; the `billing.provider` outbox
//! handler telling the provider exactly once; a top-up credited only by its signed completion
//! webhook. One test binary, so the shared helpers compile once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[path = "../common/mod.rs"]
#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;
mod support;

mod changes;
mod link;
mod start;
mod top_ups;
