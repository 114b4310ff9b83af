//! Where a subscription stands.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The lifecycle status of a subscription (docs/subscriptions.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Created, not yet approved or paid.
    Pending,
    Trialing,
    Active,
    /// A payment failed; dunning is running.
    PastDue,
    /// The customer paused it.
    Paused,
    /// Dunning is exhausted (or the provider suspended it): blocked until a manual payment.
    Suspended,
    Canceled,
    Expired,
}

impl SubscriptionStatus {
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::Trialing,
        Self::Active,
        Self::PastDue,
        Self::Paused,
        Self::Suspended,
        Self::Canceled,
        Self::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Paused => "paused",
            Self::Suspended => "suspended",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// Only a trialing or active subscription lets the organization use paid features (G6).
    pub const fn gives_access(self) -> bool {
        matches!(self, Self::Trialing | Self::Active)
    }

    /// Canceled and expired subscriptions never come back; the customer starts a new one.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Canceled | Self::Expired)
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_trialing_and_active_give_access() {
        for status in SubscriptionStatus::ALL {
            assert_eq!(SubscriptionStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        let with_access: Vec<_> = SubscriptionStatus::ALL
            .into_iter()
            .filter(|status| status.gives_access())
            .collect();
        assert_eq!(
            with_access,
            [SubscriptionStatus::Trialing, SubscriptionStatus::Active]
        );
        assert_eq!(SubscriptionStatus::parse("ACTIVE"), None);
        assert_eq!(SubscriptionStatus::parse(""), None);
    }
}
