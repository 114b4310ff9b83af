//! Providers repeat deliveries for days and never promise their order: a realistic timeline
//! delivered three times over, shuffled, ends where the same timeline delivered once, in order,
//! ends (subscription, wallet, freezes, entries), once the background job has run.

use billing::{BillingEvent, BillingEventKind as K};
use chrono::{DateTime, Duration, Utc};
use intake::inbox::InboxStatus;
use primitives::ProviderName;
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::support::{Org, World, start, usd, with};

/// One step of a subscription's life at Stripe, or money through its wallet.
#[derive(Debug, Clone)]
enum Step {
    Fail,
    Pay,
    Suspend,
    Pause,
    Resume,
    TopUp(i64),
    /// A partial refund of the `n`th top-up so far, of this share (percent) of what is left.
    Refund(usize, i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Fail),
        3 => Just(Step::Pay),
        1 => Just(Step::Suspend),
        1 => Just(Step::Pause),
        1 => Just(Step::Resume),
        2 => (1i64..=50).prop_map(|units| Step::TopUp(units * 100)),
        2 => (0usize..4, 10i64..=100).prop_map(|(n, share)| Step::Refund(n, share)),
    ]
}

/// The events of `steps` for `org`'s subscription `sub`, an hour apart, ending with a payment
/// (the realistic end of a failure; a timeline ending elsewhere may legitimately depend on
/// which stale events were dropped). Ids are prefixed so two organizations never share one.
fn timeline(world: &World, org: &Org, sub: &str, steps: &[Step]) -> Vec<BillingEvent> {
    let at = |i: usize| start() + Duration::hours(1 + i64::try_from(i).unwrap());
    let mut events = Vec::new();
    let mut top_ups: Vec<(String, i64)> = Vec::new();
    let subscription_event = |kind, i: usize| {
        with(world.about(org, ProviderName::Stripe, sub, kind), |e| {
            e.provider_event_id = format!("{sub}_evt_{i}");
            e.occurred_at = at(i);
        })
    };
    let paid = |i: usize, at: DateTime<Utc>| {
        with(subscription_event(K::PaymentSucceeded, i), |e| {
            e.amount = Some(usd(2900));
            e.period_end = Some(at + Duration::days(30));
            e.payment_reference = Some(format!("{sub}_in_{i}"));
        })
    };
    for (i, step) in steps.iter().enumerate() {
        events.push(match step {
            Step::Fail => subscription_event(K::PaymentFailed, i),
            Step::Pay => paid(i, at(i)),
            Step::Suspend => subscription_event(K::SubscriptionSuspended, i),
            // The timeline ends with a payment, which never lifts a pause (only a resume does,
            // and a resume delivered before its pause is lost): with a pause in it, the end
            // would depend on the order after all.
            Step::Pause => continue,
            Step::Resume => subscription_event(K::SubscriptionResumed, i),
            Step::TopUp(amount) => {
                let payment = format!("{sub}_pi_{i}");
                top_ups.push((payment.clone(), *amount));
                with(
                    world.event(ProviderName::Stripe, K::WalletTopUpCompleted),
                    |e| {
                        e.provider_event_id = format!("{sub}_evt_{i}");
                        e.occurred_at = at(i);
                        e.organization_ref = org.reference();
                        e.amount = Some(usd(*amount));
                        e.payment_reference = Some(payment);
                    },
                )
            }
            Step::Refund(n, share) => {
                let count = top_ups.len().max(1);
                let Some((payment, left)) = top_ups.get_mut(*n % count) else {
                    continue;
                };
                let amount = (*left * share / 100).max(1).min(*left);
                if amount == 0 {
                    continue;
                }
                *left -= amount;
                with(world.event(ProviderName::Stripe, K::TopUpRefunded), |e| {
                    e.provider_event_id = format!("{sub}_evt_{i}");
                    e.occurred_at = at(i);
                    e.organization_ref = org.reference();
                    e.amount = Some(usd(amount));
                    e.payment_reference = Some(payment.clone());
                })
            }
        });
    }
    events.push(paid(steps.len(), at(steps.len())));
    events
}

/// What the two deliveries must agree on.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: subscriptions::SubscriptionStatus,
    period_end_after_start: Option<i64>,
    dunning: bool,
    balance: i64,
    frozen: Vec<ledger::FreezeSource>,
    credits: Vec<i64>,
    reversals: Vec<i64>,
}

async fn outcome(world: &World, org: &Org) -> Outcome {
    let subscription = world.subscription(org.subscription()).await;
    let sorted = |mut entries: Vec<(i64, String)>| {
        let mut amounts: Vec<i64> = entries.drain(..).map(|(amount, _)| amount).collect();
        amounts.sort_unstable();
        amounts
    };
    Outcome {
        status: subscription.state.status,
        period_end_after_start: subscription
            .state
            .current_period_end
            .map(|end| (end - start()).num_seconds()),
        dunning: subscription.state.dunning.is_some(),
        balance: world.balance(org).await.balance.minor(),
        frozen: world.frozen_by(org).await,
        credits: sorted(world.entries(org, "credit").await),
        reversals: sorted(world.entries(org, "reversal").await),
    }
}

/// Runs the background job until nothing is left waiting.
async fn drain(world: &World) {
    for _ in 0..20 {
        world.advance(Duration::minutes(2));
        world.intake.run_due(&world.pool, 1000).await.unwrap();
    }
    let waiting = world
        .statuses()
        .await
        .into_iter()
        .filter(|status| !status.is_settled())
        .collect::<Vec<InboxStatus>>();
    assert!(waiting.is_empty(), "left waiting: {waiting:?}");
}

fn cases() -> u32 {
    std::env::var("INTAKE_ORDER_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_order_with_repeats_ends_where_the_ordered_delivery_ends(
        steps in prop::collection::vec(step(), 2..14),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let world = World::new().await;
            let ordered = world.subscribed(ProviderName::Stripe, "sub_a", 0).await;
            let shuffled = world.subscribed(ProviderName::Stripe, "sub_b", 0).await;
            for event in timeline(&world, &ordered, "sub_a", &steps) {
                world.deliver_one(event).await;
            }
            let mut copies: Vec<BillingEvent> = timeline(&world, &shuffled, "sub_b", &steps)
                .into_iter()
                .flat_map(|event| [event.clone(), event.clone(), event])
                .collect();
            copies.shuffle(&mut StdRng::seed_from_u64(seed));
            for event in copies {
                world.deliver_one(event).await;
            }
            drain(&world).await;
            assert_eq!(outcome(&world, &shuffled).await, outcome(&world, &ordered).await);
        });
    }
}
