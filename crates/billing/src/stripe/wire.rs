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
    /// Unix seconds; set while (and after) the subscription has a trial.
    #[serde(default)]
    pub trial_end: Option<i64>,
    /// The customer who pays it (`cus_...`), for the billing portal.
    #[serde(default)]
    pub customer: Option<Expandable<Object>>,
}

impl Subscription {
    /// The current period's end, in Unix seconds: the latest over the items (API versions since
    /// 2025-03-31), else the legacy subscription-level field.
    pub(crate) fn period_end(&self) -> Option<i64> {
        self.items
            .iter()
            .flat_map(|items| &items.data)
            .filter_map(|item| item.current_period_end)
            .max()
            .or(self.current_period_end)
    }
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
    /// Before API version 2025-03-31 only: the invoice's PaymentIntent (`null` while none was
    /// created, e.g. for an invoice of 0). Since then it is on the invoice's payments
    /// (`payments`, not sent unless expanded, so never in a webhook).
    #[serde(default)]
    pub payment_intent: Option<Expandable<Object>>,
    /// The first lines (Stripe sends at most 10 inline; `has_more` says when there are more).
    #[serde(default)]
    pub lines: Option<List<InvoiceLine>>,
    /// Why the invoice could not be finalized, when it could not.
    #[serde(default)]
    pub last_finalization_error: Option<FinalizationError>,
    /// Before API version 2025-03-31: the latest charge, an id unless expanded.
    #[serde(default)]
    pub charge: Option<Expandable<InvoiceCharge>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FinalizationError {
    #[serde(default)]
    pub message: Option<String>,
}

/// An invoice's charge, when expanded: only why it failed is read.
#[derive(Debug, Deserialize)]
pub(crate) struct InvoiceCharge {
    #[serde(default)]
    pub failure_message: Option<String>,
}

/// An invoice's line item.
#[derive(Debug, Deserialize)]
pub(crate) struct InvoiceLine {
    /// What the line bills for: for a subscription item, its service period.
    #[serde(default)]
    pub period: Option<Period>,
    /// Before API version 2025-03-31: `subscription` or `invoiceitem` ...
    #[serde(rename = "type", default)]
    pub line_type: Option<String>,
    /// ... since then `parent.type`: `subscription_item_details` or `invoice_item_details`.
    #[serde(default)]
    pub parent: Option<InvoiceLineParent>,
}

impl InvoiceLine {
    /// A one-off invoice item on the invoice (its period is whatever was given for the item, not
    /// the subscription's).
    pub(crate) fn is_invoice_item(&self) -> bool {
        self.line_type.as_deref() == Some("invoiceitem")
            || self
                .parent
                .as_ref()
                .and_then(|parent| parent.parent_type.as_deref())
                == Some("invoice_item_details")
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct InvoiceLineParent {
    #[serde(rename = "type", default)]
    pub parent_type: Option<String>,
}

/// `{"start","end"}` in Unix seconds.
#[derive(Debug, Deserialize)]
pub(crate) struct Period {
    pub end: i64,
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
    /// Mode `payment`: the PaymentIntent, once the customer confirmed (`null` before, and for a
    /// session that needed no payment).
    #[serde(default)]
    pub payment_intent: Option<Expandable<Object>>,
    /// The hosted page, while the session is open (`null` once it is complete or expired).
    #[serde(default)]
    pub url: Option<String>,
    /// Unix seconds: when an open session stops accepting payment.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A `billing_portal.session` object.
#[derive(Debug, Deserialize)]
pub(crate) struct PortalSession {
    pub url: String,
}

/// A `payment_intent` object.
#[derive(Debug, Deserialize)]
pub(crate) struct PaymentIntent {
    pub id: String,
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
    /// `null` for a charge made without one (the legacy Charges API).
    #[serde(default)]
    pub payment_intent: Option<Expandable<Object>>,
}

/// A `dispute` object.
#[derive(Debug, Deserialize)]
pub(crate) struct Dispute {
    pub id: String,
    /// The disputed charge; Stripe always names it.
    #[serde(default)]
    pub charge: Option<Expandable<Object>>,
    /// `null` when the charge was made without one.
    #[serde(default)]
    pub payment_intent: Option<Expandable<Object>>,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: Metadata,
    /// `needs_response`, `under_review`, `won`, `lost`, `warning_closed` ...
    #[serde(default)]
    pub status: Option<String>,
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
