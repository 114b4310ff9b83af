use chrono::{DateTime, Duration, Utc};
use primitives::{Currency, HoldId, Money, WalletId};

use super::*;
use crate::{
    input::{Actor, Reference},
    model::Entry,
};

const USD: Currency = Currency::USD;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn wallet(balance: i64, held: i64) -> WalletState {
    WalletState {
        id: WalletId::new(),
        currency: USD,
        balance,
        held,
        frozen_by: vec![],
    }
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, USD)
}

fn revenue() -> Counterparty {
    Counterparty::parse("revenue:messages").unwrap()
}

fn debit(minor: i64) -> Request {
    Request::Debit {
        amount: usd(minor),
        counterparty: revenue(),
    }
}

fn applied(decision: Result<Decision, LedgerError>) -> Movement {
    match decision {
        Ok(Decision::Apply(movement)) => movement,
        other => panic!("expected a movement, got {other:?}"),
    }
}

fn open_hold(amount: i64, captured: i64) -> HoldState {
    HoldState {
        id: HoldId::new(),
        amount,
        captured,
        released: 0,
        status: HoldStatus::Open,
        counterparty: revenue(),
        expires_at: now() + Duration::hours(1),
    }
}

fn entry_from(wallet: &WalletState, movement: &Movement) -> Entry {
    Entry {
        id: primitives::EntryId::new(),
        wallet_id: wallet.id,
        kind: movement.kind,
        amount: usd(movement.amount),
        balance_change: usd(movement.balance_change),
        held_change: usd(movement.held_change),
        balance_after: usd(movement.balance_after),
        held_after: usd(movement.held_after),
        counterparty: movement.counterparty.clone(),
        reference: Reference::parse("ref-1").unwrap(),
        hold_id: movement.hold_id(),
        reason: movement.reason.clone(),
        actor: Actor::admin(),
        created_at: now(),
        seq: 1,
    }
}

