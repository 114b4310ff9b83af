//! PayHere's checksums.
//!
//! Notification: `md5sig = UPPER(MD5(merchant_id + order_id + payhere_amount + payhere_currency +
//! status_code + UPPER(MD5(merchant_secret))))`, over the field values exactly as sent.
//! Checkout: `hash = UPPER(MD5(merchant_id + order_id + amount + currency +
//! UPPER(MD5(merchant_secret))))`.
//!
//! Verification rules (in this order, each a typed [`VerifyError`]):
//! 1. The five signed fields and `md5sig` are present and not empty, else
//!    `MalformedBody("missing <field>")` (a body field, not a header: `MissingHeader` would send
//!    an operator looking in the wrong place).
//! 2. `md5sig` is 32 hex digits, else `MalformedBody`.
//! 3. `payhere_amount` has exactly two decimals (`1000.00`), else `MalformedBody` before any
//!    hashing: PayHere always formats so, and `1000`, `1000.0` or `1,000.00` hash differently,
//!    so accepting them would only ever mean accepting something PayHere did not send.
//! 4. `merchant_id` is the configured one, else `MalformedBody` (a delivery for another merchant
//!    is a misrouting, worth a clear message rather than a bare signature failure).
//! 5. `md5sig` equals the expected upper-case hex for one of the configured merchant secrets,
//!    compared in constant time, else `BadSignature`. The comparison is case-sensitive: PayHere
//!    defines and sends upper case (its own plugins compare exactly), so a lower-case `md5sig`,
//!    even of the right digest, is not something PayHere produced: it is refused as
//!    `BadSignature`.
//!
//! What the signature does not cover: every other field (`payment_id`, `custom_1`, `custom_2`,
//! `recurring`, `message_type`, `subscription_id`, ...). See the module documentation of
//! [`super`] for what the adapter trusts them with.

use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use subtle::{Choice, ConstantTimeEq};

use super::notification::{
    AMOUNT, CURRENCY, MD5SIG, MERCHANT_ID, Notification, ORDER_ID, STATUS_CODE,
};
use crate::VerifyError;

/// `UPPER(MD5(merchant_secret))`, computed once. Whoever holds it can sign notifications, so
/// it is as secret as the merchant secret itself.
#[derive(Debug, Clone)]
pub(crate) struct SigningKey {
    secret_digest: SecretString,
}

impl SigningKey {
    pub(crate) fn new(merchant_secret: &SecretString) -> Self {
        let digest = hex::encode_upper(Md5::digest(merchant_secret.expose_secret().as_bytes()));
        Self {
            secret_digest: SecretString::from(digest),
        }
    }

    fn sign(&self, parts: &[&str]) -> String {
        let mut hasher = Md5::new();
        for part in parts {
            hasher.update(part.as_bytes());
        }
        // Fed in place: no string holding the secret digest is built next to the hash input.
        hasher.update(self.secret_digest.expose_secret().as_bytes());
        hex::encode_upper(hasher.finalize())
    }
}

/// The `md5sig` PayHere sends with a notification, for these exact field values.
pub fn notification_md5sig(
    merchant_id: &str,
    order_id: &str,
    payhere_amount: &str,
    payhere_currency: &str,
    status_code: &str,
    merchant_secret: &SecretString,
) -> String {
    SigningKey::new(merchant_secret).sign(&[
        merchant_id,
        order_id,
        payhere_amount,
        payhere_currency,
        status_code,
    ])
}

/// The `hash` field of a checkout form.
pub fn checkout_hash(
    merchant_id: &str,
    order_id: &str,
    amount: &str,
    currency: &str,
    merchant_secret: &SecretString,
) -> String {
    SigningKey::new(merchant_secret).checkout_hash(merchant_id, order_id, amount, currency)
}

impl SigningKey {
    pub(crate) fn checkout_hash(
        &self,
        merchant_id: &str,
        order_id: &str,
        amount: &str,
        currency: &str,
    ) -> String {
        self.sign(&[merchant_id, order_id, amount, currency])
    }
}

/// Whether `amount` is PayHere's format: digits, a point, exactly two digits. No sign, no
/// thousands separators, no spaces.
pub(crate) fn is_payhere_amount(amount: &str) -> bool {
    let Some((whole, decimals)) = amount.split_once('.') else {
        return false;
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && decimals.len() == 2
        && decimals.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a decoded notification against our merchant id and secrets (rules in the module
/// documentation).
pub(crate) fn verify(
    notification: &Notification,
    merchant_id: &str,
    keys: &[SigningKey],
) -> Result<(), VerifyError> {
    let field = |name| {
        notification
            .signed(name)
            .map_err(VerifyError::MalformedBody)
    };
    let md5sig = field(MD5SIG)?;
    let sent_merchant = field(MERCHANT_ID)?;
    let order_id = field(ORDER_ID)?;
    let amount = field(AMOUNT)?;
    let currency = field(CURRENCY)?;
    let status_code = field(STATUS_CODE)?;
    if md5sig.len() != 32 || !md5sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(VerifyError::MalformedBody("md5sig is not 32 hex digits"));
    }
    if !is_payhere_amount(amount) {
        return Err(VerifyError::MalformedBody(
            "payhere_amount is not digits with exactly two decimals",
        ));
    }
    if sent_merchant != merchant_id {
        return Err(VerifyError::MalformedBody(
            "merchant_id is not the configured merchant",
        ));
    }
    // Every key is tried, match or not, so the time taken says nothing about which matched.
    let mut matched = Choice::from(0);
    for key in keys {
        let expected = key.sign(&[sent_merchant, order_id, amount, currency, status_code]);
        matched |= expected.as_bytes().ct_eq(md5sig.as_bytes());
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_format_is_exactly_two_decimals() {
        for good in ["1000.00", "0.50", "15.00", "2500.50"] {
            assert!(is_payhere_amount(good), "{good}");
        }
        for bad in [
            "1000", "1000.0", "1000.000", "1,000.00", "-1.00", "+1.00", " 1.00", "1.00 ", ".50",
            "1.5O", "1e3.00", "",
        ] {
            assert!(!is_payhere_amount(bad), "{bad}");
        }
    }

    #[test]
    fn the_published_vector_signs_as_published() {
        let secret = SecretString::from("MTExMTExMTExMTExMTExMTExMTExMTExMTE=");
        assert_eq!(
            notification_md5sig("1211149", "ItemNo12345", "1000.00", "LKR", "2", &secret),
            "BD833A45F583C081782473C3F8F0F47D"
        );
        assert_eq!(
            checkout_hash("1211149", "ItemNo12345", "1000.00", "LKR", &secret),
            "E42FE4A6A67A33D18598B4E7892A4550"
        );
    }
}
