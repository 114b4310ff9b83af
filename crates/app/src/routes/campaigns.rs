//! `/v1/organizations/{organization_id}/campaigns`: creating, listing and reading campaigns, and
//! the edge helpers the other campaign routes share (`recipients`, `campaign_life`,
//! `eligibility`). The semantics are the campaigns crate's (docs/campaigns.md); input is
//! validated at the edge, before a connection is taken, so refused input writes nothing.
//!
//! Access: the admin or the organization's own key; another organization's key gets the 404 of
//! what it named (`ORGANIZATION_NOT_FOUND`, `CAMPAIGN_NOT_FOUND`). Creating a campaign and adding
//! recipients need the `broadcast_campaigns` feature (402 `FEATURE_NOT_ALLOWED`); starting and
//! resuming check send eligibility, which includes that feature, and answer every reason that
//! stands in the way. Pausing, canceling and reading are always allowed, so a customer who may
//! no longer send can still stop and inspect what runs.

use crate::entitlement::{RequireFeature, features::BroadcastCampaigns};
use axum::extract::State;
use campaigns::{BrandId, CampaignId, CampaignName, MessageBody, NewCampaign, Sender};
use http::StatusCode;
use httpkit::{ApiError, ApiJson, ApiPath, ApiQuery, ProblemBody};
use primitives::{Money, OrganizationId};
use uuid::Uuid;

use super::{admin_subscriptions::require_organization, query};
use crate::{
    AppError, AppState,
    access::{CampaignResource, OrgCaller},
    wire::campaigns::{
        CampaignListParams, CampaignSummaryResponse, CampaignView, CampaignsPage,
        CreateCampaignRequest,
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

pub(super) use super::query::invalid;

/// The campaign named in the path; the organization part was checked by [`OrgCaller`].
pub(super) fn campaign_id(path: (OrganizationId, Uuid)) -> CampaignId {
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
        (status = 402, description = "The subscription does not allow `broadcast_campaigns` \
            (`FEATURE_NOT_ALLOWED`, with `reasons`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` (not the caller's), or \
            `BRAND_NOT_FOUND` (no such brand in this organization).",
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
    let page_size = query::limit(params.limit, DEFAULT_CAMPAIGN_PAGE, MAX_CAMPAIGN_PAGE)?;
    let before = query::cursor::<Uuid>(params.cursor)?.map(CampaignId::from_uuid);
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

#[cfg(test)]
mod tests {
    use super::*;

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
