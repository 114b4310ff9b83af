//! Subscription, entitlement and access-block bodies.
//!
//! Statuses, features, sources and event kinds cross the wire as the snake_case names the
//! domain defines (`past_due`, `send_messages`, `billing`, `manual_payment_received`); amounts as
//! exact decimal strings next to a `currency`.

use crate::entitlement::DenialReasonBody;
use chrono::{DateTime, Utc};
use primitives::{OrganizationId, SubscriptionId};
use serde::{Deserialize, Serialize};
use subscriptions::{
    AccessBlock, AccessDecision, Applied, DenialReason, Outcome, Subscription,
    history::{EventRecord, HistoryEntry},
};
use utoipa::{IntoParams, ToSchema};

// ---------------------------------------------------------------------------------------------
// Subscriptions

/// The subscription's identity at its billing provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    /// The provider's name.
    #[schema(example = "paypal")]
    pub name: String,
    /// The subscription's id at the provider.
    #[schema(example = "I-BW452GLLEP1G")]
    pub subscription_id: String,
}

/// An open dunning episode: payments are failing and are being retried.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DunningView {
    /// The first failed payment of the episode; dunning days count from it.
    pub started_at: DateTime<Utc>,
    /// Scheduled retries that failed so far.
    pub retries_failed: u32,
}

/// A subscription as it is now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionResponse {
    #[schema(value_type = uuid::Uuid)]
    pub id: SubscriptionId,
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    /// `pending`, `trialing`, `active`, `past_due`, `paused`, `suspended`, `canceled` or
    /// `expired`. Only `trialing` and `active` allow the paid features.
    #[schema(example = "active")]
    pub status: String,
    #[schema(example = "pro")]
    pub plan: String,
    /// Null for a subscription billed outside any provider.
    pub provider: Option<ProviderView>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub trial_end: Option<DateTime<Utc>>,
    /// The subscription ends at `current_period_end` (at `trial_end` while trialing).
    pub cancel_at_period_end: bool,
    /// Null unless payments are failing.
    pub dunning: Option<DunningView>,
    /// When the lifecycle acts next (a retry, the end of the grace period, the suspension).
    pub next_action_at: Option<DateTime<Utc>>,
    /// When the provider sync last fetched the provider's view and settled it (in agreement,
    /// applied or held for a person). Null until the first sync, and for a subscription
    /// without a provider; a provider error that may pass leaves it as it was.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Why the last provider sync left the subscription for a person (a contradiction it would
    /// not resolve, an id the provider does not know): the `PROVIDER SYNC HELD` reason. Null
    /// when the last sync settled by itself.
    #[schema(
        example = "paid here until 2027-01-31T00:00:00+00:00, but the provider reports it past \
                   due: a payment outside the provider, or a mistake; a person must look"
    )]
    pub last_sync_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Subscription> for SubscriptionResponse {
    fn from(subscription: Subscription) -> Self {
        let state = subscription.state;
        Self {
            id: subscription.id,
            organization_id: subscription.organization_id,
            status: state.status.as_str().to_owned(),
            plan: subscription.plan.as_str().to_owned(),
            provider: subscription.provider.map(|provider| ProviderView {
                name: provider.provider.as_str().to_owned(),
                subscription_id: provider.subscription_id,
            }),
            current_period_end: state.current_period_end,
            trial_end: state.trial_end,
            cancel_at_period_end: state.cancel_at_period_end,
            dunning: state.dunning.map(|episode| DunningView {
                started_at: episode.started_at,
                retries_failed: episode.retries_failed,
            }),
            next_action_at: subscription.next_action_at,
            last_synced_at: subscription.last_synced_at,
            last_sync_error: subscription.last_sync_error,
            created_at: subscription.created_at,
            updated_at: subscription.updated_at,
        }
    }
}

