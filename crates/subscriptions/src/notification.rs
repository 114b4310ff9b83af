//! What a customer is told about billing: one kind type for every notification, with stable
//! snake_case names (stored in the outbox and in the transition history, used by importers;
//! never renamed).
//!
//! It lives here, below the notifications crate, because the lifecycle emits it as data
//! ([`crate::Effect::Notify`]) and this crate knows no outbox. Rendering, the facts each kind
//! uses and delivery are the notifications crate's.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The first eleven are sent by the lifecycle (dunning steps, trials, cancellations); the
/// dispute and reversal kinds by the provider intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    PaymentFailed,
    RetryScheduled,
    PaymentWarning,
    FinalWarning,
    Suspended,
    Restored,
    TrialEnding,
    TrialEnded,
    CancellationScheduled,
    Canceled,
    Expired,
    /// A payment is disputed (a chargeback was opened); the wallet is frozen for the review.
    /// Facts: `amount`, `payment_reference`, `provider`, `reason`.
    DisputeOpened,
    /// A dispute was resolved in the merchant's favour; the review freeze is lifted.
    /// Facts: `amount`, `payment_reference`, `provider`.
    DisputeWon,
    /// A dispute was resolved against the merchant; the amount was taken back from the wallet.
    /// Facts: `amount`, `payment_reference`, `provider`, `shortfall` (when the wallet could not
    /// cover it all and is frozen).
    DisputeLost,
    /// A refund or chargeback took money back from the wallet. Facts: `amount`,
    /// `payment_reference`, `provider`, `reason`, `shortfall` (as for [`Self::DisputeLost`]).
    PaymentReversed,
}

impl NotificationKind {
    pub const ALL: [Self; 15] = [
        Self::PaymentFailed,
        Self::RetryScheduled,
        Self::PaymentWarning,
        Self::FinalWarning,
        Self::Suspended,
        Self::Restored,
        Self::TrialEnding,
        Self::TrialEnded,
        Self::CancellationScheduled,
        Self::Canceled,
        Self::Expired,
        Self::DisputeOpened,
        Self::DisputeWon,
        Self::DisputeLost,
        Self::PaymentReversed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PaymentFailed => "payment_failed",
            Self::RetryScheduled => "retry_scheduled",
            Self::PaymentWarning => "payment_warning",
            Self::FinalWarning => "final_warning",
            Self::Suspended => "suspended",
            Self::Restored => "restored",
            Self::TrialEnding => "trial_ending",
            Self::TrialEnded => "trial_ended",
            Self::CancellationScheduled => "cancellation_scheduled",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::DisputeOpened => "dispute_opened",
            Self::DisputeWon => "dispute_won",
            Self::DisputeLost => "dispute_lost",
            Self::PaymentReversed => "payment_reversed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`NotificationKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notification kind")]
pub struct UnknownNotificationKind;

impl FromStr for NotificationKind {
    type Err = UnknownNotificationKind;

    fn from_str(value: &str) -> Result<Self, UnknownNotificationKind> {
        Self::parse(value).ok_or(UnknownNotificationKind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_round_trip_through_text_and_json() {
        let names: Vec<&str> = NotificationKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "payment_failed",
                "retry_scheduled",
                "payment_warning",
                "final_warning",
                "suspended",
                "restored",
                "trial_ending",
                "trial_ended",
                "cancellation_scheduled",
                "canceled",
                "expired",
                "dispute_opened",
                "dispute_won",
                "dispute_lost",
                "payment_reversed",
            ]
        );
        for kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::Value::from(kind.as_str()));
            assert_eq!(
                serde_json::from_value::<NotificationKind>(json).unwrap(),
                kind
            );
        }
        assert_eq!(
            "PaymentFailed".parse::<NotificationKind>(),
            Err(UnknownNotificationKind)
        );
    }
}
