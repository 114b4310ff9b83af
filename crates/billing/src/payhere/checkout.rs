//! The checkout form that starts a PayHere payment or subscription. PayHere has no API call
//! that creates a subscription: the customer's browser posts this form to PayHere's checkout
//! page, and the outcome arrives as a notification.
//!
//! The form carries `hash = UPPER(MD5(merchant_id + order_id + amount + currency +
//! UPPER(MD5(secret))))`, so the customer cannot change order, amount or currency on the way;
//! everything else in it (`custom_1`, names, `recurrence`) they can. That is why the
//! organization travels in the order id ([`OrderRef`]).

use std::fmt;

use outbound::masked;
use primitives::{Money, currency_exponent};
use serde::Serialize;

use super::errors::config_error;
use super::order::{OrderPurpose, OrderRef};
use super::signature::SigningKey;
use crate::ProviderError;

/// PayHere's checkout page, under the configured base URL.
pub(crate) const CHECKOUT_PATH: &str = "/pay/checkout";

/// The form fields that carry the customer, masked in [`CheckoutForm`]'s `Debug`.
const CUSTOMER_FIELDS: [&str; 6] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "city",
];

/// Who pays; PayHere requires these on its checkout form. Customer data: `Debug` shows the
/// country only.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckoutCustomer {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub city: String,
    pub country: String,
}

impl fmt::Debug for CheckoutCustomer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckoutCustomer")
            .field("first_name", &masked(&self.first_name))
            .field("last_name", &masked(&self.last_name))
            .field("email", &masked(&self.email))
            .field("phone", &masked(&self.phone))
            .field("address", &masked(&self.address))
            .field("city", &masked(&self.city))
            .field("country", &self.country)
            .finish()
    }
}

/// PayHere's schedule words: `recurrence` like `1 Month`, `duration` like `1 Year` or
/// `Forever`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub recurrence: String,
    pub duration: String,
}

/// One checkout: a wallet top-up (`recurrence: None`, order purpose [`OrderPurpose::TopUp`]) or a
/// subscription (`recurrence: Some`, [`OrderPurpose::Subscription`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub order: OrderRef,
    /// Per payment (per installment for a subscription). Positive, in a currency with two
    /// decimals (PayHere's LKR, USD, GBP, EUR, AUD).
    pub amount: Money,
    /// The item title shown to the customer.
    pub items: String,
    pub customer: CheckoutCustomer,
    pub return_url: String,
    pub cancel_url: String,
    pub recurrence: Option<Recurrence>,
}

