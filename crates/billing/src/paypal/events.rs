//! PayPal webhook events to normalized [`BillingEvent`]s.
//!
//! Our model of PayPal: subscriptions (Subscriptions v1 API) are paid through v1 *sales* that
//! carry the subscription as `billing_agreement_id`; wallet top-ups are Orders v2 orders
//! (intent `CAPTURE`, our organization as `purchase_units[0].custom_id`): the buyer approves
//! the order (`CHECKOUT.ORDER.APPROVED`, `TopUpApproved`, which credits nothing), we capture it,
//! and the *capture*'s `PAYMENT.CAPTURE.COMPLETED`, carrying the purchase unit's `custom_id`,
//! credits the wallet.
//!
//! | PayPal event | normalized | `payment_reference` | `period_end` |
//! |---|---|---|---|
//! | `BILLING.SUBSCRIPTION.CREATED` | `SubscriptionCreated` | none | `next_billing_time` |
//! | `BILLING.SUBSCRIPTION.ACTIVATED`, `...RE-ACTIVATED` | `SubscriptionActivated` | none | `next_billing_time` |
//! | `BILLING.SUBSCRIPTION.UPDATED` | `SubscriptionUpdated` | none | `next_billing_time` |
//! | `BILLING.SUBSCRIPTION.SUSPENDED` | `SubscriptionSuspended` | none | `next_billing_time` |
//! | `BILLING.SUBSCRIPTION.CANCELLED` | `SubscriptionCanceled` | none | `next_billing_time` |
//! | `BILLING.SUBSCRIPTION.EXPIRED` | `SubscriptionExpired` | none | `next_billing_time` |
//! | `BILLING.SUBSCRIPTION.PAYMENT.FAILED` | `PaymentFailed` (amount of `last_failed_payment`) | none | `next_billing_time` |
//! | `PAYMENT.SALE.COMPLETED` with `billing_agreement_id` | `PaymentSucceeded` | the sale id | none (see below) |
//! | `PAYMENT.SALE.COMPLETED` without | ignored: a one-off v1 sale this platform never creates | | |
//! | `PAYMENT.SALE.REFUNDED` | ignored: a refund of a subscription payment is the merchant's own act; it touches no wallet and changes no access | | |
//! | `PAYMENT.SALE.REVERSED` | `Chargeback` (subscription id when present) | the reversed sale's id | none |
//! | `PAYMENT.CAPTURE.COMPLETED` | `WalletTopUpCompleted` (gross amount; checkout reference `supplementary_data.related_ids.order_id` when present) | the capture id | none |
//! | `PAYMENT.CAPTURE.REFUNDED` | `TopUpRefunded` | the refunded capture's id | none |
//! | `PAYMENT.CAPTURE.REVERSED` | `Chargeback` | the reversed capture's id | none |
//! | `PAYMENT.CAPTURE.DENIED` | `PaymentFailed` without a subscription (a top-up that failed) | the capture id | none |
//! | `CUSTOMER.DISPUTE.CREATED` | `DisputeOpened` (amount `dispute_amount`) | the disputed transaction's `seller_transaction_id` | none |
//! | `CUSTOMER.DISPUTE.RESOLVED`, outcome `RESOLVED_SELLER_FAVOUR` | `DisputeWon` | as above | none |
//! | `CUSTOMER.DISPUTE.RESOLVED`, outcome `RESOLVED_BUYER_FAVOUR` | `DisputeLost` | as above | none |
//! | `CUSTOMER.DISPUTE.RESOLVED`, any other outcome; `CUSTOMER.DISPUTE.UPDATED` | ignored | | |
//! | `CHECKOUT.ORDER.APPROVED`, intent `CAPTURE` | `TopUpApproved` (amount of `purchase_units[0]`; checkout reference the order id): capture it, nothing is credited yet | the order id | none |
//! | `CHECKOUT.ORDER.APPROVED`, any other intent | ignored: not an order this platform creates | | |
//! | anything else | ignored | | |
//!
//! `Chargeback` means money PayPal already took back (a reversal); a dispute is
//! `DisputeOpened` first and may still be won. A dispute's `payment_reference` is the
//! disputed transaction's `seller_transaction_id`: the capture id (top-ups) or sale id
//! (subscription payments), the same reference as the payment's own event, so the ledger meets
//! the credit with its debit. Its organization is the transaction's `custom` (`custom_id`),
//! when the delivery carries it; a dispute names no subscription.
//!
//! Further fields: on `BILLING.SUBSCRIPTION.*` events `subscription_status` is the resource's
//! `status`, mapped as [`crate::BillingProvider::subscription`] maps it (a status we do not
//! know is `None`, never an error); on `BILLING.SUBSCRIPTION.PAYMENT.FAILED`, `failure_reason`
//! is `last_failed_payment.reason_code`, and on `PAYMENT.CAPTURE.DENIED` the capture's
//! `status_details.reason`. `checkout_reference` names the top-up's order (what
//! [`crate::BillingProvider::create_top_up`] returned as its checkout): the order id on
//! `CHECKOUT.ORDER.APPROVED`, and on `PAYMENT.CAPTURE.COMPLETED` the capture's
//! `supplementary_data.related_ids.order_id`, which PayPal sends for captures of Orders v2
//! orders (a capture without it has none; its `payment_reference`, the capture id, still
//! credits it); `None` on every other event. `trial_end` and `order_reference` are always
//! `None`.
//!
//! `payment_reference` names the payment money moved for, so every event about one payment
//! carries the same one. A sale's is its `id`. A v1 refund or reversal names its sale as
//! `sale_id`, else as its `rel: sale` link (`.../v1/payments/sale/{id}`), else (PayPal's own
//! `PAYMENT.SALE.REVERSED` sample writes the reversed sale's id there) its `id`: refunds and
//! reversals of one sale share the sale's id. `parent_payment` is never used: it is the v1
//! `PAY-...` payment, not the sale, so it would not match the `PAYMENT.SALE.COMPLETED` event.
//! A capture's is its `id`; a v2 refund or reversal names its capture by its `rel: up` link
//! (`.../v2/payments/captures/{id}`), else its own `id` is used. An approved order's is the
//! order id (the capture that follows has its own id: approving moves no money, so the two
//! never meet in the ledger). Subscription events name no payment. A resource without an id
//! has none, except an approved order, which without an id is a decode error (there would be
//! nothing to capture).
//!
//! `period_end` is the subscription's `billing_info.next_billing_time`, on every subscription
//! event that carries it, passed on as PayPal reports it (on `PAYMENT.FAILED` PayPal's sample
//! gives the due date of the payment that failed, so it extends nothing). A v1 sale says
//! nothing about the period it pays for, so `PAYMENT.SALE.COMPLETED` leaves it `None`: the
//! receiver asks the subscription ([`crate::BillingProvider::subscription`], whose
//! `current_period_end` is the same `next_billing_time`). A `next_billing_time` that is not a
//! real time is `None`, never an error.
//!
//! Amounts are positive magnitudes (v1 refunds write theirs negative), parsed exactly with the
//! currency's exponent. `occurred_at` is the event's `create_time`; when that is missing or not
//! a real time (PayPal's simulator sends month 19) it falls back to the resource's
//! `update_time`, `status_update_time`, `create_time`, and last to the time we parse it, so a
//! genuine event is never refused for PayPal's own bad date.

