//! A worker SIGKILLed in the middle of a dispatch batch: Twilio has every message of the batch,
//! the worker heard back about some of them, and nothing of the batch was settled. A new worker
//! takes over: the abandoned recipients are charged once as maybe-sent when their claim's lease
//! ends, never sent again, and resolved as sent from Twilio's message list; the rest of the
//! campaign is sent; every recipient is sent and charged exactly once and the campaign
//! completes with its hold released.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use e2e::{
    Stack, StackOptions, eventually,
    fakes::twilio::{self, Answer},
    poll::holds,
    sql::Sql,
};

use crate::{Billed, DEADLINE, balance, campaign, figure, recipients, summary};

/// Recipients per claim, all sent at once (one round of Twilio calls, so the shortest lease
/// the worker accepts is one request timeout).
const BATCH: usize = 4;
const RECIPIENTS: usize = 20;
/// Sends answered before Twilio starts holding its answers: the first batch and half the
/// second.
const ANSWERED: usize = BATCH + BATCH / 2;
/// 0.05 USD a message.
const PRICE: i64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_leaves_nothing_sent_twice_or_lost() {
    let mut stack = Stack::start(StackOptions {
        message_delay: Duration::from_millis(50),
        only_providers: Some(vec!["STRIPE"]),
        worker_env: vec![
            ("DISPATCH_BATCH_SIZE", BATCH.to_string()),
            ("DISPATCH_CONCURRENCY", BATCH.to_string()),
            ("DISPATCH_LEASE_SECS", "15".to_owned()),
            ("TWILIO_LOOKUP_INTERVAL_SECS", "1".to_owned()),
            ("TWILIO_LOOKUP_AFTER_SECS", "1".to_owned()),
            ("TWILIO_LOOKUP_NOT_SENT_AFTER_SECS", "1".to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let mut sql = Sql::connect(&stack.database_url()).await;
    let tenant = Billed::active(&stack, "WorkerKill", None).await;
    let org = tenant.org.clone();
    stack.credit(&org, "10.00", "USD").await;
    let before = balance(&stack, &org).await;
    let subaccount = twilio::subaccount(0xFA17);
    stack.twilio.hold_sends_after(ANSWERED);
    let (campaign, numbers) = campaign(&stack, &org, &subaccount, 40_000, RECIPIENTS).await;

    // The second batch is in flight: Twilio has all of it, and has answered half.
    eventually("the second batch in flight", DEADLINE, async || {
        let held = stack
            .twilio
            .exchanges()
            .iter()
            .filter(|exchange| exchange.answer == Answer::Held)
            .count();
        holds(held == BATCH - BATCH / 2, held)
    })
    .await;
    let status = stack.kill_worker(0);
    let killed_at = Instant::now();
    assert!(!status.success(), "the worker was not killed: {status}");
    let in_flight = sql
        .count(&format!(
            "SELECT count(*) AS n FROM campaign_recipients \
             WHERE campaign_id = '{campaign}' AND status = 'sending'"
        ))
        .await;
    assert_eq!(
        in_flight, BATCH as i64,
        "the batch was not in flight when the worker died"
    );
    let taken_at_kill = stack.twilio.taken_to(&subaccount).len();
    assert_eq!(taken_at_kill, ANSWERED + BATCH / 2);

    stack.twilio.release_sends();
    stack.start_workers().await;
    eventually(
        "the campaign completed with every recipient resolved",
        DEADLINE,
        async || {
            let summary = summary(&stack, &org, &campaign).await;
            holds(
                summary["campaign"]["status"] == "completed"
                    && summary["recipients"]["sent"] == RECIPIENTS,
                summary,
            )
        },
    )
    .await;
    let completed_after = killed_at.elapsed();

    // Twilio has each recipient's message once, and nothing else was asked of it.
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for to in stack.twilio.taken_to(&subaccount) {
        *taken.entry(to).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = numbers.iter().map(|n| (n.clone(), 1)).collect();
    assert_eq!(taken, expected, "each recipient's message exactly once");
    let sends = stack.twilio.sends(&subaccount).await;
    assert_eq!(sends.len(), RECIPIENTS, "a send was repeated");

    // Charged exactly once each, the hold's rest released, the books balanced.
    for recipient in recipients(&mut sql, &campaign).await {
        assert_eq!(
            (recipient.status.as_str(), recipient.charged),
            ("sent", PRICE),
            "{}",
            recipient.phone
        );
    }
    let summary = summary(&stack, &org, &campaign).await;
    assert_eq!(summary["money"]["captured"], "1.00", "{summary}");
    assert_eq!(summary["money"]["reserved"], "0.00", "{summary}");
    assert_eq!(
        balance(&stack, &org).await,
        before - PRICE * RECIPIENTS as i64
    );
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["held"], "0.00", "{wallet}");
    crate::assert_reconciles(&stack, &org).await;
    let unconfirmed_capture = sql
        .count(&format!(
            "SELECT count(*) AS n FROM ledger_entries \
             WHERE reference LIKE 'campaign:{campaign}:batch:%:unconfirmed'"
        ))
        .await;
    assert_eq!(unconfirmed_capture, 1, "the abandoned batch charged once");

    figure(
        "worker_crash",
        format!(
            "batch {BATCH}, answered before the kill {}, unanswered {}, 1 SIGKILL, \
             recipients {RECIPIENTS} sent once each, charged {} once each, \
             completed {:.1} s after the kill (claim lease 15 s)",
            BATCH / 2,
            BATCH / 2,
            e2e::load::usd(PRICE),
            completed_after.as_secs_f64()
        ),
    );
}
