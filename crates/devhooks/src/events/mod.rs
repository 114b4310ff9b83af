//! Realistic provider events: shaped exactly as each provider sends them (and as `billing`'s
//! parsers read them, which this crate's tests check), built per provider and event from a few
//! parameters; the rest is what the provider sends.
//!
//! [`CATALOGUE`] lists what the tool can trigger; [`build`] makes one event. The provider modules
//! also hold the pieces the end-to-end tests build their own events from (envelopes, order ids),
//! so each provider's shape is written once.

pub mod payhere;
pub mod paypal;
pub mod stripe;
mod twilio;

use chrono::{DateTime, Utc};
use primitives::Money;
use rand::Rng as _;

use crate::{Error, LocalSecrets};

/// Who sends the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Paypal,
    Stripe,
    Payhere,
    Twilio,
}

impl Provider {
    pub const ALL: [Self; 4] = [Self::Paypal, Self::Stripe, Self::Payhere, Self::Twilio];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.as_str() == name)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Paypal => "paypal",
            Self::Stripe => "stripe",
            Self::Payhere => "payhere",
            Self::Twilio => "twilio",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, in the tool's words (one name across providers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventName {
    SubscriptionActivated,
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionCanceled,
    TopUpCompleted,
    Refund,
    Chargeback,
    DisputeOpened,
    DisputeWon,
    DisputeLost,
    DeliveryStatus,
}

impl EventName {
    pub const ALL: [Self; 11] = [
        Self::SubscriptionActivated,
        Self::PaymentFailed,
        Self::PaymentSucceeded,
        Self::SubscriptionCanceled,
        Self::TopUpCompleted,
        Self::Refund,
        Self::Chargeback,
        Self::DisputeOpened,
        Self::DisputeWon,
        Self::DisputeLost,
        Self::DeliveryStatus,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == name)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SubscriptionActivated => "subscription-activated",
            Self::PaymentFailed => "payment-failed",
            Self::PaymentSucceeded => "payment-succeeded",
            Self::SubscriptionCanceled => "subscription-canceled",
            Self::TopUpCompleted => "top-up-completed",
            Self::Refund => "refund",
            Self::Chargeback => "chargeback",
            Self::DisputeOpened => "dispute-opened",
            Self::DisputeWon => "dispute-won",
            Self::DisputeLost => "dispute-lost",
            Self::DeliveryStatus => "delivery-status",
        }
    }
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event the tool knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub provider: Provider,
    pub event: EventName,
    /// The provider's own type (what the receiver logs and the inbox stores).
    pub provider_type: &'static str,
    /// The parameters it needs beyond the defaults.
    pub needs: &'static str,
}

const fn known(
    provider: Provider,
    event: EventName,
    provider_type: &'static str,
    needs: &'static str,
) -> Known {
    Known {
        provider,
        event,
        provider_type,
        needs,
    }
}

use EventName as E;
use Provider as P;

