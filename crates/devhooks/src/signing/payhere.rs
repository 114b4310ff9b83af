//! PayHere notification signatures (PayHere's "checkout API: notify URL" documentation):
//! `md5sig = UPPER(MD5(merchant_id + order_id + payhere_amount + payhere_currency + status_code
//! + UPPER(MD5(merchant_secret))))`, over the values as sent, the notification posted as an
//! `application/x-www-form-urlencoded` body.

use md5::{Digest, Md5};

/// PayHere's `md5sig` for these exact values (`amount` as PayHere writes it: `1000.00`).
pub fn payhere_md5sig(
    merchant_id: &str,
    order_id: &str,
    amount: &str,
    currency: &str,
    status_code: &str,
    merchant_secret: &str,
) -> String {
    let secret_digest = hex::encode_upper(Md5::digest(merchant_secret.as_bytes()));
    let preimage = format!("{merchant_id}{order_id}{amount}{currency}{status_code}{secret_digest}");
    hex::encode_upper(Md5::digest(preimage.as_bytes()))
}

/// A notification as PayHere posts it: the signed fields, `md5sig`, then any unsigned fields
/// added with [`PayHereNotification::field`], in order. `Debug` shows no secret.
#[derive(Clone)]
pub struct PayHereNotification {
    merchant_id: String,
    merchant_secret: String,
    order_id: String,
    amount: String,
    currency: String,
    status_code: String,
    extra: Vec<(String, String)>,
}

impl std::fmt::Debug for PayHereNotification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayHereNotification")
            .field("merchant_id", &self.merchant_id)
            .field("order_id", &self.order_id)
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("status_code", &self.status_code)
            .finish_non_exhaustive()
    }
}

impl PayHereNotification {
    pub fn new(
        merchant_id: &str,
        merchant_secret: &str,
        order_id: &str,
        amount: &str,
        currency: &str,
        status_code: &str,
    ) -> Self {
        Self {
            merchant_id: merchant_id.to_owned(),
            merchant_secret: merchant_secret.to_owned(),
            order_id: order_id.to_owned(),
            amount: amount.to_owned(),
            currency: currency.to_owned(),
            status_code: status_code.to_owned(),
            extra: Vec::new(),
        }
    }

    /// Adds an unsigned field (`payment_id`, `recurring`, `message_type`, `subscription_id`,
    /// `status_message`, `item_rec_date_next` ...).
    #[must_use]
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn md5sig(&self) -> String {
        payhere_md5sig(
            &self.merchant_id,
            &self.order_id,
            &self.amount,
            &self.currency,
            &self.status_code,
            &self.merchant_secret,
        )
    }

    /// Every field as posted, `md5sig` included.
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut fields = vec![
            ("merchant_id".to_owned(), self.merchant_id.clone()),
            ("order_id".to_owned(), self.order_id.clone()),
            ("payhere_amount".to_owned(), self.amount.clone()),
            ("payhere_currency".to_owned(), self.currency.clone()),
            ("status_code".to_owned(), self.status_code.clone()),
            ("md5sig".to_owned(), self.md5sig()),
        ];
        fields.extend(self.extra.iter().cloned());
        fields
    }

    /// The form-encoded body.
    pub fn body(&self) -> Vec<u8> {
        ::url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.fields())
            .finish()
            .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_vector_signs_as_published() {
        // PayHere's documented example merchant and secret (tests/fixtures of billing).
        assert_eq!(
            payhere_md5sig(
                "1211149",
                "ItemNo12345",
                "1000.00",
                "LKR",
                "2",
                "MTExMTExMTExMTExMTExMTExMTExMTExMTE="
            ),
            "BD833A45F583C081782473C3F8F0F47D"
        );
    }

    #[test]
    fn the_body_is_form_encoded_with_md5sig() {
        let body = PayHereNotification::new("1", "s", "TOPUP-o.n", "10.00", "LKR", "2")
            .field("status_message", "Successfully received")
            .body();
        let text = String::from_utf8(body).unwrap_or_default();
        assert!(text.starts_with("merchant_id=1&order_id=TOPUP-o.n&payhere_amount=10.00"));
        assert!(text.contains("&md5sig="));
        assert!(text.ends_with("&status_message=Successfully+received"));
    }
}
