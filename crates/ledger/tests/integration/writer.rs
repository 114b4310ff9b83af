//! The batching writer: the same answers as the single path, many requests per commit.

use crate::common::*;
use chrono::Duration;
use futures::future::BoxFuture;
use ledger::{DebitRequest, Entry, HoldStatus, LedgerError, LedgerWriter, Outcome, WriterConfig};
use primitives::{Currency, HoldId, Money, WalletId};

fn writer(f: &Fixture) -> LedgerWriter {
    LedgerWriter::start(f.pool.clone(), f.ledger.clone(), WriterConfig::default())
}

/// Sends `n` one-unit debits on `wallet` from `n` tasks spread over `writers`.
async fn race_debits(writers: &[LedgerWriter], wallet: WalletId, n: usize) -> (i64, i64) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let w = writers[i % writers.len()].clone();
            tokio::spawn(async move { w.debit(debit(wallet, 1, &format!("race-{i}"))).await })
        })
        .collect();
    let (mut ok, mut insufficient) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) => {
                assert!(!outcome.replayed);
                ok += 1;
            }
            Err(LedgerError::InsufficientFunds { .. }) => insufficient += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    (ok, insufficient)
}

const RACERS: usize = 500;
const FUNDS: i64 = 137;

/// Entries per writing transaction (`xmin`) among the wallet's debits, largest first.
async fn debits_per_transaction(f: &Fixture) -> Vec<i64> {
    f.numbers(&format!(
        "SELECT count(*) AS n FROM ledger_entries WHERE wallet_id = '{}' AND kind = 'debit' \
         GROUP BY xmin::text ORDER BY n DESC",
        f.wallet.as_uuid()
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_racing_debits_against_funds_for_137_succeed_exactly_137_times() {
    let f = Fixture::new().await;
    f.fund(FUNDS).await;
    let w = writer(&f);
    assert_eq!(
        race_debits(&[w], f.wallet, RACERS).await,
        (FUNDS, RACERS as i64 - FUNDS)
    );
    assert_eq!(f.balance().await, (0, 0));
    assert_eq!(f.count("ledger_entries").await, FUNDS + 1);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_debits_in_batches_of_seven_from_two_writers_succeed_exactly_as_often_as_funds_allow()
 {
    let f = Fixture::new().await;
    f.fund(FUNDS).await;
    let config = WriterConfig {
        max_batch: 7,
        shards: 3,
    };
    // Two writers: their batches on the one wallet also wait for each other's row lock.
    let writers = [f.writer(config.clone()), f.writer(config)];
    assert_eq!(
        race_debits(&writers, f.wallet, RACERS).await,
        (FUNDS, RACERS as i64 - FUNDS)
    );
    assert_eq!(f.balance().await, (0, 0));
    assert_eq!(f.count("ledger_entries").await, FUNDS + 1);
    f.assert_reconciled().await;
    let batches = debits_per_transaction(&f).await;
    assert!(
        batches[0] <= 7,
        "a batch wrote more than max_batch: {batches:?}"
    );
    assert!(
        batches.len() >= 20,
        "137 debits need at least 20 batches: {batches:?}"
    );
}

/// Two writers moving the same four wallets, one sending in id order and the other in reverse:
/// their batches lock the wallets in id order, so they wait for each other but never deadlock
/// (a deadlock would fail a batch: `LEDGER_UNAVAILABLE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_moving_the_same_wallets_in_opposite_orders_never_deadlock() {
    let f = Fixture::new().await;
    let mut wallets = vec![f.wallet];
    {
        let mut conn = f.conn().await;
        for _ in 0..3 {
            wallets.push(open_wallet(&f.ledger, &mut conn, USD).await);
        }
    }
    wallets.sort_by_key(|wallet| wallet.as_uuid());
    let config = WriterConfig {
        max_batch: 8,
        shards: 1,
    };
    let writers = [f.writer(config.clone()), f.writer(config)];
    const ROUNDS: usize = 40;
    let tasks: Vec<_> = (0..2 * ROUNDS)
        .map(|task| {
            let w = writers[task % 2].clone();
            let mut order = wallets.clone();
            if task % 2 == 1 {
                order.reverse();
            }
            tokio::spawn(async move {
                let requests: Vec<_> = order
                    .iter()
                    .map(|wallet| {
                        let w = w.clone();
                        let request = credit(*wallet, 1, &format!("t{task}"));
                        let future: BoxFuture<'static, Result<Outcome<Entry>, LedgerError>> =
                            Box::pin(async move { w.credit(request).await });
                        future
                    })
                    .collect();
                in_order(requests).await
            })
        })
        .collect();
    for task in tasks {
        for result in task.await.unwrap() {
            assert!(!result.unwrap().replayed);
        }
    }
    let mut conn = f.conn().await;
    for wallet in wallets {
        let view = f.ledger.balance(&mut conn, wallet).await.unwrap();
        assert_eq!(view.balance, usd(2 * ROUNDS as i64));
    }
    assert!(f.ledger.reconcile_all(&mut conn).await.unwrap().is_empty());
}

/// One batch holding a replay of an earlier entry, a new debit and its replay and conflict in
/// the same batch, refusals of every kind, holds, captures, a release, a credit, a reversal and
/// corrections: each answered on its own, each decided on what its predecessors left, and all
/// that was applied written by ONE transaction (the rows' `xmin`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_answers_each_request_on_its_own_and_writes_in_one_transaction() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let a = f.wallet;
    let plug_wallet = {
        let mut conn = f.conn().await;
        let wallet = open_wallet(&f.ledger, &mut conn, USD).await;
        f.ledger
            .credit(&mut conn, credit(wallet, 10, "fund"))
            .await
            .unwrap();
        wallet
    };
    // One shard, so the plug's batch on the other wallet holds up the test's batch.
    let w = f.writer(WriterConfig {
        max_batch: 1_000,
        shards: 1,
    });
    let expires = start_time() + Duration::hours(1);
    let old_debit = w.debit(debit(a, 100, "old-debit")).await.unwrap().value;
    let h1 = w
        .hold(hold(a, 300, "old-hold", expires))
        .await
        .unwrap()
        .value;
    let h2 = w
        .hold(hold(a, 200, "other-hold", expires))
        .await
        .unwrap()
        .value;
    assert_eq!(f.balance().await, (900, 500));
    let entries_before = f.count("ledger_entries").await;

    // The plug: a batch waiting for a wallet row lock, while the test's requests queue.
    let lock = RowLock::wallet(&f, plug_wallet).await;
    let plug = {
        let w = w.clone();
        tokio::spawn(async move { w.credit(credit(plug_wallet, 5, "plug")).await })
    };
    f.wait_for_sessions("wait_event_type = 'Lock'").await;

    let euros = DebitRequest {
        amount: Money::from_minor(1, Currency::EUR),
        ..debit(a, 1, "euros")
    };
    let requests: Vec<BoxFuture<'static, Answer>> = vec![
        send(&w, Req::Debit(debit(a, 100, "old-debit"))),
        send(&w, Req::Debit(debit(a, 50, "d1"))),
        send(&w, Req::Debit(debit(a, 50, "d1"))),
        send(&w, Req::Debit(debit(a, 60, "d1"))),
        send(&w, Req::Debit(debit(a, 351, "too-much"))),
        send(&w, Req::Hold(hold(a, 100, "h-new", expires))),
        send(&w, Req::Hold(hold(a, 100, "h-new", expires))),
        send(&w, Req::Capture(capture(a, h1.hold.id, 120, "cap-1"))),
        send(&w, Req::Capture(capture(a, h1.hold.id, 181, "cap-2"))),
        send(&w, Req::Release(release(a, h2.hold.id, "rel-2"))),
        send(&w, Req::Capture(capture(a, h2.hold.id, 1, "cap-3"))),
        send(&w, Req::Credit(credit(a, 70, "c1"))),
        send(&w, Req::Reverse(reversal(a, 1_000, "rev-1"))),
        send(&w, Req::Correct(correction(a, -1, "corr-1"))),
        send(&w, Req::Debit(debit(WalletId::new(), 1, "nowhere"))),
        send(&w, Req::Debit(euros)),
        send(&w, Req::Credit(credit(a, 0, "zero"))),
        send(
            &w,
            Req::Capture(capture(a, HoldId::new(), 1, "cap-unknown")),
        ),
        send(&w, Req::Debit(debit(a, 1, "old-hold"))),
        send(&w, Req::Hold(hold(a, 1, "h-now", start_time()))),
        send(&w, Req::Correct(correction(a, 30, "corr-2"))),
        send(&w, Req::Debit(debit(a, 50, "d1"))),
    ];
    let answers = spawn_in_order(requests).await;
    lock.release().await;
    assert!(!plug.await.unwrap().unwrap().replayed);
    let answers = answers.await.unwrap();

    let applied = |i: usize| -> (ledger::Entry, Option<ledger::Hold>) {
        match &answers[i] {
            Ok((entry, hold, false)) => (entry.clone(), hold.clone()),
            other => panic!("request {i}: expected applied, got {other:?}"),
        }
    };
    let replayed = |i: usize| -> ledger::Entry {
        match &answers[i] {
            Ok((entry, _, true)) => entry.clone(),
            other => panic!("request {i}: expected a replay, got {other:?}"),
        }
    };
    let refused = |i: usize| -> &LedgerError {
        match &answers[i] {
            Err(error) => error,
            other => panic!("request {i}: expected a refusal, got {other:?}"),
        }
    };
    let figures = |entry: &ledger::Entry| (entry.balance_after.minor(), entry.held_after.minor());
    assert_eq!(replayed(0), old_debit);
    let d1 = applied(1).0;
    assert_eq!(figures(&d1), (850, 500));
    assert_eq!(
        replayed(2),
        d1,
        "the same request twice in one batch applies once"
    );
    assert_eq!(refused(3).code(), "IDEMPOTENCY_CONFLICT");
    assert!(
        matches!(refused(4), LedgerError::InsufficientFunds { available, requested }
            if *available == usd(350) && *requested == usd(351)),
        "{:?}",
        refused(4)
    );
    let (h_new, h_new_hold) = applied(5);
    assert_eq!(figures(&h_new), (850, 600));
    let h_new_hold = h_new_hold.unwrap();
    assert_eq!(
        (h_new_hold.amount, h_new_hold.status),
        (usd(100), HoldStatus::Open)
    );
    match &answers[6] {
        Ok((entry, Some(hold), true)) => {
            assert_eq!(*entry, h_new);
            assert_eq!(hold.id, h_new_hold.id);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(figures(&applied(7).0), (730, 480));
    assert!(
        matches!(refused(8), LedgerError::CaptureExceedsHold { remaining, .. } if *remaining == usd(180)),
        "{:?}",
        refused(8)
    );
    let rel = applied(9).0;
    assert_eq!((rel.amount.minor(), figures(&rel)), (200, (730, 280)));
    assert!(
        matches!(
            refused(10),
            LedgerError::HoldNotOpen {
                status: HoldStatus::Released,
                ..
            }
        ),
        "{:?}",
        refused(10)
    );
    assert_eq!(figures(&applied(11).0), (800, 280));
    let rev = applied(12).0;
    assert_eq!((rev.amount.minor(), figures(&rev)), (520, (280, 280)));
    assert_eq!(refused(13).code(), "INSUFFICIENT_FUNDS");
    assert_eq!(refused(14).code(), "WALLET_NOT_FOUND");
    assert_eq!(refused(15).code(), "CURRENCY_MISMATCH");
    assert_eq!(refused(16).code(), "INVALID_AMOUNT");
    assert_eq!(refused(17).code(), "HOLD_NOT_FOUND");
    assert_eq!(refused(18).code(), "IDEMPOTENCY_CONFLICT");
    assert_eq!(refused(19).code(), "INVALID_EXPIRY");
    assert_eq!(figures(&applied(20).0), (310, 280));
    assert_eq!(replayed(21), d1);

    // Seven entries, in arrival order, all from the transaction that also moved the wallet and
    // the holds; the plug's batch was another transaction.
    let new_refs = ["d1", "h-new", "cap-1", "rel-2", "c1", "rev-1", "corr-2"];
    assert_eq!(f.count("ledger_entries").await, entries_before + 7 + 1);
    let mut conn = f.conn().await;
    let history = f
        .ledger
        .history(&mut conn, a, ledger::HistoryQuery::default())
        .await
        .unwrap()
        .entries;
    let newest: Vec<&str> = history[..7]
        .iter()
        .rev()
        .map(|e| e.reference.as_str())
        .collect();
    assert_eq!(newest, new_refs);
    let quoted = new_refs.map(|r| format!("'{r}'")).join(", ");
    let wallet_id = a.as_uuid();
    let writers = f
        .numbers(&format!(
            "SELECT count(DISTINCT x) AS n FROM ( \
               SELECT xmin::text AS x FROM ledger_entries \
                WHERE wallet_id = '{wallet_id}' AND reference IN ({quoted}) \
               UNION ALL SELECT xmin::text FROM wallets WHERE id = '{wallet_id}' \
               UNION ALL SELECT xmin::text FROM holds \
                WHERE id IN ('{}', '{}', '{}')) AS rows",
            h1.hold.id.as_uuid(),
            h2.hold.id.as_uuid(),
            h_new_hold.id.as_uuid()
        ))
        .await;
    assert_eq!(writers, [1], "one transaction wrote the whole batch");
    let plug_separate = f
        .numbers(&format!(
            "SELECT count(*) AS n FROM ledger_entries AS plug, ledger_entries AS d1 \
             WHERE plug.reference = 'plug' AND d1.wallet_id = '{wallet_id}' \
               AND d1.reference = 'd1' AND plug.xmin::text <> d1.xmin::text"
        ))
        .await;
    assert_eq!(plug_separate, [1]);
    assert_eq!(f.balance().await, (310, 280));
    f.assert_reconciled().await;
}
