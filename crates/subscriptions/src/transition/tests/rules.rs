//! Single rules of the state machine at their edges: equal times, flags the table's canonical
//! states never set, and what a transition records in the state besides its status.

use chrono::Duration;
use primitives::{Currency, Money};

use super::*;
use crate::{DunningSchedule, FailureReason};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

fn day(days: i64) -> DateTime<Utc> {
    t0() + Duration::days(days)
}

fn active(period_end_day: i64) -> SubscriptionState {
    SubscriptionState {
        status: SubscriptionStatus::Active,
        current_period_end: Some(day(period_end_day)),
        ..SubscriptionState::new()
    }
}

fn episode(started_day: i64, retries_failed: u32) -> Option<DunningEpisode> {
    Some(DunningEpisode {
        started_at: day(started_day),
        retries_failed,
    })
}

fn decide_at(
    state: &SubscriptionState,
    event: &SubscriptionEvent,
    occurred_day: i64,
    policy: &LifecyclePolicy,
) -> Decision {
    let context = Context {
        occurred_at: day(occurred_day),
        policy,
    };
    decide(state, event, &context)
}

fn on(state: &SubscriptionState, event: &SubscriptionEvent, occurred_day: i64) -> Decision {
    decide_at(state, event, occurred_day, &LifecyclePolicy::default())
}

fn moved(decision: Decision) -> Transition {
    match decision {
        Decision::Transition(transition) => transition,
        other => panic!("expected a transition, got {other:?}"),
    }
}

fn ignored(reason: IgnoreReason) -> Decision {
    Decision::Ignored { reason }
}

#[test]
fn a_trial_records_when_it_ends() {
    let started = moved(on(
        &SubscriptionState::new(),
        &SubscriptionEvent::TrialStarted { trial_end: day(14) },
        0,
    ));
    assert_eq!(started.to, SubscriptionStatus::Trialing);
    assert_eq!(started.state.trial_end, Some(day(14)));
}

#[test]
fn a_payment_extends_the_period_only_when_it_reaches_further() {
    let paid = |period_end_day: i64| {
        let payment = SubscriptionEvent::PaymentSucceeded {
            amount: Money::from_minor(2_900, Currency::USD),
            period_end: day(period_end_day),
        };
        moved(on(&active(30), &payment, 1))
    };
    let later = paid(60);
    assert_eq!(later.effects, [Effect::ExtendPeriod { to: day(60) }]);
    assert_eq!(later.state.current_period_end, Some(day(60)));
    // The period already recorded (a duplicate notice) or an older one: nothing to extend.
    for period_end_day in [30, 29] {
        let same = paid(period_end_day);
        assert!(same.effects.is_empty(), "{period_end_day}");
        assert_eq!(same.state.current_period_end, Some(day(30)));
    }
}

#[test]
fn with_a_grace_a_failed_payment_keeps_access_until_the_grace_ends() {
    let policy = LifecyclePolicy::new(DunningSchedule::default(), Duration::hours(12)).unwrap();
    let failure = SubscriptionEvent::PaymentFailed {
        reason: FailureReason::new("card declined"),
        at: day(1),
    };
    let in_grace = moved(decide_at(&active(30), &failure, 1, &policy));
    assert_eq!(in_grace.to, SubscriptionStatus::Active);
    assert_eq!(in_grace.state.dunning, episode(1, 0));
    assert_eq!(
        in_grace.effects,
        [
            Effect::ScheduleGraceEnd {
                at: day(1) + Duration::hours(12)
            },
            Effect::Notify {
                notice: NotificationKind::PaymentFailed
            },
        ]
    );
    // Without a grace, access goes at the first failure.
    let blocked = moved(on(&active(30), &failure, 1));
    assert_eq!(blocked.to, SubscriptionStatus::PastDue);
}

#[test]
fn the_end_of_the_grace_starts_the_retries() {
    for status in [SubscriptionStatus::Active, SubscriptionStatus::Trialing] {
        let in_grace = SubscriptionState {
            status,
            dunning: episode(1, 0),
            ..active(30)
        };
        let ended = moved(on(&in_grace, &SubscriptionEvent::GracePeriodEnded, 2));
        assert_eq!(ended.to, SubscriptionStatus::PastDue, "{status}");
        assert_eq!(ended.state.dunning, episode(1, 0));
        assert!(
            ended.effects.ends_with(&[
                Effect::ScheduleRetry {
                    attempt: 1,
                    at: day(4)
                },
                Effect::Notify {
                    notice: NotificationKind::RetryScheduled
                },
            ]),
            "{:?}",
            ended.effects
        );
    }
}

