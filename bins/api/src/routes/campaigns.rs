//! `/v1/organizations/{organization_id}/campaigns`: drafts, recipients, and the campaign's
//! life (start, pause, resume, cancel), plus `/send-eligibility`. The semantics are the
//! campaigns crate's (docs/campaigns.md); this module validates input at the edge, before a
//! connection is taken, so refused input writes nothing.
//!
//! Access: the admin or the organization's own key; another organization's key gets the 404 of
//! what it named (`ORGANIZATION_NOT_FOUND`, `CAMPAIGN_NOT_FOUND`). Creating a campaign and adding
//! recipients need the `broadcast_campaigns` feature (402 `FEATURE_NOT_ALLOWED`); starting and
//! resuming check send eligibility, which includes that feature, and answer every reason that
//! stands in the way. Pausing, canceling and reading are always allowed, so a customer who may
//! no longer send can still stop and inspect what runs.

use axum::{extract::State, response::Response};
use campaigns::{
    BrandId, CampaignId, CampaignName, CampaignsError, MAX_RECIPIENTS_PER_CALL, MessageBody,
    NewCampaign, RecipientStatus, Sender,
};
use http::StatusCode;
use httpkit::{
    ApiError, ApiJson, ApiPath, ApiQuery, IdempotencyKey, ProblemBody, RequireFeature,
    features::BroadcastCampaigns,
};
use primitives::{Money, OrganizationId};
use uuid::Uuid;

use super::{admin_subscriptions::require_organization, wallet::receipt};
use crate::{
    AppError, AppState,
    access::{CampaignResource, OrgCaller},
    wire::campaigns::{
        AddRecipientsRequest, AddRecipientsResponse, CampaignListParams, CampaignStartedResponse,
        CampaignSummaryResponse, CampaignView, CampaignsPage, CreateCampaignRequest,
        EligibilityParams, EligibilityResponse, RecipientListParams, RecipientView, RecipientsPage,
    },
};

/// Campaign list page size when `limit` is not given, and the largest.
pub const DEFAULT_CAMPAIGN_PAGE: usize = 50;
pub const MAX_CAMPAIGN_PAGE: usize = 200;
/// Recipient list page size when `limit` is not given, and the largest.
pub const DEFAULT_RECIPIENT_PAGE: usize = 100;
pub const MAX_RECIPIENT_PAGE: usize = 1000;

// ---------------------------------------------------------------------------------------------
// Edge helpers

/// 422 with `code` and the offending input in `field`.
fn invalid(code: &'static str, field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::validation(code, detail).with_member("field", field)
}

/// `limit`: an integer from 1 to `max`, `default` when absent or empty; else 422
/// `INVALID_LIMIT`.
fn limit(raw: Option<String>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = raw.filter(|raw| !raw.trim().is_empty()) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| {
            invalid(
                "INVALID_LIMIT",
                "limit",
                format!("limit must be an integer from 1 to {max}"),
            )
        })
}

/// The campaign named in the path; the organization part was checked by [`OrgCaller`].
fn campaign_id(path: (OrganizationId, Uuid)) -> CampaignId {
    CampaignId::from_uuid(path.1)
}

/// The price of one segment in the request's currency: 422 `INVALID_CURRENCY` or
/// `INVALID_AMOUNT` (malformed, zero, negative, more decimals than the currency has, too large).
fn price(amount: &str, currency: &str) -> Result<Money, ApiError> {
    let currency = primitives::parse_currency(currency)
        .map_err(|error| invalid("INVALID_CURRENCY", "currency", error.to_string()))?;
    Money::parse_positive(amount, currency)
        .map_err(|error| invalid("INVALID_AMOUNT", "price_per_segment", error.to_string()))
}

/// Exactly one of `from` and `messaging_service_sid`.
fn sender(from: Option<&str>, service: Option<&str>) -> Result<Sender, AppError> {
    match (from, service) {
        (Some(from), None) => Ok(Sender::from_number(from)?),
        (None, Some(service)) => Ok(Sender::messaging_service(service)?),
        _ => Err(invalid(
            "VALIDATION_FAILED",
            "from",
            "send exactly one of from and messaging_service_sid",
        )
        .into()),
    }
}