#[test]
fn debit_of_exactly_the_available_amount_succeeds_and_one_more_fails_with_figures() {
    let w = wallet(1_000, 300);
    let movement = applied(decide(&w, None, &debit(700), now()));
    assert_eq!((movement.balance_after, movement.held_after), (300, 300));
    match decide(&w, None, &debit(701), now()) {
        Err(LedgerError::InsufficientFunds {
            available,
            requested,
        }) => assert_eq!((available, requested), (usd(700), usd(701))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn frozen_wallets_refuse_debits_and_holds_but_record_credits() {
    let mut w = wallet(1_000, 0);
    w.frozen_by = vec![FreezeSource::Billing];
    assert!(matches!(
        decide(&w, None, &debit(1), now()),
        Err(LedgerError::FrozenWallet { .. })
    ));
    let hold = Request::Hold {
        amount: usd(1),
        counterparty: revenue(),
        expires_at: now() + Duration::hours(1),
    };
    assert!(matches!(
        decide(&w, None, &hold, now()),
        Err(LedgerError::FrozenWallet { .. })
    ));
    let credit = Request::Credit {
        amount: usd(5),
        counterparty: revenue(),
    };
    assert_eq!(
        applied(decide(&w, None, &credit, now())).balance_after,
        1_005
    );
}

#[test]
fn amounts_must_be_positive_and_in_the_wallet_currency() {
    let w = wallet(1_000, 0);
    for minor in [0, -1, i64::MIN] {
        assert!(matches!(
            decide(&w, None, &debit(minor), now()),
            Err(LedgerError::InvalidAmount { .. })
        ));
    }
    let euros = Request::Debit {
        amount: Money::from_minor(1, Currency::EUR),
        counterparty: revenue(),
    };
    assert!(matches!(
        decide(&w, None, &euros, now()),
        Err(LedgerError::CurrencyMismatch { .. })
    ));
}

#[test]
fn credits_that_would_overflow_the_balance_are_refused() {
    let w = wallet(i64::MAX - 5, 0);
    let credit = |minor| Request::Credit {
        amount: usd(minor),
        counterparty: revenue(),
    };
    assert_eq!(
        applied(decide(&w, None, &credit(5), now())).balance_after,
        i64::MAX
    );
    assert!(matches!(
        decide(&w, None, &credit(6), now()),
        Err(LedgerError::BalanceOverflow { .. })
    ));
}

#[test]
fn same_reference_replays_identical_requests_and_refuses_different_ones() {
    let w = wallet(1_000, 0);
    let movement = applied(decide(&w, None, &debit(100), now()));
    let original = entry_from(&w, &movement);
    match decide(&w, Some(&original), &debit(100), now()) {
        Ok(Decision::Replay(entry)) => assert_eq!(*entry, original),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decide(&w, Some(&original), &debit(101), now()),
        Err(LedgerError::IdempotencyConflict { .. })
    ));
    let credit = Request::Credit {
        amount: usd(100),
        counterparty: revenue(),
    };
    assert!(matches!(
        decide(&w, Some(&original), &credit, now()),
        Err(LedgerError::IdempotencyConflict { .. })
    ));
    // A replay wins over a rule the original passed but a retry would not.
    let drained = wallet(0, 0);
    assert!(matches!(
        decide(&drained, Some(&original), &debit(100), now()),
        Ok(Decision::Replay(_))
    ));
}

#[test]
fn captures_never_exceed_the_hold_and_close_it_when_complete() {
    let w = wallet(1_000, 500);
    let hold = open_hold(500, 200);
    let capture = |minor| Request::Capture {
        hold_id: hold.id,
        hold: Some(hold.clone()),
        amount: usd(minor),
    };
    let movement = applied(decide(&w, None, &capture(300), now()));
    assert_eq!((movement.balance_after, movement.held_after), (700, 200));
    assert!(matches!(
        movement.hold,
        Some(HoldChange::Update {
            status: HoldStatus::Captured,
            captured: 500,
            ..
        })
    ));
    match decide(&w, None, &capture(301), now()) {
        Err(LedgerError::CaptureExceedsHold {
            remaining,
            requested,
            ..
        }) => assert_eq!((remaining, requested), (usd(300), usd(301))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn holds_past_their_deadline_cannot_be_captured_but_can_be_expired() {
    let w = wallet(1_000, 500);
    let mut hold = open_hold(500, 0);
    hold.expires_at = now();
    let capture = Request::Capture {
        hold_id: hold.id,
        hold: Some(hold.clone()),
        amount: usd(1),
    };
    assert!(matches!(
        decide(&w, None, &capture, now()),
        Err(LedgerError::HoldNotOpen {
            status: HoldStatus::Expired,
            ..
        })
    ));
    let movement = applied(decide(&w, None, &Request::Expire { hold }, now()));
    assert_eq!((movement.kind, movement.held_after), (EntryKind::Expiry, 0));
}

#[test]
fn released_holds_are_not_open_and_missing_holds_are_not_found() {
    let w = wallet(1_000, 0);
    let mut hold = open_hold(500, 0);
    hold.status = HoldStatus::Released;
    let release = Request::Release {
        hold_id: hold.id,
        hold: Some(hold.clone()),
    };
    assert!(matches!(
        decide(&w, None, &release, now()),
        Err(LedgerError::HoldNotOpen { .. })
    ));
    let missing = Request::Release {
        hold_id: hold.id,
        hold: None,
    };
    assert!(matches!(
        decide(&w, None, &missing, now()),
        Err(LedgerError::HoldNotFound { .. })
    ));
}

#[test]
fn corrections_cannot_take_more_than_is_available() {
    let w = wallet(1_000, 400);
    let correction = |minor| Request::Correction {
        amount: usd(minor),
        reason: Reason::parse("duplicate top-up").unwrap(),
    };
    let movement = applied(decide(&w, None, &correction(-600), now()));
    assert_eq!((movement.amount, movement.balance_after), (600, 400));
    assert!(matches!(
        decide(&w, None, &correction(-601), now()),
        Err(LedgerError::InsufficientFunds { .. })
    ));
    assert!(matches!(
        decide(&w, None, &correction(0), now()),
        Err(LedgerError::InvalidAmount { .. })
    ));
    assert_eq!(
        applied(decide(&w, None, &correction(5), now())).balance_after,
        1_005
    );
}

#[test]
fn holds_need_a_future_deadline() {
    let w = wallet(1_000, 0);
    let hold = Request::Hold {
        amount: usd(1),
        counterparty: revenue(),
        expires_at: now(),
    };
    assert!(matches!(
        decide(&w, None, &hold, now()),
        Err(LedgerError::InvalidExpiry { .. })
    ));
    let too_far = Request::Hold {
        amount: usd(1),
        counterparty: revenue(),
        expires_at: now() + Duration::days(367),
    };
    assert!(matches!(
        decide(&w, None, &too_far, now()),
        Err(LedgerError::InvalidExpiry { .. })
    ));
}

#[test]
fn a_hold_may_reserve_for_exactly_the_longest_time_and_not_a_moment_more() {
    let w = wallet(1_000, 0);
    let until = |expires_at| Request::Hold {
        amount: usd(1),
        counterparty: revenue(),
        expires_at,
    };
    let longest = now() + MAX_HOLD_TTL;
    applied(decide(&w, None, &until(longest), now()));
    applied(decide(
        &w,
        None,
        &until(now() + Duration::microseconds(1)),
        now(),
    ));
    assert!(matches!(
        decide(&w, None, &until(longest + Duration::microseconds(1)), now()),
        Err(LedgerError::InvalidExpiry { max_days: 30 })
    ));
}

fn chargeback() -> Counterparty {
    Counterparty::parse("chargeback:stripe").unwrap()
}

fn reversal(minor: i64) -> Request {
    Request::Reversal {
        amount: usd(minor),
        counterparty: chargeback(),
    }
}

#[test]
fn reversals_take_money_back_from_frozen_wallets() {
    let mut w = wallet(1_000, 0);
    w.frozen_by = vec![FreezeSource::Risk, FreezeSource::Billing];
    let movement = applied(decide(&w, None, &reversal(400), now()));
    assert_eq!(
        (
            movement.kind,
            movement.amount,
            movement.balance_change,
            movement.held_change
        ),
        (EntryKind::Reversal, 400, -400, 0)
    );
    assert_eq!((movement.balance_after, movement.held_after), (600, 0));
    assert_eq!(movement.counterparty, chargeback());
    assert_eq!((movement.hold, movement.reason), (None, None));
}

#[test]
fn reversals_take_at_most_what_is_available_and_leave_holds_reserved() {
    let w = wallet(1_000, 300);
    // Short: all 700 available is taken, the 300 reserved by holds stays.
    let movement = applied(decide(&w, None, &reversal(900), now()));
    assert_eq!(
        (movement.amount, movement.balance_after, movement.held_after),
        (700, 300, 300)
    );
    // Exactly the available amount, and one unit less, are taken in full.
    assert_eq!(applied(decide(&w, None, &reversal(700), now())).amount, 700);
    assert_eq!(applied(decide(&w, None, &reversal(699), now())).amount, 699);
}

#[test]
fn reversals_with_nothing_available_are_refused_with_figures() {
    for w in [wallet(0, 0), wallet(500, 500)] {
        match decide(&w, None, &reversal(250), now()) {
            Err(LedgerError::InsufficientFunds {
                available,
                requested,
            }) => assert_eq!((available, requested), (usd(0), usd(250))),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn reversal_amounts_must_be_positive_and_in_the_wallet_currency() {
    let w = wallet(1_000, 0);
    for minor in [0, -1, i64::MIN] {
        assert!(matches!(
            decide(&w, None, &reversal(minor), now()),
            Err(LedgerError::InvalidAmount { .. })
        ));
    }
    let euros = Request::Reversal {
        amount: Money::from_minor(1, Currency::EUR),
        counterparty: chargeback(),
    };
    match decide(&w, None, &euros, now()) {
        Err(LedgerError::CurrencyMismatch { wallet, requested }) => {
            assert_eq!((wallet, requested), (USD, Currency::EUR));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_short_reversal_replays_as_itself_and_never_takes_the_rest_later() {
    let short = wallet(300, 0);
    let movement = applied(decide(&short, None, &reversal(1_000), now()));
    assert_eq!(movement.amount, 300);
    let original = entry_from(&short, &movement);
    // Money came in since; the retry still answers with the 300 taken then.
    let refilled = wallet(5_000, 0);
    for requested in [1_000, 300, 2_000] {
        match decide(&refilled, Some(&original), &reversal(requested), now()) {
            Ok(Decision::Replay(entry)) => assert_eq!(*entry, original),
            other => panic!("{requested}: {other:?}"),
        }
    }
    // Even a wallet with nothing available replays: the reversal already happened.
    assert!(matches!(
        decide(&wallet(0, 0), Some(&original), &reversal(1_000), now()),
        Ok(Decision::Replay(_))
    ));
}

#[test]
fn a_reversal_reference_reused_differently_is_a_conflict() {
    let w = wallet(1_000, 0);
    let original = entry_from(&w, &applied(decide(&w, None, &reversal(300), now())));
    let other_counterparty = Request::Reversal {
        amount: usd(300),
        counterparty: Counterparty::parse("refund:paypal").unwrap(),
    };
    let in_euros = Request::Reversal {
        amount: Money::from_minor(300, Currency::EUR),
        counterparty: chargeback(),
    };
    for request in [reversal(299), other_counterparty, in_euros, debit(300)] {
        match decide(&w, Some(&original), &request, now()) {
            Err(LedgerError::IdempotencyConflict { original_kind, .. }) => {
                assert_eq!(original_kind, EntryKind::Reversal);
            }
            other => panic!("{request:?}: {other:?}"),
        }
    }
    // A debit's reference cannot be replayed as a reversal either.
    let debited = entry_from(&w, &applied(decide(&w, None, &debit(300), now())));
    assert!(matches!(
        decide(&w, Some(&debited), &reversal(300), now()),
        Err(LedgerError::IdempotencyConflict {
            original_kind: EntryKind::Debit,
            ..
        })
    ));
}

/// How a request sent again under the reference of `original` is answered.
fn retried(original: &Entry, request: &Request) -> &'static str {
    match decide(&wallet(1_000, 500), Some(original), request, now()) {
        Ok(Decision::Replay(_)) => "replay",
        Err(LedgerError::IdempotencyConflict { .. }) => "conflict",
        other => panic!("{other:?}"),
    }
}

/// Records `request` on a fresh wallet and returns the entry a retry would find.
fn recorded(w: &WalletState, request: &Request) -> Entry {
    entry_from(w, &applied(decide(w, None, request, now())))
}

fn other_counterparty() -> Counterparty {
    Counterparty::parse("revenue:calls").unwrap()
}

#[test]
fn a_reused_reference_replays_a_credit_only_with_the_same_amount_and_counterparty() {
    let w = wallet(1_000, 0);
    let credit = |minor, counterparty| Request::Credit {
        amount: usd(minor),
        counterparty,
    };
    let original = recorded(&w, &credit(100, revenue()));
    assert_eq!(retried(&original, &credit(100, revenue())), "replay");
    for retry in [credit(101, revenue()), credit(100, other_counterparty())] {
        assert_eq!(retried(&original, &retry), "conflict", "{retry:?}");
    }
}

#[test]
fn a_reused_reference_replays_a_hold_only_with_the_same_amount_and_counterparty() {
    let w = wallet(1_000, 0);
    let hold = |minor, counterparty, expires_in| Request::Hold {
        amount: usd(minor),
        counterparty,
        expires_at: now() + expires_in,
    };
    let original = recorded(&w, &hold(100, revenue(), Duration::hours(1)));
    // The deadline may differ: a client computes it from its own clock on every try.
    let later = hold(100, revenue(), Duration::hours(2));
    assert_eq!(retried(&original, &later), "replay");
    for retry in [
        hold(101, revenue(), Duration::hours(1)),
        hold(100, other_counterparty(), Duration::hours(1)),
        debit(100),
    ] {
        assert_eq!(retried(&original, &retry), "conflict", "{retry:?}");
    }
}

#[test]
fn a_reused_reference_replays_a_capture_only_of_the_same_hold_and_amount() {
    let w = wallet(1_000, 500);
    let hold = open_hold(500, 0);
    let capture = |hold: &HoldState, minor| Request::Capture {
        hold_id: hold.id,
        hold: Some(hold.clone()),
        amount: usd(minor),
    };
    let original = recorded(&w, &capture(&hold, 200));
    assert_eq!(retried(&original, &capture(&hold, 200)), "replay");
    let another = open_hold(500, 0);
    for retry in [capture(&hold, 201), capture(&another, 200)] {
        assert_eq!(retried(&original, &retry), "conflict", "{retry:?}");
    }
}

#[test]
fn a_reused_reference_replays_a_release_or_expiry_only_of_the_same_hold_and_kind() {
    let w = wallet(1_000, 500);
    let hold = open_hold(500, 0);
    let another = open_hold(500, 0);
    let release = |hold: &HoldState| Request::Release {
        hold_id: hold.id,
        hold: Some(hold.clone()),
    };
    let expire = |hold: &HoldState| Request::Expire { hold: hold.clone() };

    let released = recorded(&w, &release(&hold));
    assert_eq!(retried(&released, &release(&hold)), "replay");
    for retry in [release(&another), expire(&hold)] {
        assert_eq!(retried(&released, &retry), "conflict", "{retry:?}");
    }

    let expired = recorded(&w, &expire(&hold));
    assert_eq!(retried(&expired, &expire(&hold)), "replay");
    for retry in [expire(&another), release(&hold)] {
        assert_eq!(retried(&expired, &retry), "conflict", "{retry:?}");
    }
}

#[test]
fn a_reused_reference_replays_a_correction_only_with_the_same_change_and_reason() {
    let w = wallet(1_000, 0);
    let correction = |minor, reason: &str| Request::Correction {
        amount: usd(minor),
        reason: Reason::parse(reason).unwrap(),
    };
    let original = recorded(&w, &correction(-100, "duplicate top-up"));
    let same = correction(-100, "duplicate top-up");
    assert_eq!(retried(&original, &same), "replay");
    for retry in [
        // The same size the other way round is another correction.
        correction(100, "duplicate top-up"),
        correction(-101, "duplicate top-up"),
        correction(-100, "goodwill"),
        debit(100),
    ] {
        assert_eq!(retried(&original, &retry), "conflict", "{retry:?}");
    }
}

#[test]
fn a_correction_must_be_negatable_in_minor_units() {
    let w = wallet(1_000, 0);
    let correction = Request::Correction {
        amount: usd(i64::MIN),
        reason: Reason::parse("typo").unwrap(),
    };
    match decide(&w, None, &correction, now()) {
        Err(LedgerError::InvalidAmount { reason }) => {
            assert_eq!(
                reason,
                "a correction must fit in 64-bit minor units when negated"
            );
        }
        other => panic!("{other:?}"),
    }
    let smallest = Request::Correction {
        amount: usd(i64::MIN + 1),
        reason: Reason::parse("typo").unwrap(),
    };
    assert!(matches!(
        decide(&w, None, &smallest, now()),
        Err(LedgerError::InsufficientFunds { .. })
    ));
}

#[test]
fn a_hold_reserves_its_amount_less_what_was_captured_and_given_back() {
    let hold = HoldState {
        released: 100,
        ..open_hold(500, 150)
    };
    assert_eq!(hold.remaining(), 250);
    // Closing it gives back exactly that.
    let w = wallet(1_000, 250);
    let movement = applied(decide(&w, None, &Request::Expire { hold }, now()));
    assert_eq!((movement.amount, movement.held_after), (250, 0));
}

#[test]
fn a_capture_takes_the_money_out_of_the_balance_and_the_reservation_alike() {
    let w = wallet(1_000, 500);
    let hold = open_hold(500, 100);
    let capture = Request::Capture {
        hold_id: hold.id,
        hold: Some(hold.clone()),
        amount: usd(150),
    };
    let movement = applied(decide(&w, None, &capture, now()));
    assert_eq!(
        (
            movement.amount,
            movement.balance_change,
            movement.held_change
        ),
        (150, -150, -150)
    );
    assert_eq!((movement.balance_after, movement.held_after), (850, 350));
    assert_eq!(
        movement.hold,
        Some(HoldChange::Update {
            id: hold.id,
            captured: 250,
            released: 0,
            status: HoldStatus::Open,
        })
    );
}

#[test]
fn a_hold_is_used_up_when_what_was_captured_and_given_back_make_its_amount() {
    // Nothing gives back part of an open hold today; the rule still counts what was.
    let hold = HoldState {
        released: 100,
        ..open_hold(500, 100)
    };
    let capture = Request::Capture {
        hold_id: hold.id,
        hold: Some(hold.clone()),
        amount: usd(300),
    };
    let movement = applied(decide(&wallet(1_000, 300), None, &capture, now()));
    assert!(matches!(
        movement.hold,
        Some(HoldChange::Update {
            captured: 400,
            released: 100,
            status: HoldStatus::Captured,
            ..
        })
    ));
}

#[test]
fn closing_a_hold_gives_back_what_it_still_reserves_and_records_how_it_closed() {
    let w = wallet(1_000, 500);
    let hold = open_hold(500, 200);
    let release = Request::Release {
        hold_id: hold.id,
        hold: Some(hold.clone()),
    };
    for (request, kind, status) in [
        (release, EntryKind::Release, HoldStatus::Released),
        (
            Request::Expire { hold: hold.clone() },
            EntryKind::Expiry,
            HoldStatus::Expired,
        ),
    ] {
        let movement = applied(decide(&w, None, &request, now()));
        assert_eq!(movement.kind, kind);
        assert_eq!(
            (
                movement.amount,
                movement.balance_change,
                movement.held_change
            ),
            (300, 0, -300)
        );
        assert_eq!((movement.balance_after, movement.held_after), (1_000, 200));
        assert_eq!(
            movement.hold,
            Some(HoldChange::Update {
                id: hold.id,
                captured: 200,
                released: 300,
                status,
            })
        );
    }
}
