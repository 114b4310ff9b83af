//! The ledger's rules, end to end against real PostgreSQL.

use crate::common::*;
use chrono::Duration;
use diesel_async::RunQueryDsl;
use ledger::{
    Actor, CaptureRequest, CorrectionRequest, EntryKind, FreezeRequest, FreezeSource, HistoryQuery,
    HoldStatus, LedgerError, Reason, ReleaseRequest, UnfreezeRequest,
};
use primitives::{Currency, HoldId, Money};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_of_exactly_the_balance_succeeds_and_one_unit_more_fails_with_figures() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let err = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 1_001, "too-much"))
        .await
        .unwrap_err();
    match err {
        LedgerError::InsufficientFunds {
            available,
            requested,
        } => assert_eq!((available, requested), (usd(1_000), usd(1_001))),
        other => panic!("{other:?}"),
    }
    let entry = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 1_000, "exact"))
        .await
        .unwrap()
        .value;
    assert_eq!(entry.balance_after, usd(0));
    assert_eq!(f.balance().await, (0, 0));
    assert_eq!(
        f.count("ledger_entries").await,
        2,
        "the refused debit wrote nothing"
    );
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_count_against_available_funds() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let later = start_time() + Duration::hours(1);
    f.ledger
        .hold(&mut conn, hold(f.wallet, 600, "budget", later))
        .await
        .unwrap();
    let err = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 401, "over"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::InsufficientFunds { available, .. } if available == usd(400))
    );
    let err = f
        .ledger
        .hold(&mut conn, hold(f.wallet, 401, "second-budget", later))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::InsufficientFunds { .. }));
    f.ledger
        .debit(&mut conn, debit(f.wallet, 400, "rest"))
        .await
        .unwrap();
    let view = f.ledger.balance(&mut conn, f.wallet).await.unwrap();
    assert_eq!(
        (view.balance, view.held, view.available),
        (usd(600), usd(600), usd(0))
    );
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_wallet_refuses_debits_and_holds_but_records_credits() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let freeze = |source| FreezeRequest {
        wallet_id: f.wallet,
        source,
        reason: Reason::parse("unpaid subscription").unwrap(),
        actor: Actor::system("billing"),
    };
    let outcome = f
        .ledger
        .freeze(&mut conn, freeze(FreezeSource::Billing))
        .await
        .unwrap();
    assert!(outcome.changed && outcome.wallet.frozen);
    let again = f
        .ledger
        .freeze(&mut conn, freeze(FreezeSource::Billing))
        .await
        .unwrap();
    assert!(!again.changed, "freezing twice is a no-op");

    let err = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 1, "while-frozen"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FROZEN_WALLET");
    let later = start_time() + Duration::hours(1);
    let err = f
        .ledger
        .hold(&mut conn, hold(f.wallet, 1, "hold-while-frozen", later))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FROZEN_WALLET");
    let credited = f
        .ledger
        .credit(&mut conn, credit(f.wallet, 500, "topup-while-frozen"))
        .await
        .unwrap();
    assert_eq!(credited.value.balance_after, usd(1_500));

    // Sources are independent: lifting the admin freeze leaves billing's in place.
    f.ledger
        .freeze(&mut conn, freeze(FreezeSource::Admin))
        .await
        .unwrap();
    let unfreeze = |source| UnfreezeRequest {
        wallet_id: f.wallet,
        source,
        reason: Reason::parse("reviewed").unwrap(),
        actor: Actor::admin(),
    };
    let lifted = f
        .ledger
        .unfreeze(&mut conn, unfreeze(FreezeSource::Admin))
        .await
        .unwrap();
    assert!(lifted.changed && lifted.wallet.frozen);
    assert_eq!(lifted.wallet.freezes[0].source, FreezeSource::Billing);
    let lifted = f
        .ledger
        .unfreeze(&mut conn, unfreeze(FreezeSource::Billing))
        .await
        .unwrap();
    assert!(!lifted.wallet.frozen);
    f.ledger
        .debit(&mut conn, debit(f.wallet, 1, "after-unfreeze"))
        .await
        .unwrap();
    assert_eq!(f.count("wallet_freeze_events").await, 4);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_returns_the_original_and_a_conflicting_replay_is_refused() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let first = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 300, "order-1"))
        .await
        .unwrap();
    assert!(!first.replayed);
    let entries_before = f.count("ledger_entries").await;
    let replay = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 300, "order-1"))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.value, first.value);
    let err = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 301, "order-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IDEMPOTENCY_CONFLICT");
    let err = f
        .ledger
        .credit(&mut conn, credit(f.wallet, 300, "order-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IDEMPOTENCY_CONFLICT");
    assert_eq!(f.count("ledger_entries").await, entries_before);
    assert_eq!(f.balance().await, (700, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_amounts_are_refused_and_write_nothing() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    for (i, minor) in [0, -1, i64::MIN].into_iter().enumerate() {
        let err = f
            .ledger
            .credit(&mut conn, credit(f.wallet, minor, &format!("bad-{i}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_AMOUNT", "{minor}");
    }
    f.ledger
        .credit(&mut conn, credit(f.wallet, i64::MAX, "max"))
        .await
        .unwrap();
    let err = f
        .ledger
        .credit(&mut conn, credit(f.wallet, 1, "overflow"))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::BalanceOverflow { .. }));
    let mut euros = debit(f.wallet, 1, "euros");
    euros.amount = Money::from_minor(1, Currency::EUR);
    let err = f.ledger.debit(&mut conn, euros).await.unwrap_err();
    assert!(matches!(
        err,
        LedgerError::CurrencyMismatch {
            wallet: Currency::USD,
            requested: Currency::EUR
        }
    ));
    assert_eq!(f.count("ledger_entries").await, 1);
    assert_eq!(f.balance().await, (i64::MAX, 0));
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_capture_partially_and_repeatedly_never_above_the_hold_then_release() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let later = start_time() + Duration::hours(1);
    let receipt = f
        .ledger
        .hold(&mut conn, hold(f.wallet, 500, "campaign-1", later))
        .await
        .unwrap()
        .value;
    let hold_id = receipt.hold.id;
    let capture = |minor, reference_value: &str| CaptureRequest {
        wallet_id: f.wallet,
        hold_id,
        amount: usd(minor),
        reference: reference(reference_value),
        actor: Actor::system("dispatcher"),
    };
    f.ledger
        .capture(&mut conn, capture(120, "batch-1"))
        .await
        .unwrap();
    f.ledger
        .capture(&mut conn, capture(80, "batch-2"))
        .await
        .unwrap();
    let err = f
        .ledger
        .capture(&mut conn, capture(301, "batch-3"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LedgerError::CaptureExceedsHold { remaining, requested, .. }
            if remaining == usd(300) && requested == usd(301)
    ));
    assert_eq!(f.balance().await, (800, 300));
    let released = f
        .ledger
        .release(
            &mut conn,
            ReleaseRequest {
                wallet_id: f.wallet,
                hold_id,
                reference: reference("campaign-1-done"),
                actor: Actor::system("dispatcher"),
            },
        )
        .await
        .unwrap()
        .value;
    assert_eq!(released.amount, usd(300));
    assert_eq!(f.balance().await, (800, 0));
    let hold = f
        .ledger
        .hold_details(&mut conn, f.wallet, hold_id)
        .await
        .unwrap();
    assert_eq!(hold.status, HoldStatus::Released);
    assert_eq!((hold.captured, hold.released), (usd(200), usd(300)));
    let err = f
        .ledger
        .capture(&mut conn, capture(1, "batch-4"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "HOLD_NOT_OPEN");
    let mut unknown = capture(1, "batch-5");
    unknown.hold_id = HoldId::new();
    let err = f.ledger.capture(&mut conn, unknown).await.unwrap_err();
    assert_eq!(err.code(), "HOLD_NOT_FOUND");
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_past_their_deadline_expire_and_free_the_funds() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let deadline = start_time() + Duration::minutes(30);
    let receipt = f
        .ledger
        .hold(&mut conn, hold(f.wallet, 700, "campaign", deadline))
        .await
        .unwrap()
        .value;
    f.ledger
        .hold(
            &mut conn,
            hold(f.wallet, 100, "long", start_time() + Duration::days(1)),
        )
        .await
        .unwrap();
    assert!(
        f.ledger
            .expire_due_holds(&mut conn, 100)
            .await
            .unwrap()
            .expired
            .is_empty()
    );
    f.clock.set(deadline);
    let sweep = f.ledger.expire_due_holds(&mut conn, 100).await.unwrap();
    assert!(sweep.failed.is_empty());
    let expired = sweep.expired;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].kind, EntryKind::Expiry);
    assert_eq!(expired[0].hold_id, Some(receipt.hold.id));
    assert_eq!(f.balance().await, (1_000, 100));
    assert!(
        f.ledger
            .expire_due_holds(&mut conn, 100)
            .await
            .unwrap()
            .expired
            .is_empty()
    );
    let hold = f
        .ledger
        .hold_details(&mut conn, f.wallet, receipt.hold.id)
        .await
        .unwrap();
    assert_eq!(hold.status, HoldStatus::Expired);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_are_audited_and_cannot_make_the_balance_negative() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let correction = |minor, reference_value: &str| CorrectionRequest {
        wallet_id: f.wallet,
        amount: usd(minor),
        reason: Reason::parse("duplicate PayPal top-up, ticket 42").unwrap(),
        reference: reference(reference_value),
        actor: Actor::admin(),
    };
    let err = f
        .ledger
        .correct(&mut conn, correction(-1_001, "c-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INSUFFICIENT_FUNDS");
    let entry = f
        .ledger
        .correct(&mut conn, correction(-250, "c-2"))
        .await
        .unwrap()
        .value;
    assert_eq!(entry.kind, EntryKind::Correction);
    assert_eq!(entry.balance_change, usd(-250));
    assert_eq!(entry.amount, usd(250));
    assert_eq!(entry.actor, Actor::admin());
    assert!(entry.reason.is_some());
    f.ledger
        .correct(&mut conn, correction(50, "c-3"))
        .await
        .unwrap();
    assert_eq!(f.balance().await, (800, 0));
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_newest_first_paginated_and_filterable() {
    let f = Fixture::new().await;
    f.fund(10_000).await;
    let mut conn = f.conn().await;
    for i in 0..7 {
        f.ledger
            .debit(&mut conn, debit(f.wallet, 10 + i, &format!("d-{i}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut query = HistoryQuery {
        limit: 3,
        ..HistoryQuery::default()
    };
    loop {
        let page = f
            .ledger
            .history(&mut conn, f.wallet, query.clone())
            .await
            .unwrap();
        assert!(page.entries.len() <= 3);
        seen.extend(page.entries);
        match page.next_cursor {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[0].amount, usd(16), "newest first");
    assert_eq!(seen[7].kind, EntryKind::Credit);
    let credits_only = f
        .ledger
        .history(
            &mut conn,
            f.wallet,
            HistoryQuery {
                kinds: vec![EntryKind::Credit],
                limit: 50,
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(credits_only.entries.len(), 1);
    assert!(credits_only.next_cursor.is_none());
    let err = f
        .ledger
        .history(
            &mut conn,
            f.wallet,
            HistoryQuery {
                limit: 0,
                ..HistoryQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_LIMIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_detects_a_balance_changed_behind_the_ledgers_back() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    f.assert_reconciled().await;
    let mut conn = f.conn().await;
    // The schema refuses this at commit; a superuser switching triggers off gets through, and
    // reconciliation is what catches it then.
    diesel::sql_query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query("UPDATE wallets SET balance = balance + 500")
        .execute(&mut conn)
        .await
        .unwrap();
    let report = f.ledger.reconcile(&mut conn, f.wallet).await.unwrap();
    assert!(!report.is_clean());
    assert_eq!(
        (report.stored_balance, report.entries_balance),
        (1_500, 1_000)
    );
    assert_eq!(report.decimal(report.stored_balance), "15.00");
    let drifts = f.ledger.reconcile_all(&mut conn).await.unwrap();
    assert_eq!(drifts.len(), 1);
    assert_eq!(drifts[0].wallet_id, f.wallet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_to_rewrite_or_delete_entries() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    for statement in [
        "UPDATE ledger_entries SET amount = 1",
        "INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change, \
         balance_after, held_after, counterparty, reference, actor, created_at) \
         SELECT gen_random_uuid(), id, 'credit', 5, 5, 0, 1005, 0, 'topup:x', 'sneaky', 'x', now() \
         FROM wallets",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries CASCADE",
        "UPDATE wallets SET balance = -1",
        "UPDATE wallets SET held = balance + 1",
        // G4: no balance change without an entry (checked at commit).
        "UPDATE wallets SET balance = balance + 1",
        "UPDATE wallets SET currency = 'EUR'",
        "DELETE FROM wallets",
    ] {
        let result = diesel::sql_query(statement).execute(&mut conn).await;
        assert!(result.is_err(), "{statement} must be refused");
    }
    assert_eq!(f.count("ledger_entries").await, 1);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_join_the_callers_transaction() {
    use diesel_async::AsyncConnection;
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let ledger = f.ledger.clone();
    let wallet = f.wallet;
    let result: Result<(), LedgerError> = conn
        .transaction(async move |conn| {
            ledger.debit(conn, debit(wallet, 100, "in-tx")).await?;
            // A failing second step inside the same transaction must undo the first.
            ledger
                .debit(conn, debit(wallet, 10_000, "too-much"))
                .await?;
            Ok(())
        })
        .await;
    assert!(result.is_err());
    assert_eq!(f.balance().await, (1_000, 0));
    assert_eq!(f.count("ledger_entries").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_wallet_twice_returns_it_and_another_currency_is_refused() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let view = f.ledger.balance(&mut conn, f.wallet).await.unwrap();
    let again = f
        .ledger
        .open_wallet(&mut conn, view.organization_id, USD)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value.wallet_id, f.wallet);
    let err = f
        .ledger
        .open_wallet(&mut conn, view.organization_id, Currency::EUR)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WALLET_ALREADY_EXISTS");
}
