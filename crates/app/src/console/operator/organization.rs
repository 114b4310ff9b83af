//! `GET /console/operator/organizations[/{id}]`: an organization's wallet, freezes, access
//! blocks, subscription and unconfirmed campaign recipients, with the runbook's actions on
//! them: lift an admin freeze, lift the admin access block, record a manual payment, correct
//! the balance, resolve an unconfirmed recipient. Each is the API's endpoint, called as the
//! admin; what the endpoint checks is checked, and its refusal code is what the page shows.

use askama::Template;
use axum::{
    Extension,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use httpkit::{ApiError, ApiJson, ApiPath, Authenticated, Principal};
use primitives::OrganizationId;
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppState,
    access::{OrganizationAdmin, WalletCaller},
    routes::{admin_subscriptions, organizations, wallet},
    wire::{
        campaigns::{RecipientView, ResolveRecipientRequest},
        subscriptions::{
            AccessBlockChangeResponse, AccessBlockRequest, ManualPaymentRequest,
            ManualPaymentResponse,
        },
        wallet::{
            CorrectionRequest, EntryReceipt, FreezeRequest, FreezeResponse, FreezeSourceWire,
        },
    },
};

use super::super::{
    dispatch::{Api, Call, Refusal},
    forms::Posted,
    history::{self, Action, Entry},
    page::{self, ConsoleError, Frame, Outcome},
    session::OperatorSession,
};
use super::{frame, history::Line, path_id, record_and_go_back, when_maybe};

const HISTORY_SHOWN: i64 = 20;
const RECIPIENTS_SHOWN: i64 = 100;
const LATEST_ORGANIZATIONS: i64 = 20;

fn page_of(organization_id: Uuid) -> String {
    format!("/console/operator/organizations/{organization_id}")
}

/// What the history records actions on an organization under, and finds them by.
fn target_of(organization_id: Uuid) -> String {
    format!("organization {organization_id}")
}

// ---------------------------------------------------------------------------------------------
// The index: open an organization by id

#[derive(Debug, Default, Deserialize)]
pub struct Open {
    organization_id: Option<String>,
}

#[derive(Debug, QueryableByName)]
struct Listed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

#[derive(Debug)]
struct ListedRow {
    id: String,
    name: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "console/operator_organizations.html")]
struct IndexPage {
    frame: Frame,
    latest: Vec<ListedRow>,
}