use chrono::{DateTime, Utc};
use primitives::Money;
use serde::de::DeserializeOwned;

use super::values::{self, money};
use super::wire;
use crate::event::provider_text;
use crate::{BillingEvent, BillingEventKind, ParsedWebhook, ProviderError, ProviderName};

/// What an event type means, before its resource is read.
#[derive(Debug, Clone, Copy)]
enum Meaning {
    Subscription(BillingEventKind),
    SubscriptionPaymentFailed,
    SaleCompleted,
    SaleReversed,
    Capture(BillingEventKind),
    DisputeCreated,
    DisputeResolved,
    OrderApproved,
}

fn meaning(event_type: &str) -> Option<Meaning> {
    use BillingEventKind as K;
    Some(match event_type {
        "BILLING.SUBSCRIPTION.CREATED" => Meaning::Subscription(K::SubscriptionCreated),
        "BILLING.SUBSCRIPTION.ACTIVATED" | "BILLING.SUBSCRIPTION.RE-ACTIVATED" => {
            Meaning::Subscription(K::SubscriptionActivated)
        }
        "BILLING.SUBSCRIPTION.UPDATED" => Meaning::Subscription(K::SubscriptionUpdated),
        "BILLING.SUBSCRIPTION.SUSPENDED" => Meaning::Subscription(K::SubscriptionSuspended),
        "BILLING.SUBSCRIPTION.CANCELLED" => Meaning::Subscription(K::SubscriptionCanceled),
        "BILLING.SUBSCRIPTION.EXPIRED" => Meaning::Subscription(K::SubscriptionExpired),
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED" => Meaning::SubscriptionPaymentFailed,
        "PAYMENT.SALE.COMPLETED" => Meaning::SaleCompleted,
        "PAYMENT.SALE.REVERSED" => Meaning::SaleReversed,
        "PAYMENT.CAPTURE.COMPLETED" => Meaning::Capture(K::WalletTopUpCompleted),
        "PAYMENT.CAPTURE.REFUNDED" => Meaning::Capture(K::TopUpRefunded),
        "PAYMENT.CAPTURE.REVERSED" => Meaning::Capture(K::Chargeback),
        "PAYMENT.CAPTURE.DENIED" => Meaning::Capture(K::PaymentFailed),
        "CUSTOMER.DISPUTE.CREATED" => Meaning::DisputeCreated,
        "CUSTOMER.DISPUTE.RESOLVED" => Meaning::DisputeResolved,
        "CHECKOUT.ORDER.APPROVED" => Meaning::OrderApproved,
        _ => return None,
    })
}

