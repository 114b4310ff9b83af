//! `/v1/organizations`.

use axum::extract::State;
use diesel_async::AsyncConnection;
use http::StatusCode;
use httpkit::{AdminOnly, ApiError, ApiJson, ApiPath, Authenticated, ProblemBody};
use primitives::OrganizationId;
use tenancy::{BillingEmail, OrganizationName};

use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    error::organization_not_found,
    wire::{
        BillingEmailRequest, CreateOrganizationRequest, OrganizationCreatedResponse,
        OrganizationResponse,
    },
};

/// Creates an organization and opens its wallet in the given currency, in one transaction
/// (admin only).
#[utoipa::path(
    post,
    path = "/v1/organizations",
    tag = "organizations",
    request_body = CreateOrganizationRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, with its empty wallet.",
            body = OrganizationCreatedResponse),
        (status = 403, response = AdminRequired),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, `INVALID_NAME`, \
            `INVALID_CURRENCY`, `INVALID_EMAIL`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_organization(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiJson(request): ApiJson<CreateOrganizationRequest>,
) -> Result<(StatusCode, ApiJson<OrganizationCreatedResponse>), AppError> {
    // Everything is validated before a connection is taken, so refused input writes nothing.
    let currency = primitives::parse_currency(&request.currency)
        .map_err(|error| ApiError::validation("INVALID_CURRENCY", error.to_string()))?;
    let name = OrganizationName::parse(&request.name)?;
    let billing_email = request
        .billing_email
        .as_deref()
        .map(BillingEmail::parse)
        .transpose()?;
    let ledger = state.ledger.clone();
    let mut conn = state.conn().await?;
    let (organization, wallet) = conn
        .transaction(async move |conn| {
            let mut organization = tenancy::create_organization(conn, None, name.as_str()).await?;
            if let Some(email) = &billing_email {
                organization =
                    tenancy::set_billing_email(conn, organization.id, Some(email)).await?;
            }
            // Same transaction: an organization never exists without its wallet.
            let wallet = ledger.open_wallet(conn, organization.id, currency).await?;
            Ok::<_, AppError>((organization, wallet.value))
        })
        .await?;
    tracing::info!(
        organization_id = %organization.id,
        wallet_id = %wallet.wallet_id,
        currency = currency.code(),
        "organization created"
    );
    Ok((
        StatusCode::CREATED,
        ApiJson(OrganizationCreatedResponse {
            id: organization.id,
            name: organization.name,
            created_at: organization.created_at,
            billing_email: organization.billing_email,
            wallet_id: wallet.wallet_id,
            currency: wallet.currency.code().to_owned(),
        }),
    ))
}

/// Reads an organization: the admin, or a key of that organization.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}",
    tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization.", body = OrganizationResponse),
        (status = 404, description = "No such organization, or not the caller's \
            (`ORGANIZATION_NOT_FOUND`; `NOT_FOUND` for an id that is not a UUID).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_organization(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(organization_id): ApiPath<OrganizationId>,
) -> Result<ApiJson<OrganizationResponse>, AppError> {
    if !principal.may_access(organization_id) {
        return Err(organization_not_found().into());
    }
    let mut conn = state.conn().await?;
    let organization = tenancy::get_organization(&mut conn, organization_id).await?;
    Ok(ApiJson(organization.into()))
}

/// Sets or removes the address billing notices go to: the admin, or a key of that organization
/// (managing account settings is allowed whatever the subscription's status).
#[utoipa::path(
    put,
    path = "/v1/organizations/{organization_id}/billing-email",
    tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = BillingEmailRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization with its new address.",
            body = OrganizationResponse),
        (status = 404, description = "No such organization, or not the caller's \
            (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Not an address (`INVALID_EMAIL`, `VALIDATION_FAILED`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn set_billing_email(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    ApiPath(organization_id): ApiPath<OrganizationId>,
    ApiJson(request): ApiJson<BillingEmailRequest>,
) -> Result<ApiJson<OrganizationResponse>, AppError> {
    if !principal.may_access(organization_id) {
        return Err(organization_not_found().into());
    }
    let email = request
        .billing_email
        .as_deref()
        .map(BillingEmail::parse)
        .transpose()?;
    let mut conn = state.conn().await?;
    let organization =
        tenancy::set_billing_email(&mut conn, organization_id, email.as_ref()).await?;
    tracing::info!(%organization_id, has_email = email.is_some(), "billing email changed");
    Ok(ApiJson(organization.into()))
}