fn new_campaign(request: &CreateCampaignRequest) -> Result<NewCampaign, AppError> {
    let brand_id = request
        .brand_id
        .trim()
        .parse::<Uuid>()
        .map_err(|_| invalid("VALIDATION_FAILED", "brand_id", "brand_id must be a UUID"))?;
    Ok(NewCampaign {
        brand_id: BrandId::from_uuid(brand_id),
        name: CampaignName::parse(&request.name)?,
        body: MessageBody::parse(&request.body)?,
        sender: sender(
            request.from.as_deref(),
            request.messaging_service_sid.as_deref(),
        )?,
        price_per_segment: price(&request.price_per_segment, &request.currency)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Campaigns

/// Creates a draft campaign of one of the organization's brands. The cost of one message is
/// fixed now: the body's SMS segments times `price_per_segment`, in the wallet's currency.
/// Nothing is reserved until it starts.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/campaigns",
    tag = "campaigns",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateCampaignRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, as a draft.", body = CampaignView),
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "The subscription does not allow `broadcast_campaigns` \
            (`FEATURE_NOT_ALLOWED`, with `reasons`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` (not the caller's), or \
            `BRAND_NOT_FOUND` (no such brand in this organization).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED` with `field`), \
            `INVALID_AMOUNT`, `INVALID_CURRENCY`, `CURRENCY_MISMATCH` (not the wallet's \
            currency).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_campaign(
    State(state): State<AppState>,
    caller: OrgCaller,
    _gate: RequireFeature<BroadcastCampaigns>,
    ApiJson(request): ApiJson<CreateCampaignRequest>,
) -> Result<(StatusCode, ApiJson<CampaignView>), AppError> {
    let new = new_campaign(&request)?;
    let mut conn = state.conn().await?;
    let campaign = state
        .campaigns
        .create(&mut conn, caller.organization_id, new)
        .await?;
    tracing::info!(
        organization_id = %caller.organization_id,
        campaign_id = %campaign.id,
        brand_id = %campaign.brand_id,
        segments = campaign.segments,
        cost_per_message = %campaign.cost_per_message,
        "campaign created"
    );
    Ok((StatusCode::CREATED, ApiJson(campaign.into())))
}

/// The organization's campaigns, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/campaigns",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        CampaignListParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of campaigns.", body = CampaignsPage),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such organization, or not the caller's \
            (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_CURSOR`, `INVALID_LIMIT`, with \
            `field`; `VALIDATION_FAILED` for an unknown parameter).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_campaigns(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiQuery(params): ApiQuery<CampaignListParams>,
) -> Result<ApiJson<CampaignsPage>, AppError> {
    let page_size = limit(params.limit, DEFAULT_CAMPAIGN_PAGE, MAX_CAMPAIGN_PAGE)?;
    let before = params
        .cursor
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            raw.trim()
                .parse::<Uuid>()
                .map(CampaignId::from_uuid)
                .map_err(|_| {
                    invalid(
                        "INVALID_CURSOR",
                        "cursor",
                        "cursor must be the next_cursor of a previous page",
                    )
                })
        })
        .transpose()?;
    let mut conn = state.conn().await?;
    if caller.is_admin() {
        require_organization(&mut conn, caller.organization_id).await?;
    }
    // One more than the page tells whether an older page exists, so the last page has no
    // cursor.
    let mut campaigns = state
        .campaigns
        .list(&mut conn, caller.organization_id, before, page_size + 1)
        .await?;
    let next_cursor = if campaigns.len() > page_size {
        campaigns.truncate(page_size);
        campaigns.last().map(|campaign| campaign.id.as_uuid())
    } else {
        None
    };
    Ok(ApiJson(CampaignsPage {
        campaigns: campaigns.into_iter().map(CampaignView::from).collect(),
        next_cursor,
    }))
}

/// The campaign with its recipient counts and its money over all its holds.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The campaign's summary.", body = CampaignSummaryResponse),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`; `NOT_FOUND` for an id that is not a UUID).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_campaign(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
) -> Result<ApiJson<CampaignSummaryResponse>, AppError> {
    let mut conn = state.conn().await?;
    let summary = state
        .campaigns
        .summary(&mut conn, caller.organization_id, campaign_id(path))
        .await?;
    Ok(ApiJson(summary.into()))
}

/// Adds recipients to a draft. Every number must be E.164 or none is added; numbers repeated in
/// the request or already in the campaign count as `duplicates`. At most 10000 per request, and
/// the body limit (`API_BODY_LIMIT_BYTES`, 64 KiB by default: about 3500 numbers) applies:
/// larger lists take several requests.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}/recipients",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
    ),
    request_body = AddRecipientsRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Added.", body = AddRecipientsResponse),
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 402, description = "The subscription does not allow `broadcast_campaigns` \
            (`FEATURE_NOT_ALLOWED`, with `reasons`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The campaign is no longer a draft \
            (`CAMPAIGN_STATE_CONFLICT`, with `campaign_status`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`, with \
            `limit_bytes`): send the list in several requests.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INVALID_PHONE_NUMBER` (with `count` and `invalid`: \
            the first 20 as `{index, value}`), `TOO_MANY_RECIPIENTS` (with `max`), \
            `VALIDATION_FAILED` (an empty list, wrong types).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn add_recipients(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    _gate: RequireFeature<BroadcastCampaigns>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
    ApiJson(request): ApiJson<AddRecipientsRequest>,
) -> Result<ApiJson<AddRecipientsResponse>, AppError> {
    // The domain checks the count again; checking here first costs no connection.
    if request.numbers.len() > MAX_RECIPIENTS_PER_CALL {
        return Err(CampaignsError::TooManyRecipients {
            max: MAX_RECIPIENTS_PER_CALL,
        }
        .into());
    }
    let id = campaign_id(path);
    let mut conn = state.conn().await?;
    let added = state
        .campaigns
        .add_recipients(&mut conn, caller.organization_id, id, &request.numbers)
        .await?;
    tracing::info!(
        organization_id = %caller.organization_id,
        campaign_id = %id,
        added = added.added,
        duplicates = added.duplicates,
        "campaign recipients added"
    );
    Ok(ApiJson(AddRecipientsResponse {
        added: added.added,
        duplicates: added.duplicates,
    }))
}

