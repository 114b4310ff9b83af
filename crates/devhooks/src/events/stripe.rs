//! Stripe events at API version `2025-03-31.basil` (envelope `{id, object: "event",
//! api_version, created, data: {object, previous_attributes}, type ...}`), as in
//! `crates/billing/tests/fixtures/stripe/events`: invoices name their subscription and our
//! organization under `parent.subscription_details`, subscriptions carry their period on their
//! item, Checkout top-ups carry `metadata.purpose=wallet_topup` on the session and the charge
//! behind one `wallet_topup_checkout`, disputes name the payment intent they dispute.

use chrono::{DateTime, Duration, Utc};
use primitives::Money;
use serde_json::{Value, json};

use super::{ALPHANUMERIC, EventName, Params, Provider, random_id};
use crate::Error;

pub const API_VERSION: &str = "2025-03-31.basil";
const CUSTOMER: &str = "cus_DevLocalCustomer01";
const PRICE: &str = "price_DevLocalProMonthly";
const PRODUCT: &str = "prod_DevLocalPro";
const PERIOD: Duration = Duration::days(30);

fn id(prefix: &str) -> String {
    random_id(prefix, 24, ALPHANUMERIC)
}

pub(super) fn build(event: EventName, params: &Params) -> Result<super::Event, Error> {
    let created = params.at.timestamp();
    let (event_type, object, previous, payment, subscription) = match event {
        EventName::SubscriptionActivated | EventName::SubscriptionCanceled => {
            let subscription = params.subscription.clone().unwrap_or_else(|| id("sub_"));
            let organization = params.organization("a subscription event")?;
            let money = params.money("49.00")?;
            let canceled = event == EventName::SubscriptionCanceled;
            let status = if canceled { "canceled" } else { "active" };
            let (start, end) = (params.at.timestamp(), (params.at + PERIOD).timestamp());
            let mut object =
                subscription_object(&subscription, organization, status, &money, start, end);
            let (event_type, previous) = if canceled {
                object["canceled_at"] = json!(created);
                object["ended_at"] = json!(created);
                ("customer.subscription.deleted", None)
            } else {
                (
                    "customer.subscription.updated",
                    Some(json!({"status": "incomplete"})),
                )
            };
            (event_type, object, previous, None, Some(subscription))
        }
        EventName::PaymentFailed | EventName::PaymentSucceeded => {
            let subscription = params.subscription.clone().unwrap_or_else(|| id("sub_"));
            let organization = params.organization("an invoice")?;
            let money = params.money("49.00")?;
            let paid = event == EventName::PaymentSucceeded;
            // Since API 2025-03-31 an invoice names no payment intent: the invoice is the
            // payment's reference.
            let invoice = params.payment.clone().unwrap_or_else(|| id("in_"));
            let object = invoice_object(
                &invoice,
                &subscription,
                organization,
                &money,
                params.at,
                paid,
            );
            let event_type = if paid {
                "invoice.paid"
            } else {
                "invoice.payment_failed"
            };
            (event_type, object, None, Some(invoice), Some(subscription))
        }
        EventName::TopUpCompleted => {
            let organization = params.organization("a top-up")?;
            let money = params.money("10.00")?;
            let payment_intent = params.payment.clone().unwrap_or_else(|| id("pi_"));
            let object = top_up_session(
                &id("cs_test_"),
                organization,
                &payment_intent,
                &money,
                params.at,
            );
            (
                "checkout.session.completed",
                object,
                None,
                Some(payment_intent),
                None,
            )
        }
        EventName::Refund => {
            let payment_intent = params.payment("a refund", "pi_... of the top-up")?;
            let organization = params.organization("a refund")?;
            let money = params.money("10.00")?;
            let object = top_up_charge(organization, payment_intent, &money, params.at);
            let previous = json!({"amount_refunded": 0, "refunded": false});
            (
                "charge.refunded",
                object,
                Some(previous),
                Some(payment_intent.to_owned()),
                None,
            )
        }
        EventName::DisputeOpened | EventName::DisputeWon | EventName::DisputeLost => {
            let payment_intent = params.payment("a dispute", "pi_... of the payment")?;
            let money = params.money("10.00")?;
            let (event_type, status) = match event {
                EventName::DisputeOpened => ("charge.dispute.created", "needs_response"),
                EventName::DisputeWon => ("charge.dispute.closed", "won"),
                _ => ("charge.dispute.closed", "lost"),
            };
            let object = dispute_object(payment_intent, &money, status, params.at);
            (
                event_type,
                object,
                None,
                Some(payment_intent.to_owned()),
                None,
            )
        }
        other => {
            return Err(Error::Invalid(format!("stripe has no {other} event")));
        }
    };
    let event_id = params.event_id.clone().unwrap_or_else(|| id("evt_"));
    let body = self::event(&event_id, event_type, created, object, previous);
    Ok(super::Event::json(
        Provider::Stripe,
        event_id,
        event_type,
        &body,
        payment,
        subscription,
    ))
}

/// The event envelope around `object`.
pub fn event(
    id: &str,
    event_type: &str,
    created: i64,
    object: Value,
    previous_attributes: Option<Value>,
) -> Value {
    let mut data = json!({"object": object});
    if let Some(previous) = previous_attributes {
        data["previous_attributes"] = previous;
    }
    json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
    })
}

fn currency(money: &Money) -> String {
    money.currency().code().to_ascii_lowercase()
}

