//! `/v1/organizations/{organization_id}/send-eligibility`: whether the organization (or one
//! brand of it) may send now, with every reason if not.

use axum::extract::State;
use campaigns::BrandId;
use httpkit::{ApiJson, ApiQuery, ProblemBody};
use uuid::Uuid;

use super::{admin_subscriptions::require_organization, query};
use crate::{
    AppError, AppState,
    access::OrgCaller,
    wire::campaigns::{EligibilityParams, EligibilityResponse},
};

/// Whether the organization may send now, from the sources of truth (subscription, wallet,
/// brands' Twilio status), with every reason if not. Funds: at least one minor unit available.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/send-eligibility",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        EligibilityParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The decision and what it was made from.",
            body = EligibilityResponse),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` (not the caller's), or \
            `BRAND_NOT_FOUND` (`brand_id` is not one of its brands).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_BRAND_ID`, with `field`; \
            `VALIDATION_FAILED` for an unknown parameter).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn send_eligibility(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiQuery(params): ApiQuery<EligibilityParams>,
) -> Result<ApiJson<EligibilityResponse>, AppError> {
    let brand = query::parse(
        params.brand_id,
        "INVALID_BRAND_ID",
        "brand_id",
        "a UUID",
        |raw| raw.parse::<Uuid>().ok(),
    )?
    .map(BrandId::from_uuid);
    let mut conn = state.conn().await?;
    if caller.is_admin() {
        require_organization(&mut conn, caller.organization_id).await?;
    }
    let (facts, blockers) = state
        .campaigns
        .eligibility(&mut conn, caller.organization_id, brand)
        .await?;
    Ok(ApiJson(EligibilityResponse::new(&facts, &blockers)))
}
