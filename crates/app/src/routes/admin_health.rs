//! `/v1/admin/health`: the health report (admin only); the same figures are the
//! `billing_health_*` gauges at `/metrics`.

use axum::extract::State;
use httpkit::{AdminOnly, ApiJson};

use super::responses::AdminRequired;
use crate::{AppError, AppState, health_report::HealthReport, wire::health::HealthReportResponse};

/// Negative and drifted wallets, freezes, subscriptions by status, paused and stalled
/// campaigns, outbox backlog and dead letters, unapplied webhook deliveries; computed afresh
/// by one aggregate query.
#[utoipa::path(
    get,
    path = "/v1/admin/health",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report.", body = HealthReportResponse),
        (status = 403, response = AdminRequired),
    )
)]
pub async fn health_report(
    State(state): State<AppState>,
    _: AdminOnly,
) -> Result<ApiJson<HealthReportResponse>, AppError> {
    let mut conn = state.conn().await?;
    let stalled_after = state.health.stalled_after;
    let report = HealthReport::compute(&mut conn, stalled_after).await?;
    Ok(ApiJson(HealthReportResponse::new(
        report,
        stalled_after.as_secs(),
    )))
}
