//! Two `worker` processes over one backlog on every topic: each unit of work is done exactly
//! once. The backlog is built while no worker runs (the production api runs no job), then two
//! workers start together and race for it:
//!
//! - the dispatcher: every recipient of the running campaigns gets exactly one message, and the
//!   campaigns of blocked organizations send none;
//! - `messaging.control` and `twilio.subaccount`: each blocked organization's subaccount is
//!   suspended by exactly one Twilio call;
//! - `campaigns.control`: each blocked organization's campaign is paused for its billing reason;
//! - `notification`: each blocked organization gets exactly one payment-failed email;
//! - the inbox: deliveries that arrived before their subscription existed are applied once the
//!   subscription is created (which wakes them).
//!
//! Then both workers stop on SIGTERM with success.

use std::time::Duration;

use chrono::Utc;
use e2e::{
    Org, Stack, StackOptions,
    events::stripe::Invoice,
    eventually,
    fakes::twilio,
    poll::holds,
    stack::{numbers, text},
};

const DEADLINE: Duration = Duration::from_secs(60);
/// Organizations in the backlog; the even ones are blocked by a failed payment.
const ORGS: u32 = 6;
/// Recipients per campaign.
const RECIPIENTS: usize = 20;
/// Deliveries that arrive before their subscription exists.
const LATE: u32 = 3;

struct Tenant {
    org: Org,
    subaccount: String,
    numbers: Vec<String>,
    campaign: String,
    blocked: bool,
}

