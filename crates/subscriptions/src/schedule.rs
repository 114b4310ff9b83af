//! What a subscription is waiting for, and when: derived from its state alone, so the stored
//! "next action" time can never drift from the rules. The dunning runner asks for subscriptions
//! whose time has come and turns each due action into an event.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{LifecyclePolicy, SubscriptionState, SubscriptionStatus, dunning::NextStep};

/// A time-driven step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DueAction {
    /// Ask the provider to collect again (dunning attempt, 1-based).
    Retry { attempt: u32 },
    /// The grace after a failed payment is over.
    GraceEnd,
    /// The dunning schedule's manual-intervention step.
    Suspension,
    /// The trial is over.
    TrialEnd,
    /// The period is over and a cancellation at period end was asked for.
    PeriodEnd,
}

impl DueAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Retry { .. } => "retry",
            Self::GraceEnd => "grace_end",
            Self::Suspension => "suspension",
            Self::TrialEnd => "trial_end",
            Self::PeriodEnd => "period_end",
        }
    }
}

/// The earliest action the subscription waits for, if any: the stored `next_action_at`.
pub fn next_due(
    state: &SubscriptionState,
    policy: &LifecyclePolicy,
) -> Option<(DueAction, DateTime<Utc>)> {
    candidates(state, policy)
        .into_iter()
        .min_by_key(|(_, at)| *at)
}

/// The action to take at `now`. When several are overdue (retries that lagged behind a provider
/// outage), a step that ends the episode or the period wins over a late retry.
pub fn due_now(
    state: &SubscriptionState,
    policy: &LifecyclePolicy,
    now: DateTime<Utc>,
) -> Option<(DueAction, DateTime<Utc>)> {
    candidates(state, policy)
        .into_iter()
        .filter(|(_, at)| *at <= now)
        .min_by_key(|(action, at)| (matches!(action, DueAction::Retry { .. }), *at))
}

fn candidates(
    state: &SubscriptionState,
    policy: &LifecyclePolicy,
) -> Vec<(DueAction, DateTime<Utc>)> {
    use SubscriptionStatus as S;
    let mut candidates: Vec<(DueAction, DateTime<Utc>)> = Vec::new();
    match (state.status, state.dunning) {
        (S::PastDue, Some(episode)) => {
            candidates.push(match policy.dunning().next_step(&episode) {
                NextStep::Retry { attempt, at } => (DueAction::Retry { attempt }, at),
                NextStep::Suspend { at } => (DueAction::Suspension, at),
            });
            // Suspension comes on its day even if retries lag behind (a provider outage).
            candidates.push((
                DueAction::Suspension,
                policy.dunning().suspension_at(&episode),
            ));
        }
        (S::Active | S::Trialing, Some(episode)) => {
            candidates.push((DueAction::GraceEnd, episode.started_at + policy.grace()));
        }
        _ => {}
    }
    if state.status == S::Trialing && !state.cancel_at_period_end {
        candidates.extend(state.trial_end.map(|at| (DueAction::TrialEnd, at)));
    }
    if state.cancel_at_period_end && !state.status.is_terminal() {
        candidates.extend(
            state
                .cancellation_point()
                .map(|at| (DueAction::PeriodEnd, at)),
        );
    }
    candidates
}
