//! The inbox's own record of a normalized event.
//!
//! [`billing::BillingEvent`] is the adapters' vocabulary; what the inbox stores must still read
//! back after the adapters change, so it has its own serialized form, converted both ways here.
//! Fields an older row lacks read as absent.

use billing::{BillingEvent, BillingEventKind, ProviderName, ProviderSubscriptionStatus};
use chrono::{DateTime, Utc};
use primitives::Money;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One normalized event as the inbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub provider_event_id: String,
    pub kind: BillingEventKind,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub organization_ref: Option<String>,
    #[serde(default)]
    pub provider_subscription_id: Option<String>,
    #[serde(default)]
    pub amount: Option<StoredMoney>,
    #[serde(default)]
    pub payment_reference: Option<String>,
    #[serde(default)]
    pub period_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub subscription_status: Option<ProviderSubscriptionStatus>,
    #[serde(default)]
    pub trial_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub order_reference: Option<String>,
    /// The top-up checkout the event completes ([`BillingEvent::checkout_reference`]); rows
    /// stored before it was kept read as `None`.
    #[serde(default)]
    pub checkout_reference: Option<String>,
    pub provider_event_type: String,
}

/// Money as stored: minor units and the ISO code, never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMoney {
    pub minor: i64,
    pub currency: primitives::Currency,
}

impl From<Money> for StoredMoney {
    fn from(money: Money) -> Self {
        Self {
            minor: money.minor(),
            currency: money.currency(),
        }
    }
}

impl From<StoredMoney> for Money {
    fn from(stored: StoredMoney) -> Self {
        Money::from_minor(stored.minor, stored.currency)
    }
}

impl From<&BillingEvent> for StoredEvent {
    fn from(event: &BillingEvent) -> Self {
        Self {
            provider_event_id: event.provider_event_id.clone(),
            kind: event.kind,
            occurred_at: event.occurred_at,
            organization_ref: event.organization_ref.clone(),
            provider_subscription_id: event.provider_subscription_id.clone(),
            amount: event.amount.map(StoredMoney::from),
            payment_reference: event.payment_reference.clone(),
            period_end: event.period_end,
            subscription_status: event.subscription_status,
            trial_end: event.trial_end,
            failure_reason: event.failure_reason.clone(),
            order_reference: event.order_reference.clone(),
            checkout_reference: event.checkout_reference.clone(),
            provider_event_type: event.provider_event_type.clone(),
        }
    }
}

impl StoredEvent {
    /// The event as the adapters' type, for code that speaks it.
    pub fn to_billing_event(&self, provider: ProviderName) -> BillingEvent {
        BillingEvent {
            provider,
            provider_event_id: self.provider_event_id.clone(),
            occurred_at: self.occurred_at,
            kind: self.kind,
            organization_ref: self.organization_ref.clone(),
            provider_subscription_id: self.provider_subscription_id.clone(),
            amount: self.amount.map(Money::from),
            payment_reference: self.payment_reference.clone(),
            period_end: self.period_end,
            subscription_status: self.subscription_status,
            trial_end: self.trial_end,
            failure_reason: self.failure_reason.clone(),
            order_reference: self.order_reference.clone(),
            checkout_reference: self.checkout_reference.clone(),
            provider_event_type: self.provider_event_type.clone(),
        }
    }

    pub fn amount(&self) -> Option<Money> {
        self.amount.map(Money::from)
    }
}

/// The id of a whole delivery, from its events' ids. Providers send one event per delivery
/// (PayPal `WH-...`, Stripe `evt_...`), except PayHere, whose one notification may mean two
/// events named `{notification}#{kind}`: the part before `#` names the delivery.
pub fn delivery_id<'a>(event_ids: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut ids = event_ids
        .into_iter()
        .map(|id| id.split_once('#').map_or(id, |(delivery, _)| delivery));
    let first = ids.next()?;
    // Events of one notification always share it; should they not, the first names the
    // delivery and the others are still told apart by their own ids.
    Some(first.to_owned())
}

/// Whether `id` can be stored as a provider id: 1 to `max_len` printable ASCII characters.
pub fn is_printable_id(id: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// A provider id as something we can store and compare: itself when it is 1 to `max_len`
/// printable ASCII characters, else `sha256:` and its digest, which names it just as uniquely.
pub fn storable_id(id: &str, max_len: usize) -> String {
    if is_printable_id(id, max_len) {
        id.to_owned()
    } else {
        digest_id(id)
    }
}

/// `sha256:` and the hex digest of `id`.
pub fn digest_id(id: &str) -> String {
    sha256_id(&Sha256::digest(id.as_bytes()).into())
}

/// `sha256:` and `digest` in hex.
pub fn sha256_id(digest: &[u8; 32]) -> String {
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_named_by_its_event_or_by_the_notification_behind_its_events() {
        assert_eq!(delivery_id(["evt_1"]), Some("evt_1".to_owned()));
        assert_eq!(
            delivery_id([
                "SUB-a.b/77/99/2#subscription_activated",
                "SUB-a.b/77/99/2#payment_succeeded"
            ]),
            Some("SUB-a.b/77/99/2".to_owned())
        );
        assert_eq!(delivery_id(Vec::<&str>::new()), None);
    }

    #[test]
    fn a_row_stored_before_the_checkout_reference_reads_without_one() {
        let old = serde_json::json!({
            "provider_event_id": "evt_1",
            "kind": "wallet_top_up_completed",
            "occurred_at": "2026-01-01T00:00:00Z",
            "amount": {"minor": 2500, "currency": "USD"},
            "payment_reference": "pi_1",
            "provider_event_type": "checkout.session.completed",
        });
        let stored: StoredEvent = serde_json::from_value(old).unwrap();
        assert_eq!(stored.checkout_reference, None);
        assert_eq!(stored.payment_reference.as_deref(), Some("pi_1"));

        // And a new one keeps it both ways.
        let event = BillingEvent {
            checkout_reference: Some("cs_test_1".into()),
            ..stored.to_billing_event(ProviderName::Stripe)
        };
        let stored = StoredEvent::from(&event);
        let json = serde_json::to_value(&stored).unwrap();
        assert_eq!(json["checkout_reference"], "cs_test_1");
        let read: StoredEvent = serde_json::from_value(json).unwrap();
        assert_eq!(read.to_billing_event(ProviderName::Stripe), event);
    }
}