fn invoice(subscription: &str, org: &Org, number: u32, now: i64) -> Invoice {
    Invoice {
        id: format!("in_E2eWorkers{number:04}"),
        subscription: subscription.to_owned(),
        organization: org.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: now,
        period_end: now + 30 * 86_400,
        attempt_count: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_one_backlog_and_do_each_unit_once() {
    let mut stack = Stack::start(StackOptions {
        workers: 2,
        defer_workers: true,
        worker_env: vec![
            ("DISPATCH_WORKERS", "2".to_owned()),
            ("DISPATCH_BATCH_SIZE", "5".to_owned()),
            ("DISPATCH_CONCURRENCY", "5".to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let now = Utc::now().timestamp();

    // The backlog, built with no worker running.
    let mut tenants = Vec::new();
    for n in 0..ORGS {
        let org = stack
            .create_org_billed_to(
                &format!("Tenant {n}"),
                "USD",
                &format!("billing+{n}@example.com"),
            )
            .await;
        let subscription = format!("sub_E2eWorkers{n:04}");
        stack
            .create_subscription(&org, "stripe", &subscription)
            .await;
        let paid = stack
            .stripe(
                &invoice(&subscription, &org, n, now)
                    .paid(&format!("evt_E2eWorkersPaid{n:04}"), now + 1),
            )
            .await;
        assert_eq!(paid["status"], "applied", "{paid}");
        stack.credit(&org, "100.00", "USD").await;
        let subaccount = twilio::subaccount(0xE2F0 + n);
        let brand = stack.create_brand(&org, &subaccount).await;
        let numbers = numbers(10_000 + 100 * n as usize, RECIPIENTS);
        let campaign = stack
            .start_campaign(
                &org,
                &text(&brand["id"]),
                &format!("Campaign {n}"),
                &numbers,
            )
            .await;
        let blocked = n % 2 == 0;
        if blocked {
            let renewal = Invoice {
                id: format!("in_E2eWorkersRenew{n:04}"),
                period_start: now + 30 * 86_400,
                period_end: now + 60 * 86_400,
                ..invoice(&subscription, &org, n, now)
            };
            let failed = stack
                .stripe(&renewal.payment_failed(&format!("evt_E2eWorkersFail{n:04}"), now + 2))
                .await;
            assert_eq!(failed["status"], "applied", "{failed}");
        }
        tenants.push(Tenant {
            org,
            subaccount,
            numbers,
            campaign,
            blocked,
        });
    }
    let mut late = Vec::new();
    for n in 0..LATE {
        let org = stack.create_org(&format!("Late {n}"), "USD").await;
        let subscription = format!("sub_E2eWorkersLate{n:04}");
        let paid = stack
            .stripe(
                &invoice(&subscription, &org, 100 + n, now)
                    .paid(&format!("evt_E2eWorkersLate{n:04}"), now + 1),
            )
            .await;
        assert_eq!(paid["status"], "unmatched", "{paid}");
        // Creating the subscription wakes the delivery; only a worker applies it.
        stack
            .create_subscription(&org, "stripe", &subscription)
            .await;
        late.push(org);
    }
    assert!(
        stack.twilio.requests().await.is_empty(),
        "no worker runs yet"
    );
    assert!(stack.smtp.messages().is_empty(), "no worker runs yet");

    stack.start_workers().await;

    for tenant in &tenants {
        if tenant.blocked {
            eventually(
                "a blocked tenant's subaccount suspended",
                DEADLINE,
                async || {
                    let seen = stack.twilio.statuses(&tenant.subaccount).await;
                    holds(seen == ["suspended"], seen)
                },
            )
            .await;
            eventually(
                "a blocked tenant's campaign paused for billing",
                DEADLINE,
                async || {
                    let campaign = stack.campaign(&tenant.org, &tenant.campaign).await;
                    holds(campaign["status"] == "paused", campaign)
                },
            )
            .await;
        } else {
            eventually(
                "every recipient of a running campaign sent to",
                DEADLINE,
                async || {
                    let sent = stack
                        .twilio
                        .sends_to(&tenant.subaccount, &tenant.numbers)
                        .await;
                    holds(sent >= RECIPIENTS, sent)
                },
            )
            .await;
        }
    }
    eventually(
        "one payment-failed email per blocked tenant",
        DEADLINE,
        async || {
            let sent = stack.smtp.messages().len();
            holds(sent >= tenants.iter().filter(|t| t.blocked).count(), sent)
        },
    )
    .await;
    for org in &late {
        eventually("a late delivery applied", DEADLINE, async || {
            let subscription = stack.subscription(org).await;
            holds(subscription["status"] == "active", subscription)
        })
        .await;
    }
    // Give a second delivery every chance to show up before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;

    for tenant in &tenants {
        let sends = stack.twilio.sends(&tenant.subaccount).await;
        if tenant.blocked {
            assert!(
                sends.is_empty(),
                "a blocked tenant sent {} messages",
                sends.len()
            );
            assert_eq!(
                stack.twilio.statuses(&tenant.subaccount).await,
                ["suspended"]
            );
            let campaign = stack.campaign(&tenant.org, &tenant.campaign).await;
            assert_eq!(
                campaign["pause_reason"], "subscription_inactive",
                "{campaign}"
            );
        } else {
            assert!(stack.twilio.statuses(&tenant.subaccount).await.is_empty());
            let mut to: Vec<String> = sends
                .iter()
                .filter_map(|send| send.form.get("To").cloned())
                .collect();
            to.sort();
            let mut expected = tenant.numbers.clone();
            expected.sort();
            assert_eq!(to, expected, "each recipient exactly once");
        }
    }
    let mut recipients: Vec<String> = stack
        .smtp
        .messages()
        .iter()
        .filter_map(|mail| mail.header("To"))
        .collect();
    recipients.sort();
    let expected: Vec<String> = (0..ORGS)
        .filter(|n| n % 2 == 0)
        .map(|n| format!("billing+{n}@example.com"))
        .collect();
    assert_eq!(recipients, expected, "one email per blocked tenant");
    for org in &late {
        let inbox = stack
            .webhook_events(&format!("organization_id={}", org.id))
            .await;
        assert_eq!(inbox.len(), 1, "{inbox:?}");
        assert_eq!(inbox[0]["status"], "applied", "{inbox:?}");
    }

    for status in stack.stop_workers() {
        assert!(status.success(), "a worker ended with {status}");
    }
}

/// What a stopped worker may not leave behind: recipients it claimed, outbox messages or inbox
/// deliveries it leased.
async fn held(stack: &Stack) -> [i64; 3] {
    [
        stack
            .count(
                "SELECT count(*) AS n FROM campaign_recipients \
                 WHERE status = 'sending' AND claimed_until IS NOT NULL",
            )
            .await,
        stack
            .count(
                "SELECT count(*) AS n FROM outbox_messages \
                 WHERE status = 'pending' AND claim_token IS NOT NULL",
            )
            .await,
        stack
            .count("SELECT count(*) AS n FROM webhook_inbox WHERE leased_until > now()")
            .await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_campaign_finishes_its_batch_and_holds_nothing() {
    // One message every 200 ms, five a batch: SIGTERM lands in the middle of a batch.
    let mut stack = Stack::start(StackOptions {
        message_delay: Duration::from_millis(200),
        worker_env: vec![
            ("DISPATCH_BATCH_SIZE", "5".to_owned()),
            ("DISPATCH_CONCURRENCY", "1".to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let now = Utc::now().timestamp();
    let org = stack.create_org("Stopped mid-batch", "USD").await;
    let subscription = "sub_E2eStopMidBatch01";
    stack
        .create_subscription(&org, "stripe", subscription)
        .await;
    let paid = stack
        .stripe(&invoice(subscription, &org, 900, now).paid("evt_E2eStopMidBatch01", now + 1))
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    stack.credit(&org, "100.00", "USD").await;
    let subaccount = twilio::subaccount(0xE2FF);
    let brand = stack.create_brand(&org, &subaccount).await;
    let numbers = numbers(30_000, 30);
    let campaign = stack
        .start_campaign(&org, &text(&brand["id"]), "Slow", &numbers)
        .await;
    eventually("the campaign to be sending", DEADLINE, async || {
        let sent = stack.twilio.sends_to(&subaccount, &numbers).await;
        holds(sent >= 2, sent)
    })
    .await;

    for status in stack.stop_workers() {
        assert!(status.success(), "the worker ended with {status}");
    }
    // It finished the batch it held and claimed nothing after: every message it sent is
    // settled, nothing stays leased, and the campaign is not done.
    assert_eq!(held(&stack).await, [0, 0, 0], "left claimed after SIGTERM");
    let sent_before = stack.twilio.sends_to(&subaccount, &numbers).await;
    assert!(
        sent_before < numbers.len(),
        "the worker went on after SIGTERM"
    );
    let summary = stack.campaign(&org, &campaign).await;
    assert_eq!(summary["status"], "running", "{summary}");

    // A new worker picks up where it stopped: every recipient exactly once.
    stack.start_workers().await;
    eventually("the campaign to finish", DEADLINE, async || {
        let sent = stack.twilio.sends_to(&subaccount, &numbers).await;
        holds(sent >= numbers.len(), sent)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut to: Vec<String> = stack
        .twilio
        .sends(&subaccount)
        .await
        .iter()
        .filter_map(|send| send.form.get("To").cloned())
        .collect();
    to.sort();
    let mut expected = numbers.clone();
    expected.sort();
    assert_eq!(to, expected, "each recipient exactly once");
}
