//! `/v1/organizations`.

use axum::extract::State;
use diesel_async::AsyncConnection;
use http::StatusCode;
use httpkit::{AdminOnly, ApiError, ApiJson, ApiPath, Authenticated, ProblemBody};
use primitives::OrganizationId;
use tenancy::OrganizationName;

use crate::{
    AppError, AppState,
    error::organization_not_found,
    wire::{CreateOrganizationRequest, OrganizationCreatedResponse, OrganizationResponse},
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
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, `INVALID_NAME`, \
            `INVALID_CURRENCY`).",
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
    let ledger = state.ledger.clone();
    let mut conn = state.conn().await?;
    let (organization, wallet) = conn
        .transaction(async move |conn| {
            let organization = tenancy::create_organization(conn, None, name.as_str()).await?;
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
