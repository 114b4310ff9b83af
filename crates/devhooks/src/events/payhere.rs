//! PayHere notifications: form-encoded bodies posted to the notify URL, signed by `md5sig` over
//! `merchant_id + order_id + payhere_amount + payhere_currency + status_code` (the rest is
//! unsigned), with the fields PayHere's checkout and recurring APIs document. Our order ids are
//! `SUB-{organization}.{nonce}` and `TOPUP-{organization}.{nonce}`: the organization is signed
//! only there.

use chrono::Duration;

use super::{DIGITS, EventName, FORM, HEX, Params, Provider, random_id};
use crate::signing::PayHereNotification;
use crate::{Error, LocalSecrets};

/// The order id of a subscription checkout.
pub fn subscription_order(organization: &str, nonce: &str) -> String {
    format!("SUB-{organization}.{nonce}")
}

/// The order id of a wallet top-up checkout.
pub fn top_up_order(organization: &str, nonce: &str) -> String {
    format!("TOPUP-{organization}.{nonce}")
}

/// The nonce of subscription orders the tool makes up: one per organization, so every
/// notification of the tool's subscription names the same order.
const SUBSCRIPTION_NONCE: &str = "local";

pub(super) fn build(
    event: EventName,
    params: &Params,
    secrets: &LocalSecrets,
) -> Result<super::Event, Error> {
    if params.event_id.is_some() {
        return Err(Error::Invalid(
            "PayHere sends no event id (a delivery is named by its fields): drop --id".into(),
        ));
    }
    let order = |top_up: bool| -> Result<String, Error> {
        if let Some(order) = &params.order {
            return Ok(order.clone());
        }
        let organization = params.organization("a PayHere notification")?;
        Ok(if top_up {
            top_up_order(organization, &random_id("", 16, HEX))
        } else {
            subscription_order(organization, SUBSCRIPTION_NONCE)
        })
    };
    let payment = params
        .payment
        .clone()
        .unwrap_or_else(|| random_id("3200", 8, DIGITS));
    let (status_code, message_type, order_id, top_up) = match event {
        EventName::SubscriptionActivated => {
            ("2", Some("AUTHORIZATION_SUCCESS"), order(false)?, false)
        }
        EventName::PaymentSucceeded => (
            "2",
            Some("RECURRING_INSTALLMENT_SUCCESS"),
            order(false)?,
            false,
        ),
        EventName::PaymentFailed => (
            "-2",
            Some("RECURRING_INSTALLMENT_FAILED"),
            order(false)?,
            false,
        ),
        EventName::SubscriptionCanceled => ("0", Some("RECURRING_STOPPED"), order(false)?, false),
        EventName::TopUpCompleted => ("2", None, order(true)?, true),
        EventName::Chargeback => {
            if params.payment.is_none() {
                return Err(Error::Invalid(
                    "a chargeback takes back a payment: pass --payment <payment_id>".into(),
                ));
            }
            ("-3", None, order(true)?, true)
        }
        other => return Err(Error::Invalid(format!("payhere has no {other} event"))),
    };
    let money = params.money(if top_up { "1000.00" } else { "4900.00" })?;
    let amount = money.to_decimal_string();
    let currency = money.currency().code();
    let mut notification = PayHereNotification::new(
        &secrets.payhere_merchant_id,
        &secrets.payhere_merchant_secret,
        &order_id,
        &amount,
        currency,
        status_code,
    )
    .field("payment_id", &payment)
    .field("custom_1", "")
    .field("custom_2", if top_up { "topup" } else { "subscription" })
    .field("status_message", status_message(status_code))
    .field("method", "VISA")
    .field("card_holder_name", "Development Customer")
    .field("card_no", "************1292")
    .field("card_expiry", "12/30");
    let mut subscription = None;
    match message_type {
        None => notification = notification.field("recurring", "0"),
        Some(message_type) => {
            let id = params
                .subscription
                .clone()
                .unwrap_or_else(|| random_id("42", 7, DIGITS));
            notification = notification
                .field("subscription_id", &id)
                .field("recurring", "1")
                .field("message_type", message_type)
                .field("item_recurrence", "1 Month")
                .field("item_duration", "Forever")
                .field(
                    "item_rec_status",
                    if event == EventName::SubscriptionCanceled {
                        "-1"
                    } else {
                        "0"
                    },
                );
            if status_code == "2" {
                // A Sri Lankan date (UTC+05:30), as PayHere writes it.
                let next = params.at + Duration::days(30) + Duration::minutes(330);
                notification =
                    notification.field("item_rec_date_next", &next.format("%Y-%m-%d").to_string());
            }
            subscription = Some(id);
        }
    }
    // PayHere sends no event id: the receiver names the delivery after its fields, as here.
    let id = match &subscription {
        Some(subscription) => format!("{order_id}/{subscription}/{payment}/{status_code}"),
        None => format!("{order_id}/{status_code}"),
    };
    Ok(super::Event {
        provider: Provider::Payhere,
        id,
        provider_type: message_type.map_or_else(
            || format!("one-off payment, status {status_code}"),
            str::to_owned,
        ),
        content_type: FORM,
        body: notification.body(),
        // A stop moves no money.
        payment: (event != EventName::SubscriptionCanceled).then_some(payment),
        subscription,
        url: None,
        query: None,
    })
}

/// PayHere's `status_message` for a `status_code`.
pub fn status_message(status_code: &str) -> &'static str {
    match status_code {
        "2" => "Successfully completed the payment.",
        "0" => "Payment pending.",
        "-1" => "Payment canceled by the customer.",
        "-2" => "Payment declined: insufficient funds.",
        _ => "Payment charged back.",
    }
}
