//! The public HTTP API, as a library so tests (and other programs) can build and run it; the
//! binary in `main.rs` only reads configuration and calls [`Application::build`].
//!
//! Adding an endpoint: write the handler in a module under `routes/` with a `#[utoipa::path]`
//! annotation, its request/response bodies in [`wire`] with `ToSchema`, and register it with one
//! `routes!(...)` line in `routes::documented_routes`; it is then served and documented, and the
//! OpenAPI snapshot test shows the change.

pub mod access;
pub mod admin_token;
pub mod auth;
pub mod background;
mod campaigns_config;
pub mod config;
pub mod error;
pub mod jobs;
mod routes;
pub mod startup;
pub mod state;
pub mod sweeper;
pub mod twilio_client;
pub mod wire;

pub use config::Config;
pub use error::AppError;
pub use routes::{openapi, router};
pub use startup::{Application, StartupError};
pub use state::AppState;
