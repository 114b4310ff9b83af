//! The receiver SIGKILLed between its inbox commit and its answer. A holding proxy sits between
//! the provider (the test) and the receiver: it forwards the signed delivery, then either
//! withholds the receiver's answer or does not even wait for it; once the delivery's inbox row
//! is committed the receiver is killed and the provider's connection closed with no answer. The
//! receiver is started again on the same port and the provider sends the identical signed
//! delivery again, as providers do with a delivery they got no 2xx for: it must be acknowledged
//! (2xx) and the event applied exactly once.
//!
//! Three kills: a top-up whose answer was withheld (applied before the kill); a top-up killed
//! after its row was committed while its application waits for the wallet's row lock, which the
//! test holds (so the kill lands between the commit and the effect, deterministically; the inbox
//! job applies it once the dead receiver's claim lapses); and a subscription payment whose
//! answer was withheld.

use std::time::Instant;

use diesel::{QueryableByName, sql_types::Text};
use e2e::{
    Org, Stack, StackOptions,
    events::stripe::Invoice,
    eventually,
    load::{self, Operation, Told},
    poll::holds,
    proxy::{HoldAt, HoldingProxy},
    sql::Sql,
};

use crate::{DEADLINE, balance, figure};

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    status: String,
}

/// The status of each inbox row holding Stripe event `event_id`, whatever the delivery's id.
async fn inbox_rows(sql: &mut Sql, event_id: &str) -> Vec<String> {
    sql.rows::<Row>(&format!(
        "SELECT status FROM webhook_inbox WHERE provider = 'stripe' \
         AND (delivery_id = '{event_id}' \
              OR events @> '[{{\"provider_event_id\": \"{event_id}\"}}]'::jsonb)"
    ))
    .await
    .into_iter()
    .map(|row| row.status)
    .collect()
}

/// What the receiver's crash left, and what the retry was told.
struct Crash {
    /// The withheld answer's status (`None` when the receiver was killed before answering).
    withheld: Option<u16>,
    /// The inbox row's status when the receiver died.
    row_at_kill: String,
    first: Told,
    retry: Told,
    retry_status: String,
}