/// A form for the customer's browser to post: `action` and its fields, in order. `Debug`
/// masks the customer's fields.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl fmt::Debug for CheckoutForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Field<'a>(&'a str, &'a str);
        impl fmt::Debug for Field<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if CUSTOMER_FIELDS.contains(&self.0) {
                    f.debug_tuple("")
                        .field(&self.0)
                        .field(&masked(self.1))
                        .finish()
                } else {
                    f.debug_tuple("").field(&self.0).field(&self.1).finish()
                }
            }
        }
        f.debug_struct("CheckoutForm")
            .field("action", &self.action)
            .field(
                "fields",
                &self
                    .fields
                    .iter()
                    .map(|(name, value)| Field(name, value))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

pub(crate) fn build(
    request: &CheckoutRequest,
    merchant_id: &str,
    notify_url: &str,
    base_url: &str,
    key: &SigningKey,
) -> Result<CheckoutForm, ProviderError> {
    let purpose = request.order.purpose();
    match (purpose, &request.recurrence) {
        (OrderPurpose::Subscription, None) => {
            return Err(config_error(
                "a subscription checkout needs its recurrence and duration".to_owned(),
            ));
        }
        (OrderPurpose::TopUp, Some(_)) => {
            return Err(config_error(
                "a top-up is a one-off payment, not recurring".to_owned(),
            ));
        }
        _ => {}
    }
    if !request.amount.is_positive() {
        return Err(config_error(
            "a checkout amount must be positive".to_owned(),
        ));
    }
    // PayHere formats every amount with two decimals (the hash covers that text).
    if currency_exponent(request.amount.currency()).ok() != Some(2) {
        return Err(config_error(format!(
            "PayHere takes amounts with two decimals; {} has another exponent",
            request.amount.currency().code()
        )));
    }
    let order_id = request.order.order_id();
    let amount = request.amount.to_decimal_string();
    let currency = request.amount.currency().code().to_owned();
    let hash = key.checkout_hash(merchant_id, &order_id, &amount, &currency);
    let customer = &request.customer;
    let mut fields = vec![
        ("merchant_id", merchant_id.to_owned()),
        ("return_url", request.return_url.clone()),
        ("cancel_url", request.cancel_url.clone()),
        ("notify_url", notify_url.to_owned()),
        ("first_name", customer.first_name.clone()),
        ("last_name", customer.last_name.clone()),
        ("email", customer.email.clone()),
        ("phone", customer.phone.clone()),
        ("address", customer.address.clone()),
        ("city", customer.city.clone()),
        ("country", customer.country.clone()),
        ("order_id", order_id),
        ("items", request.items.clone()),
        ("currency", currency),
        ("amount", amount),
    ];
    if let Some(recurrence) = &request.recurrence {
        fields.push(("recurrence", recurrence.recurrence.clone()));
        fields.push(("duration", recurrence.duration.clone()));
    }
    // For people reading PayHere's dashboard only: neither is signed, neither is read back.
    fields.push(("custom_1", request.order.organization_ref().to_owned()));
    fields.push(("custom_2", purpose.as_str().to_owned()));
    fields.push(("hash", hash));
    Ok(CheckoutForm {
        action: format!("{}{CHECKOUT_PATH}", base_url.trim_end_matches('/')),
        fields: fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOMER: [&str; 6] = [
        "Saman",
        "Perera",
        "saman.perera@example.lk",
        "0771234567",
        "Galle Road",
        "Colombo",
    ];

    fn customer() -> CheckoutCustomer {
        CheckoutCustomer {
            first_name: CUSTOMER[0].into(),
            last_name: CUSTOMER[1].into(),
            email: CUSTOMER[2].into(),
            phone: CUSTOMER[3].into(),
            address: format!("No. 1, {}", CUSTOMER[4]),
            city: CUSTOMER[5].into(),
            country: "Sri Lanka".into(),
        }
    }

    fn assert_masked(shown: &str) {
        for value in CUSTOMER {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
    }

    #[test]
    fn customer_debug_masks_the_customer() {
        let customer = customer();
        let shown = format!("{customer:?} {customer:#?}");
        assert_masked(&shown);
        assert!(shown.contains("Sri Lanka"), "{shown}");
    }

    #[test]
    fn checkout_request_debug_masks_its_customer() {
        let request = CheckoutRequest {
            order: OrderRef::new(OrderPurpose::TopUp, "org", "0123456789abcdef".to_owned())
                .unwrap(),
            amount: Money::parse("10.00", primitives::Currency::USD).unwrap(),
            items: "Credit".into(),
            customer: customer(),
            return_url: "https://example.com/back".into(),
            cancel_url: "https://example.com/cancel".into(),
            recurrence: None,
        };
        assert_masked(&format!("{request:?}"));
    }

    #[test]
    fn form_debug_masks_the_customer_fields_only() {
        let customer = customer();
        let form = CheckoutForm {
            action: "https://sandbox.payhere.lk/pay/checkout".into(),
            fields: vec![
                ("order_id".into(), "TOPUP-org.1".into()),
                ("first_name".into(), customer.first_name),
                ("last_name".into(), customer.last_name),
                ("email".into(), customer.email),
                ("phone".into(), customer.phone),
                ("address".into(), customer.address),
                ("city".into(), customer.city),
            ],
        };
        let shown = format!("{form:?} {form:#?}");
        assert_masked(&shown);
        assert!(shown.contains("TOPUP-org.1"), "{shown}");
        assert!(shown.contains("\"email\""), "{shown}");
    }
}
