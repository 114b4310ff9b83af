//! The wallet endpoints over HTTP, against a real database: money movements, idempotency,
//! holds, freezes, access control, input validation, history, reconciliation and the hold
//! sweeper. Every refused request is checked to have changed nothing (`TestApp::refused`).
//! One test binary, so the shared helpers compile once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[path = "../common/mod.rs"]
#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

mod access;
mod freeze;
mod history;
mod holds;
mod idempotency;
mod money;
mod reconciliation;
mod self_check;
mod sweeper;
mod validation;
