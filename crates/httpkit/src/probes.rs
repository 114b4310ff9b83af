//! What every service answers to orchestrators and scrapers: `/healthz`, `/readyz` and
//! `/metrics`. Each service mounts its own routes (the api documents them in its OpenAPI) and
//! answers through these functions, so the three probes mean the same everywhere.
//!
//! `metrics` has one global recorder per process, and tests build many applications in one
//! process, so it is installed once and every application shares its handle. No listener of the
//! exporter's own: each service serves the text itself, behind the same middleware as every
//! route.

use std::{sync::OnceLock, time::Duration};

use axum::response::{IntoResponse, Response};
use db::{
    DbPool,
    readiness::{NotReady, Readiness},
};
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, ApiJson};

/// The Prometheus text exposition format's media type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /healthz` and `GET /readyz` when all is well.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: String,
}

/// The process is up and serving HTTP. Touches nothing else, so a database outage does not get
/// healthy instances restarted.
pub fn healthy() -> ApiJson<HealthResponse> {
    ApiJson(HealthResponse {
        status: "ok".to_owned(),
    })
}

/// The instance can serve requests: the database answers and (where `readiness` checks them)
/// its migrations are applied. 503 `SERVICE_UNAVAILABLE` or `MIGRATIONS_PENDING` otherwise.
pub async fn ready(
    pool: &DbPool,
    readiness: &Readiness,
) -> Result<ApiJson<HealthResponse>, ApiError> {
    let mut conn = pool
        .get()
        .await
        .map_err(|error| ApiError::unavailable_from(&error))?;
    match readiness.check(&mut conn).await {
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

/// The process's metrics in the Prometheus text format. Metrics carry no organization ids,
/// amounts or secrets in their names or labels.
pub fn metrics(handle: &PrometheusHandle) -> Response {
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
    );
    response
}

/// How often histograms are drained and idle series trimmed, as the exporter requires of
/// whoever installs it without its listener.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Another recorder was installed first (by a program embedding a service, say).
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not install the Prometheus metrics recorder: {0}")]
pub struct RecorderError(String);

static RECORDER: OnceLock<Result<PrometheusHandle, RecorderError>> = OnceLock::new();

/// The handle of the process's recorder, installing it on first use.
pub fn recorder() -> Result<PrometheusHandle, RecorderError> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(|error| RecorderError(error.to_string()))
        })
        .clone()
}

/// Runs the recorder's upkeep until the returned task is aborted.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_and_shares_the_handle() {
        let first = recorder().unwrap();
        let second = recorder().unwrap();
        metrics::counter!("prometheus_module_test_total").increment(2);
        let rendered = second.render();
        assert!(
            rendered.contains("prometheus_module_test_total 2"),
            "{rendered}"
        );
        assert_eq!(first.render(), second.render());
    }
}

/// What the probe routes read.
#[derive(Clone)]
struct ProbeState {
    pool: db::DbPool,
    readiness: std::sync::Arc<db::readiness::Readiness>,
    metrics: PrometheusHandle,
}

/// `GET /healthz`, `/readyz` and `/metrics`, for a service whose only HTTP is its probes (the
/// worker) or that serves them beside its own routes (the receiver).
pub fn router(
    pool: db::DbPool,
    readiness: std::sync::Arc<db::readiness::Readiness>,
    handle: PrometheusHandle,
) -> axum::Router {
    use axum::{extract::State, routing::get};
    axum::Router::new()
        .route("/healthz", get(|| async { healthy() }))
        .route(
            "/readyz",
            get(|State(state): State<ProbeState>| async move {
                ready(&state.pool, &state.readiness).await
            }),
        )
        .route(
            "/metrics",
            get(|State(state): State<ProbeState>| async move { metrics(&state.metrics) }),
        )
        .with_state(ProbeState {
            pool,
            readiness,
            metrics: handle,
        })
}
