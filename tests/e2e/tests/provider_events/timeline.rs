//! A realistic Stripe timeline (activation, top-ups, a renewal that fails and is retried, the
//! subscription going past due then unpaid, partial refunds, a late asynchronous confirmation,
//! and finally the renewal paid) delivered once in order to one organization, and three times
//! over in shuffled order to another, ends in the same state: subscription status and period,
//! wallet balance and freezes, access, ledger entries.

use std::time::Duration;

use chrono::Utc;
use e2e::{
    Org, Stack, StackOptions,
    events::stripe::{self, Invoice},
    eventually,
    stack::{array, text},
};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde_json::{Value, json};

use crate::{freeze_sources, time};

/// Deliveries that arrive before what they depend on (a refund before its top-up is credited)
/// wait as `unmatched`; the intake looks at those again a minute after they arrived, so the
/// shuffled organization may need that long to settle.
const SETTLE_DEADLINE: Duration = Duration::from_secs(150);
const DAY: i64 = 86_400;

/// One organization's copy of the timeline: its own provider ids (a payment belongs to one
/// organization), the same amounts and times.
struct Timeline {
    subscription: String,
    suffix: &'static str,
    events: Vec<Value>,
}

fn timeline(org: &Org, suffix: &'static str, base: i64) -> Timeline {
    let subscription = format!("sub_E2eTimeline{suffix}");
    let id = |name: &str| format!("evt_E2eTl{name}{suffix}");
    let at = |secs: i64| base + secs;
    let first = Invoice {
        id: format!("in_E2eTlFirst{suffix}"),
        subscription: subscription.clone(),
        organization: org.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: base,
        period_end: base + 30 * DAY,
        attempt_count: 1,
    };
    let renewal = |attempt_count| Invoice {
        id: format!("in_E2eTlRenewal{suffix}"),
        period_start: base + 30 * DAY,
        period_end: base + 60 * DAY,
        attempt_count,
        ..first.clone()
    };
    let sub = |status: &str, start: i64, end: i64| {
        stripe::subscription(&subscription, &org.id, status, start, end)
    };
    let first_top_up = format!("pi_E2eTlTopUp1{suffix}");
    let second_top_up = format!("pi_E2eTlTopUp2{suffix}");
    let first_session = stripe::top_up_session(
        &format!("cs_test_E2eTlSession1{suffix}"),
        &org.id,
        &first_top_up,
        2500,
        "usd",
    );
    let second_session = stripe::top_up_session(
        &format!("cs_test_E2eTlSession2{suffix}"),
        &org.id,
        &second_top_up,
        1000,
        "usd",
    );
    let charge = |refunded| {
        stripe::top_up_charge(
            &format!("ch_E2eTlCharge1{suffix}"),
            &org.id,
            &first_top_up,
            2500,
            refunded,
            "usd",
        )
    };
    let completed = "checkout.session.completed";
    let events = vec![
        first.paid(&id("FirstPaid"), at(0)),
        stripe::checkout(&id("TopUp1"), completed, at(1), first_session),
        renewal(1).payment_failed(&id("RenewalFailed1"), at(2)),
        stripe::subscription_updated(
            &id("PastDue"),
            at(3),
            sub("past_due", base, base + 30 * DAY),
            "active",
        ),
        renewal(2).payment_failed(&id("RenewalFailed2"), at(4)),
        stripe::checkout(&id("TopUp2"), completed, at(5), second_session.clone()),
        stripe::charge_refunded(&id("Refund1"), at(6), charge(400), 0),
        renewal(3).payment_failed(&id("RenewalFailed3"), at(7)),
        stripe::subscription_updated(
            &id("Unpaid"),
            at(8),
            sub("unpaid", base, base + 30 * DAY),
            "past_due",
        ),
        stripe::charge_refunded(&id("Refund2"), at(9), charge(1000), 400),
        stripe::checkout(
            &id("TopUp2Async"),
            "checkout.session.async_payment_succeeded",
            at(10),
            second_session,
        ),
        renewal(4).paid(&id("RenewalPaid"), at(11)),
        stripe::subscription_updated(
            &id("Active"),
            at(12),
            sub("active", base + 30 * DAY, base + 60 * DAY),
            "unpaid",
        ),
    ];
    Timeline {
        subscription,
        suffix,
        events,
    }
}

/// What the timeline leaves behind, with the organization's own ids made neutral.
async fn outcome(stack: &Stack, org: &Org, suffix: &str) -> Value {
    let subscription = stack.subscription(org).await;
    let wallet = stack.wallet(org).await;
    let mut entries: Vec<Value> = stack
        .entries(org)
        .await
        .iter()
        .filter(|entry| entry["counterparty"] != "topup:manual")
        .map(|entry| {
            json!([
                entry["kind"],
                entry["amount"],
                entry["counterparty"],
                text(&entry["reference"]).replace(suffix, "*"),
            ])
        })
        .collect();
    entries.sort_by_key(Value::to_string);
    let blocks = stack
        .get(&format!("/v1/admin/organizations/{}/access-blocks", org.id))
        .await;
    let entitlements = stack
        .get(&format!("/v1/admin/organizations/{}/entitlements", org.id))
        .await;
    json!({
        "subscription": {
            "status": subscription["status"],
            "current_period_end": subscription["current_period_end"]
                .as_str()
                .map(|_| time(&subscription["current_period_end"]).timestamp()),
            "dunning": subscription["dunning"],
            "cancel_at_period_end": subscription["cancel_at_period_end"],
        },
        "wallet": {
            "balance": wallet["balance"],
            "held": wallet["held"],
            "available": wallet["available"],
            "frozen": wallet["frozen"],
            "freezes": freeze_sources(&wallet),
        },
        "entries": entries,
        "access_blocks": array(&blocks["blocks"]).iter().map(|block| block["source"].clone()).collect::<Vec<_>>(),
        "entitlements": entitlements,
    })
}