/// Sends `operation` through the proxy holding it at `at`, kills the receiver once the
/// delivery's row is committed (and, with `lock`, once the receiver waits for the row lock the
/// test holds with it: `SELECT ... FOR UPDATE`), drops the provider's connection, restarts the
/// receiver and sends the identical delivery again.
async fn crash(
    stack: &mut Stack,
    proxy: &HoldingProxy,
    sql: &mut Sql,
    operation: &mut Operation,
    at: HoldAt,
    lock: Option<&str>,
) -> Crash {
    let event_id = operation.event_id.clone().unwrap_or_default();
    let mut locker = match lock {
        Some(lock) => {
            let mut locker = Sql::connect(&stack.database_url()).await;
            locker.execute(&format!("BEGIN; {lock}")).await;
            Some(locker)
        }
        None => None,
    };
    let held = proxy.hold_next(at);
    let mut first = operation.clone();
    let provider = tokio::spawn(async move {
        let told = first.send(&load::client()).await;
        (first, told)
    });
    let held = held
        .await
        .unwrap_or_else(|_| panic!("the proxy did not hold the delivery"));
    let withheld = held.status();
    let row = eventually("the delivery's inbox row committed", DEADLINE, async || {
        let rows = inbox_rows(sql, &event_id).await;
        match rows.as_slice() {
            [status] => Ok(status.clone()),
            _ => Err(format!("{rows:?}")),
        }
    })
    .await;
    if locker.is_some() {
        eventually("the receiver waiting for the lock", DEADLINE, async || {
            let waiting = sql
                .count(
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() \
                       AND application_name = 'webhook-receiver' AND wait_event_type = 'Lock'",
                )
                .await;
            holds(waiting == 1, waiting)
        })
        .await;
    }
    let status = stack.kill_receiver();
    assert!(!status.success(), "the receiver was not killed: {status}");
    held.drop_connection();
    if let Some(locker) = locker.as_mut() {
        locker.execute("ROLLBACK").await;
    }
    let (sent, first) = provider
        .await
        .unwrap_or_else(|e| panic!("the provider's delivery: {e}"));
    *operation = sent;
    assert!(
        matches!(first, Told::Unknown(_)),
        "the provider was answered: {first:?}"
    );

    stack.restart_receiver().await;
    let retry = operation.send(&load::client()).await;
    assert!(
        retry.acknowledged(),
        "the retry was not acknowledged: {retry:?}"
    );
    let retry_status = inbox_rows(sql, &event_id).await.join(",");
    Crash {
        withheld,
        row_at_kill: row,
        first,
        retry,
        retry_status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_between_commit_and_answer_is_retried_into_one_effect() {
    let mut stack = Stack::start(StackOptions {
        only_providers: Some(vec!["STRIPE"]),
        ..StackOptions::default()
    })
    .await;
    let proxy = HoldingProxy::start(&stack.receiver_url).await;
    let mut sql = Sql::connect(&stack.database_url()).await;
    let started = Instant::now();
    let org = stack.create_org("Faults receiver", "USD").await;

    // 1. A top-up: the receiver stored and applied it and answered 200; the answer never left.
    let mut withheld = Operation::stripe_top_up(
        &proxy.url(),
        &org.id,
        "pi_E2eFaultsKillAnswer01",
        "evt_E2eFaultsKillAnswer01",
        2500,
    );
    let first = crash(
        &mut stack,
        &proxy,
        &mut sql,
        &mut withheld,
        HoldAt::Answer,
        None,
    )
    .await;
    assert_eq!(first.withheld, Some(200), "the receiver had answered");
    assert_eq!(first.row_at_kill, "applied");
    assert_eq!(
        first.retry,
        Told::AlreadyDone,
        "the retry is the same delivery"
    );
    assert_once(&stack, &mut sql, &org, &withheld, 2500).await;

    // 2. A top-up: the receiver killed after its row was committed, while applying it waits
    // for the wallet's lock.
    let mut early = Operation::stripe_top_up(
        &proxy.url(),
        &org.id,
        "pi_E2eFaultsKillStored01",
        "evt_E2eFaultsKillStored01",
        1700,
    );
    let wallet_lock = format!(
        "SELECT 1 FROM wallets WHERE organization_id = '{}' FOR UPDATE",
        org.id
    );
    let second = crash(
        &mut stack,
        &proxy,
        &mut sql,
        &mut early,
        HoldAt::Forwarded,
        Some(&wallet_lock),
    )
    .await;
    assert_eq!(second.withheld, None);
    assert_eq!(
        second.row_at_kill, "received",
        "killed before it was applied"
    );
    assert_eq!(
        second.retry,
        Told::AlreadyDone,
        "the retry is the same delivery"
    );
    // 3. A subscription's first payment: the answer withheld, the retry acknowledged, one
    // transition to active.
    let billed = stack.create_org("Faults receiver billing", "USD").await;
    stack
        .create_subscription(&billed, "stripe", "sub_E2eFaultsKillPaid")
        .await;
    let now = chrono::Utc::now().timestamp();
    let invoice = Invoice {
        id: "in_E2eFaultsKillPaid".to_owned(),
        subscription: "sub_E2eFaultsKillPaid".to_owned(),
        organization: billed.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: now,
        period_end: now + 30 * 86_400,
        attempt_count: 1,
    };
    let mut paid = Operation::stripe_event(
        &proxy.url(),
        &billed.id,
        "evt_E2eFaultsKillPaid01",
        &invoice.paid("evt_E2eFaultsKillPaid01", now),
    );
    let third = crash(
        &mut stack,
        &proxy,
        &mut sql,
        &mut paid,
        HoldAt::Answer,
        None,
    )
    .await;
    assert_eq!(third.withheld, Some(200));
    assert_eq!(third.retry, Told::AlreadyDone);
    assert_eq!(
        inbox_rows(&mut sql, "evt_E2eFaultsKillPaid01").await,
        ["applied"]
    );
    let subscription = stack.subscription(&billed).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    let history = stack
        .get(&format!(
            "/v1/admin/organizations/{}/subscription/history",
            billed.id
        ))
        .await;
    let to_active = e2e::stack::array(&history["transitions"])
        .iter()
        .filter(|transition| transition["to"] == "active")
        .count();
    assert_eq!(to_active, 1, "one transition to active: {history}");

    // 2, settled: the dead receiver's claim lapses and the inbox job applies it, once.
    let applied_at = Instant::now();
    eventually("the stored delivery applied", DEADLINE, async || {
        let rows = inbox_rows(&mut sql, "evt_E2eFaultsKillStored01").await;
        holds(rows == ["applied"], rows)
    })
    .await;
    let applied_after = applied_at.elapsed();
    assert_once(&stack, &mut sql, &org, &early, 2500 + 1700).await;
    assert!(stack.exited().is_empty(), "{:?}", stack.exited());

    for (n, crash) in [&first, &second, &third].into_iter().enumerate() {
        figure(
            "receiver_crash",
            format!(
                "kill {}: answer withheld {:?}, inbox row at the kill {}, provider told {:?}, \
                 retry told {:?} (row {}), applied once",
                n + 1,
                crash.withheld,
                crash.row_at_kill,
                short(&crash.first),
                crash.retry,
                crash.retry_status
            ),
        );
    }
    figure(
        "receiver_crash",
        format!(
            "3 SIGKILLs, 3 deliveries acknowledged on retry, lost 0, doubled 0; the delivery \
             killed before its answer applied {:.1} s after the last retry (the receiver's 30 s claim on a fresh delivery); whole test {:.1} s",
            applied_after.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
    );
}

/// What the provider saw, without the error's full text.
fn short(told: &Told) -> &'static str {
    match told {
        Told::Unknown(_) => "no answer",
        Told::Done => "done",
        Told::AlreadyDone => "already done",
        Told::Later(..) => "later",
        Told::Refused(..) => "refused",
    }
}

/// One inbox row for the delivery, applied; one credit under the payment's reference; the
/// wallet at `expected` minor units.
async fn assert_once(stack: &Stack, sql: &mut Sql, org: &Org, top_up: &Operation, expected: i64) {
    let event_id = top_up.event_id.clone().unwrap_or_default();
    assert_eq!(inbox_rows(sql, &event_id).await, ["applied"]);
    let credits = sql
        .count(&format!(
            "SELECT count(*) AS n FROM ledger_entries \
             WHERE reference = '{}' AND kind = 'credit' AND amount = {}",
            top_up.ledger_reference(),
            top_up.amount
        ))
        .await;
    assert_eq!(credits, 1, "one credit for {}", top_up.reference);
    assert_eq!(balance(stack, org).await, expected);
    crate::assert_reconciles(stack, org).await;
}
