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
    /// An active subscription's period ended `renewal_grace` ago and no payment renewed it.
    RenewalOverdue,
    /// Time to tell the customer that the trial ends soon (`trial_notice` before its end).
    TrialEndingNotice,
}

impl DueAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Retry { .. } => "retry",
            Self::GraceEnd => "grace_end",
            Self::Suspension => "suspension",
            Self::TrialEnd => "trial_end",
            Self::PeriodEnd => "period_end",
            Self::RenewalOverdue => "renewal_overdue",
            Self::TrialEndingNotice => "trial_ending_notice",
        }
    }

    /// Steps that may wait behind others: a late retry, and a notice that the trial ends soon
    /// (pointless once the trial's end itself is due).
    const fn yields(self) -> bool {
        matches!(self, Self::Retry { .. } | Self::TrialEndingNotice)
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
/// outage, a runner that was down), a step that ends the episode, the trial or the period wins
/// over a late retry or a late trial-ending notice.
pub fn due_now(
    state: &SubscriptionState,
    policy: &LifecyclePolicy,
    now: DateTime<Utc>,
) -> Option<(DueAction, DateTime<Utc>)> {
    candidates(state, policy)
        .into_iter()
        .filter(|(_, at)| *at <= now)
        .min_by_key(|(action, at)| (action.yields(), *at))
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
        let notice = policy.trial_notice();
        if !state.trial_ending_notified && notice > chrono::Duration::zero() {
            // A trial shorter than the notice is told at once (the time is already past).
            candidates.extend(
                state
                    .trial_end
                    .map(|end| (DueAction::TrialEndingNotice, end - notice)),
            );
        }
    }
    // Paid by hand, or a renewal whose event never came: the period ends unpaid. Statuses other
    // than active (paused, trialing, in dunning, suspended, ended) never lapse this way.
    if let (S::Active, None, false, Some(period_end)) = (
        state.status,
        state.dunning,
        state.cancel_at_period_end,
        state.current_period_end,
    ) {
        candidates.push((
            DueAction::RenewalOverdue,
            period_end + policy.renewal_grace(),
        ));
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

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::DunningEpisode;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_798_761_600, 0).unwrap() + Duration::days(days)
    }

    fn active(period_end_day: i64) -> SubscriptionState {
        SubscriptionState {
            status: SubscriptionStatus::Active,
            current_period_end: Some(at(period_end_day)),
            ..SubscriptionState::new()
        }
    }

    fn trialing(trial_end_day: i64) -> SubscriptionState {
        SubscriptionState {
            status: SubscriptionStatus::Trialing,
            trial_end: Some(at(trial_end_day)),
            ..SubscriptionState::new()
        }
    }

    #[test]
    fn an_active_period_is_overdue_a_renewal_grace_after_its_end() {
        let policy = LifecyclePolicy::default();
        let overdue = at(30) + Duration::hours(24);
        assert_eq!(
            next_due(&active(30), &policy),
            Some((DueAction::RenewalOverdue, overdue))
        );
        assert_eq!(
            due_now(&active(30), &policy, overdue - Duration::seconds(1)),
            None
        );
        assert_eq!(
            due_now(&active(30), &policy, overdue),
            Some((DueAction::RenewalOverdue, overdue))
        );
        let at_once = policy.with_renewal_grace(Duration::zero()).unwrap();
        assert_eq!(
            next_due(&active(30), &at_once),
            Some((DueAction::RenewalOverdue, at(30)))
        );
    }

    #[test]
    fn only_an_active_subscription_in_good_standing_lapses() {
        let policy = LifecyclePolicy::default();
        let lapses = |state: SubscriptionState| {
            due_now(&state, &policy, at(400)).map(|(action, _)| action)
                == Some(DueAction::RenewalOverdue)
        };
        assert!(lapses(active(30)));
        let episode = Some(DunningEpisode {
            started_at: at(29),
            retries_failed: 0,
        });
        for status in SubscriptionStatus::ALL {
            if status == SubscriptionStatus::Active {
                continue;
            }
            let state = SubscriptionState {
                status,
                ..active(30)
            };
            assert!(!lapses(state), "{status}");
        }
        assert!(!lapses(SubscriptionState {
            dunning: episode,
            ..active(30)
        }));
        assert!(!lapses(SubscriptionState {
            cancel_at_period_end: true,
            ..active(30)
        }));
        assert!(!lapses(SubscriptionState {
            current_period_end: None,
            ..active(30)
        }));
    }

    #[test]
    fn due_actions_keep_their_names() {
        // The name is part of the id of the event a step becomes, so a rerun of the step after
        // a deploy is still recognised as the same event: it never changes.
        for (action, name) in [
            (DueAction::Retry { attempt: 2 }, "retry"),
            (DueAction::GraceEnd, "grace_end"),
            (DueAction::Suspension, "suspension"),
            (DueAction::TrialEnd, "trial_end"),
            (DueAction::PeriodEnd, "period_end"),
            (DueAction::RenewalOverdue, "renewal_overdue"),
            (DueAction::TrialEndingNotice, "trial_ending_notice"),
        ] {
            assert_eq!(action.as_str(), name);
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json["action"], name);
        }
    }

    #[test]
    fn the_trial_notice_comes_before_the_end_once() {
        let policy = LifecyclePolicy::default();
        assert_eq!(
            next_due(&trialing(14), &policy),
            Some((DueAction::TrialEndingNotice, at(11)))
        );
        // Told already: only the end is left.
        let told = SubscriptionState {
            trial_ending_notified: true,
            ..trialing(14)
        };
        assert_eq!(
            next_due(&told, &policy),
            Some((DueAction::TrialEnd, at(14)))
        );
        // A cancellation at the trial's end waits for the period end instead.
        let canceling = SubscriptionState {
            cancel_at_period_end: true,
            ..trialing(14)
        };
        assert_eq!(
            next_due(&canceling, &policy),
            Some((DueAction::PeriodEnd, at(14)))
        );
        // Zero disables our notice.
        let silent = policy.clone().with_trial_notice(Duration::zero()).unwrap();
        assert_eq!(
            next_due(&trialing(14), &silent),
            Some((DueAction::TrialEnd, at(14)))
        );
        // A trial shorter than the notice is told at once.
        assert_eq!(
            due_now(&trialing(2), &policy, at(0)),
            Some((DueAction::TrialEndingNotice, at(-1)))
        );
        // Once the trial's end is due too, the end wins over a late notice.
        assert_eq!(
            due_now(&trialing(14), &policy, at(15)),
            Some((DueAction::TrialEnd, at(14)))
        );
    }
}
