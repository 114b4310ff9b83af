//! PayPal webhook events (envelope `{id, event_version, create_time, resource_type,
//! event_type, summary, resource, links}`), as in `crates/billing/tests/fixtures/paypal`:
//! `BILLING.SUBSCRIPTION.*` carry the subscription resource, `PAYMENT.SALE.COMPLETED` a v1 sale
//! naming the subscription as `billing_agreement_id`, `PAYMENT.CAPTURE.*` an Orders v2 capture
//! (top-ups) or its refund.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::fakes::paypal::PayPalSubscriptionView;

/// The envelope is the local webhook tool's (one definition of PayPal's event).
use devhooks::events::paypal::envelope;

fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `BILLING.SUBSCRIPTION.{kind}` (`ACTIVATED`, `SUSPENDED`, `CANCELLED` ...) at `at`, its
/// resource being the subscription as `view` describes it.
pub fn subscription_event(
    event_id: &str,
    kind: &str,
    at: DateTime<Utc>,
    view: &PayPalSubscriptionView,
) -> Value {
    let summary = match kind {
        "ACTIVATED" => "Subscription activated",
        "SUSPENDED" => "Subscription suspended",
        "CANCELLED" => "Subscription cancelled",
        _ => "Subscription changed",
    };
    envelope(
        event_id,
        &format!("BILLING.SUBSCRIPTION.{kind}"),
        "subscription",
        summary,
        at,
        view.to_json(),
    )
}

/// `PAYMENT.SALE.COMPLETED`: a subscription's payment (v1 sale), which says nothing of the
/// period it pays for.
pub fn sale_completed(
    event_id: &str,
    at: DateTime<Utc>,
    sale_id: &str,
    subscription_id: &str,
    organization: &str,
    amount: &str,
    currency: &str,
) -> Value {
    envelope(
        event_id,
        "PAYMENT.SALE.COMPLETED",
        "sale",
        &format!("Payment completed for $ {amount} {currency}"),
        at,
        json!({
            "id": sale_id,
            "state": "completed",
            "amount": {
                "total": amount,
                "currency": currency,
                "details": {"subtotal": amount},
            },
            "payment_mode": "INSTANT_TRANSFER",
            "protection_eligibility": "ELIGIBLE",
            "protection_eligibility_type": "ITEM_NOT_RECEIVED_ELIGIBLE,UNAUTHORIZED_PAYMENT_ELIGIBLE",
            "transaction_fee": {"value": "1.14", "currency": currency},
            "billing_agreement_id": subscription_id,
            "custom": organization,
            "create_time": seconds(at),
            "update_time": seconds(at),
            "links": [
                {
                    "href": format!("https://api-m.paypal.com/v1/payments/sale/{sale_id}"),
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": format!("https://api-m.paypal.com/v1/payments/sale/{sale_id}/refund"),
                    "rel": "refund",
                    "method": "POST",
                },
            ],
        }),
    )
}

/// `PAYMENT.CAPTURE.COMPLETED`: a wallet top-up paid through an order, credited by its gross
/// amount to the organization in `custom_id`.
pub fn capture_completed(
    event_id: &str,
    at: DateTime<Utc>,
    capture_id: &str,
    organization: &str,
    amount: &str,
    currency: &str,
) -> Value {
    envelope(
        event_id,
        "PAYMENT.CAPTURE.COMPLETED",
        "capture",
        &format!("Payment completed for $ {amount} {currency}"),
        at,
        json!({
            "id": capture_id,
            "amount": {"currency_code": currency, "value": amount},
            "final_capture": true,
            "seller_protection": {
                "status": "ELIGIBLE",
                "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
            },
            "disbursement_mode": "INSTANT",
            "seller_receivable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": amount},
                "paypal_fee": {"currency_code": currency, "value": "1.54"},
            },
            "custom_id": organization,
            "invoice_id": format!("topup-{capture_id}"),
            "status": "COMPLETED",
            "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
            "create_time": seconds(at),
            "update_time": seconds(at),
            "links": [
                {
                    "href": format!("https://api.paypal.com/v2/payments/captures/{capture_id}"),
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": format!("https://api.paypal.com/v2/payments/captures/{capture_id}/refund"),
                    "rel": "refund",
                    "method": "POST",
                },
                {
                    "href": "https://api.paypal.com/v2/checkout/orders/5O190127TN364715T",
                    "rel": "up",
                    "method": "GET",
                },
            ],
        }),
    )
}

/// `PAYMENT.CAPTURE.REFUNDED`: a refund `refund_id` of `amount` of capture `capture_id` (named by
/// its `up` link, as PayPal does; the refund carries no `custom_id`).
pub fn capture_refunded(
    event_id: &str,
    at: DateTime<Utc>,
    refund_id: &str,
    capture_id: &str,
    amount: &str,
    total_refunded: &str,
    currency: &str,
) -> Value {
    envelope(
        event_id,
        "PAYMENT.CAPTURE.REFUNDED",
        "refund",
        &format!("A $ {amount} {currency} capture payment was refunded"),
        at,
        json!({
            "id": refund_id,
            "amount": {"currency_code": currency, "value": amount},
            "seller_payable_breakdown": {
                "gross_amount": {"currency_code": currency, "value": amount},
                "paypal_fee": {"currency_code": currency, "value": "0.00"},
                "net_amount": {"currency_code": currency, "value": amount},
                "total_refunded_amount": {"currency_code": currency, "value": total_refunded},
            },
            "status": "COMPLETED",
            "create_time": seconds(at),
            "update_time": seconds(at),
            "links": [
                {
                    "href": format!("https://api.paypal.com/v2/payments/refunds/{refund_id}"),
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": format!("https://api.paypal.com/v2/payments/captures/{capture_id}"),
                    "rel": "up",
                    "method": "GET",
                },
            ],
        }),
    )
}
