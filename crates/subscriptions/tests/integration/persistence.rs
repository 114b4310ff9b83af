//! Storing transitions: history, duplicates, staleness, blocks, the due query, concurrency.

use chrono::Duration;
use db::schema::subscriptions as table;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use primitives::{Currency, Money};
use subscriptions::{
    BlockSource, DueAction, FailureReason, Feature, IgnoreReason, NewSubscription, Outcome,
    PlanCode, SubscriptionError, SubscriptionEvent, SubscriptionStatus, access, due, history,
    lookup,
};

use crate::common::{Fixture, envelope, start};

fn paid(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::PaymentSucceeded {
        amount: Money::from_minor(2_900, Currency::USD),
        period_end: start() + Duration::days(days),
    }
}

fn failed(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::PaymentFailed {
        reason: FailureReason::new("card declined"),
        at: start() + Duration::days(days),
    }
}

#[tokio::test]
async fn transitions_are_stored_with_history_and_blocks() {
    let fixture = Fixture::new().await;
    let (organization, id) = fixture.subscription().await;
    let activated = fixture
        .apply(id, &envelope("stripe", "evt_1", start(), paid(30)))
        .await;
    assert!(matches!(activated.outcome, Outcome::Applied { .. }));
    assert_eq!(
        activated.subscription.state.status,
        SubscriptionStatus::Active
    );
    assert_eq!(
        activated.subscription.state.current_period_end,
        Some(start() + Duration::days(30))
    );

    let failure = fixture
        .apply(
            id,
            &envelope("stripe", "evt_2", start() + Duration::days(30), failed(30)),
        )
        .await;
    let stored = failure.subscription;
    assert_eq!(stored.state.status, SubscriptionStatus::PastDue);
    assert_eq!(stored.next_action_at, Some(start() + Duration::days(33)));

    let mut conn = fixture.pool.get().await.unwrap();
    let blocks = access::blocks(&mut conn, organization).await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].source, BlockSource::Billing);
    let decision = access::entitlement(&mut conn, organization, Feature::SendMessages)
        .await
        .unwrap();
    assert!(!decision.allowed());
    assert_eq!(decision.denied_because.len(), 2);

    let entries = history::transitions(&mut conn, id, 50).await.unwrap();
    let path: Vec<_> = entries
        .iter()
        .rev()
        .map(|entry| (entry.from.clone(), entry.to.clone(), entry.event.clone()))
        .collect();
    assert_eq!(
        path,
        [
            (None, "pending".into(), "created".into()),
            (
                Some("pending".into()),
                "active".into(),
                "payment_succeeded".into()
            ),
            (
                Some("active".into()),
                "past_due".into(),
                "payment_failed".into()
            ),
        ]
    );
    assert_eq!(entries[0].source, "stripe");
    assert!(entries[0].effects.to_string().contains("freeze_wallet"));

    // Payment restores: the billing block goes, the decision flips.
    fixture
        .apply(
            id,
            &envelope("stripe", "evt_3", start() + Duration::days(31), paid(61)),
        )
        .await;
    assert!(
        access::blocks(&mut conn, organization)
            .await
            .unwrap()
            .is_empty()
    );
    let decision = access::entitlement(&mut conn, organization, Feature::SendMessages)
        .await
        .unwrap();
    assert!(decision.allowed());
}

