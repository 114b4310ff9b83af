//! Normalized billing events: what a provider's webhook means, in one vocabulary for all
//! providers.

use chrono::{DateTime, Utc};
use primitives::{Money, ProviderName};
use serde::Serialize;

/// What happened, independent of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingEventKind {
    SubscriptionCreated,
    SubscriptionActivated,
    SubscriptionUpdated,
    TrialWillEnd,
    PaymentSucceeded,
    PaymentFailed,
    /// The customer must act (3-D Secure and the like) before the payment can go through.
    PaymentActionRequired,
    SubscriptionPaused,
    SubscriptionResumed,
    SubscriptionSuspended,
    SubscriptionCanceled,
    SubscriptionExpired,
    WalletTopUpCompleted,
    /// A top-up was refunded or reversed: money left the wallet's funding.
    TopUpRefunded,
    Chargeback,
}

/// One normalized event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingEvent {
    pub provider: ProviderName,
    /// The provider's id for the event; with `provider`, unique (duplicates are recognised by it).
    pub provider_event_id: String,
    pub occurred_at: DateTime<Utc>,
    pub kind: BillingEventKind,
    /// Our organization reference as the provider echoes it back (`custom_id`, `metadata`,
    /// `custom_1`), when present.
    pub organization_ref: Option<String>,
    pub provider_subscription_id: Option<String>,
    pub amount: Option<Money>,
    /// The provider's id of the payment, refund or dispute behind the event (charge or payment
    /// intent, sale or capture, payment id), when there is one. Several events about one payment
    /// share it, so the ledger can credit or debit it once (G3).
    pub payment_reference: Option<String>,
    /// The end of the period a payment or activation pays for (or the next billing date), when
    /// the provider says; the subscription's period is extended to it.
    pub period_end: Option<DateTime<Utc>>,
    /// The provider's own event type, for logs.
    pub provider_event_type: String,
}

/// What a verified webhook carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ParsedWebhook {
    Events {
        events: Vec<BillingEvent>,
    },
    /// A type we do not act on: acknowledged, never an error.
    Ignored {
        provider_event_type: String,
        provider_event_id: Option<String>,
    },
}
