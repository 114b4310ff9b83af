//! Subscriptions, entitlements and access blocks over HTTP, against a real database: the
//! organization's own view, the admin's view and operations, manual payments through the
//! enforcer, and feature gates over the app's own entitlement check. Every refused request is
//! checked to have changed nothing (`TestApp::refused_billing`). One test binary, so the shared
//! helpers compile once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[path = "../common/mod.rs"]
#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;
mod support;

mod admin;
mod blocks;
mod entitlements;
mod jobs;
mod manual_payment;
mod subscription;
