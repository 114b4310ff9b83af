//! Normalized billing events: what a provider's webhook means, in one vocabulary for all
//! providers.

use chrono::{DateTime, Utc};
use primitives::{Money, ProviderName};
use serde::{Deserialize, Serialize};

use crate::ProviderSubscriptionStatus;

/// Longest provider text kept in [`BillingEvent::failure_reason`], in characters.
pub const MAX_FAILURE_REASON_CHARS: usize = 300;

/// What happened, independent of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The customer approved a top-up that the merchant must still capture (PayPal's
    /// `CHECKOUT.ORDER.APPROVED`); `payment_reference` is the order id. No money moved yet:
    /// the capture's own completion credits the wallet.
    TopUpApproved,
    WalletTopUpCompleted,
    /// A top-up was refunded or reversed: money left the wallet's funding.
    TopUpRefunded,
    /// The money was already taken back by the provider (PayPal `PAYMENT.SALE.REVERSED` and
    /// `PAYMENT.CAPTURE.REVERSED`, PayHere status -3). Not a dispute that may still be won.
    Chargeback,
    /// The customer disputed a payment (Stripe `charge.dispute.created`, PayPal
    /// `CUSTOMER.DISPUTE.CREATED`); the outcome follows as [`Self::DisputeWon`] or
    /// [`Self::DisputeLost`].
    DisputeOpened,
    /// A dispute was decided for us (or an inquiry closed without becoming a chargeback).
    DisputeWon,
    /// A dispute was decided for the customer: the disputed amount is gone.
    DisputeLost,
}

impl BillingEventKind {
    pub const ALL: [Self; 19] = [
        Self::SubscriptionCreated,
        Self::SubscriptionActivated,
        Self::SubscriptionUpdated,
        Self::TrialWillEnd,
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::PaymentActionRequired,
        Self::SubscriptionPaused,
        Self::SubscriptionResumed,
        Self::SubscriptionSuspended,
        Self::SubscriptionCanceled,
        Self::SubscriptionExpired,
        Self::TopUpApproved,
        Self::WalletTopUpCompleted,
        Self::TopUpRefunded,
        Self::Chargeback,
        Self::DisputeOpened,
        Self::DisputeWon,
        Self::DisputeLost,
    ];

    /// The kind's name as in the events' JSON (`payment_succeeded`): for event ids, logs and
    /// stored outcomes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SubscriptionCreated => "subscription_created",
            Self::SubscriptionActivated => "subscription_activated",
            Self::SubscriptionUpdated => "subscription_updated",
            Self::TrialWillEnd => "trial_will_end",
            Self::PaymentSucceeded => "payment_succeeded",
            Self::PaymentFailed => "payment_failed",
            Self::PaymentActionRequired => "payment_action_required",
            Self::SubscriptionPaused => "subscription_paused",
            Self::SubscriptionResumed => "subscription_resumed",
            Self::SubscriptionSuspended => "subscription_suspended",
            Self::SubscriptionCanceled => "subscription_canceled",
            Self::SubscriptionExpired => "subscription_expired",
            Self::TopUpApproved => "top_up_approved",
            Self::WalletTopUpCompleted => "wallet_top_up_completed",
            Self::TopUpRefunded => "top_up_refunded",
            Self::Chargeback => "chargeback",
            Self::DisputeOpened => "dispute_opened",
            Self::DisputeWon => "dispute_won",
            Self::DisputeLost => "dispute_lost",
        }
    }
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
    /// On subscription events: the provider's status of the subscription object in the delivery
    /// (mapped as [`crate::BillingProvider::subscription`] maps it), when the provider sends one
    /// we know. `None` elsewhere, and for PayHere, whose notifications carry no status.
    pub subscription_status: Option<ProviderSubscriptionStatus>,
    /// When the trial ends: Stripe's `trial_end` while the subscription is `trialing` (and on
    /// `trial_will_end`). `None` elsewhere.
    pub trial_end: Option<DateTime<Utc>>,
    /// On `PaymentFailed` events: why, as the provider says (PayPal's
    /// `last_failed_payment.reason_code`, Stripe's invoice finalization or charge failure
    /// message, PayHere's `status_message`). Provider text, partly unsigned: trimmed, control
    /// characters removed, at most [`MAX_FAILURE_REASON_CHARS`] characters; for logs and
    /// notifications, never for decisions.
    pub failure_reason: Option<String>,
    /// PayHere only: the signed `order_id` (`SUB-{organization}.{nonce}`,
    /// `TOPUP-{organization}.{nonce}`) of every PayHere event. A PayHere subscription created
    /// by us is known by this order id until its first authorization names PayHere's own
    /// `subscription_id`. `None` for the other providers.
    pub order_reference: Option<String>,
    /// The checkout or order a top-up event completes, as the top-up's `checkout_reference`
    /// named it when it was started ([`crate::TopUpCheckout::checkout_reference`]): Stripe's
    /// Checkout Session id (`cs_...`) on `checkout.session.completed` and
    /// `checkout.session.async_payment_succeeded`; PayPal's order id on
    /// `CHECKOUT.ORDER.APPROVED`, and on `PAYMENT.CAPTURE.COMPLETED` from the capture's
    /// `supplementary_data.related_ids.order_id` when present; PayHere's signed `TOPUP-...`
    /// order id on the notification of a top-up's payment. `None` elsewhere (a top-up paid
    /// through a bare PaymentIntent has no checkout). It records which checkout was paid; the
    /// credit itself is keyed by [`Self::payment_reference`].
    pub checkout_reference: Option<String>,
    /// The provider's own event type, for logs.
    pub provider_event_type: String,
}

/// Provider text made safe to store and show: trimmed, control characters removed, bounded to
/// [`MAX_FAILURE_REASON_CHARS`]; `None` when nothing is left.
pub(crate) fn provider_text(raw: &str) -> Option<String> {
    // A control character becomes a space (a line break between two words must not glue
    // them), and runs of whitespace one space.
    let spaced: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let joined = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    let bounded: String = joined.chars().take(MAX_FAILURE_REASON_CHARS).collect();
    let bounded = bounded.trim_end();
    (!bounded.is_empty()).then(|| bounded.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_is_trimmed_cleaned_and_bounded() {
        assert_eq!(
            provider_text("  card\u{0}\ndeclined\t  twice "),
            Some("card declined twice".to_owned())
        );
        assert_eq!(provider_text(" \r\n "), None);
        assert_eq!(provider_text(""), None);
        let long = "é".repeat(MAX_FAILURE_REASON_CHARS + 10);
        assert_eq!(
            provider_text(&long).map(|text| text.chars().count()),
            Some(MAX_FAILURE_REASON_CHARS)
        );
        assert_eq!(
            provider_text("\u{1b}[31mred\u{1b}[0m"),
            Some("[31mred [0m".to_owned())
        );
    }

    #[test]
    fn kind_names_are_the_serialized_names() {
        for kind in BillingEventKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
    }
}
