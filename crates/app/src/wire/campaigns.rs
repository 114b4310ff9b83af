//! Brand, campaign, recipient and send-eligibility bodies.
//!
//! Statuses, encodings and pause reasons cross the wire as the snake_case names the domain
//! defines (`running`, `gsm7`, `subscription_inactive`); money as exact decimal strings next to a
//! `currency`; ids as UUIDs, except recipients, which are numbered within their campaign.

use crate::entitlement::DenialReasonBody;
use campaigns::{
    Brand, BrandId, Campaign, CampaignSummary, DeliveryCounts, MessagingStatus, Recipient,
    RecipientCounts, Sender,
    eligibility::{Blocker, Facts},
};
use chrono::{DateTime, Utc};
use primitives::{Money, OrganizationId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

fn decimal(money: Money) -> String {
    money.to_decimal_string()
}

// ---------------------------------------------------------------------------------------------
// Brands

/// `POST /v1/organizations/{organization_id}/brands`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBrandRequest {
    /// Display name, 1 to 200 characters after trimming, no control characters.
    #[schema(example = "Acme Shoes", min_length = 1, max_length = 200)]
    pub name: String,
    /// The brand's Twilio subaccount: `AC` and 32 lower-case hex digits; one brand per
    /// subaccount.
    #[schema(
        example = "AC0123456789abcdef0123456789abcdef",
        pattern = "^AC[0-9a-f]{32}$"
    )]
    pub twilio_subaccount_sid: String,
}

/// A brand: who an organization sends as, with its Twilio subaccount.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandView {
    pub id: Uuid,
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    pub name: String,
    #[schema(example = "AC0123456789abcdef0123456789abcdef")]
    pub twilio_subaccount_sid: String,
    /// `active` (can send), `suspending`, `suspended` or `reactivating` (the Twilio call is
    /// pending or retrying). Only `active` can send.
    #[schema(example = "active")]
    pub messaging_status: String,
    /// What the subaccount should be: `active` or `suspended` (the latest wish, which the
    /// outbox applies at Twilio).
    #[schema(example = "active")]
    pub messaging_wish: String,
    /// The last Twilio failure applying the wish, cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Brand> for BrandView {
    fn from(brand: Brand) -> Self {
        Self {
            id: brand.id.as_uuid(),
            organization_id: brand.organization_id,
            name: brand.name,
            twilio_subaccount_sid: brand.twilio_subaccount_sid,
            messaging_status: brand.messaging_status.as_str().to_owned(),
            messaging_wish: brand.messaging_wish.stored().to_owned(),
            last_error: brand.last_error,
            last_error_at: brand.last_error_at,
            created_at: brand.created_at,
            updated_at: brand.updated_at,
        }
    }
}

/// The organization's brands, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandsResponse {
    pub brands: Vec<BrandView>,
}

/// One brand's messaging status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BrandStatusView {
    pub brand_id: Uuid,
    #[schema(example = "suspended")]
    pub messaging_status: String,
}

impl From<&(BrandId, MessagingStatus)> for BrandStatusView {
    fn from((brand_id, status): &(BrandId, MessagingStatus)) -> Self {
        Self {
            brand_id: brand_id.as_uuid(),
            messaging_status: status.as_str().to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Campaigns

/// `POST /v1/organizations/{organization_id}/campaigns`: a draft. Send exactly one of `from`
/// and `messaging_service_sid`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaignRequest {
    /// One of the organization's brands: its Twilio subaccount sends the messages.
    #[schema(value_type = uuid::Uuid)]
    pub brand_id: String,
    /// 1 to 200 characters after trimming, no control characters.
    #[schema(example = "Spring sale", min_length = 1, max_length = 200)]
    pub name: String,
    /// What every recipient receives: 1 to 1600 characters, not only spaces; line breaks and
    /// tabs allowed, other control characters not. Its SMS segments fix the cost per message.
    #[schema(
        example = "Spring sale: 20% off everything until Sunday. Reply STOP to opt out.",
        min_length = 1,
        max_length = 1600
    )]
    pub body: String,
    /// The sender: an E.164 number or an alphanumeric sender ID (1 to 11 letters and digits,
    /// at least one letter).
    #[schema(
        example = "+14155550199",
        max_length = 16,
        pattern = "^(\\+[1-9][0-9]{6,14}|[A-Za-z0-9]{1,11})$"
    )]
    pub from: Option<String>,
    /// A Twilio messaging service (`MG` + 32 hex digits) that picks the number instead.
    #[schema(pattern = "^MG[0-9a-fA-F]{32}$")]
    pub messaging_service_sid: Option<String>,
    /// The price of one SMS segment: a positive decimal string in the currency's precision.
    #[schema(example = "0.05", pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub price_per_segment: String,
    /// ISO 4217 code, upper case; must be the wallet's currency.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
}

