//! PayPal webhook events (envelope `{id, event_version, create_time, resource_type,
//! event_type, summary, resource, links}`), as in `crates/billing/tests/fixtures/paypal`:
//! `BILLING.SUBSCRIPTION.*` carry the subscription resource (our organization as `custom_id`),
//! `PAYMENT.SALE.COMPLETED` a v1 sale naming the subscription as `billing_agreement_id`,
//! `PAYMENT.CAPTURE.*` an Orders v2 capture (top-ups) or the refund or reversal of one (naming
//! the capture by its `up` link), `CUSTOMER.DISPUTE.*` the dispute with its transaction.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use primitives::Money;
use serde_json::{Value, json};

use super::{EventName, Params, Provider, UPPER_ALPHANUMERIC, random_id};
use crate::Error;

const API: &str = "https://api-m.paypal.com";
const PLAN: &str = "P-DEVLOCAL0PRO0MONTHLY0000";
const PERIOD: Duration = Duration::days(30);

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A sale, capture, refund or dispute transaction id (`5O190127TN364715T`).
fn transaction_id() -> String {
    random_id("", 17, UPPER_ALPHANUMERIC)
}

fn amount(money: &Money) -> Value {
    json!({"currency_code": money.currency().code(), "value": money.to_decimal_string()})
}

fn link(href: String, rel: &str) -> Value {
    json!({"href": href, "rel": rel, "method": "GET"})
}

pub(super) fn build(event: EventName, params: &Params) -> Result<super::Event, Error> {
    let at = params.at;
    let mut payment = None;
    let mut subscription = None;
    let (event_type, resource_type, summary, resource) = match event {
        EventName::SubscriptionActivated
        | EventName::PaymentFailed
        | EventName::SubscriptionCanceled => {
            let id = params
                .subscription
                .clone()
                .unwrap_or_else(|| random_id("I-", 12, UPPER_ALPHANUMERIC));
            let organization = params.organization("a subscription event")?;
            let price = params.money("49.00")?;
            let resource = subscription_resource(&id, organization, event, &price, at);
            subscription = Some(id);
            match event {
                EventName::SubscriptionActivated => (
                    "BILLING.SUBSCRIPTION.ACTIVATED",
                    "subscription",
                    "Subscription activated".to_owned(),
                    resource,
                ),
                EventName::PaymentFailed => (
                    "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
                    "subscription",
                    "Subscription payment failed".to_owned(),
                    resource,
                ),
                _ => (
                    "BILLING.SUBSCRIPTION.CANCELLED",
                    "subscription",
                    "Subscription cancelled".to_owned(),
                    resource,
                ),
            }
        }
        EventName::PaymentSucceeded => {
            let id = params
                .subscription
                .clone()
                .unwrap_or_else(|| random_id("I-", 12, UPPER_ALPHANUMERIC));
            let organization = params.organization("a subscription payment")?;
            let money = params.money("49.00")?;
            let sale = params.payment.clone().unwrap_or_else(transaction_id);
            let resource = json!({
                "id": sale,
                "state": "completed",
                "amount": {
                    "total": money.to_decimal_string(),
                    "currency": money.currency().code(),
                    "details": {"subtotal": money.to_decimal_string()},
                },
                "payment_mode": "INSTANT_TRANSFER",
                "protection_eligibility": "ELIGIBLE",
                "billing_agreement_id": id,
                "custom": organization,
                "create_time": seconds(at),
                "update_time": seconds(at),
                "links": [
                    link(format!("{API}/v1/payments/sale/{sale}"), "self"),
                ],
            });
            payment = Some(sale);
            subscription = Some(id);
            (
                "PAYMENT.SALE.COMPLETED",
                "sale",
                format!("Payment completed for {money}"),
                resource,
            )
        }
        EventName::TopUpCompleted => {
            let organization = params.organization("a top-up")?;
            let money = params.money("10.00")?;
            let capture = params.payment.clone().unwrap_or_else(transaction_id);
            let order = transaction_id();
            let resource = json!({
                "id": capture,
                "amount": amount(&money),
                "final_capture": true,
                "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
                "seller_receivable_breakdown": {"gross_amount": amount(&money)},
                "custom_id": organization,
                "status": "COMPLETED",
                "supplementary_data": {"related_ids": {"order_id": order}},
                "create_time": seconds(at),
                "update_time": seconds(at),
                "links": [
                    link(format!("{API}/v2/payments/captures/{capture}"), "self"),
                    link(format!("{API}/v2/checkout/orders/{order}"), "up"),
                ],
            });
            payment = Some(capture);
            (
                "PAYMENT.CAPTURE.COMPLETED",
                "capture",
                format!("Payment completed for {money}"),
                resource,
            )
        }
        EventName::Refund | EventName::Chargeback => {
            let capture = params
                .payment("a refund or reversal", "capture id")?
                .to_owned();
            let money = params.money("10.00")?;
            let reversed = event == EventName::Chargeback;
            let mut resource = json!({
                "id": transaction_id(),
                "amount": amount(&money),
                "status": "COMPLETED",
                "create_time": seconds(at),
                "update_time": seconds(at),
                "links": [
                    link(format!("{API}/v2/payments/captures/{capture}"), "up"),
                ],
            });
            if reversed {
                if let Some(organization) = &params.organization {
                    resource["custom_id"] = json!(organization);
                }
                resource["reason_code"] = json!("CHARGEBACK");
            }
            payment = Some(capture);
            if reversed {
                (
                    "PAYMENT.CAPTURE.REVERSED",
                    "refund",
                    format!("A {money} capture payment was reversed"),
                    resource,
                )
            } else {
                (
                    "PAYMENT.CAPTURE.REFUNDED",
                    "refund",
                    format!("A {money} capture payment was refunded"),
                    resource,
                )
            }
        }
        EventName::DisputeOpened | EventName::DisputeWon | EventName::DisputeLost => {
            let transaction = params
                .payment("a dispute", "capture or sale id")?
                .to_owned();
            let organization = params.organization("a dispute")?;
            let money = params.money("10.00")?;
            let case = random_id("PP-D-", 5, super::DIGITS);
            let mut resource = json!({
                "dispute_id": case,
                "create_time": millis(at),
                "update_time": millis(at),
                "disputed_transactions": [{
                    "seller_transaction_id": transaction,
                    "create_time": millis(at - Duration::days(3)),
                    "transaction_status": "COMPLETED",
                    "gross_amount": amount(&money),
                    "custom": organization,
                    "buyer": {"name": "Development Buyer"},
                    "seller": {"name": "Messaging SaaS (development)"},
                }],
                "reason": "UNAUTHORISED",
                "status": "OPEN",
                "dispute_amount": amount(&money),
                "dispute_life_cycle_stage": "CHARGEBACK",
                "dispute_channel": "EXTERNAL",
                "links": [link(format!("{API}/v1/customer/disputes/{case}"), "self")],
            });
            payment = Some(transaction);
            if event == EventName::DisputeOpened {
                (
                    "CUSTOMER.DISPUTE.CREATED",
                    "dispute",
                    format!("A new dispute opened with Case # {case}"),
                    resource,
                )
            } else {
                let outcome = if event == EventName::DisputeWon {
                    "RESOLVED_SELLER_FAVOUR"
                } else {
                    "RESOLVED_BUYER_FAVOUR"
                };
                resource["status"] = json!("RESOLVED");
                resource["dispute_outcome"] = json!({"outcome_code": outcome});
                (
                    "CUSTOMER.DISPUTE.RESOLVED",
                    "dispute",
                    format!("A dispute was resolved with case # {case}"),
                    resource,
                )
            }
        }
        other => return Err(Error::Invalid(format!("paypal has no {other} event"))),
    };
    let event_id = params.event_id.clone().unwrap_or_else(|| {
        format!(
            "WH-{}-{}",
            random_id("", 17, UPPER_ALPHANUMERIC),
            random_id("", 17, UPPER_ALPHANUMERIC)
        )
    });
    let body = envelope(&event_id, event_type, resource_type, &summary, at, resource);
    Ok(super::Event::json(
        Provider::Paypal,
        event_id,
        event_type,
        &body,
        payment,
        subscription,
    ))
}