/// Every event the tool can trigger, by provider.
pub const CATALOGUE: &[Known] = &[
    known(
        P::Paypal,
        E::SubscriptionActivated,
        "BILLING.SUBSCRIPTION.ACTIVATED",
        "--subscription I-..., --org",
    ),
    known(
        P::Paypal,
        E::PaymentFailed,
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        "--subscription, --org",
    ),
    known(
        P::Paypal,
        E::PaymentSucceeded,
        "PAYMENT.SALE.COMPLETED",
        "--subscription, --org (the period comes from PayPal's API)",
    ),
    known(
        P::Paypal,
        E::SubscriptionCanceled,
        "BILLING.SUBSCRIPTION.CANCELLED",
        "--subscription, --org",
    ),
    known(
        P::Paypal,
        E::TopUpCompleted,
        "PAYMENT.CAPTURE.COMPLETED",
        "--org [--payment <capture id>]",
    ),
    known(
        P::Paypal,
        E::Refund,
        "PAYMENT.CAPTURE.REFUNDED",
        "--payment <capture id>",
    ),
    known(
        P::Paypal,
        E::Chargeback,
        "PAYMENT.CAPTURE.REVERSED",
        "--payment <capture id>, --org",
    ),
    known(
        P::Paypal,
        E::DisputeOpened,
        "CUSTOMER.DISPUTE.CREATED",
        "--payment <capture or sale id>, --org",
    ),
    known(
        P::Paypal,
        E::DisputeWon,
        "CUSTOMER.DISPUTE.RESOLVED",
        "--payment, --org (seller's favour)",
    ),
    known(
        P::Paypal,
        E::DisputeLost,
        "CUSTOMER.DISPUTE.RESOLVED",
        "--payment, --org (buyer's favour)",
    ),
    known(
        P::Stripe,
        E::SubscriptionActivated,
        "customer.subscription.updated",
        "--subscription sub_..., --org",
    ),
    known(
        P::Stripe,
        E::PaymentFailed,
        "invoice.payment_failed",
        "--subscription, --org",
    ),
    known(
        P::Stripe,
        E::PaymentSucceeded,
        "invoice.paid",
        "--subscription, --org",
    ),
    known(
        P::Stripe,
        E::SubscriptionCanceled,
        "customer.subscription.deleted",
        "--subscription, --org",
    ),
    known(
        P::Stripe,
        E::TopUpCompleted,
        "checkout.session.completed",
        "--org [--payment pi_...]",
    ),
    known(
        P::Stripe,
        E::Refund,
        "charge.refunded",
        "--payment pi_..., --org",
    ),
    known(
        P::Stripe,
        E::DisputeOpened,
        "charge.dispute.created",
        "--payment pi_...",
    ),
    known(
        P::Stripe,
        E::DisputeWon,
        "charge.dispute.closed",
        "--payment pi_... (status won)",
    ),
    known(
        P::Stripe,
        E::DisputeLost,
        "charge.dispute.closed",
        "--payment pi_... (status lost)",
    ),
    known(
        P::Payhere,
        E::SubscriptionActivated,
        "AUTHORIZATION_SUCCESS",
        "--org or --order SUB-..., --subscription <PayHere id>",
    ),
    known(
        P::Payhere,
        E::PaymentFailed,
        "RECURRING_INSTALLMENT_FAILED",
        "--org or --order, --subscription",
    ),
    known(
        P::Payhere,
        E::PaymentSucceeded,
        "RECURRING_INSTALLMENT_SUCCESS",
        "--org or --order, --subscription",
    ),
    known(
        P::Payhere,
        E::SubscriptionCanceled,
        "RECURRING_STOPPED",
        "--org or --order, --subscription",
    ),
    known(
        P::Payhere,
        E::TopUpCompleted,
        "one-off payment, status 2",
        "--org or --order TOPUP-... [--payment]",
    ),
    known(
        P::Payhere,
        E::Chargeback,
        "one-off payment, status -3",
        "--org or --order TOPUP-..., --payment",
    ),
    known(
        P::Twilio,
        E::DeliveryStatus,
        "message status callback",
        "--account <brand subaccount>, --campaign, --recipient [--status delivered|undelivered|failed ...] [--message SM...]",
    ),
];

/// The entry for `provider` and `event`, if the tool knows it.
pub fn lookup(provider: Provider, event: EventName) -> Option<&'static Known> {
    CATALOGUE
        .iter()
        .find(|known| known.provider == provider && known.event == event)
}

/// What the caller gives; everything else is made up as the provider would.
#[derive(Debug, Clone)]
pub struct Params {
    /// When the provider says it happened.
    pub at: DateTime<Utc>,
    /// The provider's event id (a fresh one when `None`): send the same id twice to see the
    /// receiver's duplicate answer.
    pub event_id: Option<String>,
    /// Our organization id, as the provider echoes it back (Stripe metadata, PayPal
    /// `custom_id`, PayHere's order id).
    pub organization: Option<String>,
    /// The provider's subscription id (`sub_...`, `I-...`, PayHere's numeric id).
    pub subscription: Option<String>,
    /// PayHere: the signed order id (`SUB-{org}.{nonce}`, `TOPUP-{org}.{nonce}`); made from
    /// `organization` when `None`.
    pub order: Option<String>,
    /// `10.00`, exactly, in `currency`'s decimals.
    pub amount: Option<String>,
    /// ISO 4217 (`USD` when `None`).
    pub currency: Option<String>,
    /// The payment an event is about (a top-up's id to refund or dispute; a Twilio message
    /// SID); a fresh one when `None` where the event creates the payment.
    pub payment: Option<String>,
    /// Twilio: the message status (`delivered` when `None`).
    pub status: Option<String>,
    /// Twilio: the account the message went out through (a brand's subaccount; the parent
    /// account when `None`).
    pub account: Option<String>,
    /// Twilio: the campaign and recipient the dispatcher put in the callback URL's query.
    pub campaign: Option<String>,
    pub recipient: Option<String>,
    /// Twilio: the message SID (a fresh one when `None`).
    pub message: Option<String>,
    /// Twilio: post to exactly this URL (query included) and sign it, instead of the
    /// receiver's route.
    pub url: Option<String>,
}

