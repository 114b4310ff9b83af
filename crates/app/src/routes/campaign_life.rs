//! A campaign's life: `start` (with its `Idempotency-Key`), `pause`, `resume`, `cancel`. Start
//! and resume check send eligibility and answer every reason that stands in the way; pause and
//! cancel are always allowed, so a customer who may no longer send can still stop what runs.

use axum::{extract::State, response::Response};
use httpkit::{ApiJson, ApiPath, IdempotencyKey, ProblemBody};
use primitives::OrganizationId;
use uuid::Uuid;

use super::{campaigns::campaign_id, wallet::receipt};
use crate::{
    AppError, AppState,
    access::{CampaignResource, OrgCaller},
    wire::campaigns::{CampaignStartedResponse, CampaignView},
};

/// Starts a draft: checks send eligibility and reserves `pending recipients x cost per message`
/// as a wallet hold; the dispatcher then sends it. The `Idempotency-Key` is required: repeating
/// it answers 200 with the campaign and `Idempotent-Replayed: true`, doing nothing. Refused
/// with every reason that stands in the way, and nothing changes.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}/start",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this start, so a retry with the same key \
            is answered with the original result. 1 to 200 visible ASCII characters."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started: running, its hold placed.",
            body = CampaignStartedResponse),
        (status = 200, description = "A replay: the campaign this key started (header \
            `Idempotent-Replayed: true`).", body = CampaignStartedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was done."))),
        (status = 402, description = "The subscription does not allow campaigns \
            (`SUBSCRIPTION_INACTIVE`, with every blocking reason in `reasons`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`CAMPAIGN_STATE_CONFLICT` (not a draft, or started with \
            another key; with `campaign_status`), `FROZEN_WALLET` (with `sources`), \
            `MESSAGING_SUSPENDED` (with `brands`); each not-eligible answer lists every reason \
            in `reasons`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INSUFFICIENT_FUNDS` (with `available`, `required` or \
            the ledger's `requested`, and `reasons`), `NO_RECIPIENTS`, \
            `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn start_campaign(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
    key: IdempotencyKey,
) -> Result<Response, AppError> {
    let id = campaign_id(path);
    let mut conn = state.conn().await?;
    let done = state
        .campaigns
        .start(&mut conn, caller.organization_id, id, key.as_str())
        .await?;
    Ok(receipt(
        done.replayed,
        CampaignStartedResponse {
            campaign: done.value.into(),
            replayed: done.replayed,
        },
    ))
}

/// Pauses a running campaign by hand (reason `manual`: only a person resumes it; a billing
/// pause becomes manual too). The dispatcher stops within one batch and the hold is released
/// once no batch is in flight. Pausing a paused campaign answers it as it is.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}/pause",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paused.", body = CampaignView),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A draft, completed or canceled campaign \
            (`CAMPAIGN_STATE_CONFLICT`, with `campaign_status`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn pause_campaign(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
) -> Result<ApiJson<CampaignView>, AppError> {
    let mut conn = state.conn().await?;
    let campaign = state
        .campaigns
        .pause(&mut conn, caller.organization_id, campaign_id(path))
        .await?;
    Ok(ApiJson(campaign.into()))
}

/// Resumes a paused campaign, whatever the pause reason, if the organization may send now (a
/// new hold is placed for what is left). Otherwise it stays paused and the answer lists every
/// reason. Resuming a running campaign answers it as it is.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}/resume",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Running again (or completed, with nothing left to send).",
            body = CampaignView),
        (status = 402, description = "`SUBSCRIPTION_INACTIVE`, with every reason in `reasons`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`CAMPAIGN_STATE_CONFLICT` (a draft, completed or \
            canceled campaign), `FROZEN_WALLET`, `MESSAGING_SUSPENDED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INSUFFICIENT_FUNDS`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn resume_campaign(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
) -> Result<ApiJson<CampaignView>, AppError> {
    let mut conn = state.conn().await?;
    let campaign = state
        .campaigns
        .resume(&mut conn, caller.organization_id, campaign_id(path))
        .await?;
    Ok(ApiJson(campaign.into()))
}

/// Stops a campaign for good (a draft too): recipients not yet sent become `canceled` and the
/// hold is released once no batch is in flight. Canceling a canceled campaign answers it as it
/// is.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}/cancel",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Canceled.", body = CampaignView),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A completed campaign (`CAMPAIGN_STATE_CONFLICT`, with \
            `campaign_status`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_campaign(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
) -> Result<ApiJson<CampaignView>, AppError> {
    let (organization, id) = (caller.organization_id, campaign_id(path));
    let mut conn = state.conn().await?;
    let campaign = state.campaigns.cancel(&mut conn, organization, id).await?;
    Ok(ApiJson(campaign.into()))
}