/// A campaign as it is now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    pub brand_id: Uuid,
    pub name: String,
    pub body: String,
    /// The sender number or ID; null when a messaging service sends.
    pub from: Option<String>,
    /// The messaging service; null when `from` sends.
    pub messaging_service_sid: Option<String>,
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "0.05")]
    pub price_per_segment: String,
    /// `gsm7` or `ucs2`: the SMS alphabet the body needs.
    #[schema(example = "gsm7")]
    pub encoding: String,
    /// SMS segments per message.
    #[schema(example = 1)]
    pub segments: u32,
    /// `segments x price_per_segment`: what one accepted message costs.
    #[schema(example = "0.05")]
    pub cost_per_message: String,
    /// `draft`, `running`, `paused`, `completed` or `canceled`.
    #[schema(example = "running")]
    pub status: String,
    /// Why it is paused (null unless `paused`): `manual` (a person; only a person resumes
    /// it), or a billing reason that resumes by itself once it clears:
    /// `subscription_inactive`, `wallet_frozen`, `messaging_suspended`, `insufficient_funds`.
    #[schema(example = json!(null))]
    pub pause_reason: Option<String>,
    /// The wallet hold paying for it while it runs (the campaign's alone: the hold routes
    /// refuse it with `HOLD_OWNED_BY_CAMPAIGN`).
    pub hold_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Campaign> for CampaignView {
    fn from(campaign: Campaign) -> Self {
        let (from, messaging_service_sid) = match campaign.sender {
            Sender::From(from) => (Some(from), None),
            Sender::MessagingService(sid) => (None, Some(sid)),
        };
        Self {
            id: campaign.id.as_uuid(),
            organization_id: campaign.organization_id,
            brand_id: campaign.brand_id.as_uuid(),
            name: campaign.name,
            body: campaign.body,
            from,
            messaging_service_sid,
            currency: campaign.cost_per_message.currency().code().to_owned(),
            price_per_segment: decimal(campaign.price_per_segment),
            encoding: campaign.encoding.as_str().to_owned(),
            segments: campaign.segments,
            cost_per_message: decimal(campaign.cost_per_message),
            status: campaign.status.as_str().to_owned(),
            pause_reason: campaign
                .pause_reason
                .map(|reason| reason.as_str().to_owned()),
            hold_id: campaign.hold_id.map(|hold| hold.as_uuid()),
            created_at: campaign.created_at,
            updated_at: campaign.updated_at,
            started_at: campaign.started_at,
            finished_at: campaign.finished_at,
        }
    }
}

/// `?cursor=&limit=` of the campaign list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignListParams {
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200. Default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// A page of campaigns, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignsPage {
    pub campaigns: Vec<CampaignView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<Uuid>,
}

/// How many recipients are in each status.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientCountsView {
    pub pending: i64,
    /// Claimed by a dispatcher, Twilio call in flight.
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    /// May have been sent (the answer was lost): charged, never resent, until an operator
    /// resolves it.
    pub unconfirmed: i64,
    pub canceled: i64,
    pub total: i64,
}

impl From<RecipientCounts> for RecipientCountsView {
    fn from(counts: RecipientCounts) -> Self {
        Self {
            pending: counts.pending,
            sending: counts.sending,
            sent: counts.sent,
            failed: counts.failed,
            unconfirmed: counts.unconfirmed,
            canceled: counts.canceled,
            total: counts.total(),
        }
    }
}

/// How many of the campaign's messages are in each delivery status, as Twilio last reported
/// (the send's answer, then its status callbacks). A recipient Twilio has said nothing about
/// (not sent, or refused before a message existed) is in none, so `total` can be less than the
/// recipients'.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryCountsView {
    /// Waiting in Twilio's queue.
    pub queued: i64,
    pub sending: i64,
    /// Handed to the carrier; no delivery receipt yet.
    pub sent: i64,
    pub delivered: i64,
    /// The carrier could not deliver it (Twilio's error code is on the recipient); it was sent
    /// and is paid for.
    pub undelivered: i64,
    /// Twilio could not send it; not charged.
    pub failed: i64,
    pub total: i64,
}

