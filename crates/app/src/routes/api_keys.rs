//! `/v1/organizations/{organization_id}/api-keys`.

use axum::{extract::State, response::IntoResponse};
use http::{HeaderValue, StatusCode, header};
use httpkit::{AdminOnly, ApiJson, ApiPath, ProblemBody};
use primitives::{ApiKeyId, OrganizationId};

use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    wire::{ApiKeyCreatedResponse, CreateApiKeyRequest},
};

/// Issues an API key for an organization (admin only). The key is in this response only.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/api-keys",
    tag = "api-keys",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateApiKeyRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Issued; `key` is shown only now.", body = ApiKeyCreatedResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, `INVALID_NAME`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath(organization_id): ApiPath<OrganizationId>,
    ApiJson(request): ApiJson<CreateApiKeyRequest>,
) -> Result<impl IntoResponse, AppError> {
    let mut conn = state.conn().await?;
    let issued = tenancy::issue_api_key(&mut conn, organization_id, &request.name).await?;
    tracing::info!(
        %organization_id,
        key_id = %issued.id,
        prefix = %issued.prefix,
        "API key issued"
    );
    Ok((
        StatusCode::CREATED,
        // The body carries a secret: no cache anywhere may keep it.
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        ApiJson(ApiKeyCreatedResponse::from(issued)),
    ))
}

/// Revokes an API key (admin only). Revoking a revoked key succeeds.
#[utoipa::path(
    delete,
    path = "/v1/organizations/{organization_id}/api-keys/{key_id}",
    tag = "api-keys",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("key_id" = uuid::Uuid, Path, description = "The key's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such key in this organization (`API_KEY_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath((organization_id, key_id)): ApiPath<(OrganizationId, ApiKeyId)>,
) -> Result<StatusCode, AppError> {
    let mut conn = state.conn().await?;
    tenancy::revoke_api_key(&mut conn, organization_id, key_id).await?;
    // Refused by this process at once; the others within their cache's TTL (at most 1 s).
    state.api_keys.forget(key_id);
    tracing::info!(%organization_id, %key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
