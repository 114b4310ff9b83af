//! The batching writer: the same answers as the single path, many requests per commit.

use std::sync::Arc;

use crate::common::*;
use chrono::Duration;
use ledger::{LedgerError, LedgerWriter, WriterConfig};

fn writer(f: &Fixture) -> LedgerWriter {
    LedgerWriter::start(f.pool.clone(), f.ledger.clone(), WriterConfig::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_debits_through_the_writer_succeed_exactly_as_often_as_funds_allow() {
    let f = Arc::new(Fixture::new().await);
    f.fund(73).await;
    let w = writer(&f);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (w, wallet) = (w.clone(), f.wallet);
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
    assert_eq!((ok, insufficient), (73, 127));
    assert_eq!(f.balance().await, (0, 0));
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_answers_replays_conflicts_refusals_and_holds_each_on_its_own() {
    let f = Arc::new(Fixture::new().await);
    f.fund(10).await;
    let w = writer(&f);
    let expires = start_time() + Duration::hours(1);
    let held = w.hold(hold(f.wallet, 4, "h1", expires)).await.unwrap();
    assert!(!held.replayed);
    let again = w.hold(hold(f.wallet, 4, "h1", expires)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value.hold.id, held.value.hold.id);
    assert_eq!(again.value.entry, held.value.entry);
    let (a, b, c, d) = tokio::join!(
        w.debit(debit(f.wallet, 3, "d1")),
        w.debit(debit(f.wallet, 3, "d1")),
        w.debit(debit(f.wallet, 5, "d1")),
        w.debit(debit(f.wallet, 4, "d2")),
    );
    let a = a.unwrap();
    assert!(!a.replayed);
    let b = b.unwrap();
    assert!(b.replayed);
    assert_eq!(a.value, b.value);
    assert!(matches!(c, Err(LedgerError::IdempotencyConflict { .. })));
    assert!(matches!(d, Err(LedgerError::InsufficientFunds { .. })));
    assert_eq!(f.balance().await, (7, 4));
    f.assert_reconciled().await;
}