impl From<DeliveryCounts> for DeliveryCountsView {
    fn from(counts: DeliveryCounts) -> Self {
        Self {
            queued: counts.queued,
            sending: counts.sending,
            sent: counts.sent,
            delivered: counts.delivered,
            undelivered: counts.undelivered,
            failed: counts.failed,
            total: counts.total(),
        }
    }
}

/// The campaign's money, over all its holds: `reserved = held - captured - released`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignMoneyView {
    #[schema(example = "USD")]
    pub currency: String,
    /// Reserved by all its holds so far.
    #[schema(example = "5.00")]
    pub held: String,
    /// Paid for messages Twilio accepted (or may have).
    #[schema(example = "4.85")]
    pub captured: String,
    /// Given back.
    #[schema(example = "0.15")]
    pub released: String,
    /// Still reserved now.
    #[schema(example = "0.00")]
    pub reserved: String,
}

/// A campaign with its recipient counts, its messages' delivery counts and money.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignSummaryResponse {
    pub campaign: CampaignView,
    pub recipients: RecipientCountsView,
    pub deliveries: DeliveryCountsView,
    pub money: CampaignMoneyView,
}

impl From<CampaignSummary> for CampaignSummaryResponse {
    fn from(summary: CampaignSummary) -> Self {
        Self {
            money: CampaignMoneyView {
                currency: summary.held.currency().code().to_owned(),
                held: decimal(summary.held),
                captured: decimal(summary.captured),
                released: decimal(summary.released),
                reserved: decimal(summary.reserved),
            },
            recipients: summary.recipients.into(),
            deliveries: summary.deliveries.into(),
            campaign: summary.campaign.into(),
        }
    }
}

/// A started campaign (201), or the campaign this key started (200, a replay).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignStartedResponse {
    pub campaign: CampaignView,
    /// True when the campaign was already started with this `Idempotency-Key`: nothing was
    /// done now.
    pub replayed: bool,
}

// ---------------------------------------------------------------------------------------------
// Recipients

/// `POST .../campaigns/{campaign_id}/recipients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRecipientsRequest {
    /// 1 to 10000 numbers in E.164 (`+`, 7 to 15 digits, the first not 0; no separators).
    /// One bad number refuses the whole request. Larger lists take several requests (and
    /// 10000 numbers need a body limit above the default 64 KiB).
    #[schema(
        value_type = Vec<E164Number>,
        example = json!(["+14155550100", "+442071838750"]),
        min_items = 1,
        max_items = 10000
    )]
    pub numbers: Vec<String>,
}

/// A phone number in E.164, as the schema of `numbers` shows it: numbers are taken as text and
/// checked one by one, so only the schema exists.
pub struct E164Number;

impl utoipa::PartialSchema for E164Number {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "E.164: `+` and 7 to 15 digits, the first not 0, no separators (surrounding \
                 spaces are trimmed).",
            ))
            .pattern(Some("^\\+[1-9][0-9]{6,14}$"))
            .examples(["+14155550100"])
            .into()
    }
}

impl ToSchema for E164Number {}

/// What adding recipients did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddRecipientsResponse {
    /// New recipients.
    pub added: usize,
    /// Numbers repeated in the request or already in the campaign: not added again.
    pub duplicates: usize,
}

