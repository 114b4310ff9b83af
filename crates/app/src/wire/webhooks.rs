//! Webhook inbox bodies for operators (docs/webhooks.md). The raw body is never shown: it is the
//! provider's payload, with the customer's name and address; its digest and size are.

use chrono::{DateTime, Utc};
use intake::inbox::{EventOutcome, EventResult, InboxDelivery, InboxStatus, StatusCount};
use primitives::{OrganizationId, SubscriptionId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `?provider=&status=&organization_id=&cursor=&limit=` of `GET /v1/admin/webhook-events`. Each
/// value is taken as text and checked by the handler, so each bad one gets its own code. An
/// absent parameter is no filter; an empty one is refused like any other bad value.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookEventListParams {
    /// `paypal`, `stripe` or `payhere`.
    #[param(example = "paypal", min_length = 1)]
    pub provider: Option<String>,
    /// `received`, `applied`, `ignored`, `unmatched`, `held`, `failed` or `dead`.
    #[param(example = "unmatched", min_length = 1)]
    pub status: Option<String>,
    /// Only deliveries matched to (or naming) this organization.
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200. Default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookEventStatus)]
pub enum InboxStatusWire {
    /// Stored, not applied yet (the receiver applies at once; the worker if it could not).
    Received,
    Applied,
    /// Nothing to do (a type nobody acts on, or the state machine ignored it).
    Ignored,
    /// No subscription or organization to apply it to yet; tried again, applied once it exists.
    Unmatched,
    /// A person must look (`last_error` or the outcomes say why), then re-apply it.
    Held,
    /// An attempt failed; retried with backoff.
    Failed,
    /// Retries exhausted; re-apply it once the cause is fixed.
    Dead,
}

impl From<InboxStatus> for InboxStatusWire {
    fn from(status: InboxStatus) -> Self {
        match status {
            InboxStatus::Received => Self::Received,
            InboxStatus::Applied => Self::Applied,
            InboxStatus::Ignored => Self::Ignored,
            InboxStatus::Unmatched => Self::Unmatched,
            InboxStatus::Held => Self::Held,
            InboxStatus::Failed => Self::Failed,
            InboxStatus::Dead => Self::Dead,
        }
    }
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookEventResult)]
pub enum EventResultWire {
    Applied,
    Ignored,
    Duplicate,
    Stale,
    Unmatched,
    Held,
}

impl From<EventResult> for EventResultWire {
    fn from(result: EventResult) -> Self {
        match result {
            EventResult::Applied => Self::Applied,
            EventResult::Ignored => Self::Ignored,
            EventResult::Duplicate => Self::Duplicate,
            EventResult::Stale => Self::Stale,
            EventResult::Unmatched => Self::Unmatched,
            EventResult::Held => Self::Held,
        }
    }
}

/// One normalized event of a delivery and what applying it did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEventOutcomeView {
    #[schema(example = "WH-2WR32451HC0233532-67976317FL4543714")]
    pub event_id: String,
    #[schema(example = "subscription_suspended")]
    pub kind: String,
    pub result: EventResultWire,
    #[schema(example = "subscription 0190f3a2-... active -> suspended")]
    pub detail: String,
}

impl From<EventOutcome> for WebhookEventOutcomeView {
    fn from(outcome: EventOutcome) -> Self {
        Self {
            event_id: outcome.event_id,
            kind: outcome.kind,
            result: outcome.result.into(),
            detail: outcome.detail,
        }
    }
}

/// One delivery as operators see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookEventView {
    pub id: Uuid,
    #[schema(example = "paypal")]
    pub provider: String,
    /// The provider's id of the delivery; a repeat with the same id is a duplicate.
    #[schema(example = "WH-2WR32451HC0233532-67976317FL4543714")]
    pub delivery_id: String,
    #[schema(example = "BILLING.SUBSCRIPTION.SUSPENDED")]
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub status: InboxStatusWire,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub subscription_id: Option<SubscriptionId>,
    /// Attempts that ended in an error.
    pub attempts: i32,
    /// When the worker tries it next (received, failed, unmatched).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// While an attempt holds it (its receiver, the worker, an operator): until when.
    pub leased_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// When it reached applied, ignored, held or dead.
    pub settled_at: Option<DateTime<Utc>>,
    /// SHA-256 of the raw body, hex.
    pub body_sha256: String,
    pub body_size: i32,
    /// Set once the raw body was pruned (after the retention); the rest stays.
    pub body_pruned_at: Option<DateTime<Utc>>,
    /// The normalized events, as stored.
    #[schema(value_type = Vec<Object>)]
    pub events: serde_json::Value,
    pub outcomes: Vec<WebhookEventOutcomeView>,
}

impl From<InboxDelivery> for WebhookEventView {
    fn from(delivery: InboxDelivery) -> Self {
        Self {
            id: delivery.id,
            provider: delivery.provider.as_str().to_owned(),
            delivery_id: delivery.delivery_id,
            event_type: delivery.event_type,
            received_at: delivery.received_at,
            status: delivery.status.into(),
            organization_id: delivery.organization_id,
            subscription_id: delivery.subscription_id,
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            leased_until: delivery.leased_until,
            last_error: delivery.last_error,
            settled_at: delivery.settled_at,
            body_sha256: delivery
                .body_sha256
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
            body_size: delivery.body_size,
            body_pruned_at: delivery.body_pruned_at,
            events: serde_json::to_value(&delivery.events).unwrap_or_default(),
            outcomes: delivery.outcomes.into_iter().map(Into::into).collect(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventsResponse {
    pub events: Vec<WebhookEventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// How many deliveries of a provider are in a status.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventCountView {
    #[schema(example = "stripe")]
    pub provider: String,
    pub status: InboxStatusWire,
    pub count: i64,
}

impl From<StatusCount> for WebhookEventCountView {
    fn from(count: StatusCount) -> Self {
        Self {
            provider: count.provider.as_str().to_owned(),
            status: count.status.into(),
            count: count.count,
        }
    }
}

/// Delivery counts by provider, then status; a pair with no delivery is absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventCountsResponse {
    pub counts: Vec<WebhookEventCountView>,
}
