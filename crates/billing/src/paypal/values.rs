//! PayPal's values read the same way by the REST answers and the webhook events: amounts
//! (exact, in the currency's minor units), ids and subscription statuses.

use primitives::{Money, currency_exponent, parse_currency};

use super::wire;
use crate::{ProviderError, ProviderName, ProviderSubscriptionStatus};

fn decode(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: ProviderName::Paypal,
        message,
    }
}

/// An exact amount: too many decimals for the currency, or an unknown currency, is an error.
pub(super) fn money(value: &str, currency: &str) -> Result<Money, ProviderError> {
    let currency = parse_currency(currency).map_err(|e| decode(e.to_string()))?;
    Money::parse(value, currency).map_err(|e| decode(e.to_string()))
}

/// Currencies PayPal takes in whole units only although ISO 4217 gives them two decimals.
const WHOLE_UNITS_ONLY: [&str; 2] = ["HUF", "TWD"];

/// An amount as PayPal's v2 money: the exact decimal string with the currency's decimals
/// (`10.00`, JPY `500`). HUF and TWD go without decimals, as PayPal requires; a fraction of
/// them cannot be sent and is refused rather than rounded. Only positive amounts are sent.
pub(super) fn wire_money(amount: Money) -> Result<wire::Money, ProviderError> {
    let config = |message: String| ProviderError::Config {
        provider: ProviderName::Paypal,
        message,
    };
    if !amount.is_positive() {
        return Err(config("an amount sent to PayPal must be positive".into()));
    }
    let code = amount.currency().code();
    let exponent = currency_exponent(amount.currency()).map_err(|e| config(e.to_string()))?;
    let value = if WHOLE_UNITS_ONLY.contains(&code) {
        let scale = 10i64.pow(u32::from(exponent));
        if amount.minor() % scale != 0 {
            return Err(config(format!(
                "PayPal takes {code} in whole units only; {amount} has a fraction"
            )));
        }
        (amount.minor() / scale).to_string()
    } else {
        amount.to_decimal_string()
    };
    Ok(wire::Money {
        currency_code: code.to_owned(),
        value,
    })
}

/// Whether `id` can be a PayPal id (subscription `I-...`, order): ASCII letters, digits, `-`
/// and `_`, so that no caller-supplied text changes a path or a link.
pub(super) fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// PayPal's subscription status, mapped (webhook events use it too, where an unknown status
/// is no status rather than an error).
pub(super) fn status(raw: &str) -> Result<ProviderSubscriptionStatus, ProviderError> {
    use ProviderSubscriptionStatus as S;
    Ok(match raw {
        // Approved by the buyer but not yet active: still waiting, as far as access goes.
        "APPROVAL_PENDING" | "APPROVED" => S::Pending,
        "ACTIVE" => S::Active,
        "SUSPENDED" => S::Suspended,
        "CANCELLED" => S::Canceled,
        "EXPIRED" => S::Expired,
        other => {
            return Err(ProviderError::Decode {
                provider: ProviderName::Paypal,
                message: format!(
                    "unknown subscription status {:?}",
                    other.chars().take(40).collect::<String>()
                ),
            });
        }
    })
}