/// The webhook event envelope PayPal posts around `resource`, with its `self` and `resend`
/// links.
pub fn envelope(
    event_id: &str,
    event_type: &str,
    resource_type: &str,
    summary: &str,
    at: DateTime<Utc>,
    resource: Value,
) -> Value {
    let event_url = format!("{API}/v1/notifications/webhooks-events/{event_id}");
    json!({
        "id": event_id,
        "event_version": "1.0",
        "create_time": millis(at),
        "resource_type": resource_type,
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": summary,
        "resource": resource,
        "links": [
            link(event_url.clone(), "self"),
            {"href": format!("{event_url}/resend"), "rel": "resend", "method": "POST"},
        ],
    })
}

/// The subscription as a `BILLING.SUBSCRIPTION.*` event carries it: active and paid up, active
/// with a failed payment outstanding, or cancelled.
fn subscription_resource(
    id: &str,
    organization: &str,
    event: EventName,
    price: &Money,
    at: DateTime<Utc>,
) -> Value {
    let zero = Money::zero(price.currency());
    let mut billing_info = json!({
        "outstanding_balance": amount(&zero),
        "last_payment": {"amount": amount(price), "time": seconds(at)},
        "next_billing_time": seconds(at + PERIOD),
        "failed_payments_count": 0,
    });
    let status = match event {
        EventName::PaymentFailed => {
            billing_info["outstanding_balance"] = amount(price);
            billing_info["last_payment"]["time"] = json!(seconds(at - PERIOD));
            billing_info["last_failed_payment"] = json!({
                "amount": amount(price),
                "time": seconds(at),
                "reason_code": "PAYMENT_DENIED",
                "next_payment_retry_date": seconds(at + Duration::days(5)),
            });
            // The due date of the payment that failed.
            billing_info["next_billing_time"] = json!(seconds(at));
            billing_info["failed_payments_count"] = json!(1);
            "ACTIVE"
        }
        EventName::SubscriptionCanceled => "CANCELLED",
        _ => "ACTIVE",
    };
    json!({
        "id": id,
        "plan_id": PLAN,
        "status": status,
        "status_update_time": seconds(at),
        "custom_id": organization,
        "start_time": seconds(at - PERIOD),
        "quantity": "1",
        "billing_info": billing_info,
        "create_time": seconds(at - PERIOD),
        "update_time": seconds(at),
        "links": [link(format!("{API}/v1/billing/subscriptions/{id}"), "self")],
    })
}
