//! The rules every caller relies on, run against both write paths: the single path (`Ledger`'s
//! methods on a connection) and the batching writer (`LedgerWriter`). Each test body is written
//! once and runs twice (`<test>::single`, `<test>::writer`), so the writer answers exactly as the
//! single path does: replays, conflicts, refusals with their figures, freezes, holds, reversals,
//! and the races of G2 and G3.

use std::{future::Future, sync::Arc};

use chrono::Duration;
use db::DbPool;
use ledger::{
    Actor, CaptureRequest, CorrectionRequest, CreditRequest, DebitRequest, Entry, EntryKind,
    FreezeRequest, FreezeSource, HistoryQuery, HoldReceipt, HoldRequest, HoldStatus, Ledger,
    LedgerError, LedgerWriter, Outcome, Reason, ReleaseRequest, ReversalRequest, WriterConfig,
};
use primitives::{Currency, HoldId, Money, WalletId};

use crate::common::*;

/// One of the two ways to move money.
#[derive(Clone)]
pub enum Path {
    /// `Ledger`'s methods, each call on a connection of its own from the pool.
    Single {
        ledger: Ledger,
        pool: DbPool,
    },
    Writer(LedgerWriter),
}

macro_rules! movement {
    ($name:ident, $request:ty, $value:ty) => {
        pub async fn $name(&self, request: $request) -> Result<Outcome<$value>, LedgerError> {
            match self {
                Self::Single { ledger, pool } => {
                    let mut conn = pool.get().await.unwrap();
                    ledger.$name(&mut conn, request).await
                }
                Self::Writer(writer) => writer.$name(request).await,
            }
        }
    };
}

impl Path {
    movement!(debit, DebitRequest, Entry);
    movement!(credit, CreditRequest, Entry);
    movement!(correct, CorrectionRequest, Entry);
    movement!(reverse, ReversalRequest, Entry);
    movement!(hold, HoldRequest, HoldReceipt);
    movement!(capture, CaptureRequest, Entry);
    movement!(release, ReleaseRequest, Entry);
}

#[derive(Clone, Copy)]
enum Kind {
    Single,
    Writer,
}

/// Runs `body` against a fresh fixture and the given path. The writer batches at most 16
/// requests over 2 shards, so the races below span many batches.
async fn run<F, Fut>(body: F, kind: Kind)
where
    F: FnOnce(Arc<Fixture>, Path) -> Fut,
    Fut: Future<Output = ()>,
{
    let f = Arc::new(Fixture::new().await);
    let path = match kind {
        Kind::Single => Path::Single {
            ledger: f.ledger.clone(),
            pool: f.pool.clone(),
        },
        Kind::Writer => Path::Writer(f.writer(WriterConfig {
            max_batch: 16,
            shards: 2,
        })),
    };
    body(f, path).await;
}

/// For each named body, a module of that name with the two tests.
macro_rules! on_both_paths {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn single() {
                super::run(super::$name, super::Kind::Single).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn writer() {
                super::run(super::$name, super::Kind::Writer).await;
            }
        }
    )*};
}

on_both_paths!(
    a_debit_of_exactly_what_is_available_succeeds_and_one_unit_more_is_refused_with_figures,
    replays_return_the_original_and_reuse_with_other_parameters_conflicts,
    a_frozen_wallet_refuses_debits_and_holds_but_records_credits_captures_and_reversals,
    bad_amounts_other_currencies_and_unknown_wallets_are_refused_and_write_nothing,
    holds_capture_partially_never_above_what_remains_then_release,
    hold_deadlines_are_bounded_and_a_hold_past_its_deadline_is_captured_never,
    corrections_take_back_only_what_is_available,
    reversals_take_at_most_what_is_available_and_replay_as_themselves,
    a_retry_is_a_replay_even_after_the_wallet_was_drained_frozen_or_the_hold_closed,
    a_freeze_committed_while_a_debit_waits_for_the_lock_stops_that_debit,
    answers_are_exactly_what_the_books_hold,
    racing_debits_succeed_exactly_as_often_as_funds_allow,
    racing_holds_reserve_exactly_the_funds,
    racing_credits_all_land,
    fifty_racing_requests_with_one_reference_write_exactly_one_entry,
    racing_captures_never_take_more_than_the_hold,
    racing_reversals_take_exactly_what_was_available_once_per_reference,
);