#[tokio::test]
async fn duplicates_and_stale_events_change_nothing() {
    let fixture = Fixture::new().await;
    let (_, id) = fixture.subscription().await;
    let first = envelope("paypal", "WH-1", start() + Duration::days(1), paid(30));
    let applied = fixture.apply(id, &first).await;
    assert!(matches!(applied.outcome, Outcome::Applied { .. }));

    let again = fixture.apply(id, &first).await;
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(again.subscription, applied.subscription);

    // Older than the newest applied event: recorded as stale, state untouched.
    let older = envelope("paypal", "WH-0", start(), failed(0));
    let stale = fixture.apply(id, &older).await;
    assert_eq!(
        stale.outcome,
        Outcome::Stale {
            last_event_at: start() + Duration::days(1)
        }
    );
    assert_eq!(stale.subscription, applied.subscription);

    // An event the machine ignores is recorded with its reason.
    let resumed = envelope(
        "paypal",
        "WH-2",
        start() + Duration::days(2),
        SubscriptionEvent::Resumed,
    );
    let ignored = fixture.apply(id, &resumed).await;
    assert_eq!(
        ignored.outcome,
        Outcome::Ignored {
            reason: IgnoreReason::NotPaused
        }
    );

    let mut conn = fixture.pool.get().await.unwrap();
    let events = history::events(&mut conn, id, 10).await.unwrap();
    let outcomes: Vec<_> = events.iter().rev().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["applied", "applied", "stale", "ignored"]);
    assert_eq!(events[0].detail.as_deref(), Some("not_paused"));
    // Only the two applied events made history rows.
    assert_eq!(
        history::transitions(&mut conn, id, 10).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn one_live_subscription_per_organization_and_creation_is_idempotent() {
    let fixture = Fixture::new().await;
    let (organization, id) = fixture.subscription().await;
    let mut conn = fixture.pool.get().await.unwrap();
    let new = || NewSubscription {
        organization_id: organization,
        plan: PlanCode::parse("pro").unwrap(),
        provider: None,
    };
    // The same creation event again returns the same subscription.
    let replay = envelope(
        "test",
        &format!("create-{organization}"),
        start(),
        SubscriptionEvent::Created,
    );
    let again = fixture
        .subscriptions
        .create(&mut conn, new(), &replay)
        .await
        .unwrap();
    assert_eq!(again.id, id);
    // A different creation while one is live is refused.
    let other = envelope("test", "another", start(), SubscriptionEvent::Created);
    let error = fixture
        .subscriptions
        .create(&mut conn, new(), &other)
        .await
        .unwrap_err();
    assert!(matches!(error, SubscriptionError::AlreadyLive { existing, .. } if existing == id));
    assert_eq!(error.code(), "SUBSCRIPTION_EXISTS");

    // Once it is canceled, a new one may start; the current one is the live one.
    let cancel = SubscriptionEvent::Canceled {
        mode: subscriptions::CancelMode::Immediately,
    };
    fixture
        .apply(id, &envelope("test", "cancel", start(), cancel))
        .await;
    // An id that named another kind of event is not a creation to replay.
    let named_cancel = envelope("test", "cancel", start(), SubscriptionEvent::Created);
    let error = fixture
        .subscriptions
        .create(&mut conn, new(), &named_cancel)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "IDEMPOTENCY_CONFLICT");
    let fresh = fixture
        .subscriptions
        .create(&mut conn, new(), &other)
        .await
        .unwrap();
    assert_ne!(fresh.id, id);
    let current = lookup::current_for_organization(&mut conn, organization)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.id, fresh.id);
    assert_eq!(
        lookup::all_for_organization(&mut conn, organization)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_due_query_finds_what_is_due_and_skips_leased_retries() {
    let fixture = Fixture::new().await;
    let (_, id) = fixture.subscription().await;
    fixture
        .apply(id, &envelope("test", "paid", start(), paid(30)))
        .await;
    fixture
        .apply(id, &envelope("test", "failed", start(), failed(0)))
        .await;
    let policy = fixture.subscriptions.policy().clone();
    let mut conn = fixture.pool.get().await.unwrap();

    let before = due::due(&mut conn, &policy, start() + Duration::days(2), 10)
        .await
        .unwrap();
    assert!(before.is_empty());
    let at_day_3 = start() + Duration::days(3);
    let work = due::due(&mut conn, &policy, at_day_3, 10).await.unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].action, DueAction::Retry { attempt: 1 });

    due::lease_action(&mut conn, id, at_day_3, Duration::minutes(15))
        .await
        .unwrap();
    assert!(
        due::due(&mut conn, &policy, at_day_3, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after_lease = at_day_3 + Duration::minutes(16);
    assert_eq!(
        due::due(&mut conn, &policy, after_lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_on_one_subscription_lose_no_update() {
    let fixture = std::sync::Arc::new(Fixture::new().await);
    let (_, id) = fixture.subscription().await;
    fixture
        .apply(id, &envelope("test", "paid", start(), paid(30)))
        .await;
    // Each round races a cancellation at period end against renewals with different period ends,
    // all on separate connections. Without the row lock, one write overwrites another: the flag
    // or the latest period end is lost.
    for round in 0..8i64 {
        let at = start() + Duration::hours(round + 1);
        let mut tasks = Vec::new();
        let mut events = vec![envelope(
            "test",
            &format!("cancel-{round}"),
            at,
            SubscriptionEvent::Canceled {
                mode: subscriptions::CancelMode::AtPeriodEnd,
            },
        )];
        for renewal in 0..7 {
            let days = 40 + round * 10 + renewal;
            events.push(envelope(
                "test",
                &format!("renew-{round}-{renewal}"),
                at,
                paid(days),
            ));
        }
        for event in events {
            let fixture = fixture.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = fixture.pool.get().await.unwrap();
                fixture
                    .subscriptions
                    .apply(&mut conn, id, &event)
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            assert_ne!(task.await.unwrap().outcome, Outcome::Duplicate);
        }
        let mut conn = fixture.pool.get().await.unwrap();
        let now = lookup::get(&mut conn, id).await.unwrap();
        assert!(
            now.state.cancel_at_period_end,
            "round {round}: cancellation lost"
        );
        assert_eq!(
            now.state.current_period_end,
            Some(start() + Duration::days(40 + round * 10 + 6)),
            "round {round}: a renewal was lost"
        );
    }
}

#[tokio::test]
async fn only_a_trial_can_have_been_told_that_it_ends() {
    let fixture = Fixture::new().await;
    let (_, id) = fixture.subscription().await;
    let mut conn = fixture.pool.get().await.unwrap();
    let refused = diesel::update(table::table.find(id.as_uuid()))
        .set(table::trial_ending_notified.eq(true))
        .execute(&mut conn)
        .await;
    assert!(
        refused.is_err(),
        "a notified trial without an end was stored"
    );
}

#[tokio::test]
async fn an_unpaid_period_is_due_after_the_renewal_grace_and_early_marks_are_corrected() {
    let fixture = Fixture::new().await;
    let (_, id) = fixture.subscription().await;
    let applied = fixture
        .apply(id, &envelope("test", "paid", start(), paid(30)))
        .await;
    let overdue = start() + Duration::days(31);
    assert_eq!(applied.subscription.next_action_at, Some(overdue));
    let policy = fixture.subscriptions.policy().clone();
    let mut conn = fixture.pool.get().await.unwrap();
    let work = due::due(&mut conn, &policy, overdue, 10).await.unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].action, DueAction::RenewalOverdue);
    assert_eq!(work[0].due_at, overdue);

    // A time stored too early (by a migration, or an older policy) is corrected by the first
    // look rather than coming back at every pass.
    diesel::update(table::table.find(id.as_uuid()))
        .set(table::next_action_at.eq(start()))
        .execute(&mut conn)
        .await
        .unwrap();
    let now = start() + Duration::days(1);
    assert!(
        due::due(&mut conn, &policy, now, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        lookup::get(&mut conn, id).await.unwrap().next_action_at,
        Some(overdue)
    );
}
