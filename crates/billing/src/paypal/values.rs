//! PayPal's values read the same way by the REST answers and the webhook events: amounts
//! (exact, in the currency's minor units) and subscription statuses.

use primitives::{Money, parse_currency};

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
