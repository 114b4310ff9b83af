//! Stripe events to [`BillingEvent`]s. The table is in the module documentation of
//! [`crate::stripe`]; the conventions (metadata keys and values) are the constants below.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::amount::money;
use super::status::subscription_status;
use super::wire::{self, Metadata};
use crate::event::provider_text;
use crate::{
    BillingEvent, BillingEventKind, ParsedWebhook, ProviderError, ProviderName,
    ProviderSubscriptionStatus,
};

/// Metadata key naming our organization on every object we create at Stripe (subscriptions,
/// Checkout Sessions, PaymentIntents).
pub const ORGANIZATION_METADATA_KEY: &str = "organization_id";
/// Metadata key saying what a one-off payment is for.
pub const PURPOSE_METADATA_KEY: &str = "purpose";
/// `purpose` of the object whose success credits the wallet: the Checkout Session in a Checkout
/// top-up, or a PaymentIntent created directly.
pub const PURPOSE_WALLET_TOPUP: &str = "wallet_topup";
/// `purpose` of the PaymentIntent behind a Checkout top-up (set through
/// `payment_intent_data[metadata]`): its refunds and disputes are the top-up's, but its
/// `payment_intent.succeeded` is not credited again, since the session's completion was.
pub const PURPOSE_WALLET_TOPUP_CHECKOUT: &str = "wallet_topup_checkout";

fn decode(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: ProviderName::Stripe,
        message,
    }
}

/// What one event means, before the envelope's fields are added.
struct Mapped {
    kind: BillingEventKind,
    organization_ref: Option<String>,
    provider_subscription_id: Option<String>,
    amount: Option<primitives::Money>,
    payment_reference: Option<String>,
    period_end: Option<DateTime<Utc>>,
    subscription_status: Option<ProviderSubscriptionStatus>,
    trial_end: Option<DateTime<Utc>>,
    failure_reason: Option<String>,
    checkout_reference: Option<String>,
}

impl Mapped {
    /// A payment event's fields; the rest `None`.
    fn payment(
        kind: BillingEventKind,
        organization_ref: Option<String>,
        provider_subscription_id: Option<String>,
        amount: primitives::Money,
        payment_reference: String,
    ) -> Self {
        Self {
            kind,
            organization_ref,
            provider_subscription_id,
            amount: Some(amount),
            payment_reference: Some(payment_reference),
            period_end: None,
            subscription_status: None,
            trial_end: None,
            failure_reason: None,
            checkout_reference: None,
        }
    }
}

pub(crate) fn parse(body: &[u8]) -> Result<ParsedWebhook, ProviderError> {
    let event: wire::Event = serde_json::from_slice(body)
        .map_err(|error| decode(format!("not a Stripe event: {error}")))?;
    if event.id.is_empty() {
        return Err(decode("event id is empty".into()));
    }
    let occurred_at = DateTime::from_timestamp(event.created, 0)
        .ok_or_else(|| decode(format!("event created {} is not a time", event.created)))?;
    let event_type = event.event_type.as_str();
    let object = event.data.object;
    let previous = event.data.previous_attributes.as_ref();
    let mapped = match event_type {
        "customer.subscription.created" => Some(subscription(event_type, object, |_| {
            BillingEventKind::SubscriptionCreated
        })?),
        "customer.subscription.updated" => Some(subscription(event_type, object, |sub| {
            updated_kind(sub, previous)
        })?),
        "customer.subscription.deleted" => Some(subscription(event_type, object, |_| {
            BillingEventKind::SubscriptionCanceled
        })?),
        "customer.subscription.paused" => Some(subscription(event_type, object, |_| {
            BillingEventKind::SubscriptionPaused
        })?),
        "customer.subscription.resumed" => Some(subscription(event_type, object, |_| {
            BillingEventKind::SubscriptionResumed
        })?),
        "customer.subscription.trial_will_end" => Some(subscription(event_type, object, |_| {
            BillingEventKind::TrialWillEnd
        })?),
        "invoice.paid" => invoice(event_type, object, BillingEventKind::PaymentSucceeded)?,
        "invoice.payment_failed" => invoice(event_type, object, BillingEventKind::PaymentFailed)?,
        "invoice.payment_action_required" => {
            invoice(event_type, object, BillingEventKind::PaymentActionRequired)?
        }
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout_topup(event_type, object)?
        }
        "payment_intent.succeeded" => payment_intent_topup(event_type, object)?,
        "charge.refunded" => refund(event_type, object, previous)?,
        "charge.dispute.created" | "charge.dispute.closed" => dispute(event_type, object)?,
        _ => None,
    };
    Ok(match mapped {
        Some(mapped) => ParsedWebhook::Events {
            events: vec![BillingEvent {
                provider: ProviderName::Stripe,
                provider_event_id: event.id,
                occurred_at,
                kind: mapped.kind,
                organization_ref: mapped.organization_ref,
                provider_subscription_id: mapped.provider_subscription_id,
                amount: mapped.amount,
                payment_reference: mapped.payment_reference,
                period_end: mapped.period_end,
                subscription_status: mapped.subscription_status,
                trial_end: mapped.trial_end,
                failure_reason: mapped.failure_reason,
                order_reference: None,
                checkout_reference: mapped.checkout_reference,
                provider_event_type: event.event_type,
            }],
        },
        None => ParsedWebhook::Ignored {
            provider_event_type: event.event_type,
            provider_event_id: Some(event.id),
        },
    })
}

