//! `/v1/admin`: operations across every wallet (admin only).

use axum::extract::State;
use httpkit::{AdminOnly, ApiJson};
use jobs::sweeper::SWEEP_LIMIT;

use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    wire::wallet::{DriftsResponse, ExpiredHoldsResponse, ReconciliationResponse},
};

/// Reconciles every wallet and lists those whose figures drifted (each is also logged at error
/// level). An empty list means the books balance.
#[utoipa::path(
    get,
    path = "/v1/admin/reconciliation",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The drifted wallets, if any.", body = DriftsResponse),
        (status = 403, response = AdminRequired),
    )
)]
pub async fn reconcile_all(
    State(state): State<AppState>,
    _: AdminOnly,
) -> Result<ApiJson<DriftsResponse>, AppError> {
    let mut conn = state.conn().await?;
    let drifts = state.ledger.reconcile_all(&mut conn).await?;
    Ok(ApiJson(DriftsResponse {
        drifts: drifts
            .into_iter()
            .map(ReconciliationResponse::from)
            .collect(),
    }))
}

/// Expires up to 1000 holds past their deadline now, as the background sweeper does.
#[utoipa::path(
    post,
    path = "/v1/admin/holds/expire",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Holds expired by this sweep.", body = ExpiredHoldsResponse),
        (status = 403, response = AdminRequired),
    )
)]
pub async fn expire_holds(
    State(state): State<AppState>,
    _: AdminOnly,
) -> Result<ApiJson<ExpiredHoldsResponse>, AppError> {
    let mut conn = state.conn().await?;
    let sweep = state
        .ledger
        .expire_due_holds(&mut conn, SWEEP_LIMIT)
        .await?;
    tracing::info!(
        expired = sweep.expired.len(),
        failed = sweep.failed.len(),
        "holds expired on request"
    );
    Ok(ApiJson(ExpiredHoldsResponse {
        expired: sweep.expired.len(),
        failed: sweep.failed.len(),
    }))
}
