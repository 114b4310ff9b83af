//! The timelines of the issue, step by step.

use chrono::Duration;
use enforcement::{RetryError, RetryResult, RunReport};
use subscriptions::{
    BlockSource, CancelMode, FailureReason, LifecyclePolicy, Outcome, SubscriptionEvent,
    SubscriptionStatus as S, access, access::BlockChange,
};

use crate::common::{World, envelope, start, usd};

fn paid_until(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::PaymentSucceeded {
        amount: usd(2_900),
        period_end: start() + Duration::days(days),
    }
}

fn failed_now(world: &World) -> SubscriptionEvent {
    SubscriptionEvent::PaymentFailed {
        reason: FailureReason::new("card_declined"),
        at: primitives::Clock::now(&world.clock),
    }
}

fn declined() -> Result<RetryResult, RetryError> {
    Ok(RetryResult::Declined {
        reason: FailureReason::new("insufficient_funds"),
    })
}

/// An active subscription whose renewal on day 0 just failed.
async fn failed_on_day_zero(policy: LifecyclePolicy) -> World {
    let world = World::new(policy).await;
    world.deliver(paid_until(0)).await;
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    world.deliver(failed_now(&world)).await;
    world
}

#[tokio::test]
async fn retries_fail_then_suspension_then_manual_payment_restores() {
    let world = failed_on_day_zero(LifecyclePolicy::default()).await;
    assert_eq!(world.status().await, S::PastDue);
    assert!(!world.may_send().await);
    assert_eq!(world.wallet_frozen_by().await, ["billing"]);
    assert_eq!(world.notifications().await, ["payment_failed"]);
    assert_eq!(world.topic("campaigns.control", "action").await, ["pause"]);
    assert_eq!(
        world.topic("messaging.control", "action").await,
        ["suspend"]
    );
    assert_eq!(world.logs.count("PAYMENT FAILURE"), 1);
    assert!(world.logs.text().contains(r#""event":"payment_failure""#));

    assert_eq!(world.day(2).await, RunReport::default());

    let steps = [
        (3, "retry_scheduled"),
        (5, "payment_warning"),
        (7, "final_warning"),
    ];
    for (attempt, (day, notice)) in (1u32..).zip(steps) {
        world.provider.answer(declined());
        let report = world.day(day).await;
        assert_eq!(report.retries_declined, 1, "day {day}");
        assert_eq!(world.status().await, S::PastDue, "day {day}");
        assert_eq!(
            world.notifications().await.last().map(String::as_str),
            Some(notice)
        );
        let request = world.provider.requests().last().cloned().unwrap();
        assert_eq!(request.attempt, attempt);
        assert!(request.idempotency_key.ends_with(&format!("-{attempt}")));
        assert_eq!(world.logs.count("PAYMENT FAILURE"), 1 + attempt as usize);
        // Running again the same day finds nothing: the next step is days away.
        assert_eq!(world.day(day).await, RunReport::default());
    }

    assert_eq!(world.day(9).await, RunReport::default());
    let report = world.day(10).await;
    assert_eq!(report.events_applied, 1);
    assert_eq!(world.status().await, S::Suspended);
    assert_eq!(
        world.provider.requests().len(),
        3,
        "no retry on the manual-intervention day"
    );
    assert_eq!(
        world.notifications().await.last().map(String::as_str),
        Some("suspended")
    );
    assert_eq!(world.day(20).await, RunReport::default(), "retries stopped");
    assert!(!world.may_send().await);

    // A provider payment notice for an old attempt cannot lift the suspension; a manual payment can.
    let manual = SubscriptionEvent::ManualPaymentReceived {
        amount: usd(2_900),
        period_end: start() + Duration::days(50),
    };
    let at = start() + Duration::days(20);
    let applied = world
        .deliver_envelope(&envelope("admin", "bank-transfer-1", at, manual))
        .await;
    assert!(matches!(applied.outcome, Outcome::Applied { .. }));
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert!(world.wallet_frozen_by().await.is_empty());
    assert_eq!(
        world.notifications().await,
        [
            "payment_failed",
            "retry_scheduled",
            "payment_warning",
            "final_warning",
            "suspended",
            "restored"
        ]
    );
    assert_eq!(
        world.topic("campaigns.control", "action").await,
        ["pause", "resume"]
    );
    assert_eq!(
        world.topic("messaging.control", "action").await,
        ["suspend", "reactivate"]
    );
    assert_eq!(
        applied.subscription.state.current_period_end,
        Some(start() + Duration::days(50))
    );
    // Paid by hand: nothing is due until the period ends unpaid (a day's renewal grace after).
    assert_eq!(
        applied.subscription.next_action_at,
        Some(start() + Duration::days(51))
    );
}

#[tokio::test]
async fn a_retry_that_succeeds_on_day_five_restores_at_once() {
    let world = failed_on_day_zero(LifecyclePolicy::default()).await;
    world.provider.answer(declined());
    world.day(3).await;
    world.provider.answer(Ok(RetryResult::Paid {
        amount: usd(2_900),
        period_end: start() + Duration::days(35),
    }));
    let report = world.day(5).await;
    assert_eq!(report.retries_paid, 1);
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert!(world.wallet_frozen_by().await.is_empty());
    assert_eq!(
        world.notifications().await,
        ["payment_failed", "retry_scheduled", "restored"]
    );
    // Retries are cleared: nothing happens on day 7 or 10.
    assert_eq!(world.day(7).await, RunReport::default());
    assert_eq!(world.day(10).await, RunReport::default());
    assert_eq!(world.provider.requests().len(), 2);
    assert_eq!(world.logs.count("PAYMENT FAILURE"), 2);
}

#[tokio::test]
async fn a_provider_outage_during_a_retry_retries_after_the_lease() {
    let world = failed_on_day_zero(LifecyclePolicy::default()).await;
    world.provider.answer(Err(RetryError {
        message: "connection refused".into(),
    }));
    assert_eq!(world.day(3).await.retries_errored, 1);
    // Leased: a second runner right away does not call the provider again.
    assert_eq!(
        world.runner.run_once(&world.pool).await.unwrap(),
        RunReport::default()
    );
    world.clock.advance(Duration::minutes(16));
    world.provider.answer(declined());
    assert_eq!(
        world
            .runner
            .run_once(&world.pool)
            .await
            .unwrap()
            .retries_declined,
        1
    );
    let requests = world.provider.requests();
    assert_eq!(requests.len(), 2);
    // The same attempt is retried with the same idempotency key, so the provider cannot charge twice.
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key);
    assert_eq!(world.status().await, S::PastDue);
}

#[tokio::test]
async fn a_trial_that_ends_without_payment_blocks_sending() {
    let world = World::new(LifecyclePolicy::default()).await;
    world
        .deliver(SubscriptionEvent::TrialStarted {
            trial_end: start() + Duration::days(14),
        })
        .await;
    assert_eq!(world.status().await, S::Trialing);
    assert!(world.may_send().await);
    world
        .deliver(SubscriptionEvent::TrialEndingSoon {
            trial_end: start() + Duration::days(14),
        })
        .await;
    assert_eq!(world.notifications().await, ["trial_ending"]);
    assert_eq!(world.day(13).await, RunReport::default());
    assert_eq!(world.day(14).await.events_applied, 1);
    assert_eq!(world.status().await, S::PastDue);
    assert!(!world.may_send().await);
    assert_eq!(world.wallet_frozen_by().await, ["billing"]);
    assert_eq!(world.notifications().await, ["trial_ending", "trial_ended"]);
    // The first payment arriving late still restores.
    world.clock.set(start() + Duration::days(15));
    world.deliver(paid_until(45)).await;
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
}

#[tokio::test]
async fn a_cancellation_at_period_end_keeps_access_until_then() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(paid_until(30)).await;
    world.clock.set(start() + Duration::days(10));
    world
        .deliver(SubscriptionEvent::Canceled {
            mode: CancelMode::AtPeriodEnd,
        })
        .await;
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert_eq!(world.notifications().await, ["cancellation_scheduled"]);
    assert_eq!(world.day(29).await, RunReport::default());
    assert_eq!(world.day(30).await.events_applied, 1);
    assert_eq!(world.status().await, S::Canceled);
    assert!(!world.may_send().await);
    assert_eq!(world.wallet_frozen_by().await, ["billing"]);
    assert_eq!(
        world.notifications().await,
        ["cancellation_scheduled", "canceled"]
    );
    // Terminal: a late payment changes nothing.
    let late = world.deliver(paid_until(60)).await;
    assert!(matches!(late.outcome, Outcome::Ignored { .. }));
    assert_eq!(world.status().await, S::Canceled);
}