/// Deliveries of `org` still waiting for another attempt.
async fn waiting(stack: &Stack, org: &Org) -> Vec<Value> {
    stack
        .webhook_events(&format!("organization_id={}", org.id))
        .await
        .into_iter()
        .filter(|delivery| !matches!(delivery["status"].as_str(), Some("applied" | "ignored")))
        .map(|delivery| {
            json!([
                delivery["status"],
                delivery["event_type"],
                delivery["last_error"]
            ])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_timeline_delivered_thrice_and_shuffled_ends_as_delivered_in_order() {
    let stack = Stack::start(StackOptions::default()).await;
    let ordered_org = stack.create_org("Acme In Order", "USD").await;
    let shuffled_org = stack.create_org("Acme Shuffled", "USD").await;
    // The timeline starts after both subscriptions exist (Stripe stamps whole seconds).
    let base = Utc::now().timestamp() + 1;
    let ordered = timeline(&ordered_org, "OrgA", base);
    let shuffled = timeline(&shuffled_org, "OrgB", base);
    for (org, world) in [(&ordered_org, &ordered), (&shuffled_org, &shuffled)] {
        stack
            .create_subscription(org, "stripe", &world.subscription)
            .await;
        // Stripe's own view, should the intake ask: where the timeline ends.
        stack.stripe.set_subscription(stripe::subscription(
            &world.subscription,
            &org.id,
            "active",
            base + 30 * DAY,
            base + 60 * DAY,
        ));
    }

    for event in &ordered.events {
        stack.stripe(event).await;
    }

    let seed = std::env::var("E2E_SHUFFLE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_micros().unsigned_abs());
    eprintln!("shuffled with E2E_SHUFFLE_SEED={seed}");
    let mut deliveries: Vec<&Value> = shuffled
        .events
        .iter()
        .chain(&shuffled.events)
        .chain(&shuffled.events)
        .collect();
    deliveries.shuffle(&mut StdRng::seed_from_u64(seed));
    // Whatever the seed, a refund arrives before the top-up it refunds is credited: the case
    // that must wait and be applied later.
    let first = |event_id: &str| {
        deliveries
            .iter()
            .position(|event| {
                event["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(event_id))
            })
            .unwrap_or_else(|| panic!("no {event_id}"))
    };
    let (refund, top_up) = (first("evt_E2eTlRefund"), first("evt_E2eTlTopUp1"));
    if top_up < refund {
        deliveries.swap(top_up, refund);
    }
    for event in deliveries {
        stack.stripe(event).await;
    }

    // Where the timeline must end: the renewal paid for the second period, 25.00 + 10.00 of
    // top-ups less 4.00 and 6.00 refunded, nothing frozen or blocked.
    let expected_entries = {
        let mut entries = vec![
            json!([
                "credit",
                "25.00",
                "topup:stripe",
                "topup:stripe:pi_E2eTlTopUp1*"
            ]),
            json!([
                "credit",
                "10.00",
                "topup:stripe",
                "topup:stripe:pi_E2eTlTopUp2*"
            ]),
            json!([
                "reversal",
                "4.00",
                "topup:stripe",
                "refund:stripe:evt_E2eTlRefund1*"
            ]),
            json!([
                "reversal",
                "6.00",
                "topup:stripe",
                "refund:stripe:evt_E2eTlRefund2*"
            ]),
        ];
        entries.sort_by_key(Value::to_string);
        entries
    };
    let expected = |found: &Value| {
        found["subscription"]["status"] == "active"
            && found["subscription"]["current_period_end"] == base + 60 * DAY
            && found["wallet"]["balance"] == "25.00"
            && found["wallet"]["frozen"] == false
            && found["entries"] == json!(expected_entries)
    };
    let ordered_outcome = outcome(&stack, &ordered_org, ordered.suffix).await;
    assert!(expected(&ordered_outcome), "in order: {ordered_outcome:#}");
    assert!(waiting(&stack, &ordered_org).await.is_empty());

    let shuffled_outcome = eventually(
        "the shuffled deliveries to settle where the ordered ones did",
        SETTLE_DEADLINE,
        async || {
            let found = outcome(&stack, &shuffled_org, shuffled.suffix).await;
            let waiting = waiting(&stack, &shuffled_org).await;
            if expected(&found) && waiting.is_empty() {
                Ok(found)
            } else {
                Err(format!("{found:#}\nwaiting: {waiting:?}"))
            }
        },
    )
    .await;
    assert_eq!(shuffled_outcome, ordered_outcome);
}
