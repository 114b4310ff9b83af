//! HTTP plumbing shared by the api and the webhook receiver.
//!
//! - [`problem`]: the one error type at the edge, rendered as RFC 9457 `application/problem+json`
//!   with a stable machine-readable `code`.
//! - [`json`]: extractors (`ApiJson`, `ApiPath`, `ApiQuery`, `ApiBytes`) whose rejections are
//!   problems rather than axum's plain-text bodies.
//! - [`auth`]: bearer-token principals, the admin credential and the `Authenticated` /
//!   `AdminOnly` extractors.
//! - [`entitlement`]: feature gates (`RequireFeature<F>`, 402 `FEATURE_NOT_ALLOWED`) over an
//!   [`EntitlementCheck`] the binary implements.
//! - [`idempotency`]: the `Idempotency-Key` header.
//! - [`telemetry`]: log subscriber set-up and one log line per request.
//! - [`server`]: fallbacks, body limit, graceful shutdown and serving.
//! - [`probes`]: `/healthz`, `/readyz`, `/metrics` answers and the process's Prometheus recorder.
//!
//! Domain crates know nothing of this one; binaries map their domain errors into [`ApiError`].
//! This crate knows the shape of an entitlement decision (`subscriptions::AccessDecision`) but
//! runs no query: the binary answers [`EntitlementCheck`].

pub mod auth;
pub mod entitlement;
pub mod idempotency;
pub mod json;
pub mod probes;
pub mod problem;
pub mod server;
pub mod telemetry;

pub use auth::{
    AdminOnly, AdminToken, Auth, AuthError, Authenticated, Authenticator, NoKeys, OrganizationOnly,
    Principal, WeakAdminToken,
};
pub use entitlement::{
    DenialReasonBody, EntitlementCheck, FeatureMarker, RequireFeature, feature_not_allowed,
    features, require_feature,
};
pub use idempotency::IdempotencyKey;
pub use json::{ApiBytes, ApiJson, ApiPath, ApiQuery};
pub use problem::{ApiError, PROBLEM_CONTENT_TYPE, ProblemBody};
