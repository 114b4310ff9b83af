//! What can happen to a subscription, in terms of the domain, not of any provider.
//!
//! Provider adapters translate their webhooks into these; the dunning runner and the scheduler
//! produce the time-driven ones (`RetryFailed`, `GracePeriodEnded`, `DunningExhausted`,
//! `TrialEnded`, `PeriodEnded`, `RenewalMissed`, and `TrialEndingSoon` as well as providers).

use std::{fmt, sync::LazyLock};

use chrono::{DateTime, Utc};
use primitives::Money;
use serde::{Deserialize, Serialize};

/// Longest failure reason kept; providers sometimes send whole HTML pages.
const MAX_REASON_CHARS: usize = 300;

/// The failure a missed renewal stands for: nobody declined anything, the payment never came.
static RENEWAL_NOT_RECEIVED: LazyLock<FailureReason> =
    LazyLock::new(|| FailureReason::new("renewal payment not received"));

/// Why a payment failed, as the provider said it. Cleaned rather than rejected: a provider's odd
/// reason text must never make us drop the failure itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FailureReason(String);

impl FailureReason {
    pub fn new(text: &str) -> Self {
        let cleaned: String = text
            .trim()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_REASON_CHARS)
            .collect();
        if cleaned.trim().is_empty() {
            Self("unspecified".to_owned())
        } else {
            Self(cleaned)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When a cancellation takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelMode {
    Immediately,
    AtPeriodEnd,
}

/// A domain event about one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubscriptionEvent {
    Created,
    TrialStarted {
        trial_end: DateTime<Utc>,
    },
    /// The trial ends soon: the provider's advance notice, or the scheduler's
    /// (`LifecyclePolicy::trial_notice` before the end). The first one notifies; later ones are
    /// ignored.
    TrialEndingSoon {
        trial_end: DateTime<Utc>,
    },
    TrialEnded,
    Activated {
        period_end: DateTime<Utc>,
    },
    /// The provider, asked after an activation while payment was owed, reports the subscription
    /// active with nothing outstanding: restores like a payment.
    Reinstated {
        period_end: DateTime<Utc>,
    },
    PaymentSucceeded {
        amount: Money,
        period_end: DateTime<Utc>,
    },
    PaymentFailed {
        reason: FailureReason,
        at: DateTime<Utc>,
    },
    /// The period that ended at `period_end` was not paid within the renewal grace (no renewal
    /// event came, or the subscription is paid by hand and nobody paid): dunning starts, its
    /// days counted from `period_end`. Ignored once a payment has moved the period on.
    RenewalMissed {
        period_end: DateTime<Utc>,
    },
    /// A dunning retry (attempt 1 is the first retry after the original failure) failed.
    RetryFailed {
        attempt: u32,
        reason: FailureReason,
    },
    /// The configured grace after a failure is over and dunning blocks access.
    GracePeriodEnded,
    /// The last dunning step is due: retries stop, a manual payment is needed.
    DunningExhausted,
    Paused,
    Resumed,
    SuspendedByProvider,
    Canceled {
        mode: CancelMode,
    },
    /// The current period is over (acts only on a cancellation scheduled for period end).
    PeriodEnded,
    Expired,
    /// An operator recorded a payment made outside the provider (bank transfer, invoice).
    ManualPaymentReceived {
        amount: Money,
        period_end: DateTime<Utc>,
    },
}

/// The event's kind without its data: what the transition table is indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    TrialStarted,
    TrialEndingSoon,
    TrialEnded,
    Activated,
    Reinstated,
    PaymentSucceeded,
    PaymentFailed,
    RenewalMissed,
    RetryFailed,
    GracePeriodEnded,
    DunningExhausted,
    Paused,
    Resumed,
    SuspendedByProvider,
    CanceledImmediately,
    CanceledAtPeriodEnd,
    PeriodEnded,
    Expired,
    ManualPaymentReceived,
}

