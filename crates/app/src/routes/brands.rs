//! `/v1/organizations/{organization_id}/brands`: who an organization sends as, each brand with
//! its Twilio subaccount and messaging status (docs/campaigns.md).

use axum::extract::State;
use campaigns::{BrandId, BrandName, SubaccountSid};
use http::StatusCode;
use httpkit::{ApiJson, ApiPath, ProblemBody};
use primitives::OrganizationId;
use uuid::Uuid;

use super::admin_subscriptions::require_organization;
use crate::{
    AppError, AppState,
    access::{BrandResource, OrgCaller},
    error::brand_not_found,
    wire::campaigns::{BrandView, BrandsResponse, CreateBrandRequest},
};

/// Creates a brand with its Twilio subaccount. It starts `active`, or `suspending` (with the
/// Twilio call queued) while the organization's subscription keeps messaging suspended, so a new
/// subaccount cannot run up charges the others may not.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/brands",
    tag = "brands",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateBrandRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = BrandView),
        (status = 404, description = "No such organization, or not the caller's \
            (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Another brand has this subaccount \
            (`SUBACCOUNT_TAKEN`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, with `field`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_brand(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(request): ApiJson<CreateBrandRequest>,
) -> Result<(StatusCode, ApiJson<BrandView>), AppError> {
    let name = BrandName::parse(&request.name)?;
    let sid = SubaccountSid::parse(&request.twilio_subaccount_sid)?;
    let mut conn = state.conn().await?;
    let brand = campaigns::brands::create(
        &mut conn,
        caller.organization_id,
        &name,
        &sid,
        state.campaigns.now(),
    )
    .await?;
    tracing::info!(
        organization_id = %caller.organization_id,
        brand_id = %brand.id,
        messaging_status = brand.messaging_status.as_str(),
        "brand created"
    );
    Ok((StatusCode::CREATED, ApiJson(brand.into())))
}

/// The organization's brands, oldest first.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/brands",
    tag = "brands",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every brand.", body = BrandsResponse),
        (status = 404, description = "No such organization, or not the caller's \
            (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_brands(
    State(state): State<AppState>,
    caller: OrgCaller,
) -> Result<ApiJson<BrandsResponse>, AppError> {
    let mut conn = state.conn().await?;
    if caller.is_admin() {
        require_organization(&mut conn, caller.organization_id).await?;
    }
    let brands = campaigns::brands::list(&mut conn, caller.organization_id).await?;
    Ok(ApiJson(BrandsResponse {
        brands: brands.into_iter().map(BrandView::from).collect(),
    }))
}

/// One brand, with its messaging status and the last Twilio error applying it.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/brands/{brand_id}",
    tag = "brands",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("brand_id" = uuid::Uuid, Path, description = "The brand's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The brand.", body = BrandView),
        (status = 404, description = "No such brand in this organization, or not the \
            caller's (`BRAND_NOT_FOUND`; `NOT_FOUND` for an id that is not a UUID).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_brand(
    State(state): State<AppState>,
    caller: OrgCaller<BrandResource>,
    ApiPath((_, brand_id)): ApiPath<(OrganizationId, Uuid)>,
) -> Result<ApiJson<BrandView>, AppError> {
    let mut conn = state.conn().await?;
    let brand = campaigns::brands::get(&mut conn, BrandId::from_uuid(brand_id)).await?;
    // `brands::get` looks brands up by id alone: another organization's is as missing (G11).
    if brand.organization_id != caller.organization_id {
        return Err(brand_not_found().into());
    }
    Ok(ApiJson(brand.into()))
}