/// `?status=&after=&limit=` of the recipient list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecipientListParams {
    /// Only recipients in this status: `pending`, `sending`, `sent`, `failed`, `unconfirmed`
    /// or `canceled`.
    #[param(example = "unconfirmed", min_length = 1)]
    pub status: Option<String>,
    /// `next_after` of the previous page: recipients after this id.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Page size, 1 to 1000. Default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// One recipient of a campaign.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecipientView {
    /// Numbered in list order; what the resolve route takes.
    pub id: i64,
    #[schema(example = "+14155550100")]
    pub phone: String,
    /// `pending`, `sending`, `sent`, `failed`, `unconfirmed` or `canceled`.
    #[schema(example = "sent")]
    pub status: String,
    /// What it cost (0 unless it went out, or may have).
    #[schema(example = "0.05")]
    pub charged: String,
    #[schema(example = "USD")]
    pub currency: String,
    /// Twilio calls made for it.
    pub attempts: i32,
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    pub twilio_sid: Option<String>,
    #[schema(example = "queued")]
    pub twilio_status: Option<String>,
    /// Twilio's own price, as Twilio reports it (often later, or never).
    pub twilio_price: Option<String>,
    pub twilio_price_unit: Option<String>,
    /// Twilio's error code when it refused the message.
    pub error_code: Option<i32>,
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// What Twilio last reported for the message (the send's answer, a status callback or the
    /// lookup): `queued`, `sending`, `sent`, `delivered`, `undelivered` or `failed`; it only
    /// moves forward. Null until Twilio reports. It says what became of the message; `status`
    /// says what the recipient cost (a `delivered` or `undelivered` message is `sent`).
    #[schema(example = "delivered")]
    pub delivery_status: Option<String>,
    /// Twilio's error code of an `undelivered` or `failed` message (null otherwise).
    #[schema(example = json!(null))]
    pub delivery_error_code: Option<i32>,
    /// When `delivery_status` was last recorded (null with it).
    pub delivery_updated_at: Option<DateTime<Utc>>,
    /// When the recipient became `unconfirmed` (its send may or may not have reached Twilio);
    /// kept once it is resolved. Null for a recipient that never was.
    #[schema(example = json!(null))]
    pub unconfirmed_at: Option<DateTime<Utc>>,
    /// The lookup job's note on an unconfirmed recipient: why it has not resolved it yet (it
    /// waits for Twilio's list, its lookups fail) or left it to a person (`left to a person:
    /// ...`, `message lookup failed (N times): ...`), or how it resolved it. Null when the
    /// lookup never looked at it.
    #[schema(
        example = "left to a person: 2 candidate messages, 2 with the campaign's text: \
                   SM0123456789abcdef0123456789abcdef, SM00000000000000000000000000000002"
    )]
    pub lookup_note: Option<String>,
}

impl From<Recipient> for RecipientView {
    fn from(recipient: Recipient) -> Self {
        Self {
            id: recipient.id,
            phone: recipient.phone,
            status: recipient.status.as_str().to_owned(),
            currency: recipient.charged.currency().code().to_owned(),
            charged: decimal(recipient.charged),
            attempts: recipient.attempts,
            twilio_sid: recipient.twilio_sid,
            twilio_status: recipient.twilio_status,
            twilio_price: recipient.twilio_price,
            twilio_price_unit: recipient.twilio_price_unit,
            error_code: recipient.error_code,
            error: recipient.error,
            sent_at: recipient.sent_at,
            updated_at: recipient.updated_at,
            delivery_status: recipient
                .delivery_status
                .map(|status| status.as_str().to_owned()),
            delivery_error_code: recipient.delivery_error_code,
            delivery_updated_at: recipient.delivery_updated_at,
            unconfirmed_at: recipient.unconfirmed_at,
            lookup_note: recipient.lookup_note,
        }
    }
}

/// A page of recipients, in list order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientsPage {
    pub recipients: Vec<RecipientView>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<i64>,
}

/// What is known about an unconfirmed recipient (documents the values `outcome` takes; the
/// handler parses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(as = ResolveOutcome)]
pub enum ResolveOutcomeWire {
    /// Twilio sent it: it stays charged and becomes `sent`.
    #[schema(rename = "sent")]
    Sent,
    /// Twilio did not: its charge is credited back and it becomes `failed` (never resent).
    #[schema(rename = "not_sent")]
    NotSent,
}

/// `POST /v1/admin/organizations/{organization_id}/campaigns/{campaign_id}/recipients/
/// {recipient_id}/resolve`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRecipientRequest {
    /// `sent` or `not_sent`. Taken as text so any other value is a `VALIDATION_FAILED` with
    /// `field`, whatever its JSON type.
    #[schema(value_type = ResolveOutcomeWire)]
    pub outcome: String,
    /// The message's SID from Twilio's console or log (two capital letters, `SM` or `MM`, and
    /// 32 hex digits); only with `sent`.
    #[schema(
        example = "SM0123456789abcdef0123456789abcdef",
        pattern = "^[A-Z]{2}[0-9a-fA-F]{32}$"
    )]
    pub twilio_sid: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Eligibility