/// `POST /v1/admin/organizations/{organization_id}/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// The plan's code: 1 to 64 characters, lowercase letters, digits, `_`, `.`, `-`, starting
    /// with a letter or digit.
    #[schema(
        example = "pro",
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9_.-]*$"
    )]
    pub plan: String,
    /// The billing provider: `paypal`, `stripe` or `payhere` (no other name is accepted); with
    /// `provider_subscription_id`, or neither.
    #[schema(example = "paypal", pattern = "^(paypal|stripe|payhere)$")]
    pub provider: Option<String>,
    /// The subscription's id at the provider: 1 to 200 visible ASCII characters.
    #[schema(
        example = "I-BW452GLLEP1G",
        min_length = 1,
        max_length = 200,
        pattern = "^[!-~]+$"
    )]
    pub provider_subscription_id: Option<String>,
    /// Starts a trial that ends then (in the future). Without it the subscription is `pending`
    /// until it is paid.
    pub trial_end: Option<DateTime<Utc>>,
}

/// A created subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionCreatedResponse {
    pub subscription: SubscriptionResponse,
    /// `true`: this answers a retry of the same creation; nothing was written.
    pub replayed: bool,
}

/// `?limit=` of the history and event-log routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many, newest first: 1 to 200. Default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// One change of status (or a change within one, such as a failed retry).
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionView {
    /// Null for the creation.
    #[schema(example = "past_due")]
    pub from: Option<String>,
    #[schema(example = "active")]
    pub to: String,
    /// The event's kind.
    #[schema(example = "payment_succeeded")]
    pub event: String,
    /// Who sent the event (`paypal`, `dunning`, `admin` ...).
    #[schema(example = "paypal")]
    pub source: String,
    /// What the transition caused (unfreeze the wallet, resume campaigns, notify ...), each
    /// `{"effect": name, ...}`.
    #[schema(value_type = Vec<Object>)]
    pub effects: serde_json::Value,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was applied here.
    pub recorded_at: DateTime<Utc>,
}

impl From<HistoryEntry> for TransitionView {
    fn from(entry: HistoryEntry) -> Self {
        Self {
            from: entry.from,
            to: entry.to,
            event: entry.event,
            source: entry.source,
            effects: entry.effects,
            occurred_at: entry.occurred_at,
            recorded_at: entry.recorded_at,
        }
    }
}

/// The latest transitions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    #[schema(value_type = uuid::Uuid)]
    pub subscription_id: SubscriptionId,
    pub transitions: Vec<TransitionView>,
}

/// One event offered to the subscription and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    #[schema(example = "paypal")]
    pub source: String,
    /// The sender's id for the event (for `admin` events: the `Idempotency-Key`).
    pub event_id: String,
    #[schema(example = "payment_failed")]
    pub kind: String,
    /// `applied`, `ignored` (the state machine ignores it in that state; see `detail`) or
    /// `stale` (older than the newest applied event). Duplicates are not recorded again.
    #[schema(example = "applied")]
    pub outcome: String,
    pub detail: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

impl From<EventRecord> for EventView {
    fn from(record: EventRecord) -> Self {
        Self {
            source: record.source,
            event_id: record.event_id,
            kind: record.kind,
            outcome: record.outcome,
            detail: record.detail,
            occurred_at: record.occurred_at,
            received_at: record.received_at,
        }
    }
}

/// The latest events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsResponse {
    #[schema(value_type = uuid::Uuid)]
    pub subscription_id: SubscriptionId,
    pub events: Vec<EventView>,
}

/// `POST /v1/admin/organizations/{organization_id}/subscription/manual-payment`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualPaymentRequest {
    /// What was received: a positive decimal string in the currency's precision.
    #[schema(example = "49.00", pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub amount: String,
    /// ISO 4217 code, upper case.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// The end of the period this payment covers: in the future, at most five years ahead.
    /// The period is only ever extended, never shortened.
    pub period_end: DateTime<Utc>,
}

/// What a manual payment did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ManualPaymentResponse {
    /// `applied` (the subscription moved, see `transition`), `ignored` (recorded, but the
    /// subscription's state does not take a payment, see `reason`), `stale` (recorded, older
    /// than the newest event) or `duplicate` (this `Idempotency-Key` was applied before;
    /// nothing changed).
    #[schema(example = "applied")]
    pub outcome: String,
    /// Why an `ignored` payment changed nothing (`terminal` ...).
    #[schema(example = "terminal")]
    pub reason: Option<String>,
    /// The reason in words.
    pub detail: Option<String>,
    /// For `applied`: from, to and the effects carried out.
    pub transition: Option<AppliedTransitionView>,
    /// The subscription as it is now.
    pub subscription: SubscriptionResponse,
    /// `true` for a `duplicate`.
    pub replayed: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppliedTransitionView {
    #[schema(example = "suspended")]
    pub from: String,
    #[schema(example = "active")]
    pub to: String,
    #[schema(value_type = Vec<Object>)]
    pub effects: serde_json::Value,
}

