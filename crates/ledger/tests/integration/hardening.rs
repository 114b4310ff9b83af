//! Races and abuse around the ledger's edges: freezes landing during a lock wait, callers at
//! stricter isolation levels, sweepers racing each other or a stuck wallet, reserved references.

use chrono::Duration;
use diesel::QueryDsl;
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::{Actor, FreezeRequest, FreezeSource, LedgerError, Reason, Reference};

use crate::common::*;

fn freeze(wallet: primitives::WalletId) -> FreezeRequest {
    FreezeRequest {
        wallet_id: wallet,
        source: FreezeSource::Risk,
        reason: Reason::parse("chargeback investigation").unwrap(),
        actor: Actor::admin(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeatable_read_caller_cannot_debit_a_wallet_frozen_after_its_snapshot() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut caller = f.conn().await;
    let ledger = f.ledger.clone();
    let wallet = f.wallet;
    let pool = f.pool.clone();
    let result = caller
        .build_transaction()
        .repeatable_read()
        .run::<_, LedgerError, _>(async move |conn| {
            // Take the snapshot, then let a freeze commit elsewhere.
            ledger.balance(conn, wallet).await?;
            let mut other = pool.get().await.unwrap();
            ledger.freeze(&mut other, freeze(wallet)).await?;
            ledger
                .debit(conn, debit(wallet, 10, "stale-snapshot"))
                .await
        })
        .await;
    match result {
        Err(error) => {
            assert!(error.is_retryable(), "{error:?}");
            assert_eq!(error.code(), "WALLET_BUSY");
        }
        Ok(entry) => panic!("debited a frozen wallet: {entry:?}"),
    }
    assert_eq!(f.balance().await, (1_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_operation_leaves_the_callers_transaction_usable() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let ledger = f.ledger.clone();
    let wallet = f.wallet;
    conn.transaction::<_, LedgerError, _>(async move |conn| {
        ledger.debit(conn, debit(wallet, 100, "first")).await?;
        let refused = ledger.debit(conn, debit(wallet, 5_000, "too-much")).await;
        assert!(matches!(
            refused,
            Err(LedgerError::InsufficientFunds { .. })
        ));
        ledger.debit(conn, debit(wallet, 200, "second")).await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(f.balance().await, (700, 0));
    assert_eq!(f.count("ledger_entries").await, 3);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_use_system_references_or_block_an_expiry_with_a_lookalike() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let deadline = start_time() + Duration::minutes(5);
    let receipt = f
        .ledger
        .hold(&mut conn, hold(f.wallet, 300, "budget", deadline))
        .await
        .unwrap()
        .value;
    let hold_id = receipt.hold.id;
    let reserved = Reference::parse(format!("system:expiry:{hold_id}")).unwrap_err();
    assert_eq!(reserved.code, "INVALID_REFERENCE");
    // The old expiry reference format is an ordinary client reference now.
    f.ledger
        .credit(&mut conn, credit(f.wallet, 1, &format!("expiry:{hold_id}")))
        .await
        .unwrap();
    f.clock.set(deadline);
    let sweep = f.ledger.expire_due_holds(&mut conn, 100).await.unwrap();
    assert_eq!(sweep.expired.len(), 1);
    assert_eq!(
        sweep.expired[0].reference.as_str(),
        format!("system:expiry:{hold_id}")
    );
    assert_eq!(f.balance().await, (1_001, 0));
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sweepers_expire_each_hold_exactly_once() {
    let f = std::sync::Arc::new(Fixture::new().await);
    f.fund(10_000).await;
    let deadline = start_time() + Duration::minutes(10);
    {
        let mut conn = f.conn().await;
        for i in 0..30 {
            f.ledger
                .hold(&mut conn, hold(f.wallet, 100, &format!("h-{i}"), deadline))
                .await
                .unwrap();
        }
    }
    f.clock.set(deadline);
    let sweepers: Vec<_> = (0..3)
        .map(|_| {
            let f = std::sync::Arc::clone(&f);
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                f.ledger.expire_due_holds(&mut conn, 1_000).await.unwrap()
            })
        })
        .collect();
    let mut expired = 0;
    for sweeper in sweepers {
        let sweep = sweeper.await.unwrap();
        assert!(sweep.failed.is_empty(), "{:?}", sweep.failed);
        expired += sweep.expired.len();
    }
    assert_eq!(expired, 30);
    assert_eq!(f.balance().await, (10_000, 0));
    assert_eq!(f.count("ledger_entries").await, 61);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_skips_a_wallet_locked_too_long_and_expires_the_others() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let other = open_wallet(&f.ledger, &mut conn, USD).await;
    let deadline = start_time() + Duration::minutes(1);
    for wallet in [f.wallet, other] {
        f.ledger
            .credit(&mut conn, credit(wallet, 500, "fund"))
            .await
            .unwrap();
        // The stuck wallet's hold is due first, so it heads every sweep.
        let expires = if wallet == f.wallet {
            deadline
        } else {
            deadline + Duration::seconds(1)
        };
        f.ledger
            .hold(&mut conn, hold(wallet, 200, "budget", expires))
            .await
            .unwrap();
    }
    f.clock.set(deadline + Duration::minutes(1));
    let mut holder = f.conn().await;
    let stuck = f.wallet;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder_task = tokio::spawn(async move {
        holder
            .transaction::<_, diesel::result::Error, _>(async move |conn| {
                lock_wallet_row(conn, stuck).await;
                locked_tx.send(()).unwrap();
                release_rx.await.unwrap();
                Ok(())
            })
            .await
            .unwrap();
    });
    locked_rx.await.unwrap();
    let sweep = f.ledger.expire_due_holds(&mut conn, 100).await.unwrap();
    release_tx.send(()).unwrap();
    holder_task.await.unwrap();
    assert_eq!(sweep.expired.len(), 1);
    assert_eq!(sweep.expired[0].wallet_id, other);
    assert_eq!(sweep.failed.len(), 1);
    assert!(sweep.failed[0].1.is_retryable(), "{:?}", sweep.failed[0].1);
    // The next sweep gets the one that was stuck.
    let sweep = f.ledger.expire_due_holds(&mut conn, 100).await.unwrap();
    assert_eq!(sweep.expired.len(), 1);
    assert_eq!(sweep.expired[0].wallet_id, f.wallet);
    assert!(f.ledger.reconcile_all(&mut conn).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_refuses_to_reopen_holds_or_point_entries_at_another_wallets_hold() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let other = open_wallet(&f.ledger, &mut conn, USD).await;
    let receipt = f
        .ledger
        .hold(
            &mut conn,
            hold(f.wallet, 100, "budget", start_time() + Duration::hours(1)),
        )
        .await
        .unwrap()
        .value;
    f.ledger
        .release(
            &mut conn,
            ledger::ReleaseRequest {
                wallet_id: f.wallet,
                hold_id: receipt.hold.id,
                reference: reference("done"),
                actor: Actor::admin(),
            },
        )
        .await
        .unwrap();
    let hold = receipt.hold.id.as_uuid();
    for statement in [
        format!(
            "UPDATE holds SET status = 'open', released = 0, closed_at = NULL WHERE id = '{hold}'"
        ),
        format!("UPDATE holds SET amount = 5000 WHERE id = '{hold}'"),
        format!("DELETE FROM holds WHERE id = '{hold}'"),
        format!(
            "INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change, \
             balance_after, held_after, counterparty, reference, hold_id, actor, created_at) \
             VALUES (gen_random_uuid(), '{}', 'release', 1, 0, -1, 0, 0, 'x', 'steal', '{hold}', 'x', now())",
            other.as_uuid()
        ),
    ] {
        let result = diesel::sql_query(&statement).execute(&mut conn).await;
        assert!(result.is_err(), "{statement} must be refused");
    }
    let status: String = db::schema::holds::table
        .find(hold)
        .select(db::schema::holds::status)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(status, "released");
    f.assert_reconciled().await;
}
