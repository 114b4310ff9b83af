use chrono::{DateTime, Duration, Utc};
use primitives::{Currency, Money, WalletId};

use super::*;
use crate::{
    error::LedgerError,
    input::{Actor, Counterparty, Reference},
    model::{EntryKind, FreezeSource},
    request::{CaptureRequest, DebitRequest, HoldRequest},
};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn wallet(balance: i64) -> WalletState {
    WalletState {
        id: WalletId::new(),
        currency: Currency::USD,
        balance,
        held: 0,
        frozen_by: vec![],
    }
}

fn loaded(wallets: &[&WalletState]) -> Loaded {
    let mut loaded = Loaded::default();
    for wallet in wallets {
        loaded.wallets.insert(wallet.id, (*wallet).clone());
    }
    loaded
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn debit(wallet: &WalletState, minor: i64, reference: &str) -> MovementCall {
    DebitRequest {
        wallet_id: wallet.id,
        amount: usd(minor),
        counterparty: Counterparty::parse("revenue:messages").unwrap(),
        reference: Reference::parse(reference).unwrap(),
        actor: Actor::system("test"),
    }
    .into()
}

fn applied(verdict: &Verdict) -> usize {
    match verdict {
        Verdict::Applied { write, .. } => *write,
        other => panic!("expected applied, got {other:?}"),
    }
}

#[test]
fn each_request_sees_the_balance_its_predecessors_left() {
    let w = wallet(10);
    let calls = [
        debit(&w, 4, "a"),
        debit(&w, 4, "b"),
        debit(&w, 4, "c"),
        debit(&w, 2, "d"),
    ];
    let calls: Vec<&MovementCall> = calls.iter().collect();
    let plan = plan(loaded(&[&w]), &calls, now());
    assert_eq!(applied(&plan.verdicts[0]), 0);
    assert_eq!(applied(&plan.verdicts[1]), 1);
    assert!(matches!(
        &plan.verdicts[2],
        Verdict::Refused(LedgerError::InsufficientFunds { available, .. }) if *available == usd(2)
    ));
    assert_eq!(applied(&plan.verdicts[3]), 2);
    let after: Vec<i64> = plan
        .writes
        .iter()
        .map(|w| w.movement.balance_after)
        .collect();
    assert_eq!(after, [6, 2, 0]);
    assert_eq!(plan.wallets.len(), 1);
    assert_eq!((plan.wallets[0].balance, plan.wallets[0].held), (0, 0));
}

#[test]
fn a_reference_reused_in_the_batch_replays_or_conflicts_with_the_first() {
    let w = wallet(10);
    let calls = [debit(&w, 3, "a"), debit(&w, 3, "a"), debit(&w, 5, "a")];
    let calls: Vec<&MovementCall> = calls.iter().collect();
    let plan = plan(loaded(&[&w]), &calls, now());
    assert_eq!(applied(&plan.verdicts[0]), 0);
    assert!(matches!(
        plan.verdicts[1],
        Verdict::ReplayedInBatch { write: 0, .. }
    ));
    assert!(matches!(
        plan.verdicts[2],
        Verdict::Refused(LedgerError::IdempotencyConflict { .. })
    ));
    assert_eq!(plan.writes.len(), 1);
}

#[test]
fn an_entry_recorded_before_the_batch_wins_over_every_rule() {
    let mut w = wallet(0);
    w.frozen_by = vec![FreezeSource::Admin];
    let first = {
        let funded = wallet(5);
        let calls = [debit(&funded, 3, "a")];
        let calls: Vec<&MovementCall> = calls.iter().collect();
        let mut plan = plan(loaded(&[&funded]), &calls, now());
        plan.writes.remove(0).entry
    };
    let mut state = loaded(&[&w]);
    let mut entry = first;
    entry.wallet_id = w.id;
    state
        .entries
        .insert((w.id, Reference::parse("a").unwrap()), entry.clone());
    let calls = [debit(&w, 3, "a"), debit(&w, 3, "b")];
    let calls: Vec<&MovementCall> = calls.iter().collect();
    let plan = plan(state, &calls, now());
    assert!(matches!(&plan.verdicts[0], Verdict::Replayed { entry: e, .. } if **e == entry));
    assert!(matches!(
        plan.verdicts[1],
        Verdict::Refused(LedgerError::FrozenWallet { .. })
    ));
    assert!(plan.writes.is_empty() && plan.wallets.is_empty());
}

#[test]
fn a_capture_sees_the_hold_an_earlier_request_of_the_batch_created() {
    let w = wallet(10);
    let hold: MovementCall = HoldRequest {
        wallet_id: w.id,
        amount: usd(6),
        counterparty: Counterparty::parse("revenue:messages").unwrap(),
        expires_at: now() + Duration::hours(1),
        reference: Reference::parse("h").unwrap(),
        actor: Actor::system("test"),
    }
    .into();
    // Step by step: the hold's id is drawn when it is decided, and the capture names it.
    let (mut state, mut writes, mut written) = (loaded(&[&w]), Vec::new(), HashMap::new());
    let verdict = decide_one(&mut state, &mut writes, &mut written, &hold, now());
    let created = writes[applied(&verdict)].movement.hold_id().unwrap();
    let capture: MovementCall = CaptureRequest {
        wallet_id: w.id,
        hold_id: created,
        amount: usd(6),
        reference: Reference::parse("c").unwrap(),
        actor: Actor::system("test"),
    }
    .into();
    let verdict = decide_one(&mut state, &mut writes, &mut written, &capture, now());
    let write = &writes[applied(&verdict)];
    assert_eq!(write.movement.kind, EntryKind::Capture);
    assert_eq!(
        (write.movement.balance_after, write.movement.held_after),
        (4, 0)
    );
    let hold = &state.holds[&created];
    assert_eq!(hold.state.status, HoldStatus::Captured);
    assert_eq!(hold.closed_at, Some(now()));
}

#[test]
fn a_request_for_a_wallet_not_locked_is_not_found_and_moves_nothing() {
    let w = wallet(10);
    let other = wallet(10);
    let calls = [debit(&other, 1, "a"), debit(&w, 1, "b")];
    let calls: Vec<&MovementCall> = calls.iter().collect();
    let plan = plan(loaded(&[&w]), &calls, now());
    assert!(matches!(
        plan.verdicts[0],
        Verdict::Refused(LedgerError::WalletNotFound)
    ));
    assert_eq!(applied(&plan.verdicts[1]), 0);
    assert_eq!(plan.wallets.len(), 1);
}

#[test]
fn a_batch_lists_the_holds_it_creates_apart_from_the_loaded_holds_it_changes() {
    let mut w = wallet(10);
    w.held = 4;
    let mut state = loaded(&[&w]);
    let existing = HoldState {
        id: HoldId::new(),
        amount: 4,
        captured: 0,
        released: 0,
        status: HoldStatus::Open,
        counterparty: Counterparty::parse("revenue:messages").unwrap(),
        expires_at: now() + Duration::hours(1),
    };
    state.holds.insert(
        existing.id,
        BatchHold {
            state: existing.clone(),
            wallet_id: w.id,
            created_at: now() - Duration::hours(1),
            closed_at: None,
        },
    );
    let calls: [MovementCall; 2] = [
        HoldRequest {
            wallet_id: w.id,
            amount: usd(3),
            counterparty: Counterparty::parse("revenue:messages").unwrap(),
            expires_at: now() + Duration::hours(1),
            reference: Reference::parse("h").unwrap(),
            actor: Actor::system("test"),
        }
        .into(),
        CaptureRequest {
            wallet_id: w.id,
            hold_id: existing.id,
            amount: usd(4),
            reference: Reference::parse("c").unwrap(),
            actor: Actor::system("test"),
        }
        .into(),
    ];
    let calls: Vec<&MovementCall> = calls.iter().collect();
    let plan = plan(state, &calls, now());
    let created: Vec<(i64, HoldStatus)> = plan
        .created_holds
        .iter()
        .map(|hold| (hold.state.amount, hold.state.status))
        .collect();
    assert_eq!(created, [(3, HoldStatus::Open)]);
    let changed: Vec<(HoldId, HoldStatus)> = plan
        .changed_holds
        .iter()
        .map(|hold| (hold.state.id, hold.state.status))
        .collect();
    assert_eq!(changed, [(existing.id, HoldStatus::Captured)]);
    assert_eq!((plan.wallets[0].balance, plan.wallets[0].held), (6, 3));
}
