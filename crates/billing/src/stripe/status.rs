//! Stripe's subscription status mapped onto [`ProviderSubscriptionStatus`]: one mapping for
//! the REST answers and the webhook events.

use super::wire;
use crate::{ProviderError, ProviderName, ProviderSubscriptionStatus};

fn decode(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: ProviderName::Stripe,
        message,
    }
}

/// Stripe's subscription status, mapped (the table is in the module documentation).
pub(crate) fn subscription_status(
    sub: &wire::Subscription,
) -> Result<ProviderSubscriptionStatus, ProviderError> {
    use ProviderSubscriptionStatus as S;
    // Our `pause` pauses collection and Stripe leaves the status `active` (or `trialing`).
    let collection_paused = sub.pause_collection.is_some();
    Ok(match sub.status.as_str() {
        "incomplete" => S::Pending,
        "trialing" | "active" if collection_paused => S::Paused,
        "trialing" => S::Trialing,
        "active" => S::Active,
        "past_due" => S::PastDue,
        "unpaid" => S::Suspended,
        "paused" => S::Paused,
        "canceled" => S::Canceled,
        "incomplete_expired" => S::Expired,
        other => {
            return Err(decode(format!(
                "subscription {} has an unknown status {other:?}",
                sub.id
            )));
        }
    })
}
