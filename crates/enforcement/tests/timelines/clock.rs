//! Timelines driven by the clock alone: a period that ends without payment, the trial-ending
//! notice, and a reinstatement reported by the provider.

use chrono::Duration;
use enforcement::{RetryError, RetryResult, RunReport};
use primitives::Clock;
use subscriptions::{
    FailureReason, IgnoreReason, LifecyclePolicy, Outcome, SubscriptionEvent,
    SubscriptionStatus as S, history,
};

use crate::common::{World, envelope, start, usd};

fn paid_until(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::PaymentSucceeded {
        amount: usd(2_900),
        period_end: start() + Duration::days(days),
    }
}

fn declined() -> Result<RetryResult, RetryError> {
    Ok(RetryResult::Declined {
        reason: FailureReason::new("insufficient_funds"),
    })
}

fn trial_until(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::TrialStarted {
        trial_end: start() + Duration::days(days),
    }
}

fn trial_will_end(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::TrialEndingSoon {
        trial_end: start() + Duration::days(days),
    }
}

#[tokio::test]
async fn a_period_that_ends_unpaid_goes_past_due_after_the_grace_then_through_dunning() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(paid_until(30)).await;
    assert_eq!(
        world.day(30).await,
        RunReport::default(),
        "still in the grace"
    );
    world
        .clock
        .set(start() + Duration::days(31) - Duration::seconds(1));
    assert_eq!(
        world.runner.run_once(&world.pool).await.unwrap(),
        RunReport::default()
    );
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);

    // A day after the period's end (the default renewal grace) nothing has paid for it.
    let report = world.day(31).await;
    assert_eq!(report.events_applied, 1, "{report:?}");
    assert_eq!(world.status().await, S::PastDue);
    assert!(!world.may_send().await);
    assert_eq!(world.wallet_frozen_by().await, ["billing"]);
    assert_eq!(world.topic("campaigns.control", "action").await, ["pause"]);
    assert_eq!(world.notifications().await, ["payment_failed"]);
    let facts = world.notification_facts().await;
    assert_eq!(facts[0]["reason"], "renewal payment not received");
    assert_eq!(world.logs.count("PAYMENT FAILURE"), 1);
    assert!(world.logs.text().contains("renewal payment not received"));
    // Dunning days count from the period's end, when the payment was due.
    let stored = world.stored().await;
    let episode = stored.state.dunning.unwrap();
    assert_eq!(episode.started_at, start() + Duration::days(30));
    assert_eq!(stored.next_action_at, Some(start() + Duration::days(33)));
    let mut conn = world.pool.get().await.unwrap();
    let events = history::events(&mut conn, world.subscription, 1)
        .await
        .unwrap();
    assert_eq!(events[0].kind, "renewal_missed");
    assert_eq!(events[0].source, "scheduler");
    assert_eq!(
        events[0].event_id,
        format!(
            "renewal_overdue:{}:{}",
            world.subscription,
            (start() + Duration::days(31)).timestamp()
        )
    );
    // A second runner at the same time finds nothing left to do.
    assert_eq!(world.day(31).await, RunReport::default());

    // Then the usual schedule, counted from day 30.
    for (day, notice) in [
        (33, "retry_scheduled"),
        (35, "payment_warning"),
        (37, "final_warning"),
    ] {
        world.provider.answer(declined());
        assert_eq!(world.day(day).await.retries_declined, 1, "day {day}");
        assert_eq!(
            world.notifications().await.last().map(String::as_str),
            Some(notice)
        );
    }
    let key = &world.provider.requests()[0].idempotency_key;
    let anchor = (start() + Duration::days(30)).timestamp();
    assert!(key.ends_with(&format!("-{anchor}-1")), "{key}");
    assert_eq!(world.day(40).await.events_applied, 1);
    assert_eq!(world.status().await, S::Suspended);
    assert_eq!(world.logs.count("PAYMENT FAILURE"), 4);

    // A manual payment restores, and the next period may lapse in its turn.
    let manual = SubscriptionEvent::ManualPaymentReceived {
        amount: usd(2_900),
        period_end: start() + Duration::days(70),
    };
    let at = start() + Duration::days(41);
    world
        .deliver_envelope(&envelope("admin", "bank-transfer-1", at, manual))
        .await;
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert_eq!(
        world.stored().await.next_action_at,
        Some(start() + Duration::days(71))
    );
}

