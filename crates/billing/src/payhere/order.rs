//! Our order-id convention: `SUB-{organization}.{nonce}` and `TOPUP-{organization}.{nonce}`.
//!
//! Why the organization lives in the order id: PayHere's `md5sig` covers `merchant_id`,
//! `order_id`, `payhere_amount`, `payhere_currency` and `status_code` only. `custom_1` and
//! `custom_2` are not signed, and the customer can even edit them in the checkout form before it
//! reaches PayHere (the checkout `hash` does not cover them either). An organization reference
//! read from `custom_1` could therefore credit or restore the wrong organization. Inside the
//! `order_id` it is covered by both the checkout hash and the notification's `md5sig`.
//!
//! The purpose prefix is signed for the same reason: a one-off payment credits the wallet only
//! when its signed order id says `TOPUP-`.

use std::fmt;

use crate::{ProviderError, ProviderName};

const SUBSCRIPTION_PREFIX: &str = "SUB-";
const TOP_UP_PREFIX: &str = "TOPUP-";
const SEPARATOR: char = '.';
/// Long enough for a UUID (36) with room to spare; short enough to keep order ids readable.
const MAX_PART_LEN: usize = 64;

/// What an order pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderPurpose {
    /// A recurring subscription (or a one-off payment towards one).
    Subscription,
    /// A prepaid wallet top-up.
    TopUp,
}

impl OrderPurpose {
    const fn prefix(self) -> &'static str {
        match self {
            Self::Subscription => SUBSCRIPTION_PREFIX,
            Self::TopUp => TOP_UP_PREFIX,
        }
    }

    /// The value we put in the checkout's `custom_2`, for people reading PayHere's dashboard.
    /// Never read back: it is not signed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Subscription => "subscription",
            Self::TopUp => "topup",
        }
    }
}

/// A parsed order id of ours.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderRef {
    purpose: OrderPurpose,
    organization_ref: String,
    nonce: String,
}

impl OrderRef {
    /// `organization_ref` and `nonce` are 1 to 64 ASCII letters, digits, `-` or `_` (a UUID
    /// fits). The nonce makes the order id unique per checkout: give a top-up its own (the
    /// top-up request's id), since duplicates of a one-off payment are recognised by order id.
    pub fn new(
        purpose: OrderPurpose,
        organization_ref: impl Into<String>,
        nonce: impl Into<String>,
    ) -> Result<Self, ProviderError> {
        let organization_ref = organization_ref.into();
        let nonce = nonce.into();
        let check = |part: &str, what: &str| {
            if valid_part(part) {
                Ok(())
            } else {
                Err(ProviderError::Config {
                    provider: ProviderName::Payhere,
                    message: format!(
                        "a PayHere order's {what} must be 1 to {MAX_PART_LEN} ASCII letters, digits, '-' or '_'"
                    ),
                })
            }
        };
        check(&organization_ref, "organization reference")?;
        check(&nonce, "nonce")?;
        Ok(Self {
            purpose,
            organization_ref,
            nonce,
        })
    }

    /// `None` for an order id that is not ours (created elsewhere, or malformed).
    pub fn parse(order_id: &str) -> Option<Self> {
        let (purpose, rest) = if let Some(rest) = order_id.strip_prefix(SUBSCRIPTION_PREFIX) {
            (OrderPurpose::Subscription, rest)
        } else if let Some(rest) = order_id.strip_prefix(TOP_UP_PREFIX) {
            (OrderPurpose::TopUp, rest)
        } else {
            return None;
        };
        let (organization_ref, nonce) = rest.split_once(SEPARATOR)?;
        (valid_part(organization_ref) && valid_part(nonce)).then(|| Self {
            purpose,
            organization_ref: organization_ref.to_owned(),
            nonce: nonce.to_owned(),
        })
    }

    pub fn purpose(&self) -> OrderPurpose {
        self.purpose
    }

    pub fn organization_ref(&self) -> &str {
        &self.organization_ref
    }

    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The `order_id` to send in the checkout form.
    pub fn order_id(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{SEPARATOR}{}",
            self.purpose.prefix(),
            self.organization_ref,
            self.nonce
        )
    }
}

/// The separator never occurs inside a part, so an order id splits one way only.
fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= MAX_PART_LEN
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_ours() {
        let org = "0190f5a4-7c7e-7d2a-9d4e-1c2b3a4d5e6f";
        let order = OrderRef::new(OrderPurpose::TopUp, org, "tu_42").unwrap();
        let id = order.order_id();
        assert_eq!(id, format!("TOPUP-{org}.tu_42"));
        assert_eq!(OrderRef::parse(&id), Some(order));
        let sub = OrderRef::parse("SUB-org-1.n1").unwrap();
        assert_eq!(sub.purpose(), OrderPurpose::Subscription);
        assert_eq!(sub.organization_ref(), "org-1");
        for foreign in [
            "ItemNo12345",
            "SUB-0001",
            "WALLET-TOPUP-42",
            "TOPUP-.n",
            "TOPUP-org.",
            "TOPUP-org.n.x",
            "TOPUP-or g.n",
            "sub-org.n",
        ] {
            assert_eq!(OrderRef::parse(foreign), None, "{foreign}");
        }
        assert!(OrderRef::new(OrderPurpose::Subscription, "a.b", "n").is_err());
        assert!(OrderRef::new(OrderPurpose::Subscription, "org", "").is_err());
        assert!(OrderRef::new(OrderPurpose::Subscription, "o".repeat(65), "n").is_err());
    }
}