/// Parses a verified body. `now` is the last fallback for `occurred_at`.
pub(crate) fn parse(body: &[u8], now: DateTime<Utc>) -> Result<ParsedWebhook, ProviderError> {
    let event: wire::Event = serde_json::from_slice(body)
        .map_err(|e| decode(format!("webhook body is not a PayPal event: {e}")))?;
    let Some(meaning) = meaning(&event.event_type) else {
        return Ok(ignored(event));
    };
    let mut normalized = BillingEvent {
        provider: ProviderName::Paypal,
        provider_event_id: event.id.clone(),
        occurred_at: now,
        kind: BillingEventKind::SubscriptionUpdated,
        organization_ref: None,
        provider_subscription_id: None,
        amount: None,
        payment_reference: None,
        period_end: None,
        subscription_status: None,
        trial_end: None,
        failure_reason: None,
        order_reference: None,
        checkout_reference: None,
        provider_event_type: event.event_type.clone(),
    };
    let resource_times: [Option<String>; 3];
    match meaning {
        Meaning::Subscription(_) | Meaning::SubscriptionPaymentFailed => {
            let sub: wire::Subscription = resource(&event)?;
            if let Meaning::Subscription(kind) = meaning {
                normalized.kind = kind;
            } else {
                normalized.kind = BillingEventKind::PaymentFailed;
                let failed = sub
                    .billing_info
                    .as_ref()
                    .and_then(|info| info.last_failed_payment.as_ref());
                normalized.amount = failed
                    .and_then(|failed| failed.amount.as_ref())
                    .map(|amount| money(&amount.value, &amount.currency_code))
                    .transpose()?;
                normalized.failure_reason = failed
                    .and_then(|failed| failed.reason_code.as_deref())
                    .and_then(provider_text);
            }
            // A status PayPal may add later is no status, not a refused event.
            normalized.subscription_status = sub
                .status
                .as_deref()
                .and_then(|status| values::status(status).ok());
            normalized.organization_ref = reference([sub.custom_id.as_deref()]);
            normalized.period_end = sub
                .billing_info
                .as_ref()
                .and_then(|info| info.next_billing_time.as_deref())
                .and_then(parse_time);
            normalized.provider_subscription_id = Some(sub.id);
            resource_times = [sub.update_time, sub.status_update_time, sub.create_time];
        }
        Meaning::SaleCompleted | Meaning::SaleReversed => {
            let sale: wire::Sale = resource(&event)?;
            let agreement = reference([sale.billing_agreement_id.as_deref()]);
            if matches!(meaning, Meaning::SaleCompleted) && agreement.is_none() {
                return Ok(ignored(event));
            }
            normalized.kind = match meaning {
                Meaning::SaleCompleted => BillingEventKind::PaymentSucceeded,
                _ => BillingEventKind::Chargeback,
            };
            let amount = sale
                .amount
                .as_ref()
                .ok_or_else(|| decode("sale has no amount".into()))?;
            normalized.amount = Some(magnitude(money(&amount.total, &amount.currency)?)?);
            normalized.organization_ref =
                reference([sale.custom_id.as_deref(), sale.custom.as_deref()]);
            normalized.provider_subscription_id = agreement;
            normalized.payment_reference = sale_reference(&sale);
            resource_times = [sale.update_time, sale.create_time, None];
        }
        Meaning::Capture(kind) => {
            let capture: wire::Capture = resource(&event)?;
            normalized.kind = kind;
            let amount = capture
                .amount
                .as_ref()
                .ok_or_else(|| decode("capture has no amount".into()))?;
            normalized.amount = Some(magnitude(money(&amount.value, &amount.currency_code)?)?);
            normalized.organization_ref = reference([capture.custom_id.as_deref()]);
            normalized.payment_reference = capture_reference(&capture, kind);
            if kind == BillingEventKind::WalletTopUpCompleted {
                normalized.checkout_reference = reference([capture
                    .supplementary_data
                    .as_ref()
                    .and_then(|data| data.related_ids.as_ref())
                    .and_then(|ids| ids.order_id.as_deref())]);
            }
            if kind == BillingEventKind::PaymentFailed {
                normalized.failure_reason = capture
                    .status_details
                    .as_ref()
                    .and_then(|details| details.reason.as_deref())
                    .and_then(provider_text);
            }
            resource_times = [capture.update_time, capture.create_time, None];
        }
        Meaning::DisputeCreated | Meaning::DisputeResolved => {
            let dispute: wire::Dispute = resource(&event)?;
            normalized.kind = match meaning {
                Meaning::DisputeCreated => BillingEventKind::DisputeOpened,
                _ => match dispute
                    .dispute_outcome
                    .as_ref()
                    .and_then(|outcome| outcome.outcome_code.as_deref())
                {
                    Some("RESOLVED_SELLER_FAVOUR") => BillingEventKind::DisputeWon,
                    Some("RESOLVED_BUYER_FAVOUR") => BillingEventKind::DisputeLost,
                    // Canceled by the buyer, paid out by PayPal, no outcome ...: nothing for
                    // the ledger to decide on.
                    _ => return Ok(ignored(event)),
                },
            };
            let (transaction, payment_reference) = dispute
                .disputed_transactions
                .iter()
                .find_map(|transaction| {
                    reference([transaction.seller_transaction_id.as_deref()])
                        .map(|id| (transaction, id))
                })
                .ok_or_else(|| {
                    decode(format!(
                        "dispute {} names no seller transaction",
                        dispute.dispute_id.as_deref().unwrap_or("without id")
                    ))
                })?;
            let amount = dispute
                .dispute_amount
                .as_ref()
                .or(transaction.gross_amount.as_ref())
                .ok_or_else(|| decode("dispute has no dispute_amount".into()))?;
            normalized.amount = Some(magnitude(money(&amount.value, &amount.currency_code)?)?);
            normalized.organization_ref = reference([
                transaction.custom_id.as_deref(),
                transaction.custom.as_deref(),
            ]);
            normalized.payment_reference = Some(payment_reference);
            resource_times = [dispute.update_time, dispute.create_time, None];
        }
        Meaning::OrderApproved => {
            let order: wire::Order = resource(&event)?;
            // Our top-ups are `CAPTURE` orders; an authorization is not one of ours to capture.
            if order.intent.as_deref() != Some("CAPTURE") {
                return Ok(ignored(event));
            }
            let id = reference([order.id.as_deref()])
                .ok_or_else(|| decode("approved order has no id".into()))?;
            let unit = order
                .purchase_units
                .first()
                .ok_or_else(|| decode(format!("approved order {id} has no purchase unit")))?;
            let amount = unit
                .amount
                .as_ref()
                .ok_or_else(|| decode(format!("approved order {id} has no amount")))?;
            normalized.kind = BillingEventKind::TopUpApproved;
            normalized.amount = Some(magnitude(money(&amount.value, &amount.currency_code)?)?);
            normalized.organization_ref = reference([unit.custom_id.as_deref()]);
            normalized.checkout_reference = Some(id.clone());
            normalized.payment_reference = Some(id);
            resource_times = [order.update_time, order.create_time, None];
        }
    }
    normalized.occurred_at = std::iter::once(event.create_time.as_deref())
        .chain(resource_times.iter().map(Option::as_deref))
        .flatten()
        .find_map(parse_time)
        .unwrap_or(now);
    Ok(ParsedWebhook::Events {
        events: vec![normalized],
    })
}

