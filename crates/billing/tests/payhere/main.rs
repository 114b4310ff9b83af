//! The PayHere adapter's own suite (the shared cases run in `tests/contract`): the published
//! vectors, notifications signed with our own secret, every notification type as snapshots,
//! the Subscription Manager API against wiremock, checkout forms, secrets, properties.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap: a broken fixture should fail loudly"
)]

mod api;
mod checkout;
mod create;
mod events;
mod props;
mod secrets;
mod support;
mod top_up;
mod vectors;
mod verify;
