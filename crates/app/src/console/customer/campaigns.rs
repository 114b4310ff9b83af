//! `GET /console/campaigns`, and the send dialog of one campaign: `GET /console/campaigns/{id}`
//! shows every reason the start endpoint would refuse it now, and `POST .../start` sends the
//! start through the API.
//!
//! The reasons are the start endpoint's own rules, in its order: a campaign that is not a
//! draft (`CAMPAIGN_STATE_CONFLICT`), no pending recipient (`NO_RECIPIENTS`), then send
//! eligibility (`campaigns::eligibility::decide`, over the facts the send-eligibility endpoint
//! loads for the campaign's brand) with the funds the start would hold: the campaign's cost per
//! message times its pending recipients. Nothing is decided here that the API would not.

use askama::Template;
use axum::{
    Extension,
    extract::{Path, RawQuery, State},
    response::{Redirect, Response},
};
use campaigns::{
    Campaign, CampaignId, CampaignStatus, CampaignsError,
    eligibility::{Blocker, Funding, decide},
};
use http::StatusCode;
use httpkit::{ApiJson, ApiQuery};
use primitives::Money;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    access::{OrgCaller, OrganizationResource},
    error::{campaign_not_found, organization_not_found},
    routes::campaigns::list_campaigns,
    wire::campaigns::{CampaignListParams, CampaignStartedResponse},
};

use super::{CAMPAIGNS, form_key, frame, principal, query};
use crate::console::{
    dispatch::{Api, Call},
    forms::Posted,
    page::{self, ConsoleError, Frame, Outcome, back_to},
    session::CustomerSession,
};

/// Campaigns per page of the list.
const PAGE: usize = 20;

#[derive(Template)]
#[template(path = "console/customer_campaigns.html")]
struct CampaignsPage {
    frame: Frame,
    campaigns: Vec<CampaignRow>,
    /// The link to the next (older) page, if any.
    older: Option<String>,
}

struct CampaignRow {
    id: String,
    name: String,
    status: String,
    recipients: i64,
    created: String,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: CustomerSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let outcome: Outcome = query(raw.as_deref());
    let ListQuery { cursor } = query(raw.as_deref());
    // Only a cursor the API would accept is passed on: a bad one shows the first page.
    let cursor = cursor.filter(|cursor| cursor.parse::<Uuid>().is_ok());
    let caller = OrgCaller::<OrganizationResource>::for_session(
        session.organization_id,
        principal(&session),
    )
    .ok_or_else(organization_not_found)?;
    let params = CampaignListParams {
        cursor,
        limit: Some(PAGE.to_string()),
    };
    let ApiJson(found) = list_campaigns(State(state.clone()), caller, ApiQuery(params)).await?;
    let mut conn = state.conn().await?;
    let mut campaigns = Vec::with_capacity(found.campaigns.len());
    for campaign in found.campaigns {
        // The same counts the campaign's own page shows.
        let summary = state
            .campaigns
            .summary(
                &mut conn,
                session.organization_id,
                CampaignId::from_uuid(campaign.id),
            )
            .await
            .map_err(AppError::from)?;
        campaigns.push(CampaignRow {
            id: campaign.id.to_string(),
            name: campaign.name,
            status: campaign.status,
            recipients: summary.recipients.total(),
            created: page::time(campaign.created_at),
        });
    }
    Ok(page::render(&CampaignsPage {
        frame: frame(&session, "Campaigns", CAMPAIGNS, &outcome),
        campaigns,
        older: found
            .next_cursor
            .map(|cursor| format!("{CAMPAIGNS}?cursor={cursor}")),
    }))
}

#[derive(Template)]
#[template(path = "console/customer_campaign.html")]
struct DialogPage {
    frame: Frame,
    id: String,
    name: String,
    status: String,
    body: String,
    segments: u32,
    cost_per_message: String,
    recipients_total: i64,
    recipients_pending: i64,
    estimated_cost: String,
    blockers: Vec<Reason>,
    idempotency_key: String,
}

/// One reason the campaign may not start now: the API's stable code and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reason {
    code: &'static str,
    text: String,
}

/// A campaign id from the path; anything but a UUID is the 404 the API answers for a campaign
/// that is not the organization's.
fn campaign_id(raw: &str) -> Result<CampaignId, ConsoleError> {
    raw.parse::<Uuid>()
        .map(CampaignId::from_uuid)
        .map_err(|_| campaign_not_found().into())
}

fn page_of(id: CampaignId) -> String {
    format!("{CAMPAIGNS}/{}", id.as_uuid())
}