impl EventKind {
    pub const ALL: [Self; 20] = [
        Self::Created,
        Self::TrialStarted,
        Self::TrialEndingSoon,
        Self::TrialEnded,
        Self::Activated,
        Self::Reinstated,
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::RenewalMissed,
        Self::RetryFailed,
        Self::GracePeriodEnded,
        Self::DunningExhausted,
        Self::Paused,
        Self::Resumed,
        Self::SuspendedByProvider,
        Self::CanceledImmediately,
        Self::CanceledAtPeriodEnd,
        Self::PeriodEnded,
        Self::Expired,
        Self::ManualPaymentReceived,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::TrialStarted => "trial_started",
            Self::TrialEndingSoon => "trial_ending_soon",
            Self::TrialEnded => "trial_ended",
            Self::Activated => "activated",
            Self::Reinstated => "reinstated",
            Self::PaymentSucceeded => "payment_succeeded",
            Self::PaymentFailed => "payment_failed",
            Self::RenewalMissed => "renewal_missed",
            Self::RetryFailed => "retry_failed",
            Self::GracePeriodEnded => "grace_period_ended",
            Self::DunningExhausted => "dunning_exhausted",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::SuspendedByProvider => "suspended_by_provider",
            Self::CanceledImmediately => "canceled_immediately",
            Self::CanceledAtPeriodEnd => "canceled_at_period_end",
            Self::PeriodEnded => "period_ended",
            Self::Expired => "expired",
            Self::ManualPaymentReceived => "manual_payment_received",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SubscriptionEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Created => EventKind::Created,
            Self::TrialStarted { .. } => EventKind::TrialStarted,
            Self::TrialEndingSoon { .. } => EventKind::TrialEndingSoon,
            Self::TrialEnded => EventKind::TrialEnded,
            Self::Activated { .. } => EventKind::Activated,
            Self::Reinstated { .. } => EventKind::Reinstated,
            Self::PaymentSucceeded { .. } => EventKind::PaymentSucceeded,
            Self::PaymentFailed { .. } => EventKind::PaymentFailed,
            Self::RenewalMissed { .. } => EventKind::RenewalMissed,
            Self::RetryFailed { .. } => EventKind::RetryFailed,
            Self::GracePeriodEnded => EventKind::GracePeriodEnded,
            Self::DunningExhausted => EventKind::DunningExhausted,
            Self::Paused => EventKind::Paused,
            Self::Resumed => EventKind::Resumed,
            Self::SuspendedByProvider => EventKind::SuspendedByProvider,
            Self::Canceled {
                mode: CancelMode::Immediately,
            } => EventKind::CanceledImmediately,
            Self::Canceled {
                mode: CancelMode::AtPeriodEnd,
            } => EventKind::CanceledAtPeriodEnd,
            Self::PeriodEnded => EventKind::PeriodEnded,
            Self::Expired => EventKind::Expired,
            Self::ManualPaymentReceived { .. } => EventKind::ManualPaymentReceived,
        }
    }

    /// The failure this event reports, if it is one (for the `payment_failure` log and metric):
    /// the attempt (0 = the original payment) and its reason. A missed renewal is an original
    /// failure too.
    pub fn failure(&self) -> Option<(u32, &FailureReason)> {
        match self {
            Self::PaymentFailed { reason, .. } => Some((0, reason)),
            Self::RenewalMissed { .. } => Some((0, &RENEWAL_NOT_RECEIVED)),
            Self::RetryFailed { attempt, reason } => Some((*attempt, reason)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }

    #[test]
    fn failure_reasons_are_cleaned_not_rejected() {
        assert_eq!(
            FailureReason::new("  card\ndeclined ").as_str(),
            "card declined"
        );
        assert_eq!(FailureReason::new("").as_str(), "unspecified");
        assert_eq!(FailureReason::new("\n\t").as_str(), "unspecified");
        assert_eq!(FailureReason::new(&"x".repeat(10_000)).as_str().len(), 300);
    }

    #[test]
    fn a_missed_renewal_is_an_original_failure() {
        let missed = SubscriptionEvent::RenewalMissed {
            period_end: DateTime::from_timestamp(1_798_761_600, 0).unwrap(),
        };
        let (attempt, reason) = missed.failure().unwrap();
        assert_eq!(attempt, 0);
        assert_eq!(reason.as_str(), "renewal payment not received");
        assert_eq!(SubscriptionEvent::Paused.failure(), None);
    }
}
