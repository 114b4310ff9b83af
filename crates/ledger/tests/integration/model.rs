//! Random sequences of operations against the real ledger and a deliberately naive in-memory
//! model: both must take the same accept/reject decisions and end with the same figures, and
//! reconciliation must stay clean throughout.

use std::sync::Arc;

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use ledger::{
    Actor, CaptureRequest, CorrectionRequest, Counterparty, FreezeRequest, FreezeSource, Ledger,
    Reason, ReleaseRequest, ReversalRequest, UnfreezeRequest,
};
use primitives::{HoldId, ManualClock, WalletId};
use proptest::{prelude::*, test_runner::TestRunner};

#[derive(Debug, Clone)]
enum Op {
    Credit(i64),
    Debit(i64),
    Hold {
        amount: i64,
        ttl_minutes: i64,
    },
    Capture {
        hold: usize,
        amount: i64,
    },
    Release {
        hold: usize,
    },
    Correction(i64),
    /// Money a provider took back: at most what is available, frozen or not.
    Reversal(i64),
    Freeze,
    Unfreeze,
    AdvanceAndExpire {
        minutes: i64,
    },
    /// Repeat the n-th successful money movement with its original reference.
    Replay(usize),
    /// Reuse the n-th successful movement's reference for a different debit.
    ConflictingReplay(usize),
    /// Boundary probes, resolved against the model's state just before they run: debit, hold,
    /// reverse or take back by correction exactly `available + delta`, or capture
    /// `remaining + delta`.
    DebitAvailable(i64),
    HoldAvailable(i64),
    CorrectAvailable(i64),
    ReverseAvailable(i64),
    CaptureRemaining {
        hold: usize,
        delta: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..5_000i64).prop_map(Op::Credit),
        4 => (1..2_000i64).prop_map(Op::Debit),
        3 => (1..2_000i64, 1..120i64).prop_map(|(amount, ttl_minutes)| Op::Hold { amount, ttl_minutes }),
        3 => (0..6usize, 1..800i64).prop_map(|(hold, amount)| Op::Capture { hold, amount }),
        1 => (0..6usize).prop_map(|hold| Op::Release { hold }),
        1 => prop_oneof![(-3_000..-1i64), (1..3_000i64)].prop_map(Op::Correction),
        2 => (1..3_000i64).prop_map(Op::Reversal),
        1 => Just(Op::Freeze),
        1 => Just(Op::Unfreeze),
        1 => (1..90i64).prop_map(|minutes| Op::AdvanceAndExpire { minutes }),
        2 => (0..20usize).prop_map(Op::Replay),
        1 => (0..20usize).prop_map(Op::ConflictingReplay),
        2 => (-1..=1i64).prop_map(Op::DebitAvailable),
        2 => (-1..=1i64).prop_map(Op::HoldAvailable),
        1 => (-1..=1i64).prop_map(Op::CorrectAvailable),
        2 => (-1..=1i64).prop_map(Op::ReverseAvailable),
        2 => (0..6usize, -1..=1i64).prop_map(|(hold, delta)| Op::CaptureRemaining { hold, delta }),
    ]
}

#[derive(Debug, Clone)]
struct ModelHold {
    amount: i64,
    taken: i64,
    open: bool,
    expires_at: DateTime<Utc>,
}

/// The naive model: plain integers, no locking, no idempotency machinery.
#[derive(Debug, Default)]
struct Model {
    balance: i64,
    held: i64,
    frozen: bool,
    holds: Vec<ModelHold>,
}

impl Model {
    fn available(&self) -> i64 {
        self.balance - self.held
    }

