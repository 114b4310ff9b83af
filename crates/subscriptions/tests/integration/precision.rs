//! Ordering at each source's precision: an event stamped in whole seconds is not stale against
//! one from the same second stamped to the microsecond; the stored newest time never goes back.

use chrono::{DateTime, Duration, Utc};
use primitives::{Currency, Money};
use proptest::{prelude::*, test_runner::TestRunner};
use subscriptions::{CancelMode, EventEnvelope, Outcome, SubscriptionEvent, TimePrecision, lookup};

use crate::common::{Fixture, envelope, start};

fn noon(seconds: i64, millis: i64) -> DateTime<Utc> {
    start() + Duration::hours(12) + Duration::seconds(seconds) + Duration::milliseconds(millis)
}

fn paid(days: i64) -> SubscriptionEvent {
    SubscriptionEvent::ManualPaymentReceived {
        amount: Money::from_minor(2_900, Currency::USD),
        period_end: start() + Duration::days(days),
    }
}

fn stamped(
    source: &str,
    id: &str,
    at: DateTime<Utc>,
    precision: TimePrecision,
    event: SubscriptionEvent,
) -> EventEnvelope {
    EventEnvelope {
        precision,
        ..envelope(source, id, at, event)
    }
}

#[tokio::test]
async fn a_provider_event_from_the_same_second_as_a_manual_payment_is_applied() {
    let fixture = Fixture::new().await;
    let (_, id) = fixture.subscription().await;
    // An operator records a payment at 12:00:05.700 (the system's clock, microseconds).
    let manual = envelope("admin", "pay-1", noon(5, 700), paid(30));
    let applied = fixture.apply(id, &manual).await;
    assert!(matches!(applied.outcome, Outcome::Applied { .. }));
    assert_eq!(applied.subscription.last_event_at, Some(noon(5, 700)));

    // Stripe stamps its event in whole seconds: 12:00:05, after the payment within that second.
    let cancel = SubscriptionEvent::Canceled {
        mode: CancelMode::AtPeriodEnd,
    };
    let same_second = stamped("stripe", "evt_1", noon(5, 0), TimePrecision::Second, cancel);
    let applied = fixture.apply(id, &same_second).await;
    assert!(
        matches!(applied.outcome, Outcome::Applied { .. }),
        "{:?}",
        applied.outcome
    );
    assert!(applied.subscription.state.cancel_at_period_end);
    // The newest time stays: the tie did not move it back.
    assert_eq!(applied.subscription.last_event_at, Some(noon(5, 700)));

    // A second earlier is older at any precision.
    let earlier = stamped(
        "stripe",
        "evt_0",
        noon(4, 0),
        TimePrecision::Second,
        SubscriptionEvent::Paused,
    );
    assert_eq!(
        fixture.apply(id, &earlier).await.outcome,
        Outcome::Stale {
            last_event_at: noon(5, 700)
        }
    );
    // Milliseconds: the same millisecond ties, the one before is stale.
    let before = stamped(
        "paypal",
        "WH-0",
        noon(5, 699),
        TimePrecision::Millisecond,
        SubscriptionEvent::Paused,
    );
    assert!(matches!(
        fixture.apply(id, &before).await.outcome,
        Outcome::Stale { .. }
    ));
    let tie = stamped(
        "paypal",
        "WH-1",
        noon(5, 700),
        TimePrecision::Millisecond,
        SubscriptionEvent::Paused,
    );
    assert!(matches!(
        fixture.apply(id, &tie).await.outcome,
        Outcome::Applied { .. }
    ));
    // The system's own events compare to the microsecond: 12:00:05 is before 12:00:05.700.
    let own = envelope("admin", "resume", noon(5, 0), SubscriptionEvent::Resumed);
    assert!(matches!(
        fixture.apply(id, &own).await.outcome,
        Outcome::Stale { .. }
    ));
    let mut conn = fixture.pool.get().await.unwrap();
    let stored = lookup::get(&mut conn, id).await.unwrap();
    assert_eq!(stored.last_event_at, Some(noon(5, 700)));
}

fn precision() -> impl Strategy<Value = TimePrecision> {
    prop_oneof![
        Just(TimePrecision::Microsecond),
        Just(TimePrecision::Millisecond),
        Just(TimePrecision::Second),
    ]
}

/// Events that all apply in some state, so the stored time moves often.
fn event(index: usize) -> SubscriptionEvent {
    match index % 3 {
        0 => paid(30 + i64::try_from(index).unwrap()),
        1 => SubscriptionEvent::Paused,
        _ => SubscriptionEvent::Resumed,
    }
}

fn cases() -> u32 {
    std::env::var("SUBSCRIPTION_ORDER_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_event_time_never_goes_back() {
    let fixture = Fixture::new().await;
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases()));
    // Stamps within a few seconds of each other, to the microsecond, at mixed precisions:
    // plenty of ties and near-ties.
    let strategy = prop::collection::vec((0i64..3_000_000, precision()), 1..10);
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |deliveries| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let (_, id) = fixture.subscription().await;
                let mut newest: Option<DateTime<Utc>> = None;
                for (index, (micros, precision)) in deliveries.into_iter().enumerate() {
                    let at = precision.truncate(noon(0, 0) + Duration::microseconds(micros));
                    let delivery = stamped(
                        "stripe",
                        &format!("{id}:{index}"),
                        at,
                        precision,
                        event(index),
                    );
                    let applied = fixture.apply(id, &delivery).await;
                    let stale = newest.is_some_and(|last| at < precision.truncate(last));
                    prop_assert_eq!(matches!(applied.outcome, Outcome::Stale { .. }), stale);
                    if let Outcome::Applied { .. } = applied.outcome {
                        newest = Some(newest.map_or(at, |last| last.max(at)));
                    }
                    prop_assert_eq!(applied.subscription.last_event_at, newest);
                }
                Ok(())
            })
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