fn ignored(event: wire::Event) -> ParsedWebhook {
    ParsedWebhook::Ignored {
        provider_event_type: event.event_type,
        provider_event_id: Some(event.id),
    }
}

fn resource<T: DeserializeOwned>(event: &wire::Event) -> Result<T, ProviderError> {
    T::deserialize(&event.resource)
        .map_err(|e| decode(format!("{} resource: {e}", event.event_type)))
}

/// The first non-empty reference among `candidates`.
fn reference<const N: usize>(candidates: [Option<&str>; N]) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

/// The sale a v1 sale event is about: a refund's or reversal's `sale_id`, else its `rel: sale`
/// link, else the resource's own id (the sale itself, or PayPal's reversal sample).
fn sale_reference(sale: &wire::Sale) -> Option<String> {
    reference([sale.sale_id.as_deref()])
        .or_else(|| linked_id(&sale.links, "sale", "sale"))
        .or_else(|| reference([sale.id.as_deref()]))
}

/// The capture a v2 capture event is about: for a refund or reversal the capture its `rel: up`
/// link names, else the resource's own id.
fn capture_reference(capture: &wire::Capture, kind: BillingEventKind) -> Option<String> {
    let of_a_capture = matches!(
        kind,
        BillingEventKind::TopUpRefunded | BillingEventKind::Chargeback
    );
    of_a_capture
        .then(|| linked_id(&capture.links, "up", "captures"))
        .flatten()
        .or_else(|| reference([capture.id.as_deref()]))
}