#[tokio::test]
async fn an_admin_block_survives_payment_and_only_its_lifting_restores() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(paid_until(30)).await;
    let mut conn = world.pool.get().await.unwrap();
    let change = BlockChange::new(BlockSource::Admin, "chargeback under review", "admin").unwrap();
    let now = start() + Duration::days(1);
    assert!(
        access::block(&mut conn, world.organization, &change, now)
            .await
            .unwrap()
    );
    assert!(!world.may_send().await);

    // A failure and a successful payment lift billing's block, never the admin's.
    world.clock.set(start() + Duration::days(2));
    world.deliver(failed_now(&world)).await;
    world.deliver(paid_until(60)).await;
    assert_eq!(world.status().await, S::Active);
    assert!(
        !world.may_send().await,
        "the admin block must survive the payment"
    );
    let blocks = access::blocks(&mut conn, world.organization).await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].source, BlockSource::Admin);
    assert_eq!(blocks[0].reason, "chargeback under review");

    let lift = BlockChange::new(BlockSource::Admin, "review closed", "admin").unwrap();
    assert!(
        access::unblock(&mut conn, world.organization, &lift, now)
            .await
            .unwrap()
    );
    assert!(world.may_send().await);
}

#[tokio::test]
async fn a_grace_period_keeps_access_until_it_ends() {
    let policy = LifecyclePolicy::new(
        subscriptions::DunningSchedule::default(),
        Duration::hours(24),
    )
    .unwrap();
    let world = failed_on_day_zero(policy).await;
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert!(world.wallet_frozen_by().await.is_empty());
    assert_eq!(world.notifications().await, ["payment_failed"]);
    assert_eq!(world.day(1).await.events_applied, 1);
    assert_eq!(world.status().await, S::PastDue);
    assert!(!world.may_send().await);
    assert_eq!(world.wallet_frozen_by().await, ["billing"]);
    // Retries keep the first failure as anchor.
    world.provider.answer(declined());
    assert_eq!(world.day(3).await.retries_declined, 1);
}