    /// Turns a boundary probe into the concrete operation it stands for.
    fn resolve(&self, op: &Op) -> Op {
        match *op {
            Op::DebitAvailable(delta) => Op::Debit(self.available() + delta),
            Op::HoldAvailable(delta) => Op::Hold {
                amount: self.available() + delta,
                ttl_minutes: 30,
            },
            Op::CorrectAvailable(delta) => Op::Correction(-(self.available() + delta)),
            Op::ReverseAvailable(delta) => Op::Reversal(self.available() + delta),
            Op::CaptureRemaining { hold, delta } => Op::Capture {
                hold,
                amount: self
                    .holds
                    .get(hold)
                    .map_or(1, |h| h.amount - h.taken + delta),
            },
            ref other => other.clone(),
        }
    }

    /// The error code the model expects, or None when the operation must succeed (and is applied).
    fn apply(&mut self, op: &Op, now: DateTime<Utc>) -> Option<&'static str> {
        let positive_required = matches!(
            op,
            Op::Debit(_) | Op::Credit(_) | Op::Hold { .. } | Op::Capture { .. } | Op::Reversal(_)
        );
        let amount = match *op {
            Op::Debit(a) | Op::Credit(a) | Op::Reversal(a) | Op::Hold { amount: a, .. } => a,
            Op::Capture { amount, .. } => amount,
            _ => 1,
        };
        if positive_required && amount <= 0 {
            return Some("INVALID_AMOUNT");
        }
        if matches!(op, Op::Correction(0)) {
            return Some("INVALID_AMOUNT");
        }
        match *op {
            Op::Credit(amount) => {
                self.balance += amount;
                None
            }
            Op::Debit(amount) => {
                if self.frozen {
                    return Some("FROZEN_WALLET");
                }
                if amount > self.available() {
                    return Some("INSUFFICIENT_FUNDS");
                }
                self.balance -= amount;
                None
            }
            Op::Hold {
                amount,
                ttl_minutes,
            } => {
                if self.frozen {
                    return Some("FROZEN_WALLET");
                }
                if amount > self.available() {
                    return Some("INSUFFICIENT_FUNDS");
                }
                self.held += amount;
                self.holds.push(ModelHold {
                    amount,
                    taken: 0,
                    open: true,
                    expires_at: now + Duration::minutes(ttl_minutes),
                });
                None
            }
            Op::Capture { hold, amount } => {
                let Some(h) = self.holds.get_mut(hold) else {
                    return Some("HOLD_NOT_FOUND");
                };
                if !h.open || now >= h.expires_at {
                    return Some("HOLD_NOT_OPEN");
                }
                if amount > h.amount - h.taken {
                    return Some("CAPTURE_EXCEEDS_HOLD");
                }
                h.taken += amount;
                h.open = h.taken < h.amount;
                self.balance -= amount;
                self.held -= amount;
                None
            }
            Op::Release { hold } => {
                let Some(h) = self.holds.get_mut(hold) else {
                    return Some("HOLD_NOT_FOUND");
                };
                if !h.open {
                    return Some("HOLD_NOT_OPEN");
                }
                self.held -= h.amount - h.taken;
                h.taken = h.amount;
                h.open = false;
                None
            }
            Op::Correction(amount) => {
                if amount < 0 && -amount > self.available() {
                    return Some("INSUFFICIENT_FUNDS");
                }
                self.balance += amount;
                None
            }
            Op::Reversal(amount) => {
                // Frozen or not; never below what open holds reserve.
                if self.available() == 0 {
                    return Some("INSUFFICIENT_FUNDS");
                }
                self.balance -= amount.min(self.available());
                None
            }
            Op::Freeze => {
                self.frozen = true;
                None
            }
            Op::Unfreeze => {
                self.frozen = false;
                None
            }
            Op::AdvanceAndExpire { .. } => {
                for h in self
                    .holds
                    .iter_mut()
                    .filter(|h| h.open && h.expires_at <= now)
                {
                    self.held -= h.amount - h.taken;
                    h.taken = h.amount;
                    h.open = false;
                }
                None
            }
            Op::Replay(_)
            | Op::ConflictingReplay(_)
            | Op::DebitAvailable(_)
            | Op::HoldAvailable(_)
            | Op::CorrectAvailable(_)
            | Op::ReverseAvailable(_)
            | Op::CaptureRemaining { .. } => None,
        }
    }
}

