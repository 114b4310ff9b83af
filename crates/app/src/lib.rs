//! The public HTTP API as a library: routes, wire types, OpenAPI, the error mapping and the
//! entitlement gate. The `api` binary only reads configuration and calls [`Application::build`];
//! tests and other programs build it the same way.
//!
//! Adding an endpoint: write the handler in a module under `routes/` with a `#[utoipa::path]`
//! annotation, its request/response bodies in [`wire`] with `ToSchema`, and register it with one
//! `routes!(...)` line in `routes::documented_routes`; it is then served and documented, and the
//! OpenAPI snapshot test shows the change. Declare only the handler's own error responses: the
//! shared classes (401, 404, 413, 415, 422, 429, 500, 503) and the 403 types come from
//! `routes::responses`, and a domain error's status from its class (`primitives::Classified`).

pub mod access;
pub mod admin_token;
pub mod auth;
pub mod config;
pub mod console;
pub mod entitlement;
pub mod error;
pub mod health_report;
pub mod rate_limit;
pub(crate) mod routes;
pub mod startup;
pub mod state;
pub mod wire;

pub use config::Config;
pub use error::AppError;
pub use routes::{DevWebhooks, openapi, router};
pub use startup::{Application, StartupError};
pub use state::AppState;