pub async fn dialog(
    State(state): State<AppState>,
    session: CustomerSession,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ConsoleError> {
    let outcome: Outcome = query(raw.as_deref());
    let id = campaign_id(&raw_id)?;
    let organization = session.organization_id;
    let mut conn = state.conn().await?;
    // Scoped to the organization: another's campaign is CAMPAIGN_NOT_FOUND, as in the API.
    let summary = state
        .campaigns
        .summary(&mut conn, organization, id)
        .await
        .map_err(AppError::from)?;
    let campaign = &summary.campaign;
    let pending = summary.recipients.pending;
    let estimate = estimated_cost(campaign, pending).map_err(AppError::from)?;
    let mut blockers = campaign_reasons(campaign.status, pending);
    if campaign.status == CampaignStatus::Draft {
        let (facts, _) = state
            .campaigns
            .eligibility(&mut conn, organization, Some(campaign.brand_id))
            .await
            .map_err(AppError::from)?;
        let funding = Funding::Available { required: estimate };
        blockers.extend(decide(&facts, funding).iter().map(explain));
    }
    Ok(page::render(&DialogPage {
        frame: frame(
            &session,
            &format!("Campaign: {}", campaign.name),
            CAMPAIGNS,
            &outcome,
        ),
        id: campaign.id.as_uuid().to_string(),
        name: campaign.name.clone(),
        status: campaign.status.as_str().to_owned(),
        body: campaign.body.clone(),
        segments: campaign.segments,
        cost_per_message: campaign.cost_per_message.to_string(),
        recipients_total: summary.recipients.total(),
        recipients_pending: pending,
        estimated_cost: estimate.to_string(),
        blockers,
        idempotency_key: page::action_key(),
    }))
}

/// What starting would hold: the cost of one message times the recipients still to send.
fn estimated_cost(campaign: &Campaign, pending: i64) -> Result<Money, CampaignsError> {
    let cost = campaign.cost_per_message;
    cost.minor()
        .checked_mul(pending)
        .map(|minor| Money::from_minor(minor, cost.currency()))
        .ok_or(CampaignsError::CostOverflow)
}

/// The start endpoint's own refusals, before eligibility: only a draft starts, and only with a
/// recipient to send to.
fn campaign_reasons(status: CampaignStatus, pending: i64) -> Vec<Reason> {
    if status != CampaignStatus::Draft {
        return vec![Reason {
            code: CampaignsError::InvalidState {
                action: "start",
                status,
            }
            .code(),
            text: format!(
                "The campaign is {}: only a draft can be started.",
                status.as_str()
            ),
        }];
    }
    if pending == 0 {
        return vec![Reason {
            code: CampaignsError::NoRecipients.code(),
            text: "The campaign has no recipients to send to: add some first.".to_owned(),
        }];
    }
    Vec::new()
}

fn explain(blocker: &Blocker) -> Reason {
    let text = match blocker {
        Blocker::SubscriptionInactive { status, .. } => match status {
            Some(status) => format!(
                "Your subscription does not allow campaigns now (status {}): settle it first.",
                status.as_str()
            ),
            None => "Campaigns need a subscription, and this organization has none.".to_owned(),
        },
        Blocker::WalletFrozen { sources } => format!(
            "The wallet is frozen (by {}): nothing can be spent until every freeze is lifted.",
            sources
                .iter()
                .map(|source| source.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Blocker::MessagingSuspended { brands } => format!(
            "The campaign's brand cannot send: its messaging is {}.",
            brands
                .iter()
                .map(|(_, status)| status.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Blocker::InsufficientFunds {
            available,
            required,
        } => format!(
            "The wallet has {available} available, less than the estimated cost of {required}: top up first."
        ),
    };
    Reason {
        code: blocker.code(),
        text,
    }
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    idempotency_key: String,
}

/// `POST /console/campaigns/{id}/start`: the API's start endpoint, with the key the dialog was
/// rendered with.
pub async fn start(
    Extension(api): Extension<Api>,
    Path(raw_id): Path<String>,
    Posted { session, form }: Posted<CustomerSession, StartForm>,
) -> Result<Redirect, ConsoleError> {
    let id = campaign_id(&raw_id)?;
    let back = page_of(id);
    let key = match form_key(&form.idempotency_key) {
        Ok(key) => key,
        Err(refusal) => return Ok(back_to(&back, Err(refusal))),
    };
    let path = format!(
        "/v1/organizations/{}/campaigns/{}/start",
        session.organization_id,
        id.as_uuid()
    );
    let result = Call::post(path, &session)
        .idempotency_key(key)
        .send_as(&api)
        .await;
    match result {
        Err(refusal) if refusal.status == StatusCode::NOT_FOUND => Err(campaign_not_found().into()),
        result => Ok(back_to(
            &back,
            result.map(|answer: CampaignStartedResponse| {
                if answer.replayed {
                    "the campaign was started by this form already".to_owned()
                } else {
                    "campaign started".to_owned()
                }
            }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use ledger::FreezeSource;
    use primitives::Currency;

    use super::*;

    #[test]
    fn only_a_draft_with_recipients_gets_past_the_campaign_checks() {
        assert!(campaign_reasons(CampaignStatus::Draft, 3).is_empty());
        assert_eq!(
            campaign_reasons(CampaignStatus::Draft, 0)[0].code,
            "NO_RECIPIENTS"
        );
        for status in [
            CampaignStatus::Running,
            CampaignStatus::Paused,
            CampaignStatus::Completed,
            CampaignStatus::Canceled,
        ] {
            let reasons = campaign_reasons(status, 3);
            assert_eq!(reasons.len(), 1);
            assert_eq!(reasons[0].code, "CAMPAIGN_STATE_CONFLICT");
            assert!(reasons[0].text.contains(status.as_str()));
        }
    }

    #[test]
    fn blockers_keep_the_api_codes_and_name_their_figures() {
        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let funds = explain(&Blocker::InsufficientFunds {
            available: usd(100),
            required: usd(250),
        });
        assert_eq!(funds.code, "INSUFFICIENT_FUNDS");
        assert!(funds.text.contains("1.00 USD") && funds.text.contains("2.50 USD"));
        let frozen = explain(&Blocker::WalletFrozen {
            sources: vec![FreezeSource::Billing, FreezeSource::Admin],
        });
        assert_eq!(frozen.code, "FROZEN_WALLET");
        assert!(frozen.text.contains("billing, admin"));
    }

    #[test]
    fn malformed_ids_are_the_missing_campaign() {
        let Err(ConsoleError::Problem(problem)) = campaign_id("not-a-uuid") else {
            panic!("a malformed id must be refused");
        };
        assert_eq!(problem.code(), "CAMPAIGN_NOT_FOUND");
        assert_eq!(problem.status(), StatusCode::NOT_FOUND);
    }
}
