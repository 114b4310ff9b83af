//! Probes for orchestrators, and the metrics for Prometheus.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
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

/// The Prometheus text exposition format's media type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's metrics in the Prometheus text format, for scrapers.
///
/// Unauthenticated, like the probes: a scraper should not hold the admin credential. Metrics
/// carry no organization ids, amounts or secrets in their names or labels; keep the endpoint on
/// the internal network as for `/readyz`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Metrics, Prometheus text format 0.0.4.",
        body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
    );
    response
}
