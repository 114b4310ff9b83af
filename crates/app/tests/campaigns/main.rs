//! Brands and campaigns over HTTP, against a real database and a fake Twilio on loopback
//! (wiremock, with assertions on the exact requests): the whole flow from a funded wallet to
//! sent messages and settled money, refusals with every reason, access across organizations,
//! campaign holds the hold routes refuse, the life of a campaign, unconfirmed recipients, the
//! background jobs, and bad input on every route. One test binary, so the shared helpers
//! compile once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[path = "../common/mod.rs"]
#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;
mod support;

mod access;
mod eligibility;
mod flow;
mod holds;
mod jobs;
mod lifecycle;
mod resolve;
mod validation;
