//! The outbox message enforcement owns: what a billing provider must be told after our state
//! changed. The customer's decision (cancel, pause, resume) commits first; the provider learns
//! it from the outbox, retried until it succeeds or a person is alerted (G10), so a provider
//! outage never leaves the decision half made.
//!
//! | type | produced by | delivered by |
//! |---|---|---|
//! | [`ProviderCommand`] | the customer actions, the intake (a PayPal top-up to capture) | the `billing.provider` handler |

use outbox::{Message, Topic};
use primitives::{OrganizationId, ProviderName, SubscriptionId};
use serde::{Deserialize, Serialize};

/// One call to make at a billing provider. `idempotency_key` is sent as the provider's own
/// idempotency key, so a redelivered message never acts twice there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCommand {
    pub organization_id: OrganizationId,
    /// Our subscription the call is about; `None` for a top-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<SubscriptionId>,
    pub provider: ProviderName,
    /// The provider's id of what the call acts on: its subscription id, or for
    /// [`ProviderAction::CaptureTopUp`] the checkout reference (PayPal's order id).
    pub target: String,
    pub action: ProviderAction,
    /// Why, as the provider is told (PayPal requires a reason on cancel and suspend).
    pub reason: String,
    pub idempotency_key: String,
}

impl Message for ProviderCommand {
    const TOPIC: Topic = Topic::from_static("billing.provider");
}

/// What [`ProviderCommand`] asks the provider to do; the wire names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderAction {
    /// Stop the subscription now.
    Cancel,
    /// Stop it at the end of the paid period ([`billing::BillingProvider::cancel_at_period_end`]).
    CancelAtPeriodEnd,
    /// The customer paused: stop collecting (PayPal suspend, Stripe pause collection).
    Pause,
    /// The customer resumed: collect again.
    Resume,
    /// Capture a top-up the customer approved (PayPal orders).
    CaptureTopUp,
}

impl ProviderAction {
    /// The wire name (serde's): what dedupe keys end with.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::CancelAtPeriodEnd => "cancel_at_period_end",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::CaptureTopUp => "capture_top_up",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_the_serialized_names() {
        for action in [
            ProviderAction::Cancel,
            ProviderAction::CancelAtPeriodEnd,
            ProviderAction::Pause,
            ProviderAction::Resume,
            ProviderAction::CaptureTopUp,
        ] {
            assert_eq!(
                serde_json::to_value(action).ok(),
                Some(serde_json::Value::from(action.as_str()))
            );
        }
    }
}
