//! Stripe events at API version `2025-03-31.basil` (envelope `{id, object: "event",
//! api_version, created, data: {object, previous_attributes}, type ...}`), as in
//! `crates/billing/tests/fixtures/stripe/events`: invoices name their subscription and our
//! organization under `parent.subscription_details`, Checkout top-ups carry
//! `metadata.purpose=wallet_topup` on the session, and the PaymentIntent (so its charge) behind
//! one carries `wallet_topup_checkout`.

use primitives::{Currency, Money};
use serde_json::{Value, json};

/// The envelope and API version are the local webhook tool's (one definition of Stripe's event).
pub use devhooks::events::stripe::{API_VERSION, event};

pub const CUSTOMER: &str = "cus_S2kMnOpQrStUvW";
pub const PRICE: &str = "price_1R8mJkLkdIwHu7ixPro0Month";

/// A subscription invoice.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub subscription: String,
    pub organization: String,
    /// Minor units.
    pub amount: i64,
    /// Lower case, as Stripe writes it.
    pub currency: String,
    /// The service period its subscription line bills for (Unix seconds).
    pub period_start: i64,
    pub period_end: i64,
    pub attempt_count: u32,
}

impl Invoice {
    /// The invoice object, `paid` or still `open` after a failed attempt.
    pub fn object(&self, paid: bool) -> Value {
        let (status, amount_paid, remaining) = if paid {
            ("paid", self.amount, 0)
        } else {
            ("open", 0, self.amount)
        };
        json!({
            "id": self.id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Messaging SaaS Inc.",
            "amount_due": self.amount,
            "amount_overpaid": 0,
            "amount_paid": amount_paid,
            "amount_remaining": remaining,
            "attempt_count": self.attempt_count,
            "attempted": true,
            "auto_advance": !paid,
            "billing_reason": "subscription_cycle",
            "collection_method": "charge_automatically",
            "created": self.period_start,
            "currency": self.currency,
            "customer": CUSTOMER,
            "customer_email": "billing@acme.example",
            "customer_name": "Acme Ltd",
            "hosted_invoice_url": format!("https://invoice.stripe.com/i/acct_1R8mJhLkdIwHu7ix/test_{}", self.id),
            "last_finalization_error": null,
            "lines": {
                "object": "list",
                "data": [{
                    "id": format!("il_{}", self.id.trim_start_matches("in_")),
                    "object": "line_item",
                    "amount": self.amount,
                    "currency": self.currency,
                    "description": "1 × Pro (per month)",
                    "invoice": self.id,
                    "livemode": false,
                    "metadata": {},
                    "parent": {
                        "invoice_item_details": null,
                        "subscription_item_details": {
                            "invoice_item": null,
                            "proration": false,
                            "proration_details": {"credited_items": null},
                            "subscription": self.subscription,
                            "subscription_item": "si_S2kNoPqRsTuVwX",
                        },
                        "type": "subscription_item_details",
                    },
                    "period": {"end": self.period_end, "start": self.period_start},
                    "pricing": {
                        "price_details": {"price": PRICE, "product": "prod_S2kLmNoPqRsTuV"},
                        "type": "price_details",
                        "unit_amount_decimal": self.amount.to_string(),
                    },
                    "quantity": 1,
                    "taxes": [],
                }],
                "has_more": false,
                "total_count": 1,
                "url": format!("/v1/invoices/{}/lines", self.id),
            },
            "livemode": false,
            "metadata": {},
            "next_payment_attempt": if paid { Value::Null } else { json!(self.period_start + 3 * 86_400) },
            "number": format!("ACME-{}", self.attempt_count),
            "parent": {
                "quote_details": null,
                "subscription_details": {
                    "metadata": {"organization_id": self.organization},
                    "subscription": self.subscription,
                },
                "type": "subscription_details",
            },
            "period_end": self.period_start,
            "period_start": self.period_start - 30 * 86_400,
            "status": status,
            "status_transitions": {
                "finalized_at": self.period_start,
                "marked_uncollectible_at": null,
                "paid_at": if paid { json!(self.period_start) } else { Value::Null },
                "voided_at": null,
            },
            "subtotal": self.amount,
            "total": self.amount,
        })
    }

