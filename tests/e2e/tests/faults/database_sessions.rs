//! Every database session of every service ended with `pg_terminate_backend`, three times,
//! under load: clients debit and credit two wallets through the api (each request with its own
//! reference), Stripe delivers top-ups through the receiver, and the worker dispatches a
//! campaign. Each client remembers what it was told. Afterwards every request a client saw
//! acknowledged is in the books exactly once, every one it did not (a 503, a dropped
//! connection) is sent again identically and applies once, every campaign recipient is sent at
//! most once and charged exactly for what Twilio took, and every service answered again by
//! itself: none was restarted.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Text},
};
use e2e::{
    Org, Stack, StackOptions, eventually,
    fakes::twilio,
    load::{self, Kind, Load, Operation, Plan, Told},
    poll::holds,
    sql::{Ended, Sql},
};
use reqwest::StatusCode;

use crate::{Billed, DEADLINE, balance, campaign, figure, recipients, summary};

const ROUNDS: usize = 3;
/// Acknowledgements of each kind the load makes before the first round and between rounds.
const BETWEEN_ROUNDS: usize = 10;
/// What each load wallet starts with (minor units).
const FUNDS: i64 = 1_000_000;
/// Enough for the campaign to be sending through every round.
const RECIPIENTS: usize = 48;
/// Messages the dispatcher sends before the first round and between rounds.
const SENDS_BETWEEN_ROUNDS: usize = 3;
/// 0.05 USD a message.
const PRICE: i64 = 5;
const KINDS: [Kind; 3] = [Kind::Debit, Kind::Credit, Kind::TopUp];

#[derive(Debug, QueryableByName)]
struct Entry {
    #[diesel(sql_type = Text)]
    reference: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    amount: i64,
}

#[derive(Debug, QueryableByName)]
struct Delivery {
    #[diesel(sql_type = Text)]
    delivery_id: String,
    #[diesel(sql_type = Text)]
    status: String,
}

/// One round of terminations: what was ended and how long until every service answered.
struct Round {
    ended: Vec<Ended>,
    recovered_in: Duration,
}

/// A debit, a credit and a top-up client for each wallet.
fn plans(stack: &Stack, wallets: &[Org]) -> Vec<Plan> {
    let mut plans: Vec<Plan> = Vec::new();
    for (w, org) in wallets.iter().enumerate() {
        let (api, receiver) = (stack.api_url.clone(), stack.receiver_url.clone());
        let debiting = org.clone();
        plans.push(Arc::new(move |n| {
            let reference = format!("faults-db-{w}-debit-{n}");
            Operation::debit(&api, &debiting, reference, (n % 50 + 1) as i64)
        }));
        let api = stack.api_url.clone();
        let crediting = org.clone();
        plans.push(Arc::new(move |n| {
            let reference = format!("faults-db-{w}-credit-{n}");
            Operation::credit(&api, &crediting, reference, (n % 50 + 1) as i64 * 10)
        }));
        let topped = org.id.clone();
        plans.push(Arc::new(move |n| {
            Operation::stripe_top_up(
                &receiver,
                &topped,
                &format!("pi_E2eFaultsDb{w}N{n:05}"),
                &format!("evt_E2eFaultsDb{w}N{n:05}"),
                (n % 9 + 1) as i64 * 100,
            )
        }));
    }
    plans
}

