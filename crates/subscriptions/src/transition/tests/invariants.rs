//! Property tests: invariants of the state machine over arbitrary states and events.

use chrono::Duration;
use primitives::{Currency, Money};
use proptest::prelude::*;

use super::*;
use crate::{BlockSource, DueAction, DunningSchedule, FailureReason, next_due, posture::Posture};

fn base() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (-40i64 * 24..80 * 24).prop_map(|hours| base() + Duration::hours(hours))
}

fn status() -> impl Strategy<Value = SubscriptionStatus> {
    prop::sample::select(SubscriptionStatus::ALL.to_vec())
}

/// Any state the machine could be asked about, including odd ones.
fn state() -> impl Strategy<Value = SubscriptionState> {
    (
        status(),
        prop::option::of(time()),
        prop::option::of(time()),
        any::<bool>(),
        prop::option::of((time(), 0u32..5)),
        any::<bool>(),
    )
        .prop_map(
            |(status, period, trial, cancel, dunning, notified)| SubscriptionState {
                status,
                current_period_end: period,
                trial_end: trial,
                cancel_at_period_end: cancel,
                dunning: dunning.map(|(started_at, retries_failed)| DunningEpisode {
                    started_at,
                    retries_failed,
                }),
                trial_ending_notified: notified,
            },
        )
}

fn event() -> impl Strategy<Value = SubscriptionEvent> {
    use SubscriptionEvent as E;
    let money = (1i64..100_000).prop_map(|minor| Money::from_minor(minor, Currency::USD));
    prop_oneof![
        Just(E::Created),
        time().prop_map(|trial_end| E::TrialStarted { trial_end }),
        time().prop_map(|trial_end| E::TrialEndingSoon { trial_end }),
        Just(E::TrialEnded),
        time().prop_map(|period_end| E::Activated { period_end }),
        time().prop_map(|period_end| E::Reinstated { period_end }),
        (money.clone(), time())
            .prop_map(|(amount, period_end)| E::PaymentSucceeded { amount, period_end }),
        time().prop_map(|at| E::PaymentFailed {
            reason: FailureReason::new("declined"),
            at
        }),
        time().prop_map(|period_end| E::RenewalMissed { period_end }),
        (0u32..6).prop_map(|attempt| E::RetryFailed {
            attempt,
            reason: FailureReason::new("declined")
        }),
        Just(E::GracePeriodEnded),
        Just(E::DunningExhausted),
        Just(E::Paused),
        Just(E::Resumed),
        Just(E::SuspendedByProvider),
        Just(E::Canceled {
            mode: CancelMode::Immediately
        }),
        Just(E::Canceled {
            mode: CancelMode::AtPeriodEnd
        }),
        Just(E::PeriodEnded),
        Just(E::Expired),
        (money, time())
            .prop_map(|(amount, period_end)| E::ManualPaymentReceived { amount, period_end }),
    ]
}

fn policy() -> impl Strategy<Value = LifecyclePolicy> {
    prop_oneof![
        Just(LifecyclePolicy::default()),
        (1i64..71, 0i64..=72, 0i64..20).prop_map(|(hours, renewal_hours, notice_days)| {
            LifecyclePolicy::new(DunningSchedule::default(), Duration::hours(hours))
                .and_then(|policy| policy.with_renewal_grace(Duration::hours(renewal_hours)))
                .and_then(|policy| policy.with_trial_notice(Duration::days(notice_days)))
                .unwrap()
        }),
    ]
}

/// Applies the enforcement effects to a posture, the way the enforcement layer would.
fn apply_posture(mut posture: Posture, effects: &[Effect]) -> Posture {
    for effect in effects {
        match effect {
            Effect::Block { source } | Effect::Unblock { source } => {
                let on = matches!(effect, Effect::Block { .. });
                match source {
                    BlockSource::Billing => posture.billing_block = on,
                    BlockSource::Customer => posture.customer_block = on,
                    BlockSource::Admin => panic!("the lifecycle never touches the admin block"),
                }
            }
            Effect::FreezeWallet => posture.wallet_frozen = true,
            Effect::UnfreezeWallet => posture.wallet_frozen = false,
            Effect::PauseCampaigns => posture.campaigns_paused = true,
            Effect::ResumeCampaigns => posture.campaigns_paused = false,
            Effect::SuspendMessaging => posture.messaging_suspended = true,
            Effect::ReactivateMessaging => posture.messaging_suspended = false,
            _ => {}
        }
    }
    posture
}