impl Params {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            at,
            event_id: None,
            organization: None,
            subscription: None,
            order: None,
            amount: None,
            currency: None,
            payment: None,
            status: None,
            account: None,
            campaign: None,
            recipient: None,
            message: None,
            url: None,
        }
    }

    /// The amount in the currency (`default` when none is given), refused unless positive and
    /// exact.
    fn money(&self, default: &str) -> Result<Money, Error> {
        let code = self
            .currency
            .as_deref()
            .unwrap_or("USD")
            .to_ascii_uppercase();
        let currency = primitives::parse_currency(&code)
            .map_err(|e| Error::Invalid(format!("--currency {code}: {e}")))?;
        let amount = self.amount.as_deref().unwrap_or(default);
        Money::parse_positive(amount, currency)
            .map_err(|e| Error::Invalid(format!("--amount {amount} {code}: {e}")))
    }

    fn organization(&self, event: &str) -> Result<&str, Error> {
        self.organization.as_deref().ok_or_else(|| {
            Error::Invalid(format!("{event} names an organization: pass --org <uuid>"))
        })
    }

    fn payment(&self, event: &str, what: &str) -> Result<&str, Error> {
        self.payment.as_deref().ok_or_else(|| {
            Error::Invalid(format!(
                "{event} is about a payment: pass --payment <{what}>"
            ))
        })
    }
}

/// An event as the provider would post it, before any signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub provider: Provider,
    /// The provider's event id (Twilio: the message SID).
    pub id: String,
    /// The provider's own type.
    pub provider_type: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The payment the event is about, when there is one (pass it as `--payment` to refund or
    /// dispute it later).
    pub payment: Option<String>,
    /// The subscription it names, when it names one.
    pub subscription: Option<String>,
    /// Twilio: the exact URL to post to and sign (`--url`), else the receiver's route.
    pub url: Option<String>,
    /// Twilio: the callback URL's query (`campaign=..&recipient=..`), as the dispatcher wrote it.
    pub query: Option<String>,
}

pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Builds `event` as `provider` sends it. PayHere's signature is a body field, so PayHere
/// events come signed (with `secrets`); the others are signed when delivered.
pub fn build(
    provider: Provider,
    event: EventName,
    params: &Params,
    secrets: &LocalSecrets,
) -> Result<Event, Error> {
    if lookup(provider, event).is_none() {
        return Err(Error::Invalid(format!(
            "{provider} has no {event} event (`webhook-tool list` shows what each provider sends)"
        )));
    }
    match provider {
        Provider::Stripe => stripe::build(event, params),
        Provider::Paypal => paypal::build(event, params),
        Provider::Payhere => payhere::build(event, params, secrets),
        Provider::Twilio => twilio::build(params, secrets),
    }
}

/// `prefix` followed by `len` characters of `alphabet`, as provider ids look.
fn random_id(prefix: &str, len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect();
    format!("{prefix}{tail}")
}

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";

impl Event {
    /// A JSON event (PayPal, Stripe) about `payment` and `subscription`, when it names them.
    fn json(
        provider: Provider,
        id: String,
        provider_type: &str,
        body: &serde_json::Value,
        payment: Option<String>,
        subscription: Option<String>,
    ) -> Self {
        Self {
            provider,
            id,
            provider_type: provider_type.to_owned(),
            content_type: JSON,
            body: json_bytes(body),
            payment,
            subscription,
            url: None,
            query: None,
        }
    }
}

/// JSON as providers send it: compact.
fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    // A `Value` always serializes.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_event_is_named_once_per_provider_and_parses_back() {
        for known in CATALOGUE {
            assert_eq!(
                Provider::parse(known.provider.as_str()),
                Some(known.provider)
            );
            assert_eq!(EventName::parse(known.event.as_str()), Some(known.event));
            let same = CATALOGUE
                .iter()
                .filter(|other| other.provider == known.provider && other.event == known.event)
                .count();
            assert_eq!(same, 1, "{} {}", known.provider, known.event);
        }
        assert_eq!(lookup(Provider::Payhere, EventName::Refund), None);
    }

    #[test]
    fn amounts_are_exact_in_their_currency() {
        let mut params = Params::new(Utc::now());
        params.amount = Some("10.001".into());
        assert!(params.money("1.00").is_err());
        params.amount = Some("12.50".into());
        params.currency = Some("eur".into());
        let money = params.money("1.00").unwrap();
        assert_eq!((money.minor(), money.currency().code()), (1250, "EUR"));
        params.amount = Some("0".into());
        assert!(params.money("1.00").is_err());
    }
}