#[test]
fn an_unpaid_period_opens_dunning_only_for_a_subscription_in_good_standing() {
    let missed = |period_end_day: i64| SubscriptionEvent::RenewalMissed {
        period_end: day(period_end_day),
    };
    let lapsed = moved(on(&active(30), &missed(30), 31));
    assert_eq!(lapsed.to, SubscriptionStatus::PastDue);
    assert_eq!(lapsed.state.dunning, episode(30, 0));
    // In its grace after a failed payment: that episode already counts the days.
    let in_grace = SubscriptionState {
        dunning: episode(29, 0),
        ..active(30)
    };
    assert_eq!(
        on(&in_grace, &missed(30), 31),
        ignored(IgnoreReason::EpisodeOpen)
    );
    // Canceling at the period's end: nothing renews, nothing is owed.
    let canceling = SubscriptionState {
        cancel_at_period_end: true,
        ..active(30)
    };
    assert_eq!(
        on(&canceling, &missed(30), 31),
        ignored(IgnoreReason::NoRenewalDue)
    );
    // A payment moved the period on since it was found unpaid.
    assert_eq!(
        on(&active(60), &missed(30), 31),
        ignored(IgnoreReason::PeriodRenewed)
    );
    // A period the subscription has not reached is not a renewal that was missed.
    assert_eq!(
        on(&active(30), &missed(60), 61),
        ignored(IgnoreReason::NoRenewalDue)
    );
}

#[test]
fn when_every_retry_has_failed_exhaustion_suspends_before_the_suspension_day() {
    let exhausted = |retries_failed: u32| {
        let past_due = SubscriptionState {
            status: SubscriptionStatus::PastDue,
            dunning: episode(0, retries_failed),
            ..active(0)
        };
        on(&past_due, &SubscriptionEvent::DunningExhausted, 8)
    };
    // The default schedule retries 3 times and suspends on day 10.
    assert_eq!(exhausted(2), ignored(IgnoreReason::RetriesRemain));
    assert_eq!(moved(exhausted(3)).to, SubscriptionStatus::Suspended);
}

#[test]
fn cancelling_at_the_period_end_keeps_access_and_remembers_it() {
    let at_period_end = SubscriptionEvent::Canceled {
        mode: CancelMode::AtPeriodEnd,
    };
    let scheduled = moved(on(&active(30), &at_period_end, 1));
    assert_eq!(scheduled.to, SubscriptionStatus::Active);
    assert!(scheduled.state.cancel_at_period_end);
    assert_eq!(
        scheduled.effects,
        [Effect::Notify {
            notice: NotificationKind::CancellationScheduled
        }]
    );
    // Asked again: already scheduled, the customer is not told twice.
    assert_eq!(
        on(&scheduled.state, &at_period_end, 2),
        ignored(IgnoreReason::CancellationAlreadyScheduled)
    );
}

#[test]
fn cancelling_at_the_period_end_with_nothing_left_of_it_cancels_now() {
    let at_period_end = SubscriptionEvent::Canceled {
        mode: CancelMode::AtPeriodEnd,
    };
    // At the very moment the period ends, nothing of it is left.
    let at_the_end = moved(on(&active(30), &at_period_end, 30));
    assert_eq!(at_the_end.to, SubscriptionStatus::Canceled);
    // A pending subscription has paid for nothing yet, whatever period it names.
    let pending = SubscriptionState {
        status: SubscriptionStatus::Pending,
        ..active(30)
    };
    let canceled = moved(on(&pending, &at_period_end, 1));
    assert_eq!(canceled.to, SubscriptionStatus::Canceled);
    assert!(!canceled.state.cancel_at_period_end);
}

#[test]
fn every_ignore_reason_is_explained_in_its_own_words() {
    use IgnoreReason as R;
    let all = [
        R::Terminal,
        R::AlreadyCreated,
        R::NotPending,
        R::NotTrialing,
        R::NotStarted,
        R::AlreadyActive,
        R::AlreadyPaused,
        R::AlreadySuspended,
        R::NotPaused,
        R::PaymentNeeded,
        R::EpisodeOpen,
        R::NotBilledWhilePaused,
        R::SuspendedUntilManualPayment,
        R::NoDunningDue,
        R::UnexpectedAttempt,
        R::RetriesRemain,
        R::CancellationAlreadyScheduled,
        R::NoCancellationScheduled,
        R::AlreadyNotified,
        R::NoRenewalDue,
        R::PeriodRenewed,
    ];
    let mut explanations: Vec<&str> = all.iter().map(|reason| reason.explanation()).collect();
    assert!(explanations.iter().all(|text| text.len() > 20));
    explanations.sort_unstable();
    explanations.dedup();
    assert_eq!(explanations.len(), all.len());
    assert_eq!(
        R::Terminal.explanation(),
        "canceled and expired are final; only a new subscription changes that"
    );
}
