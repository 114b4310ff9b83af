//! The Stripe adapter beyond the shared contract: verification with secrets of our own
//! (rotation, several `v1` values, the clock moving), every event type against reviewed insta
//! snapshots, every REST call against a loopback wiremock server, the retry policy, secrets
//! kept out of output, and property tests that nothing panics.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

mod api;
mod common;
mod customer;
mod events;
mod props;
mod retry;
mod secrets;
mod signature;