impl ManualPaymentResponse {
    pub fn new(applied: Applied) -> Self {
        let (outcome, reason, detail, transition) = match &applied.outcome {
            Outcome::Applied { transition } => (
                "applied",
                None,
                None,
                Some(AppliedTransitionView {
                    from: transition.from.as_str().to_owned(),
                    to: transition.to.as_str().to_owned(),
                    // Effects are plain data; should one not serialize, the list is empty
                    // rather than the payment's answer lost (the history has them).
                    effects: serde_json::to_value(&transition.effects)
                        .unwrap_or_else(|_| serde_json::Value::Array(Vec::new())),
                }),
            ),
            Outcome::Ignored { reason } => (
                "ignored",
                Some(reason.as_str().to_owned()),
                Some(reason.explanation().to_owned()),
                None,
            ),
            Outcome::Stale { last_event_at } => (
                "stale",
                None,
                Some(format!(
                    "older than the last applied event ({last_event_at})"
                )),
                None,
            ),
            Outcome::Duplicate => (
                "duplicate",
                None,
                Some("this Idempotency-Key was applied before; nothing changed".to_owned()),
                None,
            ),
        };
        Self {
            outcome: outcome.to_owned(),
            reason,
            detail,
            transition,
            replayed: matches!(applied.outcome, Outcome::Duplicate),
            subscription: applied.subscription.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entitlements

/// Whether the organization may use one feature now, and why not.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementView {
    #[schema(example = "send_messages")]
    pub feature: String,
    pub allowed: bool,
    /// The current subscription's status; null when the organization never had one.
    #[schema(example = "active")]
    pub subscription_status: Option<String>,
    /// Every reason the feature is denied (empty when allowed).
    pub reasons: Vec<DenialReasonBody>,
}

impl From<AccessDecision> for EntitlementView {
    fn from(decision: AccessDecision) -> Self {
        Self {
            feature: decision.feature.as_str().to_owned(),
            allowed: decision.allowed(),
            subscription_status: decision.status.map(|status| status.as_str().to_owned()),
            reasons: decision
                .denied_because
                .iter()
                .map(|reason: &DenialReason| reason.into())
                .collect(),
        }
    }
}

/// Every feature.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementsResponse {
    /// Null when the organization never had a subscription.
    #[schema(example = "active")]
    pub subscription_status: Option<String>,
    pub entitlements: Vec<EntitlementView>,
}

// ---------------------------------------------------------------------------------------------
// Access blocks

/// One source's block on the organization's paid features.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessBlockView {
    /// `billing` (unpaid: lifted by a payment), `admin` (an operator) or `customer` (the
    /// customer paused their subscription).
    #[schema(example = "admin")]
    pub source: String,
    pub reason: String,
    /// Who put it in place.
    #[schema(example = "admin")]
    pub actor: String,
    pub since: DateTime<Utc>,
}

impl From<AccessBlock> for AccessBlockView {
    fn from(block: AccessBlock) -> Self {
        Self {
            source: block.source.as_str().to_owned(),
            reason: block.reason,
            actor: block.actor,
            since: block.since,
        }
    }
}

/// The blocks in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessBlocksResponse {
    pub blocks: Vec<AccessBlockView>,
}

/// `POST .../access-blocks` and `DELETE .../access-blocks/admin`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessBlockRequest {
    /// Why: 1 to 500 characters without control characters. The organization sees it in its
    /// entitlements, so write it for the customer.
    #[schema(
        example = "suspected fraud: under review",
        min_length = 1,
        max_length = 500
    )]
    pub reason: String,
}

/// The result of blocking or lifting.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessBlockChangeResponse {
    /// `false` when the admin block already was (blocking) or was not (lifting) in place.
    pub changed: bool,
    /// The blocks in force afterwards, every source's.
    pub blocks: Vec<AccessBlockView>,
}
