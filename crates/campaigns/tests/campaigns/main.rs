//! Campaigns on real PostgreSQL: lifecycle and holds, the dispatcher's guarantees (each
//! recipient at most once, nothing unpaid, pauses within one batch, crashes never resend),
//! enforcement's pause and resume through the outbox, the real Twilio client against
//! wiremock, delivery reports and the lookup of unconfirmed recipients, and a model-based
//! property test of the money.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

mod charges;
mod common;
mod control;
mod crash;
mod delivery;
mod dispatch;
mod lifecycle;
mod lookup;
mod model;
mod twilio_http;
