//! Probes for orchestrators, and the metrics for Prometheus.

use axum::{extract::State, response::Response};
use httpkit::{
    ApiError, ApiJson, ProblemBody,
    probes::{self, HealthResponse},
};

use crate::AppState;

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
    probes::healthy()
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
    probes::ready(&state.pool, &state.readiness).await
}

/// The process's metrics in the Prometheus text format, for scrapers.
///
/// Unauthenticated, like the probes: a scraper should not hold the admin credential. Metrics
/// carry no organization ids, amounts or secrets in their names or labels; keep the endpoint on
/// the internal network as for `/readyz`. The `billing_health_*` gauges are the health report
/// (`/v1/admin/health`), recomputed by a scrape at most every 10 s; when the database does not
/// answer they keep their last values and the rest is served.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Metrics, Prometheus text format 0.0.4.",
        body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // A scrape must not fail because the database is down: the other metrics matter most then.
    let refreshed = match state.pool.get().await {
        Ok(mut conn) => state
            .health
            .refresh_gauges(&mut conn)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = refreshed {
        tracing::warn!(%error, "health gauges not refreshed");
    }
    probes::metrics(&state.metrics)
}
