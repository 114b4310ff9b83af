//! Access blocks set and lifted by operators.

use super::*;

/// The access blocks in force, every source's.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/access-blocks",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The blocks.", body = AccessBlocksResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_access_blocks(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
) -> Result<ApiJson<AccessBlocksResponse>, AppError> {
    let mut conn = state.conn().await?;
    require_organization(&mut conn, admin.organization_id).await?;
    let blocks = access::blocks(&mut conn, admin.organization_id).await?;
    Ok(ApiJson(AccessBlocksResponse {
        blocks: blocks_view(blocks),
    }))
}

/// Blocks the organization's paid features (sending, campaigns, contacts, AI ...) with the
/// `admin` source, whatever its subscription says; reading data and paying stay possible.
/// Blocking again changes nothing (the first reason stays).
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/access-blocks",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = AccessBlockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Blocked (`changed` false if the admin block already was \
            in place).", body = AccessBlockChangeResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, with `field`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn block_access(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiJson(request): ApiJson<AccessBlockRequest>,
) -> Result<ApiJson<AccessBlockChangeResponse>, AppError> {
    let change = BlockChange::new(BlockSource::Admin, &request.reason, &admin.actor())?;
    let now = state.subscriptions.now();
    let organization_id = admin.organization_id;
    let mut conn = state.conn().await?;
    let (changed, blocks) = conn
        .transaction(async move |conn| {
            // The block and its audit record commit together.
            let changed = access::block(conn, organization_id, &change, now).await?;
            Ok::<_, AppError>((changed, access::blocks(conn, organization_id).await?))
        })
        .await?;
    tracing::info!(%organization_id, changed, "admin access block set");
    Ok(ApiJson(AccessBlockChangeResponse {
        changed,
        blocks: blocks_view(blocks),
    }))
}

/// Lifts the `admin` block, and only it: other sources' blocks stay. `billing` and `customer`
/// blocks are refused here (409 `BLOCK_SOURCE_NOT_ADMIN`): billing's block is lifted by a
/// payment (see `.../subscription/manual-payment`), the customer's by resuming, never by hand.
#[utoipa::path(
    delete,
    path = "/v1/admin/organizations/{organization_id}/access-blocks/{source}",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("source" = String, Path, description = "Whose block: only `admin` can be lifted here.",
            example = "admin"),
    ),
    request_body = AccessBlockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Lifted (`changed` false if there was no admin block); \
            `blocks` lists what still blocks.", body = AccessBlockChangeResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`) or no \
            such source (`NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The source is `billing` or `customer` \
            (`BLOCK_SOURCE_NOT_ADMIN`, with `source`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, with `field`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn lift_access_block(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiPath((_, source)): ApiPath<(OrganizationId, String)>,
    ApiJson(request): ApiJson<AccessBlockRequest>,
) -> Result<ApiJson<AccessBlockChangeResponse>, AppError> {
    match BlockSource::parse(&source) {
        Some(BlockSource::Admin) => {}
        Some(other) => {
            return Err(ApiError::conflict(
                "BLOCK_SOURCE_NOT_ADMIN",
                format!(
                    "only the admin block can be lifted by an operator; the {} block is \
                     lifted by its own source",
                    other.as_str()
                ),
            )
            .with_member("source", other.as_str())
            .into());
        }
        None => return Err(ApiError::not_found().into()),
    }
    let change = BlockChange::new(BlockSource::Admin, &request.reason, &admin.actor())?;
    let now = state.subscriptions.now();
    let organization_id = admin.organization_id;
    let mut conn = state.conn().await?;
    let (changed, blocks) = conn
        .transaction(async move |conn| {
            let changed = access::unblock(conn, organization_id, &change, now).await?;
            Ok::<_, AppError>((changed, access::blocks(conn, organization_id).await?))
        })
        .await?;
    tracing::info!(%organization_id, changed, "admin access block lifted");
    Ok(ApiJson(AccessBlockChangeResponse {
        changed,
        blocks: blocks_view(blocks),
    }))
}