    /// `invoice.paid`.
    pub fn paid(&self, event_id: &str, created: i64) -> Value {
        event(event_id, "invoice.paid", created, self.object(true), None)
    }

    /// `invoice.payment_failed`.
    pub fn payment_failed(&self, event_id: &str, created: i64) -> Value {
        event(
            event_id,
            "invoice.payment_failed",
            created,
            self.object(false),
            None,
        )
    }
}

/// A `subscription` object (the answer of `GET /v1/subscriptions/{id}` and the object of
/// `customer.subscription.*` events) at 49.00 USD a month: the local webhook tool's.
pub fn subscription(
    id: &str,
    organization: &str,
    status: &str,
    period_start: i64,
    period_end: i64,
) -> Value {
    let price = Money::from_minor(4900, Currency::USD);
    devhooks::events::stripe::subscription_object(
        id,
        organization,
        status,
        &price,
        period_start,
        period_end,
    )
}

/// `customer.subscription.updated` to `object`, whose `status` was `previous_status`.
pub fn subscription_updated(
    event_id: &str,
    created: i64,
    object: Value,
    previous_status: &str,
) -> Value {
    event(
        event_id,
        "customer.subscription.updated",
        created,
        object,
        Some(json!({"status": previous_status})),
    )
}

/// A Checkout Session of a wallet top-up, paid through `payment_intent` (the local webhook
/// tool's, at a fixed time).
pub fn top_up_session(
    id: &str,
    organization: &str,
    payment_intent: &str,
    amount: i64,
    currency: &str,
) -> Value {
    let currency = primitives::parse_currency(&currency.to_ascii_uppercase())
        .unwrap_or_else(|e| panic!("{currency}: {e}"));
    let at = chrono::DateTime::from_timestamp(1_743_897_660, 0).unwrap_or_default();
    devhooks::events::stripe::top_up_session(
        id,
        organization,
        payment_intent,
        &Money::from_minor(amount, currency),
        at,
    )
}

/// `checkout.session.completed` or `checkout.session.async_payment_succeeded` of `session`.
pub fn checkout(event_id: &str, event_type: &str, created: i64, session: Value) -> Value {
    event(event_id, event_type, created, session, None)
}

/// The charge behind a Checkout top-up's PaymentIntent (`purpose=wallet_topup_checkout`), with
/// `amount_refunded` so far.
pub fn top_up_charge(
    id: &str,
    organization: &str,
    payment_intent: &str,
    amount: i64,
    amount_refunded: i64,
    currency: &str,
) -> Value {
    json!({
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": format!("txn_{}", id.trim_start_matches("ch_")),
        "captured": true,
        "created": 1_743_984_000,
        "currency": currency,
        "customer": CUSTOMER,
        "description": "Wallet top-up",
        "disputed": false,
        "livemode": false,
        "metadata": {"organization_id": organization, "purpose": "wallet_topup_checkout"},
        "outcome": {"network_status": "approved_by_network", "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
        "paid": true,
        "payment_intent": payment_intent,
        "payment_method": "pm_1R8pH8LkdIwHu7ixCard4242",
        "receipt_email": "billing@acme.example",
        "refunded": amount_refunded == amount,
        "status": "succeeded",
    })
}

/// `charge.refunded`: `charge` after a refund that took `amount_refunded` from
/// `previously_refunded`.
pub fn charge_refunded(
    event_id: &str,
    created: i64,
    charge: Value,
    previously_refunded: i64,
) -> Value {
    event(
        event_id,
        "charge.refunded",
        created,
        charge,
        Some(json!({"amount_refunded": previously_refunded, "refunded": false})),
    )
}
