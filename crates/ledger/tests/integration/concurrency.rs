//! G2 and G3 under real races: many tasks, many connections, one wallet.

use std::sync::Arc;

use crate::common::*;
use chrono::Duration;
use ledger::LedgerError;

const TASKS: usize = 200;
const FUNDS: i64 = 73;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_single_unit_debits_succeed_exactly_as_often_as_funds_allow() {
    let f = Arc::new(Fixture::new().await);
    f.fund(FUNDS).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                f.ledger
                    .debit(&mut conn, debit(f.wallet, 1, &format!("race-{i}")))
                    .await
            })
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
    assert_eq!((ok, insufficient), (FUNDS, TASKS as i64 - FUNDS));
    assert_eq!(f.balance().await, (0, 0));
    assert_eq!(f.count("ledger_entries").await, FUNDS + 1);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_single_unit_holds_reserve_exactly_the_funds() {
    let f = Arc::new(Fixture::new().await);
    f.fund(FUNDS).await;
    let expires = start_time() + Duration::hours(1);
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                f.ledger
                    .hold(&mut conn, hold(f.wallet, 1, &format!("hold-{i}"), expires))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LedgerError::InsufficientFunds { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, FUNDS);
    assert_eq!(f.balance().await, (FUNDS, FUNDS));
    assert_eq!(f.count("holds").await, FUNDS);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_credits_all_land() {
    let f = Arc::new(Fixture::new().await);
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                f.ledger
                    .credit(&mut conn, credit(f.wallet, 3, &format!("topup-{i}")))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(f.balance().await, (3 * TASKS as i64, 0));
    assert_eq!(f.count("ledger_entries").await, TASKS as i64);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_with_one_reference_write_exactly_one_entry() {
    let f = Arc::new(Fixture::new().await);
    f.fund(1_000).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                f.ledger
                    .debit(&mut conn, debit(f.wallet, 7, "same-reference"))
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }
    let originals = outcomes.iter().filter(|o| !o.replayed).count();
    assert_eq!(
        originals, 1,
        "exactly one request applied, the rest replayed"
    );
    assert!(outcomes.iter().all(|o| o.value == outcomes[0].value));
    assert_eq!(f.balance().await, (993, 0));
    assert_eq!(f.count("ledger_entries").await, 2);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_captures_never_take_more_than_the_hold() {
    let f = Arc::new(Fixture::new().await);
    f.fund(1_000).await;
    let receipt = {
        let mut conn = f.conn().await;
        f.ledger
            .hold(
                &mut conn,
                hold(f.wallet, 50, "budget", start_time() + Duration::hours(1)),
            )
            .await
            .unwrap()
            .value
    };
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let f = Arc::clone(&f);
            let hold_id = receipt.hold.id;
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                f.ledger
                    .capture(
                        &mut conn,
                        ledger::CaptureRequest {
                            wallet_id: f.wallet,
                            hold_id,
                            amount: usd(1),
                            reference: reference(&format!("cap-{i}")),
                            actor: ledger::Actor::system("tests"),
                        },
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LedgerError::HoldNotOpen { .. } | LedgerError::CaptureExceedsHold { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, 50);
    assert_eq!(f.balance().await, (950, 0));
    f.assert_reconciled().await;
}