struct Case<'a> {
    ledger: &'a Ledger,
    clock: &'a ManualClock,
    wallet: WalletId,
    hold_ids: Vec<HoldId>,
    /// Successful movements with the reference they used, for replays.
    done: Vec<(Op, String)>,
    step: usize,
}

impl Case<'_> {
    async fn run(&mut self, conn: &mut db::AsyncPgConnection, op: &Op) -> Result<bool, String> {
        self.step += 1;
        let fresh = format!("ref-{}", self.step);
        let (op, reference_value, replay) = match op {
            Op::Replay(n) if !self.done.is_empty() => {
                let (op, reference_value) = self.done[n % self.done.len()].clone();
                let op = match op {
                    // Asking for more than a reversal took still replays it (it may have been
                    // short), so retries alternate between the same and a larger amount.
                    Op::Reversal(amount) => Op::Reversal(amount + (n % 2) as i64),
                    other => other,
                };
                (op, reference_value, true)
            }
            Op::ConflictingReplay(n) if !self.done.is_empty() => {
                let (original, reference_value) = self.done[n % self.done.len()].clone();
                let different = match original {
                    Op::Debit(amount) => Op::Debit(amount + 1),
                    _ => Op::Debit(1),
                };
                let outcome = self.execute(conn, &different, &reference_value).await;
                assert_eq!(
                    outcome.as_ref().err().map(String::as_str),
                    Some("IDEMPOTENCY_CONFLICT")
                );
                return Ok(false);
            }
            other => (other.clone(), fresh, false),
        };
        let outcome = self.execute(conn, &op, &reference_value).await;
        if let Ok(replayed) = outcome {
            assert_eq!(replayed, replay, "{op:?} replayed={replayed}");
            if !replay
                && !matches!(
                    op,
                    Op::Freeze
                        | Op::Unfreeze
                        | Op::AdvanceAndExpire { .. }
                        | Op::Replay(_)
                        | Op::ConflictingReplay(_)
                )
            {
                self.done.push((op, reference_value));
            }
        }
        outcome
    }

    async fn execute(
        &mut self,
        conn: &mut db::AsyncPgConnection,
        op: &Op,
        reference_value: &str,
    ) -> Result<bool, String> {
        let code = |e: ledger::LedgerError| e.code().to_owned();
        let ledger = self.ledger;
        let wallet = self.wallet;
        let actor = Actor::system("model");
        let missing_hold = HoldId::new();
        let hold_id = |i: usize| self.hold_ids.get(i).copied().unwrap_or(missing_hold);
        match *op {
            Op::Credit(amount) => ledger
                .credit(conn, credit(wallet, amount, reference_value))
                .await
                .map(|o| o.replayed)
                .map_err(code),
            Op::Debit(amount) => ledger
                .debit(conn, debit(wallet, amount, reference_value))
                .await
                .map(|o| o.replayed)
                .map_err(code),
            Op::Hold {
                amount,
                ttl_minutes,
            } => {
                let expires = self.clock.now_for_tests() + Duration::minutes(ttl_minutes);
                let outcome = ledger
                    .hold(conn, hold(wallet, amount, reference_value, expires))
                    .await
                    .map_err(code)?;
                if !outcome.replayed {
                    self.hold_ids.push(outcome.value.hold.id);
                }
                Ok(outcome.replayed)
            }
            Op::Capture { hold, amount } => ledger
                .capture(
                    conn,
                    CaptureRequest {
                        wallet_id: wallet,
                        hold_id: hold_id(hold),
                        amount: usd(amount),
                        reference: reference(reference_value),
                        actor,
                    },
                )
                .await
                .map(|o| o.replayed)
                .map_err(code),
            Op::Release { hold } => ledger
                .release(
                    conn,
                    ReleaseRequest {
                        wallet_id: wallet,
                        hold_id: hold_id(hold),
                        reference: reference(reference_value),
                        actor,
                    },
                )
                .await
                .map(|o| o.replayed)
                .map_err(code),
            Op::Correction(amount) => ledger
                .correct(
                    conn,
                    CorrectionRequest {
                        wallet_id: wallet,
                        amount: usd(amount),
                        reason: Reason::parse("model correction").unwrap(),
                        reference: reference(reference_value),
                        actor,
                    },
                )
                .await
                .map(|o| o.replayed)
                .map_err(code),
            Op::Reversal(amount) => ledger
                .reverse(
                    conn,
                    ReversalRequest {
                        wallet_id: wallet,
                        amount: usd(amount),
                        counterparty: Counterparty::parse("chargeback:stripe").unwrap(),
                        reference: reference(reference_value),
                        actor,
                    },
                )
                .await
                .map(|o| o.replayed)
                .map_err(code),
            Op::Freeze => ledger
                .freeze(
                    conn,
                    FreezeRequest {
                        wallet_id: wallet,
                        source: FreezeSource::Admin,
                        reason: Reason::parse("model").unwrap(),
                        actor,
                    },
                )
                .await
                .map(|_| false)
                .map_err(code),
            Op::Unfreeze => ledger
                .unfreeze(
                    conn,
                    UnfreezeRequest {
                        wallet_id: wallet,
                        source: FreezeSource::Admin,
                        reason: Reason::parse("model").unwrap(),
                        actor,
                    },
                )
                .await
                .map(|_| false)
                .map_err(code),
            Op::AdvanceAndExpire { minutes } => {
                self.clock.advance(Duration::minutes(minutes));
                ledger
                    .expire_due_holds(conn, 10_000)
                    .await
                    .map(|_| false)
                    .map_err(code)
            }
            Op::Replay(_)
            | Op::ConflictingReplay(_)
            | Op::DebitAvailable(_)
            | Op::HoldAvailable(_)
            | Op::CorrectAvailable(_)
            | Op::ReverseAvailable(_)
            | Op::CaptureRemaining { .. } => Ok(false),
        }
    }
}

