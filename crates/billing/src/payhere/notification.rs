//! The notification as PayHere posts it: an `application/x-www-form-urlencoded` body, decoded
//! into its fields. This is the wire type; [`super::events`] turns it into domain events.
//!
//! Refused outright (before any signature check, so no field is ever ambiguous):
//! - a field sent twice (`status_code=2&status_code=-3`): PayHere never does, and a verifier
//!   reading the first while a parser reads the last is how signed checks are bypassed;
//! - more than [`MAX_FIELDS`] fields (PayHere sends about 25).

use std::collections::BTreeMap;

use url::form_urlencoded;

/// PayHere's notifications carry about 25 fields; a body with hundreds is not one of them.
pub(crate) const MAX_FIELDS: usize = 100;

pub(crate) const MERCHANT_ID: &str = "merchant_id";
pub(crate) const ORDER_ID: &str = "order_id";
pub(crate) const PAYMENT_ID: &str = "payment_id";
pub(crate) const AMOUNT: &str = "payhere_amount";
pub(crate) const CURRENCY: &str = "payhere_currency";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const MD5SIG: &str = "md5sig";
pub(crate) const CUSTOM_1: &str = "custom_1";
pub(crate) const RECURRING: &str = "recurring";
pub(crate) const MESSAGE_TYPE: &str = "message_type";
pub(crate) const SUBSCRIPTION_ID: &str = "subscription_id";
pub(crate) const NEXT_DATE: &str = "item_rec_date_next";
pub(crate) const STATUS_MESSAGE: &str = "status_message";

/// The decoded fields of one notification, each name once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notification {
    fields: BTreeMap<String, String>,
}

impl Notification {
    /// Decodes the body. The error is a fixed reason for [`crate::VerifyError::MalformedBody`].
    pub(crate) fn parse(body: &[u8]) -> Result<Self, &'static str> {
        let mut fields = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if fields.len() == MAX_FIELDS {
                return Err("too many fields");
            }
            if fields
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err("a field is sent more than once");
            }
        }
        Ok(Self { fields })
    }

    /// The field's value; an empty value counts as absent (PayHere sends empty `custom_1=`
    /// when none was given, and no field we rely on is meaningful empty).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// A field the signature needs, or the reason it is missing.
    pub(crate) fn signed(&self, name: &'static str) -> Result<&str, &'static str> {
        self.get(name).ok_or(match name {
            MERCHANT_ID => "missing merchant_id",
            ORDER_ID => "missing order_id",
            AMOUNT => "missing payhere_amount",
            CURRENCY => "missing payhere_currency",
            STATUS_CODE => "missing status_code",
            MD5SIG => "missing md5sig",
            _ => "missing a signed field",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus_and_refuses_duplicates() {
        let n =
            Notification::parse(b"order_id=A%2DB&status_message=Successfully+received&custom_1=")
                .unwrap();
        assert_eq!(n.get(ORDER_ID), Some("A-B"));
        assert_eq!(n.get("status_message"), Some("Successfully received"));
        assert_eq!(n.get(CUSTOM_1), None);
        assert_eq!(n.signed(MD5SIG), Err("missing md5sig"));
        assert!(Notification::parse(b"a=1&b=2&a=1").is_err());
        let many: String = (0..=MAX_FIELDS).map(|i| format!("f{i}=1&")).collect();
        assert_eq!(Notification::parse(many.as_bytes()), Err("too many fields"));
    }
}
