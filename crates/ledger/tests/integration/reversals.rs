//! Reversals end to end: money a payment provider took back is taken from the wallet whatever
//! its freezes, never more than is available, once per reference.

use chrono::Duration;
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::{
    Actor, Counterparty, EntryKind, FreezeRequest, FreezeSource, HistoryQuery, HoldStatus,
    LedgerError, Reason, ReversalRequest,
};
use primitives::{Currency, Money, WalletId};

use crate::common::*;

fn chargeback() -> Counterparty {
    Counterparty::parse("chargeback:stripe").unwrap()
}

fn reversal(wallet: WalletId, minor: i64, reference_value: &str) -> ReversalRequest {
    ReversalRequest {
        wallet_id: wallet,
        amount: usd(minor),
        counterparty: chargeback(),
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}

async fn freeze(f: &Fixture, source: FreezeSource) {
    let mut conn = f.conn().await;
    f.ledger
        .freeze(
            &mut conn,
            FreezeRequest {
                wallet_id: f.wallet,
                source,
                reason: Reason::parse("dispute under review").unwrap(),
                actor: Actor::system("tests"),
            },
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_wallet_is_reversed_up_to_what_is_available_and_holds_stay_reserved() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    let later = start_time() + Duration::hours(1);
    let receipt = f
        .ledger
        .hold(&mut conn, hold(f.wallet, 300, "budget", later))
        .await
        .unwrap()
        .value;
    freeze(&f, FreezeSource::Risk).await;
    freeze(&f, FreezeSource::Billing).await;

    let taken = f
        .ledger
        .reverse(&mut conn, reversal(f.wallet, 400, "dispute-1"))
        .await
        .unwrap();
    assert!(!taken.replayed);
    let entry = taken.value;
    assert_eq!(entry.kind, EntryKind::Reversal);
    assert_eq!(
        (entry.amount, entry.balance_change, entry.held_change),
        (usd(400), usd(-400), usd(0))
    );
    assert_eq!(
        (entry.balance_after, entry.held_after),
        (usd(600), usd(300))
    );
    assert_eq!(
        (entry.counterparty.as_str(), entry.hold_id, entry.reason),
        ("chargeback:stripe", None, None)
    );

    // Short: 300 of the 500 asked is all that is not reserved.
    let short = f
        .ledger
        .reverse(&mut conn, reversal(f.wallet, 500, "dispute-2"))
        .await
        .unwrap()
        .value;
    assert_eq!(short.amount, usd(300), "200 short");
    assert_eq!(f.balance().await, (300, 300));
    let hold = f
        .ledger
        .hold_details(&mut conn, f.wallet, receipt.hold.id)
        .await
        .unwrap();
    assert_eq!(
        (hold.status, hold.remaining),
        (HoldStatus::Open, usd(300)),
        "the hold still reserves its money"
    );
    let view = f.ledger.balance(&mut conn, f.wallet).await.unwrap();
    assert!(view.frozen, "a reversal lifts no freeze");

    // History knows the kind, also as a filter.
    let page = f
        .ledger
        .history(
            &mut conn,
            f.wallet,
            HistoryQuery {
                kinds: vec![EntryKind::Reversal],
                ..HistoryQuery::default()
            },
        )
        .await
        .unwrap();
    let amounts: Vec<Money> = page.entries.iter().map(|e| e.amount).collect();
    assert_eq!(amounts, [usd(300), usd(400)]);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_available_refuses_the_reversal_and_writes_nothing() {
    let f = Fixture::new().await;
    f.fund(500).await;
    let mut conn = f.conn().await;
    let later = start_time() + Duration::hours(1);
    f.ledger
        .hold(&mut conn, hold(f.wallet, 500, "all-reserved", later))
        .await
        .unwrap();
    freeze(&f, FreezeSource::Admin).await;
    let before = f.count("ledger_entries").await;
    match f
        .ledger
        .reverse(&mut conn, reversal(f.wallet, 250, "dispute-empty"))
        .await
    {
        Err(LedgerError::InsufficientFunds {
            available,
            requested,
        }) => assert_eq!((available, requested), (usd(0), usd(250))),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.count("ledger_entries").await, before);
    assert_eq!(f.balance().await, (500, 500));
    // The reference stays free: once money is there, the same request takes it.
    f.fund(100).await;
    let entry = f
        .ledger
        .reverse(&mut conn, reversal(f.wallet, 250, "dispute-empty"))
        .await
        .unwrap();
    assert!(!entry.replayed);
    assert_eq!(entry.value.amount, usd(100));
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_reversal_replays_as_itself_and_a_different_one_conflicts() {
    let f = Fixture::new().await;
    f.fund(300).await;
    let mut conn = f.conn().await;
    let original = f
        .ledger
        .reverse(&mut conn, reversal(f.wallet, 1_000, "refund-7"))
        .await
        .unwrap()
        .value;
    assert_eq!(original.amount, usd(300));
    // Money comes in; the retry still answers with what was taken then and takes nothing more.
    f.fund(5_000).await;
    for requested in [1_000, 300, 2_000] {
        let again = f
            .ledger
            .reverse(&mut conn, reversal(f.wallet, requested, "refund-7"))
            .await
            .unwrap();
        assert!(again.replayed, "{requested}");
        assert_eq!(again.value, original);
    }
    assert_eq!(f.balance().await, (5_000, 0));
    let other_counterparty = ReversalRequest {
        counterparty: Counterparty::parse("refund:paypal").unwrap(),
        ..reversal(f.wallet, 1_000, "refund-7")
    };
    let in_euros = ReversalRequest {
        amount: Money::from_minor(1_000, Currency::EUR),
        ..reversal(f.wallet, 1_000, "refund-7")
    };
    for request in [
        reversal(f.wallet, 299, "refund-7"),
        other_counterparty,
        in_euros,
    ] {
        let err = f.ledger.reverse(&mut conn, request).await.unwrap_err();
        assert_eq!(err.code(), "IDEMPOTENCY_CONFLICT");
    }
    let err = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 300, "refund-7"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IDEMPOTENCY_CONFLICT");
    // A fresh reference in another currency is a mismatch, not a conflict.
    let err = f
        .ledger
        .reverse(
            &mut conn,
            ReversalRequest {
                amount: Money::from_minor(1, Currency::EUR),
                ..reversal(f.wallet, 1, "refund-8")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CURRENCY_MISMATCH");
    assert_eq!(f.balance().await, (5_000, 0));
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_holds_the_shape_of_a_reversal() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut conn = f.conn().await;
    // Each statement runs in a transaction that is rolled back. The kind constraints answer
    // first; a well-shaped entry is then refused by the statement-level check, because its
    // wallet did not follow it.
    let insert = |kind: &str, balance_change: i64, held_change: i64| {
        format!(
            "INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change, \
             balance_after, held_after, counterparty, reference, actor, created_at) \
             SELECT gen_random_uuid(), id, '{kind}', 5, {balance_change}, {held_change}, \
             995, 0, 'chargeback:x', 'raw-{kind}-{balance_change}-{held_change}', 'x', now() \
             FROM wallets"
        )
    };
    for (statement, refused_by) in [
        (insert("reversal", 5, 0), Some("ledger_entries_kind_shape")),
        (
            insert("reversal", -5, -5),
            Some("ledger_entries_kind_shape"),
        ),
        (insert("reversed", -5, 0), Some("ledger_entries_kind_check")),
        (insert("reversal", -5, 0), None),
    ] {
        let result = conn
            .transaction::<(), diesel::result::Error, _>(async |conn| {
                diesel::sql_query(&statement).execute(conn).await?;
                Err(diesel::result::Error::RollbackTransaction)
            })
            .await;
        match (result, refused_by) {
            (Err(diesel::result::Error::DatabaseError(_, info)), None) => {
                assert!(
                    info.message().contains("differ from its latest entry"),
                    "{statement}: {}",
                    info.message()
                );
            }
            (Err(diesel::result::Error::DatabaseError(_, info)), Some(constraint)) => {
                assert_eq!(info.constraint_name(), Some(constraint), "{statement}");
            }
            (other, _) => panic!("{statement}: {other:?}"),
        }
    }
    assert_eq!(f.count("ledger_entries").await, 1);
    f.assert_reconciled().await;
}
