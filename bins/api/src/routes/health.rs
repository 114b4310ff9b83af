//! Probes for orchestrators.

use axum::extract::State;
use http::StatusCode;
use httpkit::{ApiError, ApiJson, ProblemBody};

use crate::{AppState, readiness::NotReady, wire::HealthResponse};

/// The process is up and serving HTTP.
///
/// Touches nothing else, so a database outage does not get healthy instances restarted.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up.", body = HealthResponse))
)]
pub async fn healthz() -> ApiJson<HealthResponse> {
    ApiJson(HealthResponse {
        status: "ok".to_owned(),
    })
}

/// The instance can serve requests: the database answers and its schema is current.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready for traffic.", body = HealthResponse),
        (status = 503, description = "Not ready: database unreachable (`SERVICE_UNAVAILABLE`) \
            or migrations pending (`MIGRATIONS_PENDING`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<ApiJson<HealthResponse>, ApiError> {
    let mut conn = state
        .pool
        .get()
        .await
        .map_err(|error| ApiError::unavailable_from(&error))?;
    match state.readiness.check(&mut conn).await {
        Ok(()) => Ok(ApiJson(HealthResponse {
            status: "ready".to_owned(),
        })),
        Err(NotReady::MigrationsPending(pending)) => {
            tracing::warn!(?pending, "not ready: migrations pending");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "MIGRATIONS_PENDING",
                "Not ready",
            )
            .with_detail("database migrations are pending; run the migrator"))
        }
        Err(error) => Err(ApiError::unavailable_from(&error)),
    }
}