pub async fn index(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(open): Query<Open>,
    Query(outcome): Query<Outcome>,
) -> Result<Response, ConsoleError> {
    if let Some(id) = open.organization_id.as_deref().map(str::trim)
        && !id.is_empty()
    {
        // The organization's page answers a malformed or unknown id with the API's 404.
        return Ok(Redirect::to(&format!(
            "/console/operator/organizations/{}",
            page::url_component(id)
        ))
        .into_response());
    }
    let mut conn = state.conn().await?;
    let latest: Vec<Listed> = diesel::sql_query(
        "SELECT id, name, created_at FROM organizations ORDER BY created_at DESC, id DESC \
         LIMIT $1",
    )
    .bind::<BigInt, _>(LATEST_ORGANIZATIONS)
    .load(&mut conn)
    .await
    .map_err(|error| ConsoleError::from(crate::AppError::from(error)))?;
    Ok(page::render(&IndexPage {
        frame: frame(
            &session,
            "Organizations",
            "/console/operator/organizations",
            &outcome,
        ),
        latest: latest
            .into_iter()
            .map(|o| ListedRow {
                id: o.id.to_string(),
                name: o.name,
                created_at: page::time(o.created_at),
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// One organization

#[derive(Debug)]
struct FreezeRow {
    source: String,
    reason: String,
    actor: String,
    since: String,
    /// Only the admin's freeze is lifted from here (risk's by its own process, billing's by a
    /// payment).
    liftable: bool,
}

#[derive(Debug)]
struct WalletCard {
    currency: String,
    balance: String,
    held: String,
    available: String,
    negative: bool,
    frozen: bool,
    freezes: Vec<FreezeRow>,
}

#[derive(Debug)]
struct BlockRow {
    source: String,
    reason: String,
    actor: String,
    since: String,
    liftable: bool,
}

#[derive(Debug)]
struct SubscriptionCard {
    status: String,
    plan: String,
    current_period_end: String,
    next_action_at: String,
    attention: bool,
}

#[derive(Debug, QueryableByName)]
struct Unconfirmed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = Text)]
    phone: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    unconfirmed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    lookup_note: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    delivery_status: Option<String>,
}

#[derive(Debug)]
struct RecipientRow {
    id: i64,
    campaign_id: String,
    phone: String,
    unconfirmed_at: String,
    note: String,
}

#[derive(Template)]
#[template(path = "console/operator_organization.html")]
struct OrganizationPage {
    frame: Frame,
    id: String,
    billing_email: String,
    created_at: String,
    wallet: WalletCard,
    blocks: Vec<BlockRow>,
    subscription: Option<SubscriptionCard>,
    recipients: Vec<RecipientRow>,
    lines: Vec<Line>,
    /// The money forms' idempotency keys, fresh for this drawing of the page.
    payment_key: String,
    correction_key: String,
}

/// `GET /console/operator/organizations/{organization_id}`.
pub async fn page(
    State(state): State<AppState>,
    session: OperatorSession,
    Path(raw_id): Path<String>,
    Query(outcome): Query<Outcome>,
) -> Result<Response, ConsoleError> {
    let uuid = path_id(&raw_id)?;
    let organization_id = OrganizationId::from_uuid(uuid);
    let admin = OrganizationAdmin {
        organization_id,
        operator: None,
    };
    let ApiJson(organization) = organizations::get_organization(
        State(state.clone()),
        Authenticated(Principal::Admin),
        ApiPath(organization_id),
    )
    .await?;
    let ApiJson(wallet) = wallet::get_wallet(
        State(state.clone()),
        WalletCaller {
            organization_id,
            principal: Principal::Admin,
        },
    )
    .await?;
    let ApiJson(blocks) =
        admin_subscriptions::list_access_blocks(State(state.clone()), admin.clone()).await?;
    let subscription =
        match admin_subscriptions::admin_get_subscription(State(state.clone()), admin).await {
            Ok(ApiJson(subscription)) => Some(subscription),
            Err(error) => {
                let problem = ApiError::from(error);
                if problem.code() != crate::error::subscription_not_found().code() {
                    return Err(problem.into());
                }
                None
            }
        };
    let recipients = unconfirmed(&state, uuid).await?;
    let lines = history::latest(&state, Some(&target_of(uuid)), HISTORY_SHOWN).await?;

    Ok(page::render(&OrganizationPage {
        frame: frame(
            &session,
            format!("Organization {}", organization.name),
            "/console/operator/organizations",
            &outcome,
        ),
        id: uuid.to_string(),
        billing_email: organization.billing_email.unwrap_or_default(),
        created_at: page::time(organization.created_at),
        wallet: WalletCard {
            negative: wallet.balance.starts_with('-'),
            frozen: wallet.frozen,
            freezes: wallet
                .freezes
                .into_iter()
                .map(|f| {
                    let source = page::wire_name(&f.source);
                    FreezeRow {
                        liftable: source == "admin",
                        source,
                        reason: f.reason,
                        actor: f.actor,
                        since: page::time(f.frozen_at),
                    }
                })
                .collect(),
            currency: wallet.currency,
            balance: wallet.balance,
            held: wallet.held,
            available: wallet.available,
        },
        blocks: blocks
            .blocks
            .into_iter()
            .map(|b| BlockRow {
                liftable: b.source == "admin",
                source: b.source,
                reason: b.reason,
                actor: b.actor,
                since: page::time(b.since),
            })
            .collect(),
        subscription: subscription.map(|s| SubscriptionCard {
            attention: matches!(s.status.as_str(), "past_due" | "suspended"),
            status: s.status,
            plan: s.plan,
            current_period_end: when_maybe(s.current_period_end),
            next_action_at: when_maybe(s.next_action_at),
        }),
        recipients: recipients
            .into_iter()
            .map(|r| RecipientRow {
                id: r.id,
                campaign_id: r.campaign_id.to_string(),
                phone: r.phone,
                unconfirmed_at: when_maybe(r.unconfirmed_at),
                note: [r.delivery_status, r.lookup_note]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · "),
            })
            .collect(),
        lines: lines.into_iter().map(Line::from).collect(),
        payment_key: page::action_key(),
        correction_key: page::action_key(),
    }))
}

/// The organization's recipients left `unconfirmed`, oldest first (the runbook's query, for
/// one organization across its campaigns).
async fn unconfirmed(
    state: &AppState,
    organization_id: Uuid,
) -> Result<Vec<Unconfirmed>, ConsoleError> {
    let mut conn = state.conn().await?;
    diesel::sql_query(
        "SELECT r.id, r.campaign_id, r.phone, r.unconfirmed_at, r.lookup_note, r.delivery_status \
         FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id \
         WHERE c.organization_id = $1 AND r.status = 'unconfirmed' \
         ORDER BY r.unconfirmed_at NULLS FIRST, r.id LIMIT $2",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<BigInt, _>(RECIPIENTS_SHOWN)
    .load(&mut conn)
    .await
    .map_err(|error| ConsoleError::from(crate::AppError::from(error)))
}

// ---------------------------------------------------------------------------------------------
// Actions

/// Records the action and goes back to the organization's page with its outcome.
async fn finish(
    state: &AppState,
    session: &OperatorSession,
    organization_id: Uuid,
    action: Action,
    reason: Option<String>,
    result: Result<String, Refusal>,
) -> Result<Redirect, ConsoleError> {
    let entry = Entry {
        operator: &session.operator,
        action,
        target: target_of(organization_id),
        reason,
    };
    record_and_go_back(state, entry, result, &page_of(organization_id)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReasonForm {
    reason: String,
}

/// What lifting the admin's freeze or access block did: the API answers `changed: false` when
/// the admin had none in place.
fn lifted(what: &str, changed: bool) -> String {
    if changed {
        format!("admin {what} lifted")
    } else {
        format!("there was no admin {what} to lift")
    }
}

/// `POST .../unfreeze`: lifts the admin's freeze (`POST .../wallet/unfreeze`, source `admin`).
pub async fn unfreeze(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(raw_id): Path<String>,
    post: Posted<OperatorSession, ReasonForm>,
) -> Result<Redirect, ConsoleError> {
    let id = path_id(&raw_id)?;
    let request = FreezeRequest {
        reason: post.form.reason,
        source: Some(FreezeSourceWire::Admin),
    };
    let result = Call::post(
        format!("/v1/organizations/{id}/wallet/unfreeze"),
        &post.session,
    )
    .json(&request)
    .send_as(&api)
    .await
    .map(|answer: FreezeResponse| lifted("freeze", answer.changed));
    finish(
        &state,
        &post.session,
        id,
        Action::LiftFreeze,
        Some(request.reason),
        result,
    )
    .await
}

/// `POST .../lift-access-block`: lifts the admin's access block
/// (`DELETE /v1/admin/organizations/{id}/access-blocks/admin`).
pub async fn lift_access_block(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(raw_id): Path<String>,
    post: Posted<OperatorSession, ReasonForm>,
) -> Result<Redirect, ConsoleError> {
    let id = path_id(&raw_id)?;
    let request = AccessBlockRequest {
        reason: post.form.reason,
    };
    let result = Call::delete(
        format!("/v1/admin/organizations/{id}/access-blocks/admin"),
        &post.session,
    )
    .json(&request)
    .send_as(&api)
    .await
    .map(|answer: AccessBlockChangeResponse| lifted("access block", answer.changed));
    finish(
        &state,
        &post.session,
        id,
        Action::LiftAccessBlock,
        Some(request.reason),
        result,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ManualPaymentForm {
    amount: String,
    currency: String,
    /// A date (`2027-01-31`, the start of that day in UTC) or an RFC 3339 time.
    period_end: String,
    idempotency_key: String,
}

/// The payment's period end as the API takes it.
fn period_end(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
}

/// `POST .../manual-payment` (`POST .../subscription/manual-payment`).
pub async fn manual_payment(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(raw_id): Path<String>,
    post: Posted<OperatorSession, ManualPaymentForm>,
) -> Result<Redirect, ConsoleError> {
    let id = path_id(&raw_id)?;
    let form = post.form;
    let result = match period_end(&form.period_end) {
        None => Err(Refusal::here(
            "INVALID_PERIOD_END",
            "period_end must be a date (2027-01-31) or an RFC 3339 time",
        )),
        Some(period_end) => {
            let request = ManualPaymentRequest {
                amount: form.amount.trim().to_owned(),
                currency: form.currency.trim().to_owned(),
                period_end,
            };
            Call::post(
                format!("/v1/admin/organizations/{id}/subscription/manual-payment"),
                &post.session,
            )
            .idempotency_key(form.idempotency_key.trim())
            .json(&request)
            .send_as(&api)
            .await
            .map(|answer: ManualPaymentResponse| {
                format!(
                    "manual payment of {} {}: {}",
                    request.amount, request.currency, answer.outcome
                )
            })
        }
    };
    finish(
        &state,
        &post.session,
        id,
        Action::RecordManualPayment,
        None,
        result,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CorrectionForm {
    amount: String,
    currency: String,
    reason: String,
    idempotency_key: String,
}

/// `POST .../correction` (`POST /v1/organizations/{id}/wallet/corrections`): the form's key is
/// the correction's reference, so posting the form twice corrects once.
pub async fn correction(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(raw_id): Path<String>,
    post: Posted<OperatorSession, CorrectionForm>,
) -> Result<Redirect, ConsoleError> {
    let id = path_id(&raw_id)?;
    let form = post.form;
    // The reference travels as the `Idempotency-Key` header, which the API takes in its place.
    let request = CorrectionRequest {
        amount: form.amount.trim().to_owned(),
        currency: form.currency.trim().to_owned(),
        reason: form.reason,
        reference: None,
    };
    let result = Call::post(
        format!("/v1/organizations/{id}/wallet/corrections"),
        &post.session,
    )
    .idempotency_key(form.idempotency_key.trim())
    .json(&request)
    .send_as(&api)
    .await
    .map(|answer: EntryReceipt| {
        format!(
            "correction of {} {} {}",
            request.amount,
            request.currency,
            if answer.replayed {
                "was already recorded (the same form sent again)"
            } else {
                "recorded"
            }
        )
    });
    finish(
        &state,
        &post.session,
        id,
        Action::Correction,
        Some(request.reason),
        result,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResolveForm {
    campaign_id: String,
    recipient_id: String,
    /// `sent` or `not_sent`.
    outcome: String,
    twilio_sid: String,
}

/// `POST .../resolve-recipient`
/// (`POST /v1/admin/organizations/{id}/campaigns/{campaign}/recipients/{recipient}/resolve`).
pub async fn resolve_recipient(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(raw_id): Path<String>,
    post: Posted<OperatorSession, ResolveForm>,
) -> Result<Redirect, ConsoleError> {
    let id = path_id(&raw_id)?;
    let form = post.form;
    let campaign = Uuid::parse_str(form.campaign_id.trim());
    let recipient = form.recipient_id.trim().parse::<i64>();
    let result = match (campaign, recipient) {
        (Ok(campaign), Ok(recipient)) => {
            let sid = form.twilio_sid.trim();
            let request = ResolveRecipientRequest {
                outcome: form.outcome,
                twilio_sid: (!sid.is_empty()).then(|| sid.to_owned()),
            };
            Call::post(
                format!(
                    "/v1/admin/organizations/{id}/campaigns/{campaign}/recipients/{recipient}/resolve"
                ),
                &post.session,
            )
            .json(&request)
            .send_as(&api)
            .await
            .map(|answer: RecipientView| {
                let status = answer.status;
                format!("recipient {recipient} of campaign {campaign} resolved: now {status}")
            })
        }
        _ => Err(Refusal::here(
            "VALIDATION_FAILED",
            "campaign_id must be a campaign's id and recipient_id a recipient's number",
        )),
    };
    finish(
        &state,
        &post.session,
        id,
        Action::ResolveRecipient,
        None,
        result,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_ends_are_dates_or_rfc3339_times() {
        assert_eq!(
            period_end("2027-01-31").unwrap().to_rfc3339(),
            "2027-01-31T00:00:00+00:00"
        );
        assert_eq!(
            period_end(" 2027-01-31T12:00:00+02:00 ")
                .unwrap()
                .to_rfc3339(),
            "2027-01-31T10:00:00+00:00"
        );
        assert!(period_end("").is_none());
        assert!(period_end("31/01/2027").is_none());
    }
}