/// The campaign's recipients in list order, optionally in one status, a page at a time (follow
/// `next_after`).
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/campaigns/{campaign_id}/recipients",
    tag = "campaigns",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("campaign_id" = uuid::Uuid, Path, description = "The campaign's id."),
        RecipientListParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of recipients.", body = RecipientsPage),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign in this organization, or not the \
            caller's (`CAMPAIGN_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_STATUS`, `INVALID_CURSOR` for \
            `after`, `INVALID_LIMIT`, with `field`; `VALIDATION_FAILED` for an unknown \
            parameter).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_recipients(
    State(state): State<AppState>,
    caller: OrgCaller<CampaignResource>,
    ApiPath(path): ApiPath<(OrganizationId, Uuid)>,
    ApiQuery(params): ApiQuery<RecipientListParams>,
) -> Result<ApiJson<RecipientsPage>, AppError> {
    let page_size = limit(params.limit, DEFAULT_RECIPIENT_PAGE, MAX_RECIPIENT_PAGE)?;
    let status = params
        .status
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            RecipientStatus::parse(raw.trim()).ok_or_else(|| {
                invalid(
                    "INVALID_STATUS",
                    "status",
                    "status must be pending, sending, sent, failed, unconfirmed or canceled",
                )
            })
        })
        .transpose()?;
    let after = params
        .after
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|after| *after >= 0)
                .ok_or_else(|| {
                    invalid(
                        "INVALID_CURSOR",
                        "after",
                        "after must be the next_after of a previous page",
                    )
                })
        })
        .transpose()?;
    let (organization, id) = (caller.organization_id, campaign_id(path));
    let mut conn = state.conn().await?;
    let recipients = state
        .campaigns
        .recipients(&mut conn, organization, id, status, after, page_size)
        .await?;
    // A full page may be the last: one more row after it says whether another page exists.
    let next_after = match recipients.last() {
        Some(last) if recipients.len() == page_size => {
            let more = state
                .campaigns
                .recipients(&mut conn, organization, id, status, Some(last.id), 1)
                .await?;
            (!more.is_empty()).then_some(last.id)
        }
        _ => None,
    };
    Ok(ApiJson(RecipientsPage {
        recipients: recipients.into_iter().map(RecipientView::from).collect(),
        next_after,
    }))
}

