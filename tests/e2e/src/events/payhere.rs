//! PayHere notifications: form-encoded bodies posted to the notify URL, signed by `md5sig` over
//! `merchant_id + order_id + payhere_amount + payhere_currency + status_code` (the rest is
//! unsigned), with the fields PayHere's checkout and recurring APIs document. Our order ids are
//! `SUB-{organization}.{nonce}` and `TOPUP-{organization}.{nonce}`.

use testkit::signing::PayHereNotification;

use devhooks::events::payhere::status_message;
/// Our order ids and PayHere's status messages are the local webhook tool's.
pub use devhooks::events::payhere::{subscription_order, top_up_order};

/// The merchant the receiver is configured for.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: String,
    pub secret: String,
}

/// One payment of a recurring subscription (`recurring=1`): the authorization or an
/// installment, as `message_type` says; `next_date` (`YYYY-MM-DD`) is `item_rec_date_next`.
#[derive(Debug, Clone)]
pub struct Recurring<'a> {
    pub order_id: &'a str,
    pub subscription_id: &'a str,
    pub payment_id: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub status_code: &'a str,
    pub message_type: &'a str,
    pub next_date: Option<&'a str>,
    pub installments_paid: u32,
}

impl Recurring<'_> {
    pub fn notification(&self, merchant: &Merchant) -> PayHereNotification {
        let notification = PayHereNotification::new(
            &merchant.id,
            &merchant.secret,
            self.order_id,
            self.amount,
            self.currency,
            self.status_code,
        )
        .field("payment_id", self.payment_id)
        .field("subscription_id", self.subscription_id)
        .field("custom_1", "")
        .field("custom_2", "subscription")
        .field("status_message", status_message(self.status_code))
        .field("method", "VISA")
        .field("card_holder_name", "Acme Ltd")
        .field("card_no", "************1292")
        .field("card_expiry", "12/30")
        .field("recurring", "1")
        .field("message_type", self.message_type)
        .field("item_recurrence", "1 Month")
        .field("item_duration", "Forever")
        .field("item_rec_status", "0")
        .field("item_rec_install_paid", &self.installments_paid.to_string());
        match self.next_date {
            Some(date) => notification.field("item_rec_date_next", date),
            None => notification,
        }
    }
}

/// A one-off checkout payment (`recurring=0`): a top-up when `order_id` is `TOPUP-...`.
pub fn one_off(
    merchant: &Merchant,
    order_id: &str,
    payment_id: &str,
    amount: &str,
    currency: &str,
    status_code: &str,
) -> PayHereNotification {
    PayHereNotification::new(
        &merchant.id,
        &merchant.secret,
        order_id,
        amount,
        currency,
        status_code,
    )
    .field("payment_id", payment_id)
    .field("custom_1", "")
    .field("custom_2", "topup")
    .field("status_message", status_message(status_code))
    .field("method", "VISA")
    .field("card_holder_name", "Acme Ltd")
    .field("card_no", "************1292")
    .field("card_expiry", "12/30")
    .field("recurring", "0")
}

/// A form-encoded body of `fields`, in order.
pub fn form(fields: &[(String, String)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
        .into_bytes()
}

/// The notification's body with field `name` set to `value` (appended if absent), or removed
/// with `None`; nothing is signed again.
pub fn edited(notification: &PayHereNotification, name: &str, value: Option<&str>) -> Vec<u8> {
    let mut fields = notification.fields();
    let at = fields.iter().position(|(field, _)| field == name);
    match (at, value) {
        (Some(at), Some(value)) => fields[at].1 = value.to_owned(),
        (Some(at), None) => {
            fields.remove(at);
        }
        (None, Some(value)) => fields.push((name.to_owned(), value.to_owned())),
        (None, None) => {}
    }
    form(&fields)
}
