//! Property: duplicated and reordered delivery ends where ordered single delivery ends.
//!
//! Staleness means the newest event wins and older ones change nothing. So reordering is
//! harmless whenever the newest event settles the state on its own (a payment, a cancellation,
//! an expiry, a provider suspension) on a subscription that has not ended before it: those
//! timelines are generated here (a provider sends nothing after a subscription has ended). A
//! payment or a provider suspension settles nothing while the customer's pause stands (only
//! resuming lifts it), so timelines ending in one hold no pause.
//! Duplicates alone are harmless for every timeline, including ones with a cancellation inside.

use chrono::{DateTime, Duration, Utc};
use primitives::{Currency, Money};
use proptest::{prelude::*, test_runner::TestRunner};
use subscriptions::{
    CancelMode, EventEnvelope, EventId, FailureReason, SubscriptionEvent, SubscriptionState,
    access, lookup,
};

use crate::common::{Fixture, envelope, start};

/// One step of a provider-side history, without times.
#[derive(Debug, Clone)]
enum Step {
    Trial,
    Pay,
    Fail,
    Pause,
    Resume,
    CancelAtEnd,
    Activate,
}

#[derive(Debug, Clone, Copy)]
enum Settle {
    Pay,
    Cancel,
    Expire,
    ProviderSuspend,
}

/// Steps of a live subscription's history.
fn live_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            Just(Step::Trial),
            Just(Step::Pay),
            Just(Step::Fail),
            Just(Step::Pause),
            Just(Step::Resume),
            Just(Step::Activate),
        ],
        0..8,
    )
}

/// Any steps, including a cancellation request (which ends a pending subscription at once).
fn any_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            Just(Step::Trial),
            Just(Step::Pay),
            Just(Step::Fail),
            Just(Step::Pause),
            Just(Step::Resume),
            Just(Step::CancelAtEnd),
            Just(Step::Activate),
        ],
        0..8,
    )
}

fn settle() -> impl Strategy<Value = Settle> {
    prop_oneof![
        Just(Settle::Pay),
        Just(Settle::Cancel),
        Just(Settle::Expire),
        Just(Settle::ProviderSuspend),
    ]
}

/// Timestamps one hour apart; period ends grow with time, as a provider's do.
fn timeline(steps: &[Step], last: Option<Settle>) -> Vec<EventEnvelope> {
    let at = |index: usize| start() + Duration::hours(i64::try_from(index).unwrap() + 1);
    let period_end = |index: usize| at(index) + Duration::days(30);
    let amount = Money::from_minor(2_900, Currency::USD);
    let mut events: Vec<(DateTime<Utc>, SubscriptionEvent)> = steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let event = match step {
                Step::Trial => SubscriptionEvent::TrialStarted {
                    trial_end: at(index) + Duration::days(14),
                },
                Step::Pay => SubscriptionEvent::PaymentSucceeded {
                    amount,
                    period_end: period_end(index),
                },
                Step::Fail => SubscriptionEvent::PaymentFailed {
                    reason: FailureReason::new("declined"),
                    at: at(index),
                },
                Step::Pause => SubscriptionEvent::Paused,
                Step::Resume => SubscriptionEvent::Resumed,
                Step::CancelAtEnd => SubscriptionEvent::Canceled {
                    mode: CancelMode::AtPeriodEnd,
                },
                Step::Activate => SubscriptionEvent::Activated {
                    period_end: period_end(index),
                },
            };
            (at(index), event)
        })
        .collect();
    if let Some(last) = last {
        let index = steps.len();
        let event = match last {
            Settle::Pay => SubscriptionEvent::PaymentSucceeded {
                amount,
                period_end: period_end(index),
            },
            Settle::Cancel => SubscriptionEvent::Canceled {
                mode: CancelMode::Immediately,
            },
            Settle::Expire => SubscriptionEvent::Expired,
            Settle::ProviderSuspend => SubscriptionEvent::SuspendedByProvider,
        };
        events.push((at(index), event));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(index, (at, event))| envelope("stripe", &format!("evt_{index}"), at, event))
        .collect()
}

/// What must agree: status, episode, cancel flag, and the blocks in force; plus the period end
/// when a payment settled it.
async fn outcome(fixture: &Fixture, events: &[EventEnvelope]) -> (SubscriptionState, Vec<String>) {
    let (organization, id) = fixture.subscription().await;
    for event in events {
        // Event ids are unique per source across all subscriptions: give this run its own.
        let event_id = EventId::parse(&format!("{id}:{}", event.event_id)).unwrap();
        fixture
            .apply(
                id,
                &EventEnvelope {
                    event_id,
                    ..event.clone()
                },
            )
            .await;
    }
    let mut conn = fixture.pool.get().await.unwrap();
    let state = lookup::get(&mut conn, id).await.unwrap().state;
    let blocks = access::blocks(&mut conn, organization)
        .await
        .unwrap()
        .into_iter()
        .map(|block| block.source.as_str().to_owned())
        .collect();
    (state, blocks)
}

fn comparable(state: SubscriptionState, settled_by_payment: bool) -> SubscriptionState {
    SubscriptionState {
        current_period_end: state.current_period_end.filter(|_| settled_by_payment),
        trial_end: None,
        ..state
    }
}

fn cases() -> u32 {
    std::env::var("SUBSCRIPTION_ORDER_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_duplicated_delivery_ends_like_ordered_delivery() {
    let fixture = Fixture::new().await;
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases()));
    let strategy = (live_steps(), settle()).prop_flat_map(|(mut steps, last)| {
        // Neither a payment nor a provider's suspension lifts the customer's pause, and a
        // resume delivered before its pause is lost: they settle the state on their own only
        // in timelines without a pause.
        if matches!(last, Settle::Pay | Settle::ProviderSuspend) {
            steps.retain(|step| !matches!(step, Step::Pause));
        }
        let events = timeline(&steps, Some(last));
        let deliveries: Vec<EventEnvelope> = events.iter().chain(events.iter()).cloned().collect();
        (Just(events), Just(deliveries).prop_shuffle(), Just(last))
    });
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(ordered, shuffled, last)| {
        let settled_by_payment = matches!(last, Settle::Pay);
        let (expected, actual) = tokio::task::block_in_place(|| {
            handle.block_on(async {
                (
                    outcome(&fixture, &ordered).await,
                    outcome(&fixture, &shuffled).await,
                )
            })
        });
        prop_assert_eq!(
            comparable(actual.0, settled_by_payment),
            comparable(expected.0, settled_by_payment)
        );
        prop_assert_eq!(actual.1, expected.1);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_delivery_of_any_timeline_ends_like_single_delivery() {
    let fixture = Fixture::new().await;
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases()));
    let strategy =
        (any_steps(), prop::collection::vec(1usize..=3, 8)).prop_map(|(steps, copies)| {
            let events = timeline(&steps, None);
            let repeated: Vec<EventEnvelope> = events
                .iter()
                .zip(copies.iter().cycle())
                .flat_map(|(event, copies)| std::iter::repeat_n(event.clone(), *copies))
                .collect();
            (events, repeated)
        });
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(single, repeated)| {
        let (expected, actual) = tokio::task::block_in_place(|| {
            handle.block_on(async {
                (
                    outcome(&fixture, &single).await,
                    outcome(&fixture, &repeated).await,
                )
            })
        });
        prop_assert_eq!(actual, expected);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
