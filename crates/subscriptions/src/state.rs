//! The part of a subscription that the state machine reads and writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SubscriptionStatus;

/// A run of failed payments, from the first failure until a payment succeeds or the subscription
/// ends. Dunning days count from `started_at`, never from the latest failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DunningEpisode {
    pub started_at: DateTime<Utc>,
    /// How many scheduled retries have failed so far.
    pub retries_failed: u32,
}

/// What the transition function needs to know about a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub status: SubscriptionStatus,
    pub current_period_end: Option<DateTime<Utc>>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub dunning: Option<DunningEpisode>,
    /// The customer was told the trial ends soon (by our schedule or the provider's notice), so
    /// the notice goes out once. Absent from states serialized before it existed: not told.
    #[serde(default)]
    pub trial_ending_notified: bool,
}

impl SubscriptionState {
    /// A subscription that was just created.
    pub const fn new() -> Self {
        Self {
            status: SubscriptionStatus::Pending,
            current_period_end: None,
            trial_end: None,
            cancel_at_period_end: false,
            dunning: None,
            trial_ending_notified: false,
        }
    }

    /// When a cancellation "at period end" takes effect: the trial's end while trialing.
    pub fn cancellation_point(&self) -> Option<DateTime<Utc>> {
        match self.status {
            SubscriptionStatus::Trialing => self.trial_end.or(self.current_period_end),
            _ => self.current_period_end,
        }
    }
}

impl Default for SubscriptionState {
    fn default() -> Self {
        Self::new()
    }
}