/// Whether every worker's readiness probe (which asks the database) answers 200.
async fn workers_ready(stack: &Stack) -> bool {
    for url in &stack.worker_urls {
        let ready = stack
            .client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status() == StatusCode::OK);
        if !ready {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_every_database_session_three_times_under_load_loses_and_doubles_nothing() {
    let mut stack = Stack::start(StackOptions {
        message_delay: Duration::from_millis(100),
        only_providers: Some(vec!["STRIPE"]),
        worker_env: vec![
            // A batch lost with its session is taken for abandoned after one request timeout,
            // then looked up in Twilio's list.
            ("DISPATCH_LEASE_SECS", "15".to_owned()),
            ("TWILIO_LOOKUP_INTERVAL_SECS", "1".to_owned()),
            ("TWILIO_LOOKUP_AFTER_SECS", "1".to_owned()),
            ("TWILIO_LOOKUP_NOT_SENT_AFTER_SECS", "1".to_owned()),
        ],
        ..StackOptions::default()
    })
    .await;
    let mut sql = Sql::connect(&stack.database_url()).await;
    let mut wallets = Vec::new();
    for n in 0..2 {
        let org = stack.create_org(&format!("Faults load {n}"), "USD").await;
        stack.credit(&org, &load::usd(FUNDS), "USD").await;
        wallets.push(org);
    }
    let sender = Billed::active(&stack, "DbSender", None).await.org;
    stack.credit(&sender, "10.00", "USD").await;
    let sender_before = balance(&stack, &sender).await;
    let subaccount = twilio::subaccount(0xFA18);
    let (campaign, numbers) = campaign(&stack, &sender, &subaccount, 50_000, RECIPIENTS).await;

    let started = Instant::now();
    let load = Load::start(plans(&stack, &wallets));
    let sent = || stack.twilio.taken_to(&subaccount).len();
    eventually("the load under way", DEADLINE, async || {
        let seen: Vec<usize> = KINDS
            .iter()
            .map(|kind| load.acknowledged_since(*kind, started))
            .collect();
        holds(
            seen.iter().all(|n| *n >= BETWEEN_ROUNDS) && sent() >= SENDS_BETWEEN_ROUNDS,
            (seen, sent()),
        )
    })
    .await;

    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let ended = sql.terminate_others().await;
        let at = Instant::now();
        let sent_before = sent();
        for service in ["api", "webhook-receiver", "worker"] {
            assert!(
                ended
                    .iter()
                    .any(|e| e.application == service && e.sessions > 0),
                "round {round}: no session of {service} was ended: {ended:?}"
            );
        }
        // Answering again: the api and the receiver acknowledge new requests of every kind,
        // every worker's probe reaches the database and its dispatcher claims new batches (a
        // send already claimed before the round proves nothing: two).
        eventually("every service answering again", DEADLINE, async || {
            let seen: Vec<usize> = KINDS
                .iter()
                .map(|kind| load.acknowledged_since(*kind, at))
                .collect();
            let ready = workers_ready(&stack).await;
            let dispatched = sent() - sent_before;
            holds(
                seen.iter().all(|n| *n >= 1) && ready && dispatched >= 2,
                (seen, ready, dispatched),
            )
        })
        .await;
        let recovered_in = at.elapsed();
        eventually("more work between rounds", DEADLINE, async || {
            let seen: Vec<usize> = KINDS
                .iter()
                .map(|kind| load.acknowledged_since(*kind, at))
                .collect();
            let dispatched = sent() - sent_before;
            holds(
                seen.iter().all(|n| *n >= BETWEEN_ROUNDS) && dispatched >= SENDS_BETWEEN_ROUNDS,
                (seen, dispatched),
            )
        })
        .await;
        rounds.push(Round {
            ended,
            recovered_in,
        });
    }
    let mut operations = load.stop().await;
    let load_for = started.elapsed();
    assert!(
        stack.exited().is_empty(),
        "a service died: {:?}",
        stack.exited()
    );

    // What the clients were told the first time.
    let refused: Vec<&Operation> = operations
        .iter()
        .filter(|op| matches!(op.attempts[0].told, Told::Refused(..)))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    let unacknowledged: Vec<usize> = (0..operations.len())
        .filter(|i| !operations[*i].acknowledged())
        .collect();
    let first_answers: BTreeMap<String, usize> =
        unacknowledged.iter().fold(BTreeMap::new(), |mut seen, i| {
            let told = match &operations[*i].attempts[0].told {
                Told::Later(status, code) => format!("{status} {code}"),
                Told::Unknown(_) => "no answer or 5xx".to_owned(),
                other => format!("{other:?}"),
            };
            *seen.entry(told).or_default() += 1;
            seen
        });

    // The clients send what they were not told about again, identically, until acknowledged.
    let http = load::client();
    let until = Instant::now() + DEADLINE;
    for i in &unacknowledged {
        let operation = &mut operations[*i];
        assert!(
            operation.retry(&http, until).await,
            "never acknowledged: {operation:?}"
        );
    }
    let had_applied = unacknowledged
        .iter()
        .filter(|i| {
            operations[**i]
                .attempts
                .last()
                .is_some_and(|attempt| attempt.told == Told::AlreadyDone)
        })
        .count();

    // Quiet: every top-up delivery applied (the inbox job takes those whose application was
    // cut off, once the receiver's claim lapses), the campaign done and every maybe-sent
    // recipient looked up in Twilio's list.
    let top_ups: BTreeMap<String, &Operation> = operations
        .iter()
        .filter(|op| op.kind == Kind::TopUp)
        .map(|op| (op.event_id.clone().unwrap_or_default(), op))
        .collect();
    let quiet_from = Instant::now();
    let deliveries = eventually("every top-up applied", DEADLINE, async || {
        let rows: Vec<Delivery> = sql
            .rows("SELECT delivery_id, status FROM webhook_inbox WHERE provider = 'stripe'")
            .await;
        let pending = rows.iter().filter(|row| row.status != "applied").count();
        if pending == 0 && rows.len() >= top_ups.len() {
            Ok(rows)
        } else {
            Err(format!("{pending} of {} not applied", rows.len()))
        }
    })
    .await;
    let inbox_quiet_in = quiet_from.elapsed();
    eventually("the campaign completed", DEADLINE, async || {
        let summary = summary(&stack, &sender, &campaign).await;
        holds(
            summary["campaign"]["status"] == "completed"
                && summary["recipients"]["unconfirmed"] == 0
                && summary["recipients"]["sending"] == 0,
            summary,
        )
    })
    .await;

    let campaign_quiet_in = quiet_from.elapsed();

    // The books: each operation's reference exactly once, as asked; nothing else moved.
    let (mut lost, mut doubled) = (0, 0);
    for org in &wallets {
        let entries: Vec<Entry> = sql
            .rows(&format!(
                "SELECT e.reference, e.kind, e.amount FROM ledger_entries e \
                 JOIN wallets w ON w.id = e.wallet_id WHERE w.organization_id = '{}'",
                org.id
            ))
            .await;
        let mut by_reference: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
        for entry in &entries {
            by_reference
                .entry(entry.reference.as_str())
                .or_default()
                .push((entry.kind.as_str(), entry.amount));
        }
        let mine: Vec<&Operation> = operations
            .iter()
            .filter(|op| op.organization == org.id)
            .collect();
        for operation in &mine {
            let kind = if operation.kind == Kind::Debit {
                "debit"
            } else {
                "credit"
            };
            let reference = operation.ledger_reference();
            match by_reference.get(reference.as_str()).map(Vec::as_slice) {
                None => lost += 1,
                Some([one]) => assert_eq!(*one, (kind, operation.amount), "{reference}"),
                Some(_) => doubled += 1,
            }
        }
        // The funding credit and the operations: nothing else.
        assert_eq!(entries.len(), mine.len() + 1, "entries nobody asked for");
        let expected: i64 = FUNDS + mine.iter().map(|op| op.balance_change()).sum::<i64>();
        assert_eq!(balance(&stack, org).await, expected, "{}", org.id);
        crate::assert_reconciles(&stack, org).await;
    }
    assert_eq!((lost, doubled), (0, 0), "lost, doubled");
    let mut per_delivery: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &deliveries {
        *per_delivery.entry(row.delivery_id.as_str()).or_default() += 1;
    }
    for event_id in top_ups.keys() {
        assert_eq!(per_delivery.get(event_id.as_str()), Some(&1), "{event_id}");
    }

    // The campaign: nobody sent twice, each charged for what Twilio took, exactly.
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for to in stack.twilio.taken_to(&subaccount) {
        *taken.entry(to).or_default() += 1;
    }
    assert!(taken.values().all(|n| *n == 1), "sent twice: {taken:?}");
    assert_eq!(
        stack.twilio.sends(&subaccount).await.len(),
        taken.len(),
        "a send was repeated"
    );
    let mut not_sent = 0;
    for recipient in recipients(&mut sql, &campaign).await {
        if taken.contains_key(&recipient.phone) {
            assert_eq!(
                (recipient.status.as_str(), recipient.charged),
                ("sent", PRICE),
                "{}",
                recipient.phone
            );
        } else {
            not_sent += 1;
            assert_eq!(
                (recipient.status.as_str(), recipient.charged),
                ("failed", 0),
                "{}",
                recipient.phone
            );
        }
    }
    assert!(numbers.iter().all(|n| !n.is_empty()));
    assert_eq!(
        balance(&stack, &sender).await,
        sender_before - PRICE * taken.len() as i64,
        "charged exactly for what Twilio took"
    );
    crate::assert_reconciles(&stack, &sender).await;
    let unconfirmed_batches = sql
        .count(&format!(
            "SELECT count(*) AS n FROM ledger_entries \
             WHERE reference LIKE 'campaign:{campaign}:batch:%:unconfirmed'"
        ))
        .await;
    assert!(
        stack.exited().is_empty(),
        "a service died: {:?}",
        stack.exited()
    );

    // Figures.
    for (n, round) in rounds.iter().enumerate() {
        let ended: Vec<String> = round
            .ended
            .iter()
            .map(|e| format!("{} {}", e.application, e.sessions))
            .collect();
        figure(
            "database_sessions",
            format!(
                "round {}: sessions ended: {}; every service answering again after {:.2} s",
                n + 1,
                ended.join(", "),
                round.recovered_in.as_secs_f64()
            ),
        );
    }
    for kind in KINDS {
        let of_kind: Vec<&Operation> = operations.iter().filter(|op| op.kind == kind).collect();
        let at_once = of_kind
            .iter()
            .filter(|op| op.acknowledged_at_once())
            .count();
        figure(
            "database_sessions",
            format!(
                "{kind:?}: {} operations, {at_once} acknowledged at once, {} retried",
                of_kind.len(),
                of_kind.len() - at_once
            ),
        );
    }
    figure(
        "database_sessions",
        format!(
            "load {:.1} s, {} operations, {} unacknowledged at first ({first_answers:?}), \
             retried with the same reference: {had_applied} had applied (replayed), {} applied \
             on the retry; lost {lost}, doubled {doubled}; services restarted: 0",
            load_for.as_secs_f64(),
            operations.len(),
            unacknowledged.len(),
            unacknowledged.len() - had_applied
        ),
    );
    let late = sql
        .count(
            "SELECT count(*) AS n FROM webhook_inbox WHERE provider = 'stripe' \
             AND settled_at > received_at + interval '1 second'",
        )
        .await;
    figure(
        "database_sessions",
        format!(
            "after the load: deliveries applied more than a second after they were \
             stored (cut off mid-application, left to the inbox job) {late}, all applied {:.1} s after the load, campaign done {:.1} s after",
            inbox_quiet_in.as_secs_f64(),
            campaign_quiet_in.as_secs_f64()
        ),
    );
    figure(
        "database_sessions",
        format!(
            "campaign: {RECIPIENTS} recipients, {} sent once each, {not_sent} never reached \
             Twilio (refunded), {unconfirmed_batches} batch(es) recovered as abandoned; \
             sent twice 0",
            taken.len()
        ),
    );
}
