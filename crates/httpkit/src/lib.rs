//! HTTP plumbing shared by the api and the webhook receiver.
//!
//! - [`problem`]: the one error type at the edge, rendered as RFC 9457 `application/problem+json`
//!   with a stable machine-readable `code`.
//! - [`json`]: extractors (`ApiJson`, `ApiPath`, `ApiQuery`, `ApiBytes`) whose rejections are
//!   problems rather than axum's plain-text bodies.
//! - [`auth`]: bearer-token principals, the admin credential and the `Authenticated` /
//!   `AdminOnly` extractors.
//! - [`idempotency`]: the `Idempotency-Key` header.
//! - [`telemetry`]: log subscriber set-up and one log line per request.
//! - [`limits`]: the header and query limits every listener enforces (431, 414), and hyper's
//!   hard bound on a request head.
//! - [`server`]: fallbacks, body limit, graceful shutdown and serving.
//! - [`probes`]: `/healthz`, `/readyz`, `/metrics` answers and the process's Prometheus recorder.
//!
//! Plumbing only: no product rule lives here (the entitlement gate is the app's). Domain crates
//! know nothing of this one; the app maps their errors into [`ApiError`].

pub mod auth;
pub mod idempotency;
pub mod json;
pub mod limits;
pub mod probes;
pub mod problem;
pub mod server;
pub mod telemetry;

pub use auth::{
    AdminOnly, AdminToken, Auth, AuthError, Authenticated, Authenticator, NoKeys, OrganizationOnly,
    Principal, WeakAdminToken,
};
pub use idempotency::IdempotencyKey;
pub use json::{ApiBytes, ApiJson, ApiPath, ApiQuery};
pub use problem::{ApiError, PROBLEM_CONTENT_TYPE, ProblemBody};