fn is_payment(event: &SubscriptionEvent) -> bool {
    matches!(
        event,
        SubscriptionEvent::PaymentSucceeded { .. }
            | SubscriptionEvent::ManualPaymentReceived { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn transitions_keep_the_lifecycle_invariants(
        state in state(),
        event in event(),
        occurred_at in time(),
        policy in policy(),
    ) {
        let context = Context { occurred_at, policy: &policy };
        let decision = decide(&state, &event, &context);

        // Canceled and expired are final.
        if state.status.is_terminal() {
            let terminal = matches!(decision, Decision::Ignored { reason: IgnoreReason::Terminal });
            prop_assert!(terminal);
            return Ok(());
        }
        // A payment from any non-terminal status restores access at once (G8), except the
        // customer's pause, which no billing event lifts: the pause stays.
        let paused = state.status == SubscriptionStatus::Paused;
        if is_payment(&event) {
            let transition = decision.transition().unwrap();
            let (status, posture) = if paused {
                (SubscriptionStatus::Paused, Posture::of(SubscriptionStatus::Paused))
            } else {
                (SubscriptionStatus::Active, Posture::default())
            };
            prop_assert_eq!(transition.to, status);
            prop_assert!(transition.state.dunning.is_none());
            prop_assert_eq!(apply_posture(Posture::of(state.status), &transition.effects), posture);
        }
        // No provider event but a resume lifts the customer's pause.
        if paused
            && !matches!(event, SubscriptionEvent::Resumed)
            && let Some(transition) = decision.transition()
        {
            let lifted = transition.to == SubscriptionStatus::Active
                || transition.to == SubscriptionStatus::Trialing;
            prop_assert!(!lifted, "{:?} lifted a pause", event);
        }
        // The provider's word that nothing is outstanding restores like a payment, wherever
        // something was owed or access was off.
        if let SubscriptionEvent::Reinstated { .. } = event {
            if state.status == SubscriptionStatus::Active && state.dunning.is_none() {
                let already = matches!(decision, Decision::Ignored { reason: IgnoreReason::AlreadyActive });
                prop_assert!(already);
            } else if paused {
                let transition = decision.transition().unwrap();
                prop_assert_eq!(transition.to, SubscriptionStatus::Paused);
                prop_assert!(transition.state.dunning.is_none());
            } else {
                let transition = decision.transition().unwrap();
                prop_assert_eq!(transition.to, SubscriptionStatus::Active);
                prop_assert!(transition.state.dunning.is_none());
                prop_assert_eq!(apply_posture(Posture::of(state.status), &transition.effects), Posture::default());
            }
        }
        // Only an active subscription in good standing lapses, into dunning anchored at the end
        // of the period that was not paid.
        if let SubscriptionEvent::RenewalMissed { period_end } = event {
            let lapses = state.status == SubscriptionStatus::Active
                && state.dunning.is_none()
                && !state.cancel_at_period_end
                && state.current_period_end == Some(period_end);
            prop_assert_eq!(decision.transition().is_some(), lapses);
            if let Some(transition) = decision.transition() {
                prop_assert_eq!(transition.to, SubscriptionStatus::PastDue);
                prop_assert_eq!(transition.state.dunning.map(|e| (e.started_at, e.retries_failed)), Some((period_end, 0)));
                let notifies = transition.effects.contains(&Effect::Notify { notice: NotificationKind::PaymentFailed });
                prop_assert!(notifies);
            }
        }
        // The trial-ending notice goes out once.
        if let SubscriptionEvent::TrialEndingSoon { .. } = event {
            let notifies = state.status == SubscriptionStatus::Trialing && !state.trial_ending_notified;
            prop_assert_eq!(decision.transition().is_some(), notifies);
            if let Some(transition) = decision.transition() {
                prop_assert!(transition.state.trial_ending_notified);
                let again = decide(&transition.state, &event, &context);
                let ignored = matches!(again, Decision::Ignored { reason: IgnoreReason::AlreadyNotified });
                prop_assert!(ignored);
            }
        }
        let Decision::Transition(transition) = decision else { return Ok(()) };
        prop_assert_eq!(transition.from, state.status);
        // Once told, a trial is never told again.
        prop_assert!(!state.trial_ending_notified || transition.state.trial_ending_notified);
        prop_assert_eq!(transition.to, transition.state.status);

        // The effects carry the posture exactly from the old status to the new one, which also
        // means no list both imposes and lifts the same thing.
        prop_assert_eq!(
            apply_posture(Posture::of(state.status), &transition.effects),
            Posture::of(transition.to)
        );
        let names: Vec<String> = transition.effects.iter().map(Effect::name).collect();
        for (on, off) in [
            ("freeze_wallet", "unfreeze_wallet"),
            ("pause_campaigns", "resume_campaigns"),
            ("suspend_messaging", "reactivate_messaging"),
            ("block(billing)", "unblock(billing)"),
            ("block(customer)", "unblock(customer)"),
        ] {
            prop_assert!(!(names.iter().any(|n| n == on) && names.iter().any(|n| n == off)), "{names:?}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), names.len(), "an effect repeated: {:?}", names);

        // Only trialing and active give access; entering any other status blocks sending.
        if !transition.to.gives_access() && transition.to != SubscriptionStatus::Pending {
            let after = Posture::of(transition.to);
            prop_assert!(after.campaigns_paused && after.messaging_suspended);
        }

        // Periods only move forward; an episode keeps its anchor until it ends.
        if let (Some(before), Some(after)) = (state.current_period_end, transition.state.current_period_end) {
            prop_assert!(after >= before);
        }
        if let (Some(before), Some(after)) = (state.dunning, transition.state.dunning) {
            prop_assert_eq!(before.started_at, after.started_at);
        }

        // Scheduling effects agree with what the runner will find due.
        for effect in &transition.effects {
            let scheduled = match *effect {
                Effect::ScheduleRetry { attempt, at } => Some((DueAction::Retry { attempt }, at)),
                Effect::ScheduleGraceEnd { at } => Some((DueAction::GraceEnd, at)),
                Effect::ScheduleSuspension { at } => Some((DueAction::Suspension, at)),
                _ => None,
            };
            if let Some((action, at)) = scheduled {
                // The runner finds this action, unless a trial or period end comes first.
                let due = next_due(&transition.state, &policy);
                let other_first = matches!(
                    due,
                    Some((
                        DueAction::PeriodEnd | DueAction::TrialEnd | DueAction::TrialEndingNotice,
                        when,
                    )) if when <= at
                );
                prop_assert!(other_first || due == Some((action, at)), "{effect:?} vs {due:?}");
            }
        }
        // A cleared episode leaves nothing of dunning behind.
        if transition.effects.contains(&Effect::ClearRetries) {
            prop_assert!(transition.state.dunning.is_none());
        }
    }
}

#[test]
fn the_default_timeline_walks_the_schedule() {
    let policy = LifecyclePolicy::default();
    let failed_at = base();
    let context = |days: i64| Context {
        occurred_at: failed_at + Duration::days(days),
        policy: &policy,
    };
    let active = SubscriptionState {
        status: SubscriptionStatus::Active,
        current_period_end: Some(base()),
        ..SubscriptionState::new()
    };
    let failure = SubscriptionEvent::PaymentFailed {
        reason: FailureReason::new("card declined"),
        at: failed_at,
    };
    let step = |state: &SubscriptionState, event: &SubscriptionEvent, days: i64| {
        decide(state, event, &context(days))
            .transition()
            .cloned()
            .unwrap()
    };
    let past_due = step(&active, &failure, 0);
    assert_eq!(past_due.to, SubscriptionStatus::PastDue);
    assert!(past_due.effects.contains(&Effect::ScheduleRetry {
        attempt: 1,
        at: failed_at + Duration::days(3)
    }));

    let mut state = past_due.state;
    let expected = [
        (
            1,
            NotificationKind::RetryScheduled,
            Effect::ScheduleRetry {
                attempt: 2,
                at: failed_at + Duration::days(5),
            },
        ),
        (
            2,
            NotificationKind::PaymentWarning,
            Effect::ScheduleRetry {
                attempt: 3,
                at: failed_at + Duration::days(7),
            },
        ),
        (
            3,
            NotificationKind::FinalWarning,
            Effect::ScheduleSuspension {
                at: failed_at + Duration::days(10),
            },
        ),
    ];
    for (attempt, notice, schedule) in expected {
        let retry = SubscriptionEvent::RetryFailed {
            attempt,
            reason: FailureReason::new("declined"),
        };
        let transition = step(&state, &retry, 3);
        assert_eq!(transition.effects, [schedule, Effect::Notify { notice }]);
        // The same attempt again is not the step the schedule waits for.
        assert_eq!(
            decide(&transition.state, &retry, &context(3)),
            Decision::Ignored {
                reason: IgnoreReason::UnexpectedAttempt
            }
        );
        state = transition.state;
    }
    let suspended = step(&state, &SubscriptionEvent::DunningExhausted, 10);
    assert_eq!(suspended.to, SubscriptionStatus::Suspended);
    assert_eq!(
        suspended.effects,
        [
            Effect::ClearRetries,
            Effect::Notify {
                notice: NotificationKind::Suspended
            }
        ]
    );
    assert_eq!(next_due(&suspended.state, &policy), None);
}

#[test]
fn suspension_day_wins_over_retries_that_lag_behind() {
    let policy = LifecyclePolicy::default();
    let past_due = SubscriptionState {
        status: SubscriptionStatus::PastDue,
        dunning: Some(DunningEpisode {
            started_at: base(),
            retries_failed: 0,
        }),
        ..SubscriptionState::new()
    };
    let day = |days: i64| base() + Duration::days(days);
    assert_eq!(
        next_due(&past_due, &policy),
        Some((DueAction::Retry { attempt: 1 }, day(3)))
    );
    assert_eq!(crate::due_now(&past_due, &policy, day(2)), None);
    assert_eq!(
        crate::due_now(&past_due, &policy, day(9)),
        Some((DueAction::Retry { attempt: 1 }, day(3)))
    );
    assert_eq!(
        crate::due_now(&past_due, &policy, day(10)),
        Some((DueAction::Suspension, day(10)))
    );
    let exhaust = |days: i64| {
        let context = Context {
            occurred_at: day(days),
            policy: &policy,
        };
        decide(&past_due, &SubscriptionEvent::DunningExhausted, &context)
    };
    assert_eq!(
        exhaust(9),
        Decision::Ignored {
            reason: IgnoreReason::RetriesRemain
        }
    );
    assert_eq!(
        exhaust(10).transition().map(|t| t.to),
        Some(SubscriptionStatus::Suspended)
    );
}