fn later() -> chrono::DateTime<chrono::Utc> {
    start_time() + Duration::hours(1)
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
                actor: Actor::admin(),
            },
        )
        .await
        .unwrap();
}

fn assert_insufficient<T: std::fmt::Debug>(
    result: Result<T, LedgerError>,
    available: i64,
    requested: i64,
) {
    match result {
        Err(LedgerError::InsufficientFunds {
            available: a,
            requested: r,
        }) => assert_eq!((a, r), (usd(available), usd(requested))),
        other => panic!("expected INSUFFICIENT_FUNDS {available}/{requested}: {other:?}"),
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, LedgerError>) -> &'static str {
    match result {
        Err(error) => error.code(),
        Ok(value) => panic!("expected a refusal, got {value:?}"),
    }
}

async fn a_debit_of_exactly_what_is_available_succeeds_and_one_unit_more_is_refused_with_figures(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    assert_insufficient(
        p.debit(debit(f.wallet, 1_001, "too-much")).await,
        1_000,
        1_001,
    );
    // Holds count against what is available, for debits and further holds alike.
    p.hold(hold(f.wallet, 600, "budget", later()))
        .await
        .unwrap();
    assert_insufficient(p.debit(debit(f.wallet, 401, "over")).await, 400, 401);
    assert_insufficient(
        p.hold(hold(f.wallet, 401, "second-budget", later())).await,
        400,
        401,
    );
    let entry = p.debit(debit(f.wallet, 400, "exact")).await.unwrap().value;
    assert_eq!(
        (entry.balance_after, entry.held_after),
        (usd(600), usd(600))
    );
    assert_eq!(f.balance().await, (600, 600));
    assert_eq!(
        f.count("ledger_entries").await,
        3,
        "the refused requests wrote nothing"
    );
    f.assert_reconciled().await;
}