#[tokio::test]
async fn a_duplicate_delivery_notifies_and_logs_once() {
    let world = World::new(LifecyclePolicy::default()).await;
    world.deliver(paid_until(0)).await;
    let failure = envelope("stripe", "evt_fail", start(), failed_now(&world));
    world.deliver_envelope(&failure).await;
    let again = world.deliver_envelope(&failure).await;
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(world.notifications().await, ["payment_failed"]);
    assert_eq!(world.topic("campaigns.control", "action").await, ["pause"]);
    assert_eq!(world.logs.count("PAYMENT FAILURE"), 1);
}

#[tokio::test]
async fn a_provider_that_never_answers_still_ends_in_suspension_on_day_ten() {
    let world = failed_on_day_zero(LifecyclePolicy::default()).await;
    for day in [3, 5, 7, 9] {
        world.provider.answer(Err(RetryError {
            message: "503 from provider".into(),
        }));
        assert_eq!(world.day(day).await.retries_errored, 1, "day {day}");
        assert_eq!(world.status().await, S::PastDue);
    }
    // Every attempt was the first one: the schedule does not advance without an answer...
    assert!(world.provider.requests().iter().all(|r| r.attempt == 1));
    // ...but the manual-intervention day comes anyway.
    let report = world.day(10).await;
    assert_eq!(report.events_applied, 1);
    assert_eq!(world.status().await, S::Suspended);
    assert_eq!(world.notifications().await, ["payment_failed", "suspended"]);
    assert_eq!(world.day(11).await, RunReport::default());
}

#[tokio::test]
async fn a_later_stamped_provider_event_does_not_make_a_scheduled_step_stale() {
    let world = World::new(LifecyclePolicy::default()).await;
    world
        .deliver(SubscriptionEvent::TrialStarted {
            trial_end: start() + Duration::days(14),
        })
        .await;
    // The provider's notice arrives stamped after the trial's end (its clock runs ahead, or the
    // runner was down for an hour).
    world
        .clock
        .set(start() + Duration::days(14) + Duration::hours(1));
    world
        .deliver(SubscriptionEvent::TrialEndingSoon {
            trial_end: start() + Duration::days(14),
        })
        .await;
    world
        .clock
        .set(start() + Duration::days(14) + Duration::hours(2));
    let report = world.runner.run_once(&world.pool).await.unwrap();
    assert_eq!(report.events_applied, 1, "{report:?}");
    assert_eq!(world.status().await, S::PastDue);
}

#[tokio::test]
async fn a_step_that_changes_nothing_waits_for_its_lease_instead_of_repeating() {
    let world = failed_on_day_zero(LifecyclePolicy::default()).await;
    world.provider.answer(Err(RetryError {
        message: "timeout".into(),
    }));
    assert_eq!(world.day(3).await.retries_errored, 1);
    // Within the lease nothing is taken again, however often the runner runs.
    for _ in 0..3 {
        assert_eq!(
            world.runner.run_once(&world.pool).await.unwrap(),
            RunReport::default()
        );
    }
}