/// One reason the organization may not send now. Beside `code` and `reason`, each carries its
/// own details: `subscription_status` and `denied_because` (`SUBSCRIPTION_INACTIVE`),
/// `sources` (`FROZEN_WALLET`), `brands` (`MESSAGING_SUSPENDED`), `available`, `required` and
/// `currency` (`INSUFFICIENT_FUNDS`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SendBlocker)]
pub struct SendBlockerView {
    /// `SUBSCRIPTION_INACTIVE`, `FROZEN_WALLET`, `MESSAGING_SUSPENDED` or
    /// `INSUFFICIENT_FUNDS`.
    #[schema(example = "FROZEN_WALLET")]
    pub code: String,
    /// The pause reason it gives a campaign: `subscription_inactive`, `wallet_frozen`,
    /// `messaging_suspended` or `insufficient_funds`.
    #[schema(example = "wallet_frozen")]
    pub reason: String,
    /// The subscription's status (null without a subscription).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "past_due")]
    pub subscription_status: Option<Option<String>>,
    /// Why the `broadcast_campaigns` feature is denied, as in the entitlements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_because: Option<Vec<DenialReasonBody>>,
    /// Who froze the wallet: `admin`, `billing`, `risk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["billing"]))]
    pub sources: Option<Vec<String>>,
    /// The brands considered, none of them `active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brands: Option<Vec<BrandStatusView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "0.10")]
    pub available: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "5.00")]
    pub required: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "USD")]
    pub currency: Option<String>,
}

impl From<&Blocker> for SendBlockerView {
    fn from(blocker: &Blocker) -> Self {
        let mut view = Self {
            code: blocker.code().to_owned(),
            reason: blocker.reason().as_str().to_owned(),
            subscription_status: None,
            denied_because: None,
            sources: None,
            brands: None,
            available: None,
            required: None,
            currency: None,
        };
        match blocker {
            Blocker::SubscriptionInactive {
                status,
                denied_because,
            } => {
                view.subscription_status = Some(status.map(|status| status.as_str().to_owned()));
                view.denied_because = Some(denied_because.iter().map(Into::into).collect());
            }
            Blocker::WalletFrozen { sources } => {
                view.sources = Some(
                    sources
                        .iter()
                        .map(|source| source.as_str().to_owned())
                        .collect(),
                );
            }
            Blocker::MessagingSuspended { brands } => {
                view.brands = Some(brands.iter().map(BrandStatusView::from).collect());
            }
            Blocker::InsufficientFunds {
                available,
                required,
            } => {
                view.available = Some(decimal(*available));
                view.required = Some(decimal(*required));
                view.currency = Some(available.currency().code().to_owned());
            }
        }
        view
    }
}

/// `?brand_id=` of the eligibility check.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EligibilityParams {
    /// Check this brand's messaging status; without it, messaging blocks only when no brand
    /// of the organization is active.
    #[param(value_type = Option<uuid::Uuid>)]
    pub brand_id: Option<String>,
}

/// The wallet as eligibility sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EligibilityWalletView {
    pub frozen: bool,
    /// Who froze it: `admin`, `billing`, `risk`.
    pub freeze_sources: Vec<String>,
    /// Balance minus open holds.
    #[schema(example = "100.00")]
    pub available: String,
    #[schema(example = "USD")]
    pub currency: String,
}

/// Whether the organization may send now, with every reason if not.
#[derive(Debug, Serialize, ToSchema)]
pub struct EligibilityResponse {
    pub eligible: bool,
    /// Every blocking reason, in a fixed order: subscription, wallet, messaging, funds.
    pub reasons: Vec<SendBlockerView>,
    /// Null when the organization never had a subscription.
    #[schema(example = "active")]
    pub subscription_status: Option<String>,
    pub wallet: EligibilityWalletView,
    /// The brands considered: the one asked about, or all of the organization's.
    pub brands: Vec<BrandStatusView>,
}

impl EligibilityResponse {
    pub fn new(facts: &Facts, blockers: &[Blocker]) -> Self {
        Self {
            eligible: blockers.is_empty(),
            reasons: blockers.iter().map(SendBlockerView::from).collect(),
            subscription_status: facts.access.status.map(|status| status.as_str().to_owned()),
            wallet: EligibilityWalletView {
                frozen: facts.wallet.frozen,
                freeze_sources: facts
                    .wallet
                    .freezes
                    .iter()
                    .map(|freeze| freeze.source.as_str().to_owned())
                    .collect(),
                available: decimal(facts.wallet.available),
                currency: facts.wallet.currency.code().to_owned(),
            },
            brands: facts.brands.iter().map(BrandStatusView::from).collect(),
        }
    }
}