#[tokio::test]
async fn a_payment_during_the_renewal_grace_prevents_the_lapse() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(paid_until(30)).await;
    // The renewal's event comes twelve hours late, inside the grace.
    world
        .clock
        .set(start() + Duration::days(30) + Duration::hours(12));
    world.deliver(paid_until(60)).await;
    assert_eq!(world.day(31).await, RunReport::default());
    assert_eq!(world.day(45).await, RunReport::default());
    assert_eq!(world.status().await, S::Active);
    assert!(world.notifications().await.is_empty());
    assert_eq!(world.logs.count("PAYMENT FAILURE"), 0);

    // A runner that found the old period overdue just before the payment landed: its event
    // names the period it saw, which is no longer the current one.
    let late = envelope(
        "scheduler",
        "renewal_overdue:late",
        start() + Duration::days(31),
        SubscriptionEvent::RenewalMissed {
            period_end: start() + Duration::days(30),
        },
    );
    let applied = world.deliver_envelope(&late).await;
    assert_eq!(
        applied.outcome,
        Outcome::Ignored {
            reason: IgnoreReason::PeriodRenewed
        }
    );
    assert_eq!(world.status().await, S::Active);
    assert_eq!(
        world.logs.count("PAYMENT FAILURE"),
        0,
        "an ignored missed renewal is no payment failure"
    );
    // The renewed period lapses in its turn if nothing pays for it.
    assert_eq!(world.day(61).await.events_applied, 1);
    assert_eq!(world.status().await, S::PastDue);
}

#[tokio::test]
async fn the_trial_notice_goes_out_days_before_the_end_once_even_with_the_providers() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(trial_until(14)).await;
    assert_eq!(world.day(10).await, RunReport::default());
    world
        .clock
        .set(start() + Duration::days(11) - Duration::seconds(1));
    assert_eq!(
        world.runner.run_once(&world.pool).await.unwrap(),
        RunReport::default()
    );
    // Three days (the default notice) before the end.
    assert_eq!(world.day(11).await.events_applied, 1);
    assert_eq!(world.notifications().await, ["trial_ending"]);
    assert_eq!(world.status().await, S::Trialing);
    assert!(world.may_send().await);
    let facts = world.notification_facts().await;
    assert_eq!(
        facts[0]["trial_end"],
        serde_json::json!(start() + Duration::days(14))
    );
    assert_eq!(world.day(11).await, RunReport::default());

    // The provider's own notice after ours is not sent again.
    world.clock.set(start() + Duration::days(12));
    let theirs = world.deliver(trial_will_end(14)).await;
    assert_eq!(
        theirs.outcome,
        Outcome::Ignored {
            reason: IgnoreReason::AlreadyNotified
        }
    );
    assert_eq!(world.notifications().await, ["trial_ending"]);

    assert_eq!(world.day(14).await.events_applied, 1);
    assert_eq!(world.status().await, S::PastDue);
    assert_eq!(world.notifications().await, ["trial_ending", "trial_ended"]);
}

#[tokio::test]
async fn the_providers_trial_notice_first_leaves_ours_unsent() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(trial_until(14)).await;
    world.clock.set(start() + Duration::days(10));
    world.deliver(trial_will_end(14)).await;
    assert_eq!(world.notifications().await, ["trial_ending"]);
    assert_eq!(
        world.stored().await.next_action_at,
        Some(start() + Duration::days(14)),
        "only the trial's end is left"
    );
    assert_eq!(world.day(11).await, RunReport::default());
    assert_eq!(world.day(13).await, RunReport::default());
    assert_eq!(world.notifications().await, ["trial_ending"]);
}

#[tokio::test]
async fn a_trial_shorter_than_the_notice_is_told_at_once_and_zero_disables_it() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(trial_until(2)).await;
    assert_eq!(world.day(0).await.events_applied, 1);
    assert_eq!(world.notifications().await, ["trial_ending"]);

    let silent = LifecyclePolicy::default()
        .with_trial_notice(Duration::zero())
        .unwrap();
    let world = World::new(silent).await;
    world.deliver(trial_until(14)).await;
    assert_eq!(world.day(13).await, RunReport::default());
    assert!(world.notifications().await.is_empty());
    assert_eq!(world.day(14).await.events_applied, 1);
    assert_eq!(world.notifications().await, ["trial_ended"]);
}

#[tokio::test]
async fn a_reinstatement_restores_like_a_payment() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(paid_until(0)).await;
    world
        .deliver(SubscriptionEvent::PaymentFailed {
            reason: FailureReason::new("card_declined"),
            at: world.clock.now(),
        })
        .await;
    assert_eq!(world.status().await, S::PastDue);
    world.clock.set(start() + Duration::days(1));
    let reinstated = SubscriptionEvent::Reinstated {
        period_end: start() + Duration::days(30),
    };
    let applied = world.deliver(reinstated.clone()).await;
    assert!(matches!(applied.outcome, Outcome::Applied { .. }));
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert!(world.wallet_frozen_by().await.is_empty());
    assert_eq!(world.notifications().await, ["payment_failed", "restored"]);
    assert_eq!(
        applied.subscription.state.current_period_end,
        Some(start() + Duration::days(30))
    );
    // Nothing more to restore once active.
    let again = world.deliver(reinstated).await;
    assert_eq!(
        again.outcome,
        Outcome::Ignored {
            reason: IgnoreReason::AlreadyActive
        }
    );
    // Nothing was retried meanwhile.
    assert_eq!(world.day(3).await, RunReport::default());
}