fn object<T: DeserializeOwned>(
    event_type: &str,
    what: &str,
    value: serde_json::Value,
) -> Result<T, ProviderError> {
    serde_json::from_value(value)
        .map_err(|error| decode(format!("{event_type}: data.object is not {what}: {error}")))
}

fn organization(metadata: &Metadata) -> Option<String> {
    metadata.get(ORGANIZATION_METADATA_KEY).map(str::to_owned)
}

fn purpose(metadata: &Metadata) -> Option<&str> {
    metadata.get(PURPOSE_METADATA_KEY)
}

/// A Unix time from the object, as a time; one out of range is a decode error naming `what`.
fn time(event_type: &str, secs: i64, what: &str) -> Result<DateTime<Utc>, ProviderError> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| decode(format!("{event_type}: {what} {secs} is not a time")))
}

fn optional_time(
    event_type: &str,
    secs: Option<i64>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, ProviderError> {
    secs.map(|secs| time(event_type, secs, what)).transpose()
}

/// The id of a reference that may come expanded.
fn id_of(reference: Option<&wire::Expandable<wire::Object>>) -> Option<String> {
    reference
        .map(wire::Expandable::id)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

fn subscription(
    event_type: &str,
    value: serde_json::Value,
    kind: impl FnOnce(&wire::Subscription) -> BillingEventKind,
) -> Result<Mapped, ProviderError> {
    let sub: wire::Subscription = object(event_type, "a subscription", value)?;
    let kind = kind(&sub);
    // The trial's end is what `trial_will_end` announces; otherwise the next billing date.
    let period_end = match kind {
        BillingEventKind::TrialWillEnd if sub.trial_end.is_some() => {
            optional_time(event_type, sub.trial_end, "trial_end")?
        }
        _ => optional_time(event_type, sub.period_end(), "current_period_end")?,
    };
    // A status Stripe may add later is no status here, not a refused event.
    let status = subscription_status(&sub).ok();
    let trial_end = if sub.status == "trialing" || kind == BillingEventKind::TrialWillEnd {
        optional_time(event_type, sub.trial_end, "trial_end")?
    } else {
        None
    };
    Ok(Mapped {
        kind,
        organization_ref: organization(&sub.metadata),
        provider_subscription_id: Some(sub.id),
        amount: None,
        payment_reference: None,
        period_end,
        subscription_status: status,
        trial_end,
        failure_reason: None,
        checkout_reference: None,
    })
}

/// `customer.subscription.updated` by the subscription's new state: only states that clearly
/// say something the domain acts on get their own kind; everything else is an update.
fn updated_kind(
    sub: &wire::Subscription,
    previous: Option<&serde_json::Map<String, serde_json::Value>>,
) -> BillingEventKind {
    let collection_paused = sub.pause_collection.is_some();
    // Clearing `pause_collection` (our `reactivate`) only shows as an update whose previous
    // attributes held a pause.
    let collection_resumed = !collection_paused
        && previous
            .and_then(|previous| previous.get("pause_collection"))
            .is_some_and(|old| !old.is_null());
    match sub.status.as_str() {
        "canceled" => BillingEventKind::SubscriptionCanceled,
        "incomplete_expired" => BillingEventKind::SubscriptionExpired,
        "paused" => BillingEventKind::SubscriptionPaused,
        // Stripe's retries are exhausted and it stopped collecting.
        "unpaid" => BillingEventKind::SubscriptionSuspended,
        _ if collection_paused => BillingEventKind::SubscriptionPaused,
        "active" | "trialing" if collection_resumed => BillingEventKind::SubscriptionResumed,
        _ => BillingEventKind::SubscriptionUpdated,
    }
}

fn invoice(
    event_type: &str,
    value: serde_json::Value,
    kind: BillingEventKind,
) -> Result<Option<Mapped>, ProviderError> {
    let invoice: wire::Invoice = object(event_type, "an invoice", value)?;
    let current = invoice
        .parent
        .as_ref()
        .and_then(|parent| parent.subscription_details.as_ref());
    let subscription = current
        .and_then(|details| details.subscription.as_ref())
        .or(invoice.subscription.as_ref())
        .or_else(|| {
            invoice
                .subscription_details
                .as_ref()
                .and_then(|details| details.subscription.as_ref())
        });
    // One-off invoices are not subscription payments; nothing here acts on them.
    let Some(subscription) = subscription else {
        return Ok(None);
    };
    // Stripe copies the subscription's metadata onto its invoices' subscription details; the
    // invoice's own metadata is the last resort.
    let organization_ref = [
        current.map(|details| &details.metadata),
        invoice
            .subscription_details
            .as_ref()
            .map(|details| &details.metadata),
        Some(&invoice.metadata),
    ]
    .into_iter()
    .flatten()
    .find_map(organization);
    let (minor, field) = match kind {
        BillingEventKind::PaymentSucceeded => (invoice.amount_paid, "amount_paid"),
        _ => (invoice.amount_due, "amount_due"),
    };
    // The PaymentIntent where the invoice names one (API versions before 2025-03-31), so a
    // dispute of the payment carries the same reference; else the invoice, which every attempt
    // to pay it (failed, needing action, paid) shares.
    let payment_reference = id_of(invoice.payment_intent.as_ref())
        .or_else(|| invoice.id.clone().filter(|id| !id.is_empty()))
        .ok_or_else(|| {
            decode(format!(
                "{event_type}: invoice of {} has no id",
                subscription.id()
            ))
        })?;
    // What a paid invoice pays for ends with its latest subscription line (a renewal's line
    // runs over the new period; prorations end with the current one). A failed or pending
    // payment has paid for nothing yet.
    let period_end = match kind {
        BillingEventKind::PaymentSucceeded => optional_time(
            event_type,
            invoice
                .lines
                .iter()
                .flat_map(|lines| &lines.data)
                .filter(|line| !line.is_invoice_item())
                .filter_map(|line| line.period.as_ref().map(|period| period.end))
                .max(),
            "lines.data.period.end",
        )?,
        _ => None,
    };
    let failure_reason = match kind {
        BillingEventKind::PaymentFailed => failure_reason(&invoice),
        _ => None,
    };
    Ok(Some(Mapped {
        period_end,
        failure_reason,
        ..Mapped::payment(
            kind,
            organization_ref,
            Some(subscription.id().to_owned()),
            money(minor, &invoice.currency, field)?,
            payment_reference,
        )
    }))
}

fn checkout_topup(
    event_type: &str,
    value: serde_json::Value,
) -> Result<Option<Mapped>, ProviderError> {
    let session: wire::CheckoutSession = object(event_type, "a Checkout Session", value)?;
    // A subscription checkout is paid through its invoice (`invoice.paid`); a session paid by
    // a method that settles later completes `unpaid` and is credited by its
    // `checkout.session.async_payment_succeeded`.
    if session.mode != "payment"
        || purpose(&session.metadata) != Some(PURPOSE_WALLET_TOPUP)
        || session.payment_status != "paid"
    {
        return Ok(None);
    }
    let (Some(total), Some(currency)) = (session.amount_total, session.currency.as_deref()) else {
        return Err(decode(format!(
            "{event_type}: paid top-up session {} has no amount_total or currency",
            session.id
        )));
    };
    // The PaymentIntent, as the PaymentIntent's own events and its charge's refunds and
    // disputes name it; a paid session always has one, its own id is the last resort.
    let payment_reference =
        id_of(session.payment_intent.as_ref()).unwrap_or_else(|| session.id.clone());
    // The session is the checkout our top-up row was recorded under.
    let checkout_reference = Some(session.id).filter(|id| !id.is_empty());
    Ok(Some(Mapped {
        checkout_reference,
        ..Mapped::payment(
            BillingEventKind::WalletTopUpCompleted,
            organization(&session.metadata),
            None,
            money(total, currency, "amount_total")?,
            payment_reference,
        )
    }))
}

fn payment_intent_topup(
    event_type: &str,
    value: serde_json::Value,
) -> Result<Option<Mapped>, ProviderError> {
    let intent: wire::PaymentIntent = object(event_type, "a PaymentIntent", value)?;
    // Invoice payments and the PaymentIntents behind Checkout top-ups are credited elsewhere.
    if purpose(&intent.metadata) != Some(PURPOSE_WALLET_TOPUP) {
        return Ok(None);
    }
    Ok(Some(Mapped::payment(
        BillingEventKind::WalletTopUpCompleted,
        organization(&intent.metadata),
        None,
        money(intent.amount_received, &intent.currency, "amount_received")?,
        intent.id,
    )))
}

fn refund(
    event_type: &str,
    value: serde_json::Value,
    previous: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<Option<Mapped>, ProviderError> {
    let charge: wire::Charge = object(event_type, "a charge", value)?;
    if !matches!(
        purpose(&charge.metadata),
        Some(PURPOSE_WALLET_TOPUP | PURPOSE_WALLET_TOPUP_CHECKOUT)
    ) {
        return Ok(None);
    }
    // `amount_refunded` is cumulative: a second partial refund must only take back its own
    // part, which is the difference to the previous attributes' value.
    let before = match previous.and_then(|previous| previous.get("amount_refunded")) {
        None => 0,
        Some(old) => old.as_i64().ok_or_else(|| {
            decode(format!(
                "{event_type}: previous amount_refunded of {} is not an integer",
                charge.id
            ))
        })?,
    };
    let refunded_now = charge
        .amount_refunded
        .checked_sub(before)
        .filter(|amount| *amount > 0)
        .ok_or_else(|| {
            decode(format!(
                "{event_type}: amount_refunded of {} did not grow",
                charge.id
            ))
        })?;
    // The refunded payment, as the top-up named it. Every refund of one charge shares it: the
    // refund's own id is not in the event (the charge's `refunds` is not sent by default).
    let payment_reference = id_of(charge.payment_intent.as_ref()).unwrap_or(charge.id);
    Ok(Some(Mapped::payment(
        BillingEventKind::TopUpRefunded,
        organization(&charge.metadata),
        None,
        money(refunded_now, &charge.currency, "amount_refunded")?,
        payment_reference,
    )))
}

/// Why an invoice's payment failed, as far as the delivery says: the finalization error, else
/// the failure message of its charge when the charge is expanded.
fn failure_reason(invoice: &wire::Invoice) -> Option<String> {
    let finalization = invoice
        .last_finalization_error
        .as_ref()
        .and_then(|error| error.message.as_deref())
        .and_then(provider_text);
    finalization.or_else(|| match invoice.charge.as_ref() {
        Some(wire::Expandable::Object(charge)) => {
            charge.failure_message.as_deref().and_then(provider_text)
        }
        _ => None,
    })
}

/// `charge.dispute.created` opens a dispute; `charge.dispute.closed` decides it by its status.
fn dispute(event_type: &str, value: serde_json::Value) -> Result<Option<Mapped>, ProviderError> {
    let dispute: wire::Dispute = object(event_type, "a dispute", value)?;
    let kind = if event_type == "charge.dispute.created" {
        BillingEventKind::DisputeOpened
    } else {
        match dispute.status.as_deref() {
            // `warning_closed`: an inquiry that closed without becoming a chargeback.
            Some("won" | "warning_closed") => BillingEventKind::DisputeWon,
            Some("lost") => BillingEventKind::DisputeLost,
            _ => return Ok(None),
        }
    };
    // The disputed payment, as its top-up (or legacy invoice) named it.
    let payment_reference = id_of(dispute.payment_intent.as_ref())
        .or_else(|| id_of(dispute.charge.as_ref()))
        .ok_or_else(|| {
            decode(format!(
                "{event_type}: dispute {} names neither a payment_intent nor a charge",
                dispute.id
            ))
        })?;
    Ok(Some(Mapped::payment(
        kind,
        organization(&dispute.metadata),
        None,
        money(dispute.amount, &dispute.currency, "amount")?,
        payment_reference,
    )))
}
