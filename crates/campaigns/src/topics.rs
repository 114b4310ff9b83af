//! The outbox messages campaigns owns. Each type is the one contract of its topic: every
//! producer (enforcement, this crate) enqueues it and one handler here consumes it, so no topic
//! name or action is written twice. Wire names never change: rows already stored must decode.
//!
//! | type | produced by | delivered by |
//! |---|---|---|
//! | [`CampaignControl`] | enforcement; [`crate::SubaccountHandler`] after a reactivation | [`crate::CampaignControlHandler`] |
//! | [`MessagingControl`] | enforcement | [`crate::ControlHandler`] |
//! | [`SubaccountCall`] | [`crate::messaging::request`], [`crate::brands::create`] | [`crate::SubaccountHandler`] |

use outbox::{Message, Topic};
use primitives::{BrandId, OrganizationId, SubscriptionId};
use serde::{Deserialize, Serialize};
use subscriptions::{EventKind, SubscriptionStatus};

use crate::campaign::PauseReason;

/// Pause or resume an organization's campaigns (G7, G8). Idempotent either way, so a
/// redelivery is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignControl {
    pub organization_id: OrganizationId,
    pub action: CampaignAction,
    /// Why a pause pauses. Only a billing reason is used (a billing pause resumes by itself
    /// once its cause clears); anything else, or none, pauses as `subscription_inactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<PauseReason>,
    /// The subscription transition behind it, for operators reading the outbox.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl Message for CampaignControl {
    const TOPIC: Topic = Topic::from_static("campaigns.control");
}

impl CampaignControl {
    /// Resume the organization's campaigns paused for a billing reason that has cleared.
    pub fn resume(organization_id: OrganizationId) -> Self {
        Self {
            organization_id,
            action: CampaignAction::Resume,
            reason: None,
            cause: None,
        }
    }

    /// The reason a pause pauses with: see [`CampaignControl::reason`].
    pub fn pause_reason(&self) -> PauseReason {
        self.reason
            .filter(|reason| reason.is_billing())
            .unwrap_or(PauseReason::SubscriptionInactive)
    }
}

/// What [`CampaignControl`] asks for; on the wire `pause` or `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    /// Pause running campaigns.
    Pause,
    /// Resume campaigns paused for a billing reason that has cleared, never manual pauses.
    Resume,
}

impl CampaignAction {
    /// The wire name (serde's): what enforcement's dedupe keys end with.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

/// Suspend or reactivate every Twilio subaccount of an organization (G7). The wish counts as
/// decided when the message was enqueued, so a delayed older message never overrides a newer
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingControl {
    pub organization_id: OrganizationId,
    pub action: MessagingAction,
    /// The subscription transition behind it, for operators reading the outbox.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

impl Message for MessagingControl {
    const TOPIC: Topic = Topic::from_static("messaging.control");
}

/// What [`MessagingControl`] asks for; on the wire `suspend` or `reactivate`. The handler
/// records it as each brand's [`crate::Wish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagingAction {
    Suspend,
    Reactivate,
}

impl MessagingAction {
    /// The wire name (serde's): what enforcement's dedupe keys end with.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Reactivate => "reactivate",
        }
    }
}

/// Apply a brand's current messaging wish to its Twilio subaccount. It names the brand only:
/// the wish is read when the message is delivered, so the latest one wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubaccountCall {
    pub brand_id: BrandId,
}

impl Message for SubaccountCall {
    const TOPIC: Topic = Topic::from_static("twilio.subaccount");
}

/// The subscription transition that made enforcement send a control message. Informative only:
/// the handlers act on the organization and the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    pub subscription_id: SubscriptionId,
    /// The status the subscription moved to.
    pub status: SubscriptionStatus,
    /// The kind of the event that moved it.
    pub event: EventKind,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn actions_are_written_as_their_wire_names() {
        for action in [CampaignAction::Pause, CampaignAction::Resume] {
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                json!(action.as_str())
            );
        }
        for action in [MessagingAction::Suspend, MessagingAction::Reactivate] {
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                json!(action.as_str())
            );
        }
        for reason in PauseReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                json!(reason.as_str())
            );
        }
    }

    /// What enforcement stored before the payloads were typed, and the reactivation's resume.
    #[test]
    fn stored_rows_still_decode() {
        let organization = OrganizationId::new();
        let subscription = SubscriptionId::new();
        let stored = json!({
            "organization_id": organization,
            "subscription_id": subscription,
            "action": "pause",
            "reason": "subscription_inactive",
            "status": "past_due",
            "event": "payment_failed",
        });
        let pause: CampaignControl = serde_json::from_value(stored.clone()).unwrap();
        let cause = Cause {
            subscription_id: subscription,
            status: SubscriptionStatus::PastDue,
            event: EventKind::PaymentFailed,
        };
        assert_eq!(
            pause,
            CampaignControl {
                organization_id: organization,
                action: CampaignAction::Pause,
                reason: Some(PauseReason::SubscriptionInactive),
                cause: Some(cause.clone()),
            }
        );
        assert_eq!(serde_json::to_value(&pause).unwrap(), stored);

        let resume = json!({ "organization_id": organization, "action": "resume" });
        let decoded: CampaignControl = serde_json::from_value(resume.clone()).unwrap();
        assert_eq!(decoded, CampaignControl::resume(organization));
        assert_eq!(serde_json::to_value(&decoded).unwrap(), resume);

        let mut suspend = stored;
        suspend["action"] = json!("suspend");
        let decoded: MessagingControl = serde_json::from_value(suspend).unwrap();
        assert_eq!(
            decoded,
            MessagingControl {
                organization_id: organization,
                action: MessagingAction::Suspend,
                cause: Some(cause),
            }
        );

        let brand = BrandId::new();
        let call: SubaccountCall = serde_json::from_value(json!({ "brand_id": brand })).unwrap();
        assert_eq!(call.brand_id, brand);
    }

    #[test]
    fn a_pause_pauses_for_a_billing_reason_only() {
        let mut pause = CampaignControl {
            action: CampaignAction::Pause,
            ..CampaignControl::resume(OrganizationId::new())
        };
        assert_eq!(pause.pause_reason(), PauseReason::SubscriptionInactive);
        pause.reason = Some(PauseReason::Manual);
        assert_eq!(pause.pause_reason(), PauseReason::SubscriptionInactive);
        pause.reason = Some(PauseReason::WalletFrozen);
        assert_eq!(pause.pause_reason(), PauseReason::WalletFrozen);
    }

    #[test]
    fn an_unknown_action_does_not_decode() {
        let payload = json!({ "organization_id": OrganizationId::new(), "action": "explode" });
        assert!(serde_json::from_value::<CampaignControl>(payload.clone()).is_err());
        assert!(serde_json::from_value::<MessagingControl>(payload).is_err());
    }
}