/// A subscription (the object of `customer.subscription.*` events and the answer of
/// `GET /v1/subscriptions/{id}`) with one item at `price`, its period (Unix seconds) on the item
/// as since API `2025-03-31`.
pub fn subscription_object(
    id: &str,
    organization: &str,
    status: &str,
    price: &Money,
    start: i64,
    end: i64,
) -> Value {
    json!({
        "id": id,
        "object": "subscription",
        "billing_cycle_anchor": start,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "collection_method": "charge_automatically",
        "created": start,
        "currency": currency(price),
        "customer": CUSTOMER,
        "ended_at": null,
        "items": {
            "object": "list",
            "data": [{
                "id": "si_DevLocalItem01",
                "object": "subscription_item",
                "created": start,
                "current_period_end": end,
                "current_period_start": start,
                "metadata": {},
                "price": {
                    "id": PRICE,
                    "object": "price",
                    "active": true,
                    "currency": currency(price),
                    "product": PRODUCT,
                    "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
                    "type": "recurring",
                    "unit_amount": price.minor(),
                },
                "quantity": 1,
                "subscription": id,
            }],
            "has_more": false,
            "total_count": 1,
            "url": format!("/v1/subscription_items?subscription={id}"),
        },
        "latest_invoice": null,
        "livemode": false,
        "metadata": {"organization_id": organization},
        "pause_collection": null,
        "start_date": start,
        "status": status,
        "trial_end": null,
        "trial_start": null,
    })
}

/// A subscription invoice for the month starting at `at`: paid, or still open after a failed
/// attempt.
fn invoice_object(
    id: &str,
    subscription: &str,
    organization: &str,
    amount: &Money,
    at: DateTime<Utc>,
    paid: bool,
) -> Value {
    let (start, end) = (at.timestamp(), (at + PERIOD).timestamp());
    let (status, amount_paid, remaining) = if paid {
        ("paid", amount.minor(), 0)
    } else {
        ("open", 0, amount.minor())
    };
    json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Messaging SaaS (development)",
        "amount_due": amount.minor(),
        "amount_paid": amount_paid,
        "amount_remaining": remaining,
        "attempt_count": 1,
        "attempted": true,
        "auto_advance": !paid,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": start,
        "currency": currency(amount),
        "customer": CUSTOMER,
        "customer_email": "billing@example.com",
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_DevLocal/test_{id}"),
        "last_finalization_error": null,
        "lines": {
            "object": "list",
            "data": [{
                "id": format!("il_{}", id.trim_start_matches("in_")),
                "object": "line_item",
                "amount": amount.minor(),
                "currency": currency(amount),
                "description": "1 × Pro (per month)",
                "invoice": id,
                "metadata": {},
                "parent": {
                    "subscription_item_details": {
                        "proration": false,
                        "subscription": subscription,
                        "subscription_item": "si_DevLocalItem01",
                    },
                    "type": "subscription_item_details",
                },
                "period": {"end": end, "start": start},
                "pricing": {
                    "price_details": {"price": PRICE, "product": PRODUCT},
                    "type": "price_details",
                    "unit_amount_decimal": amount.minor().to_string(),
                },
                "quantity": 1,
            }],
            "has_more": false,
            "total_count": 1,
            "url": format!("/v1/invoices/{id}/lines"),
        },
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": if paid { Value::Null } else { json!(start + 3 * 86_400) },
        "parent": {
            "quote_details": null,
            "subscription_details": {
                "metadata": {"organization_id": organization},
                "subscription": subscription,
            },
            "type": "subscription_details",
        },
        "period_end": start,
        "period_start": start - PERIOD.num_seconds(),
        "status": status,
        "status_transitions": {
            "finalized_at": start,
            "paid_at": if paid { json!(start) } else { Value::Null },
        },
        "subtotal": amount.minor(),
        "total": amount.minor(),
    })
}

/// The Checkout Session `id` of a wallet top-up of `amount`, completed at `at` and paid through
/// `payment_intent`.
pub fn top_up_session(
    id: &str,
    organization: &str,
    payment_intent: &str,
    amount: &Money,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount.minor(),
        "amount_total": amount.minor(),
        "client_reference_id": organization,
        "created": at.timestamp() - 60,
        "currency": currency(amount),
        "customer": CUSTOMER,
        "customer_details": {"email": "billing@example.com", "name": "Development Customer"},
        "expires_at": at.timestamp() + 86_400,
        "livemode": false,
        "metadata": {"organization_id": organization, "purpose": "wallet_topup"},
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "status": "complete",
        "subscription": null,
        "success_url": "http://127.0.0.1:8080/wallet?topup=done",
        "ui_mode": "hosted",
    })
}

/// The charge behind a Checkout top-up, refunded in full.
fn top_up_charge(
    organization: &str,
    payment_intent: &str,
    amount: &Money,
    at: DateTime<Utc>,
) -> Value {
    let charge = id("ch_");
    json!({
        "id": charge,
        "object": "charge",
        "amount": amount.minor(),
        "amount_captured": amount.minor(),
        "amount_refunded": amount.minor(),
        "captured": true,
        "created": at.timestamp() - 3_600,
        "currency": currency(amount),
        "customer": CUSTOMER,
        "description": "Wallet top-up",
        "livemode": false,
        "metadata": {"organization_id": organization, "purpose": "wallet_topup_checkout"},
        "paid": true,
        "payment_intent": payment_intent,
        "refunded": true,
        "status": "succeeded",
    })
}

/// A dispute of the charge behind `payment_intent`.
fn dispute_object(payment_intent: &str, amount: &Money, status: &str, at: DateTime<Utc>) -> Value {
    json!({
        "id": id("du_"),
        "object": "dispute",
        "amount": amount.minor(),
        "charge": id("ch_"),
        "created": at.timestamp(),
        "currency": currency(amount),
        "evidence_details": {"due_by": at.timestamp() + 7 * 86_400, "has_evidence": false, "past_due": false, "submission_count": 0},
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
    })
}
