//! Stripe's JSON, as far as we read it. Kept apart from the domain types: these mirror Stripe's
//! objects (and their differences across API versions), `events.rs` and `api.rs` translate.
//!
//! Fields are optional wherever Stripe's API versions disagree or an object may legitimately
//! lack them; what a mapping truly needs is checked where it is used, so the error names it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `metadata`: string keys and values; absent or `null` reads as empty.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Metadata(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(
            Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default(),
        ))
    }
}

impl Metadata {
    /// A value that is present and not blank.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// A reference Stripe sends either as an id or, when expanded, as the object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Expandable<T> {
    Id(String),
    Object(T),
}

/// Any object, when only its id is read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Object {
    pub id: String,
}

impl Expandable<Object> {
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::Id(id) => id,
            Self::Object(object) => &object.id,
        }
    }
}

/// The event envelope. `data.object` stays raw until the type says what it is.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventData {
    pub object: serde_json::Value,
    /// On `*.updated` events (and `charge.refunded`): the changed fields' old values.
    #[serde(default)]
    pub previous_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A `subscription` object.
#[derive(Debug, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub metadata: Metadata,
    /// Set while collection is paused (our `pause`); the status stays `active` meanwhile.
    #[serde(default)]
    pub pause_collection: Option<serde_json::Value>,
    /// Before API version 2025-03-31 the period lived on the subscription ...
    #[serde(default)]
    pub current_period_end: Option<i64>,
    /// ... since then on each item.
    #[serde(default)]
    pub items: Option<List<SubscriptionItem>>,
    /// Expanded by our create call, for the hosted invoice of an `incomplete` subscription.
    #[serde(default)]
    pub latest_invoice: Option<Expandable<LatestInvoice>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SubscriptionItem {
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LatestInvoice {
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
}

/// A list (`{"object":"list","data":[...]}`).
#[derive(Debug, Deserialize)]
pub(crate) struct List<T> {
    pub data: Vec<T>,
}

/// An `invoice` object.
#[derive(Debug, Deserialize)]
pub(crate) struct Invoice {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub currency: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    #[serde(default)]
    pub metadata: Metadata,
    /// Since API version 2025-03-31: `parent.subscription_details.{subscription,metadata}`.
    #[serde(default)]
    pub parent: Option<InvoiceParent>,
    /// Before it: the top-level `subscription` ...
    #[serde(default)]
    pub subscription: Option<Expandable<Object>>,
    /// ... and `subscription_details.metadata`.
    #[serde(default)]
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InvoiceParent {
    #[serde(default)]
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SubscriptionDetails {
    #[serde(default)]
    pub subscription: Option<Expandable<Object>>,
    #[serde(default)]
    pub metadata: Metadata,
}

/// A Checkout `session` object.
#[derive(Debug, Deserialize)]
pub(crate) struct CheckoutSession {
    pub id: String,
    /// `payment`, `subscription` or `setup`.
    pub mode: String,
    /// `paid`, `unpaid` (an asynchronous method still settling) or `no_payment_required`.
    pub payment_status: String,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

/// A `payment_intent` object.
#[derive(Debug, Deserialize)]
pub(crate) struct PaymentIntent {
    /// What was actually captured (may be less than `amount`).
    pub amount_received: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: Metadata,
}

/// A `charge` object.
#[derive(Debug, Deserialize)]
pub(crate) struct Charge {
    pub id: String,
    /// Cumulative over every refund of the charge.
    pub amount_refunded: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: Metadata,
}

/// A `dispute` object.
#[derive(Debug, Deserialize)]
pub(crate) struct Dispute {
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: Metadata,
}

/// Stripe's error answer: `{"error":{"type","code","decline_code","message"}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApiError {
    #[serde(rename = "type", default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}
