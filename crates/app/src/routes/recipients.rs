//! `/v1/organizations/{organization_id}/campaigns/{campaign_id}/recipients`: adding numbers to a
//! draft (all valid or none added) and listing them in pages, with what each cost and what
//! Twilio said.

use crate::entitlement::{RequireFeature, features::BroadcastCampaigns};
use axum::extract::State;
use campaigns::{CampaignsError, MAX_RECIPIENTS_PER_CALL, RecipientStatus};
use httpkit::{ApiJson, ApiPath, ApiQuery, ProblemBody};
use primitives::OrganizationId;
use uuid::Uuid;

use super::{
    campaigns::{DEFAULT_RECIPIENT_PAGE, MAX_RECIPIENT_PAGE, campaign_id},
    query,
};
use crate::{
    AppError, AppState,
    access::{CampaignResource, OrgCaller},
    wire::campaigns::{
        AddRecipientsRequest, AddRecipientsResponse, RecipientListParams, RecipientView,
        RecipientsPage,
    },
};

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
    let page_size = query::limit(params.limit, DEFAULT_RECIPIENT_PAGE, MAX_RECIPIENT_PAGE)?;
    let status = query::parse(
        params.status,
        "INVALID_STATUS",
        "status",
        "pending, sending, sent, failed, unconfirmed or canceled",
        RecipientStatus::parse,
    )?;
    let after = query::parse(
        params.after,
        "INVALID_CURSOR",
        "after",
        "the next_after of a previous page",
        |raw| raw.parse::<i64>().ok().filter(|after| *after >= 0),
    )?;
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