/// The id ending the first `rel` link whose path is `.../{collection}/{id}`, if it is a plain
/// PayPal id (ASCII letters, digits, `-`, `_`).
fn linked_id(links: &[wire::Link], rel: &str, collection: &str) -> Option<String> {
    links
        .iter()
        .filter(|link| link.rel == rel)
        .find_map(|link| id_in(&link.href, collection))
}

fn id_in(href: &str, collection: &str) -> Option<String> {
    let url = url::Url::parse(href).ok()?;
    let mut segments = url.path_segments()?.rev().skip_while(|s| s.is_empty());
    let id = segments.next()?;
    let plain = id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (plain && segments.next() == Some(collection)).then(|| id.to_owned())
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// The positive size of an amount (v1 refunds are written negative); zero is not a payment.
fn magnitude(amount: Money) -> Result<Money, ProviderError> {
    let positive = if amount.minor() < 0 {
        amount
            .checked_neg()
            .map_err(|e| decode(format!("amount: {e}")))?
    } else {
        amount
    };
    if positive.is_positive() {
        Ok(positive)
    } else {
        Err(decode("amount is zero".into()))
    }
}

fn decode(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: ProviderName::Paypal,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn too_many_decimals_is_a_decode_error_not_a_rounding() {
        let body = br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2024-01-01T00:00:00Z","resource":{"amount":{"currency_code":"USD","value":"10.001"},"custom_id":"org"}}"#;
        assert!(matches!(
            parse(body, now()),
            Err(ProviderError::Decode { .. })
        ));
        let yen = br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2024-01-01T00:00:00Z","resource":{"amount":{"currency_code":"JPY","value":"10.5"}}}"#;
        assert!(matches!(
            parse(yen, now()),
            Err(ProviderError::Decode { .. })
        ));
    }

    #[test]
    fn unknown_types_are_ignored_and_bad_dates_fall_back() {
        let body = br#"{"id":"WH-2","event_type":"CHECKOUT.ORDER.COMPLETED","resource":{}}"#;
        assert!(matches!(
            parse(body, now()),
            Ok(ParsedWebhook::Ignored { .. })
        ));
        let body = br#"{"id":"WH-3","event_type":"BILLING.SUBSCRIPTION.ACTIVATED","create_time":"2018-19-12T22:20:32.000Z","resource":{"id":"I-1"}}"#;
        let Ok(ParsedWebhook::Events { events }) = parse(body, now()) else {
            panic!("not parsed");
        };
        assert_eq!(events[0].occurred_at, now());
    }
}