async fn replays_return_the_original_and_reuse_with_other_parameters_conflicts(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    let w = f.wallet;
    let debited = p.debit(debit(w, 300, "order-1")).await.unwrap();
    let credited = p.credit(credit(w, 50, "topup-1")).await.unwrap();
    let held = p.hold(hold(w, 200, "budget-1", later())).await.unwrap();
    let hold_id = held.value.hold.id;
    let captured = p.capture(capture(w, hold_id, 20, "cap-1")).await.unwrap();
    let corrected = p.correct(correction(w, -5, "corr-1")).await.unwrap();
    let reversed = p.reverse(reversal(w, 7, "rev-1")).await.unwrap();
    let released = p.release(release(w, hold_id, "rel-1")).await.unwrap();
    for outcome in [
        &debited, &credited, &captured, &corrected, &reversed, &released,
    ] {
        assert!(!outcome.replayed);
    }
    assert!(!held.replayed);
    let entries = f.count("ledger_entries").await;
    let figures = f.balance().await;

    // The same requests again: the originals, marked replayed, nothing written.
    let again = p.debit(debit(w, 300, "order-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, debited.value);
    let again = p.credit(credit(w, 50, "topup-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, credited.value);
    // A hold's deadline is not compared: a client computing it from "now" differs each time.
    let again = p
        .hold(hold(w, 200, "budget-1", later() + Duration::minutes(1)))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value.entry, held.value.entry);
    assert_eq!(again.value.hold.id, hold_id);
    let again = p.capture(capture(w, hold_id, 20, "cap-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, captured.value);
    let again = p.correct(correction(w, -5, "corr-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, corrected.value);
    let again = p.reverse(reversal(w, 7, "rev-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, reversed.value);
    let again = p.release(release(w, hold_id, "rel-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, released.value);

    // The same references with other parameters (or another kind) conflict.
    let mut other_counterparty = debit(w, 300, "order-1");
    other_counterparty.counterparty = ledger::Counterparty::parse("revenue:other").unwrap();
    for (result, original) in [
        (p.debit(debit(w, 301, "order-1")).await, EntryKind::Debit),
        (p.debit(other_counterparty).await, EntryKind::Debit),
        (p.credit(credit(w, 300, "order-1")).await, EntryKind::Debit),
        (p.credit(credit(w, 51, "topup-1")).await, EntryKind::Credit),
        (
            p.capture(capture(w, hold_id, 21, "cap-1")).await,
            EntryKind::Capture,
        ),
        (
            p.correct(correction(w, 5, "corr-1")).await,
            EntryKind::Correction,
        ),
        (
            p.reverse(reversal(w, 6, "rev-1")).await,
            EntryKind::Reversal,
        ),
        (
            p.release(release(w, HoldId::new(), "rel-1")).await,
            EntryKind::Release,
        ),
    ] {
        match result {
            Err(LedgerError::IdempotencyConflict { original_kind, .. }) => {
                assert_eq!(original_kind, original);
            }
            other => panic!("expected IDEMPOTENCY_CONFLICT: {other:?}"),
        }
    }
    let conflict = p.hold(hold(w, 201, "budget-1", later())).await;
    assert_eq!(code(conflict), "IDEMPOTENCY_CONFLICT");
    assert_eq!(f.count("ledger_entries").await, entries);
    assert_eq!(f.balance().await, figures);
    f.assert_reconciled().await;
}

async fn a_frozen_wallet_refuses_debits_and_holds_but_records_credits_captures_and_reversals(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    let w = f.wallet;
    let budget = p.hold(hold(w, 300, "budget", later())).await.unwrap().value;
    freeze(&f, FreezeSource::Billing).await;
    freeze(&f, FreezeSource::Risk).await;
    match p.debit(debit(w, 1, "while-frozen")).await {
        Err(LedgerError::FrozenWallet { sources }) => {
            assert_eq!(sources, [FreezeSource::Billing, FreezeSource::Risk]);
        }
        other => panic!("{other:?}"),
    }
    let refused = p.hold(hold(w, 1, "hold-while-frozen", later())).await;
    assert_eq!(code(refused), "FROZEN_WALLET");
    let entries = f.count("ledger_entries").await;
    // Money received is recorded (G5), reserved money is spent, a provider's reversal is taken.
    let credited = p
        .credit(credit(w, 500, "topup-while-frozen"))
        .await
        .unwrap();
    assert_eq!(credited.value.balance_after, usd(1_500));
    let captured = p
        .capture(capture(w, budget.hold.id, 100, "capture-while-frozen"))
        .await
        .unwrap();
    assert_eq!(
        (captured.value.balance_after, captured.value.held_after),
        (usd(1_400), usd(200))
    );
    let reversed = p
        .reverse(reversal(w, 2_000, "dispute-while-frozen"))
        .await
        .unwrap();
    assert_eq!(reversed.value.amount, usd(1_200), "all that was available");
    p.release(release(w, budget.hold.id, "release-while-frozen"))
        .await
        .unwrap();
    assert_eq!(f.count("ledger_entries").await, entries + 4);
    assert_eq!(f.balance().await, (200, 0));
    f.assert_reconciled().await;
}

async fn bad_amounts_other_currencies_and_unknown_wallets_are_refused_and_write_nothing(
    f: Arc<Fixture>,
    p: Path,
) {
    let w = f.wallet;
    for (i, minor) in [0, -1, i64::MIN].into_iter().enumerate() {
        let refused = p.credit(credit(w, minor, &format!("bad-credit-{i}"))).await;
        assert_eq!(code(refused), "INVALID_AMOUNT", "{minor}");
        let refused = p.debit(debit(w, minor, &format!("bad-debit-{i}"))).await;
        assert_eq!(code(refused), "INVALID_AMOUNT", "{minor}");
        let refused = p
            .hold(hold(w, minor, &format!("bad-hold-{i}"), later()))
            .await;
        assert_eq!(code(refused), "INVALID_AMOUNT", "{minor}");
        let refused = p.reverse(reversal(w, minor, &format!("bad-rev-{i}"))).await;
        assert_eq!(code(refused), "INVALID_AMOUNT", "{minor}");
    }
    let refused = p.correct(correction(w, 0, "zero-correction")).await;
    assert_eq!(code(refused), "INVALID_AMOUNT");
    p.credit(credit(w, i64::MAX, "max")).await.unwrap();
    let refused = p.credit(credit(w, 1, "overflow")).await;
    assert!(
        matches!(refused, Err(LedgerError::BalanceOverflow { .. })),
        "{refused:?}"
    );
    let refused = p.correct(correction(w, 1, "overflow-correction")).await;
    assert_eq!(code(refused), "BALANCE_OVERFLOW");
    let euros = |reference_value: &str| DebitRequest {
        amount: Money::from_minor(1, Currency::EUR),
        ..debit(w, 1, reference_value)
    };
    match p.debit(euros("euros")).await {
        Err(LedgerError::CurrencyMismatch { wallet, requested }) => {
            assert_eq!((wallet, requested), (Currency::USD, Currency::EUR));
        }
        other => panic!("{other:?}"),
    }
    let refused = p
        .credit(CreditRequest {
            amount: Money::from_minor(1, Currency::EUR),
            ..credit(w, 1, "euro-credit")
        })
        .await;
    assert_eq!(code(refused), "CURRENCY_MISMATCH");
    let nowhere = WalletId::new();
    let refused = p.debit(debit(nowhere, 1, "nowhere")).await;
    assert!(
        matches!(refused, Err(LedgerError::WalletNotFound)),
        "{refused:?}"
    );
    let refused = p.credit(credit(nowhere, 1, "nowhere")).await;
    assert_eq!(code(refused), "WALLET_NOT_FOUND");
    let refused = p.hold(hold(nowhere, 1, "nowhere", later())).await;
    assert_eq!(code(refused), "WALLET_NOT_FOUND");
    assert_eq!(f.count("ledger_entries").await, 1);
    assert_eq!(f.count("holds").await, 0);
    assert_eq!(f.balance().await, (i64::MAX, 0));
    f.assert_reconciled().await;
}

async fn holds_capture_partially_never_above_what_remains_then_release(f: Arc<Fixture>, p: Path) {
    f.fund(1_000).await;
    let w = f.wallet;
    let receipt = p
        .hold(hold(w, 500, "campaign-1", later()))
        .await
        .unwrap()
        .value;
    let hold_id = receipt.hold.id;
    assert_eq!(
        (
            receipt.hold.amount,
            receipt.hold.remaining,
            receipt.hold.status
        ),
        (usd(500), usd(500), HoldStatus::Open)
    );
    assert_eq!(receipt.entry.hold_id, Some(hold_id));
    let mut conn = f.conn().await;
    let stored = f.ledger.hold_details(&mut conn, w, hold_id).await.unwrap();
    assert_eq!(receipt.hold, stored, "the receipt shows the hold as stored");
    p.capture(capture(w, hold_id, 120, "batch-1"))
        .await
        .unwrap();
    p.capture(capture(w, hold_id, 80, "batch-2")).await.unwrap();
    match p.capture(capture(w, hold_id, 301, "batch-3")).await {
        Err(LedgerError::CaptureExceedsHold {
            remaining,
            requested,
            hold_id: refused,
        }) => assert_eq!(
            (remaining, requested, refused),
            (usd(300), usd(301), hold_id)
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.balance().await, (800, 300));
    let released = p
        .release(release(w, hold_id, "campaign-1-done"))
        .await
        .unwrap()
        .value;
    assert_eq!(
        (released.kind, released.amount, released.held_after),
        (EntryKind::Release, usd(300), usd(0))
    );
    let stored = f.ledger.hold_details(&mut conn, w, hold_id).await.unwrap();
    assert_eq!(stored.status, HoldStatus::Released);
    assert_eq!((stored.captured, stored.released), (usd(200), usd(300)));
    match p.capture(capture(w, hold_id, 1, "batch-4")).await {
        Err(LedgerError::HoldNotOpen { status, .. }) => assert_eq!(status, HoldStatus::Released),
        other => panic!("{other:?}"),
    }
    let refused = p.release(release(w, hold_id, "campaign-1-again")).await;
    assert_eq!(code(refused), "HOLD_NOT_OPEN");
    let refused = p.capture(capture(w, HoldId::new(), 1, "batch-5")).await;
    assert_eq!(code(refused), "HOLD_NOT_FOUND");
    // Another wallet's hold is not found here either.
    let other = open_wallet(&f.ledger, &mut conn, USD).await;
    f.ledger
        .credit(&mut conn, credit(other, 100, "fund-other"))
        .await
        .unwrap();
    let theirs = p
        .hold(hold(other, 100, "their-budget", later()))
        .await
        .unwrap()
        .value;
    let refused = p.capture(capture(w, theirs.hold.id, 1, "steal")).await;
    assert_eq!(code(refused), "HOLD_NOT_FOUND");
    let refused = p.release(release(w, theirs.hold.id, "steal-release")).await;
    assert_eq!(code(refused), "HOLD_NOT_FOUND");
    // A capture that empties a hold closes it.
    p.capture(capture(other, theirs.hold.id, 100, "all-of-it"))
        .await
        .unwrap();
    let stored = f
        .ledger
        .hold_details(&mut conn, other, theirs.hold.id)
        .await
        .unwrap();
    assert_eq!(stored.status, HoldStatus::Captured);
    assert_eq!(f.balance().await, (800, 0));
    f.assert_reconciled().await;
}

async fn hold_deadlines_are_bounded_and_a_hold_past_its_deadline_is_captured_never(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    let w = f.wallet;
    let now = start_time();
    for (i, expires_at) in [
        now,
        now - Duration::seconds(1),
        now + ledger::MAX_HOLD_TTL + Duration::seconds(1),
    ]
    .into_iter()
    .enumerate()
    {
        let refused = p
            .hold(hold(w, 1, &format!("bad-deadline-{i}"), expires_at))
            .await;
        assert!(
            matches!(refused, Err(LedgerError::InvalidExpiry { max_days: 30 })),
            "{refused:?}"
        );
    }
    let longest = p
        .hold(hold(w, 100, "longest", now + ledger::MAX_HOLD_TTL))
        .await
        .unwrap();
    assert!(!longest.replayed);
    let deadline = now + Duration::minutes(30);
    let short = p.hold(hold(w, 300, "short", deadline)).await.unwrap().value;
    let other = p.hold(hold(w, 200, "other", deadline)).await.unwrap().value;
    f.clock.set(deadline);
    // Past its deadline, before any sweep: never captured, still released.
    match p.capture(capture(w, short.hold.id, 1, "too-late")).await {
        Err(LedgerError::HoldNotOpen { status, .. }) => assert_eq!(status, HoldStatus::Expired),
        other => panic!("{other:?}"),
    }
    let released = p
        .release(release(w, short.hold.id, "give-back"))
        .await
        .unwrap()
        .value;
    assert_eq!(released.amount, usd(300));
    let mut conn = f.conn().await;
    let sweep = f.ledger.expire_due_holds(&mut conn, 100).await.unwrap();
    assert_eq!(sweep.expired.len(), 1);
    assert_eq!(sweep.expired[0].hold_id, Some(other.hold.id));
    let refused = p.release(release(w, other.hold.id, "after-expiry")).await;
    assert_eq!(code(refused), "HOLD_NOT_OPEN");
    assert_eq!(f.balance().await, (1_000, 100));
    f.assert_reconciled().await;
}

async fn corrections_take_back_only_what_is_available(f: Arc<Fixture>, p: Path) {
    f.fund(1_000).await;
    let w = f.wallet;
    p.hold(hold(w, 100, "reserved", later())).await.unwrap();
    assert_insufficient(p.correct(correction(w, -901, "c-1")).await, 900, 901);
    let entry = p.correct(correction(w, -250, "c-2")).await.unwrap().value;
    assert_eq!(
        (entry.kind, entry.amount, entry.balance_change),
        (EntryKind::Correction, usd(250), usd(-250))
    );
    assert_eq!(entry.actor, Actor::admin());
    assert_eq!(
        entry.reason.as_ref().map(Reason::as_str),
        Some("duplicate PayPal top-up, ticket 42")
    );
    p.correct(correction(w, 50, "c-3")).await.unwrap();
    assert_eq!(f.balance().await, (800, 100));
    f.assert_reconciled().await;
}

async fn reversals_take_at_most_what_is_available_and_replay_as_themselves(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(500).await;
    let w = f.wallet;
    p.hold(hold(w, 500, "all-reserved", later())).await.unwrap();
    let before = f.count("ledger_entries").await;
    assert_insufficient(p.reverse(reversal(w, 250, "dispute-1")).await, 0, 250);
    assert_eq!(f.count("ledger_entries").await, before);
    // The reference stays free: once money is there, the same request takes it, short.
    f.fund(100).await;
    let short = p.reverse(reversal(w, 250, "dispute-1")).await.unwrap();
    assert!(!short.replayed);
    assert_eq!(
        (
            short.value.amount,
            short.value.balance_after,
            short.value.held_after
        ),
        (usd(100), usd(500), usd(500))
    );
    // Money comes in; retries (asking as much or more) take nothing more.
    f.fund(5_000).await;
    for requested in [250, 100, 9_000] {
        let again = p
            .reverse(reversal(w, requested, "dispute-1"))
            .await
            .unwrap();
        assert!(again.replayed, "{requested}");
        assert_eq!(again.value, short.value);
    }
    let other_counterparty = ReversalRequest {
        counterparty: ledger::Counterparty::parse("refund:paypal").unwrap(),
        ..reversal(w, 250, "dispute-1")
    };
    let in_euros = ReversalRequest {
        amount: Money::from_minor(250, Currency::EUR),
        ..reversal(w, 250, "dispute-1")
    };
    for request in [reversal(w, 99, "dispute-1"), other_counterparty, in_euros] {
        assert_eq!(code(p.reverse(request).await), "IDEMPOTENCY_CONFLICT");
    }
    let fresh_in_euros = ReversalRequest {
        amount: Money::from_minor(1, Currency::EUR),
        ..reversal(w, 1, "dispute-2")
    };
    assert_eq!(code(p.reverse(fresh_in_euros).await), "CURRENCY_MISMATCH");
    let full = p.reverse(reversal(w, 700, "dispute-3")).await.unwrap();
    assert_eq!(full.value.amount, usd(700));
    assert_eq!(f.balance().await, (4_800, 500));
    f.assert_reconciled().await;
}

async fn a_retry_is_a_replay_even_after_the_wallet_was_drained_frozen_or_the_hold_closed(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    let w = f.wallet;
    let original = p.debit(debit(w, 600, "order-7")).await.unwrap();
    let receipt = p
        .hold(hold(w, 400, "budget-7", later()))
        .await
        .unwrap()
        .value;
    let captured = p
        .capture(capture(w, receipt.hold.id, 400, "batch-7"))
        .await
        .unwrap();
    freeze(&f, FreezeSource::Admin).await;
    // Drained, frozen and the hold fully captured: every rule would now refuse these requests,
    // but they were applied before, so they answer with the original entries.
    let again = p.debit(debit(w, 600, "order-7")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, original.value);
    let again = p
        .capture(capture(w, receipt.hold.id, 400, "batch-7"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, captured.value);
    let again = p.hold(hold(w, 400, "budget-7", later())).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.value.entry, receipt.entry);
    assert_eq!(
        again.value.hold.status,
        HoldStatus::Captured,
        "the hold as it is now"
    );
    assert_eq!(f.count("ledger_entries").await, 4);
    assert_eq!(f.balance().await, (0, 0));
}

async fn a_freeze_committed_while_a_debit_waits_for_the_lock_stops_that_debit(
    f: Arc<Fixture>,
    p: Path,
) {
    use diesel_async::AsyncConnection;
    f.fund(1_000).await;
    let wallet = f.wallet;
    let mut holder = f.conn().await;
    let ledger = f.ledger.clone();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let holder_task = tokio::spawn(async move {
        holder
            .transaction::<_, LedgerError, _>(async move |conn| {
                lock_wallet_row(conn, wallet).await;
                locked_tx.send(()).unwrap();
                go_rx.await.unwrap();
                ledger
                    .freeze(
                        conn,
                        FreezeRequest {
                            wallet_id: wallet,
                            source: FreezeSource::Risk,
                            reason: Reason::parse("chargeback investigation").unwrap(),
                            actor: Actor::admin(),
                        },
                    )
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
    });
    locked_rx.await.unwrap();
    let debitor = {
        let p = p.clone();
        tokio::spawn(async move { p.debit(debit(wallet, 10, "waits")).await })
    };
    f.wait_for_sessions("wait_event_type = 'Lock'").await;
    go_tx.send(()).unwrap();
    holder_task.await.unwrap();
    let result = debitor.await.unwrap();
    assert!(
        matches!(result, Err(LedgerError::FrozenWallet { .. })),
        "{result:?}"
    );
    assert_eq!(f.balance().await, (1_000, 0));
}

/// Locks the wallet's row inside the caller's open transaction.
/// Every answer, applied or replayed, is the entry (and hold) as stored, to the microsecond
/// PostgreSQL keeps: a clock with nanoseconds must not make the first answer differ from its
/// replay or from the wallet's history.
async fn answers_are_exactly_what_the_books_hold(f: Arc<Fixture>, p: Path) {
    f.clock
        .set(start_time() + Duration::nanoseconds(123_456_789));
    f.fund(1_000).await;
    let w = f.wallet;
    let expires = later() + Duration::nanoseconds(987_654_321);
    let receipt = p.hold(hold(w, 300, "budget", expires)).await.unwrap().value;
    let captured = p
        .capture(capture(w, receipt.hold.id, 300, "all"))
        .await
        .unwrap()
        .value;
    let debited = p.debit(debit(w, 100, "order")).await.unwrap().value;
    let mut conn = f.conn().await;
    let history = f
        .ledger
        .history(&mut conn, w, HistoryQuery::default())
        .await
        .unwrap()
        .entries;
    assert_eq!(
        history[..3],
        [debited.clone(), captured, receipt.entry.clone()]
    );
    let replayed = p.debit(debit(w, 100, "order")).await.unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.value, debited);
    let replayed_hold = p.hold(hold(w, 300, "budget", expires)).await.unwrap();
    assert_eq!(replayed_hold.value.entry, receipt.entry);
    let stored = f
        .ledger
        .hold_details(&mut conn, w, receipt.hold.id)
        .await
        .unwrap();
    assert_eq!(replayed_hold.value.hold, stored);
    assert_eq!(
        (receipt.hold.created_at, receipt.hold.expires_at),
        (stored.created_at, stored.expires_at),
        "the hold's receipt shows its times as stored"
    );
}

const TASKS: usize = 200;
const FUNDS: i64 = 73;

/// Runs `TASKS` calls of `call(i)` at once, each on a task of its own.
async fn race<T, Fut>(p: &Path, call: impl Fn(Path, usize) -> Fut) -> Vec<Result<T, LedgerError>>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, LedgerError>> + Send + 'static,
{
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| tokio::spawn(call(p.clone(), i)))
        .collect();
    let mut results = Vec::with_capacity(TASKS);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn racing_debits_succeed_exactly_as_often_as_funds_allow(f: Arc<Fixture>, p: Path) {
    f.fund(FUNDS).await;
    let w = f.wallet;
    let results = race(&p, |p, i| async move {
        p.debit(debit(w, 1, &format!("race-{i}"))).await
    })
    .await;
    let (mut ok, mut insufficient) = (0, 0);
    for result in results {
        match result {
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

async fn racing_holds_reserve_exactly_the_funds(f: Arc<Fixture>, p: Path) {
    f.fund(FUNDS).await;
    let w = f.wallet;
    let results = race(&p, |p, i| async move {
        p.hold(hold(w, 1, &format!("hold-{i}"), later())).await
    })
    .await;
    let mut ok = 0;
    for result in results {
        match result {
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

async fn racing_credits_all_land(f: Arc<Fixture>, p: Path) {
    let w = f.wallet;
    let results = race(&p, |p, i| async move {
        p.credit(credit(w, 3, &format!("topup-{i}"))).await
    })
    .await;
    for result in results {
        assert!(!result.unwrap().replayed);
    }
    assert_eq!(f.balance().await, (3 * TASKS as i64, 0));
    assert_eq!(f.count("ledger_entries").await, TASKS as i64);
    f.assert_reconciled().await;
}

async fn fifty_racing_requests_with_one_reference_write_exactly_one_entry(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    let w = f.wallet;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.debit(debit(w, 7, "same-reference")).await })
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

async fn racing_captures_never_take_more_than_the_hold(f: Arc<Fixture>, p: Path) {
    f.fund(1_000).await;
    let w = f.wallet;
    let hold_id = p
        .hold(hold(w, 50, "budget", later()))
        .await
        .unwrap()
        .value
        .hold
        .id;
    let results = race(&p, |p, i| async move {
        p.capture(capture(w, hold_id, 1, &format!("cap-{i}"))).await
    })
    .await;
    let mut ok = 0;
    for result in results {
        match result {
            Ok(_) => ok += 1,
            Err(LedgerError::HoldNotOpen { .. } | LedgerError::CaptureExceedsHold { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, 50);
    assert_eq!(f.balance().await, (950, 0));
    f.assert_reconciled().await;
}

async fn racing_reversals_take_exactly_what_was_available_once_per_reference(
    f: Arc<Fixture>,
    p: Path,
) {
    f.fund(1_000).await;
    let w = f.wallet;
    // Each reference is sent twice at once: 20 reversals of 70 against 1000 available.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(
                async move { p.reverse(reversal(w, 70, &format!("race-{}", i / 2))).await },
            )
        })
        .collect();
    let (mut taken, mut replays, mut refused) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) if outcome.replayed => replays += 1,
            Ok(outcome) => taken += outcome.value.amount.minor(),
            Err(LedgerError::InsufficientFunds { .. }) => refused += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(taken, 1_000);
    assert_eq!(f.balance().await, (0, 0));
    // 14 full reversals and one of 20 were written, each exactly once; the twin of a written
    // reversal replays it, both of a pair that found nothing are refused.
    assert_eq!(f.count("ledger_entries").await, 1 + 15);
    assert_eq!((replays, refused), (15, 10));
    f.assert_reconciled().await;
}