trait NowForTests {
    fn now_for_tests(&self) -> DateTime<Utc>;
}

impl NowForTests for ManualClock {
    fn now_for_tests(&self) -> DateTime<Utc> {
        primitives::Clock::now(self)
    }
}

#[test]
fn the_ledger_agrees_with_a_naive_model_on_random_operation_sequences() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixture = Arc::new(runtime.block_on(Fixture::new()));
    let cases: u32 = std::env::var("LEDGER_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = proptest::collection::vec(op(), 1..40);
    runner
        .run(&strategy, |ops| {
            runtime.block_on(check_sequence(&fixture, &ops));
            Ok(())
        })
        .unwrap();
}

async fn check_sequence(f: &Fixture, ops: &[Op]) {
    let mut conn = f.conn().await;
    let wallet = open_wallet(&f.ledger, &mut conn, USD).await;
    let mut model = Model::default();
    let mut case = Case {
        ledger: &f.ledger,
        clock: &f.clock,
        wallet,
        hold_ids: Vec::new(),
        done: Vec::new(),
        step: 0,
    };
    for op in ops {
        let op = &model.resolve(op);
        let result = case.run(&mut conn, op).await;
        // Replays change nothing in the model; everything else must decide alike.
        let is_replay = matches!(op, Op::Replay(_) | Op::ConflictingReplay(_));
        let expected = if is_replay {
            None
        } else {
            let now = primitives::Clock::now(&f.clock);
            model.apply(op, now)
        };
        let actual = result.err();
        assert_eq!(actual.as_deref(), expected, "op {op:?} in {ops:?}");
        let view = f.ledger.balance(&mut conn, wallet).await.unwrap();
        assert_eq!(
            (view.balance.minor(), view.held.minor(), view.frozen),
            (model.balance, model.held, model.frozen),
            "after {op:?}"
        );
    }
    let report = f.ledger.reconcile(&mut conn, wallet).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}
