//! Entitlements: which features an organization may use, and why not when it may not (G6).
//!
//! Two things decide: the subscription's status (through [`allows`]) and the access blocks,
//! stored per source and OR'd. A block from any source denies every paid feature; read-only and
//! billing features are never denied, so a blocked customer can always see their data and pay.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SubscriptionStatus;

/// Something an organization does that the billing policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    SendMessages,
    SendAiMessages,
    BroadcastCampaigns,
    AddContacts,
    AddDevices,
    ManageLeads,
    UseAiFeatures,
    ViewData,
    UpdatePaymentMethod,
    ViewInvoices,
    ManageAccountSettings,
}

impl Feature {
    pub const ALL: [Self; 11] = [
        Self::SendMessages,
        Self::SendAiMessages,
        Self::BroadcastCampaigns,
        Self::AddContacts,
        Self::AddDevices,
        Self::ManageLeads,
        Self::UseAiFeatures,
        Self::ViewData,
        Self::UpdatePaymentMethod,
        Self::ViewInvoices,
        Self::ManageAccountSettings,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SendMessages => "send_messages",
            Self::SendAiMessages => "send_ai_messages",
            Self::BroadcastCampaigns => "broadcast_campaigns",
            Self::AddContacts => "add_contacts",
            Self::AddDevices => "add_devices",
            Self::ManageLeads => "manage_leads",
            Self::UseAiFeatures => "use_ai_features",
            Self::ViewData => "view_data",
            Self::UpdatePaymentMethod => "update_payment_method",
            Self::ViewInvoices => "view_invoices",
            Self::ManageAccountSettings => "manage_account_settings",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|feature| feature.as_str() == value)
    }

    /// Reading data and everything needed to pay stay available whatever the status, so a
    /// customer who has not paid can still see what they have and fix the payment (G6).
    pub const fn always_allowed(self) -> bool {
        matches!(
            self,
            Self::ViewData
                | Self::UpdatePaymentMethod
                | Self::ViewInvoices
                | Self::ManageAccountSettings
        )
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy: whether a subscription in `status` allows `feature` (blocks aside).
pub const fn allows(status: SubscriptionStatus, feature: Feature) -> bool {
    feature.always_allowed() || status.gives_access()
}

/// Who put an access block in place. Each source lifts only its own block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockSource {
    /// Unpaid: set and lifted by the subscription lifecycle.
    Billing,
    /// An operator.
    Admin,
    /// The customer paused their own subscription.
    Customer,
}

impl BlockSource {
    pub const ALL: [Self; 3] = [Self::Billing, Self::Admin, Self::Customer];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Billing => "billing",
            Self::Admin => "admin",
            Self::Customer => "customer",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|source| source.as_str() == value)
    }
}

/// One source's block on an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessBlock {
    pub source: BlockSource,
    pub reason: String,
    pub actor: String,
    pub since: DateTime<Utc>,
}

/// Why a feature is denied. Every reason that applies is listed, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DenialReason {
    /// The organization has never had a subscription.
    NoSubscription,
    /// The subscription's status does not allow the feature.
    Status { status: SubscriptionStatus },
    /// A source blocked access.
    Blocked { source: BlockSource, reason: String },
}

impl DenialReason {
    /// Stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NoSubscription => "NO_SUBSCRIPTION",
            Self::Status { .. } => "SUBSCRIPTION_INACTIVE",
            Self::Blocked { .. } => "ACCESS_BLOCKED",
        }
    }
}

/// The answer to "may this organization use this feature".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessDecision {
    pub feature: Feature,
    pub status: Option<SubscriptionStatus>,
    pub denied_because: Vec<DenialReason>,
}

impl AccessDecision {
    pub fn allowed(&self) -> bool {
        self.denied_because.is_empty()
    }
}

/// Decides one feature from the organization's current status (`None`: no subscription ever)
/// and its blocks.
pub fn decide(
    status: Option<SubscriptionStatus>,
    blocks: &[AccessBlock],
    feature: Feature,
) -> AccessDecision {
    let mut denied_because = Vec::new();
    if !feature.always_allowed() {
        match status {
            None => denied_because.push(DenialReason::NoSubscription),
            Some(status) if !allows(status, feature) => {
                denied_because.push(DenialReason::Status { status });
            }
            Some(_) => {}
        }
        let mut blocks: Vec<&AccessBlock> = blocks.iter().collect();
        blocks.sort_by_key(|block| block.source);
        denied_because.extend(blocks.into_iter().map(|block| DenialReason::Blocked {
            source: block.source,
            reason: block.reason.clone(),
        }));
    }
    AccessDecision {
        feature,
        status,
        denied_because,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(source: BlockSource) -> AccessBlock {
        AccessBlock {
            source,
            reason: format!("{} says no", source.as_str()),
            actor: "test".into(),
            since: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn names_round_trip() {
        for feature in Feature::ALL {
            assert_eq!(Feature::parse(feature.as_str()), Some(feature));
        }
        for source in BlockSource::ALL {
            assert_eq!(BlockSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(Feature::parse("send-messages"), None);
        assert_eq!(Feature::SendMessages.to_string(), "send_messages");
        for feature in Feature::ALL {
            assert_eq!(feature.to_string(), feature.as_str());
        }
    }

    #[test]
    fn the_policy_matches_g6_for_every_status_and_feature() {
        let paid = [
            Feature::SendMessages,
            Feature::SendAiMessages,
            Feature::BroadcastCampaigns,
            Feature::AddContacts,
            Feature::AddDevices,
            Feature::ManageLeads,
            Feature::UseAiFeatures,
        ];
        for status in SubscriptionStatus::ALL {
            for feature in Feature::ALL {
                let expected = !paid.contains(&feature)
                    || matches!(
                        status,
                        SubscriptionStatus::Trialing | SubscriptionStatus::Active
                    );
                assert_eq!(allows(status, feature), expected, "{status} {feature}");
                let decision = decide(Some(status), &[], feature);
                assert_eq!(decision.allowed(), expected, "{status} {feature}");
            }
        }
    }

    #[test]
    fn blocks_are_ored_and_all_reasons_are_listed() {
        let active = Some(SubscriptionStatus::Active);
        let blocks = [block(BlockSource::Customer), block(BlockSource::Admin)];
        let decision = decide(active, &blocks, Feature::SendMessages);
        assert!(!decision.allowed());
        let sources: Vec<_> = decision
            .denied_because
            .iter()
            .map(DenialReason::code)
            .collect();
        assert_eq!(sources, ["ACCESS_BLOCKED", "ACCESS_BLOCKED"]);
        assert_eq!(
            decision.denied_because[0],
            DenialReason::Blocked {
                source: BlockSource::Admin,
                reason: "admin says no".into()
            }
        );
        // Lifting one source leaves the other in force.
        assert!(!decide(active, &blocks[..1], Feature::SendMessages).allowed());
        assert!(decide(active, &[], Feature::SendMessages).allowed());
        // Read-only and billing features ignore blocks.
        assert!(decide(active, &blocks, Feature::ViewInvoices).allowed());

        let past_due = decide(
            Some(SubscriptionStatus::PastDue),
            &[block(BlockSource::Billing)],
            Feature::UseAiFeatures,
        );
        assert_eq!(past_due.denied_because.len(), 2);
        assert_eq!(
            decide(None, &[], Feature::AddDevices).denied_because,
            [DenialReason::NoSubscription]
        );
        assert!(decide(None, &[], Feature::ViewData).allowed());
    }
}