// ---------------------------------------------------------------------------------------------
// Life

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
        ("Idempotency-Key" = String, Header, description = "Identifies this start."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started: running, its hold placed.",
            body = CampaignStartedResponse),
        (status = 200, description = "A replay: the campaign this key started (header \
            `Idempotent-Replayed: true`).", body = CampaignStartedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was done."))),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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

// ---------------------------------------------------------------------------------------------
// Eligibility

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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
    let brand = params
        .brand_id
        .filter(|raw| !raw.trim().is_empty())
        .map(|raw| {
            raw.trim()
                .parse::<Uuid>()
                .map(BrandId::from_uuid)
                .map_err(|_| invalid("INVALID_BRAND_ID", "brand_id", "brand_id must be a UUID"))
        })
        .transpose()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(limit(None, 50, 200).unwrap(), 50);
        assert_eq!(limit(Some(" ".into()), 50, 200).unwrap(), 50);
        assert_eq!(limit(Some("200".into()), 50, 200).unwrap(), 200);
        assert_eq!(limit(Some(" 1 ".into()), 100, 1000).unwrap(), 1);
        for bad in ["0", "201", "-1", "x", "1.5", "99999999999999999999999"] {
            let error = limit(Some(bad.into()), 50, 200).unwrap_err();
            assert_eq!(error.code(), "INVALID_LIMIT", "{bad:?}");
            assert_eq!(error.member("field"), Some(&"limit".into()));
        }
    }

    #[test]
    fn prices_are_exact_and_positive_in_the_currency_given() {
        assert_eq!(price("0.05", "USD").unwrap().minor(), 5);
        assert_eq!(price("5", "JPY").unwrap().minor(), 5);
        for (amount, currency, code) in [
            ("0.055", "USD", "INVALID_AMOUNT"),
            ("0", "USD", "INVALID_AMOUNT"),
            ("-0.05", "USD", "INVALID_AMOUNT"),
            ("0.5", "JPY", "INVALID_AMOUNT"),
            ("1e3", "USD", "INVALID_AMOUNT"),
            ("99999999999999999999.00", "USD", "INVALID_AMOUNT"),
            ("0.05", "usd", "INVALID_CURRENCY"),
            ("0.05", "XYZ", "INVALID_CURRENCY"),
        ] {
            let error = price(amount, currency).unwrap_err();
            assert_eq!(error.code(), code, "{amount} {currency}");
            assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }

    #[test]
    fn exactly_one_sender_is_required() {
        let service = format!("MG{}", "0".repeat(32));
        assert!(matches!(
            sender(Some("+14155550199"), None),
            Ok(Sender::From(_))
        ));
        assert!(matches!(
            sender(None, Some(&service)),
            Ok(Sender::MessagingService(_))
        ));
        for (from, service) in [(None, None), (Some("+14155550199"), Some(service.as_str()))] {
            let error = ApiError::from(sender(from, service).unwrap_err());
            assert_eq!(error.code(), "VALIDATION_FAILED");
            assert_eq!(error.member("field"), Some(&"from".into()));
        }
        let error = ApiError::from(sender(Some("not a sender"), None).unwrap_err());
        assert_eq!(error.member("field"), Some(&"from".into()));
        let error = ApiError::from(sender(None, Some("MG123")).unwrap_err());
        assert_eq!(error.member("field"), Some(&"messaging_service_sid".into()));
    }
}
