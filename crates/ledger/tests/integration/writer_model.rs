//! The batching writer against a naive model, with many requests in flight at once.
//!
//! Each case runs rounds. In a round, requests for three wallets (interleaved at random) are all
//! submitted at once from one task, in a known order (`in_order`), to a writer with a random
//! `max_batch` and shard count: they land in shared batches, several wallets per batch, split
//! wherever the writer happens to split them. The writer promises that each wallet's requests
//! are decided in arrival order, each seeing what its predecessors left, so the model, run in
//! that order, predicts every answer: the refusal codes, the figures after each applied entry,
//! and for replays (also of a request earlier in the same batch) the original entry. Between
//! rounds: freezes, unfreezes, and the clock moving on with a sweep of due holds.
//!
//! After each round every wallet's figures equal the model's; at the end every wallet's history
//! is exactly the applied answers (and sweeps) in arrival order, and reconciliation is clean.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ledger::{
    Actor, Entry, EntryKind, FreezeRequest, FreezeSource, HistoryQuery, HoldStatus, Reason,
    UnfreezeRequest, WriterConfig,
};
use primitives::{HoldId, WalletId};
use proptest::{prelude::*, test_runner::TestRunner};

use crate::common::*;

const WALLETS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Credit(i64),
    Debit(i64),
    Hold {
        amount: i64,
        ttl_minutes: i64,
    },
    /// A hold whose deadline is now: `INVALID_EXPIRY`.
    HoldDueNow(i64),
    /// The n-th hold of the wallet (if its id is known when the round starts).
    Capture {
        hold: usize,
        amount: i64,
    },
    Release {
        hold: usize,
    },
    Correction(i64),
    Reversal(i64),
    /// The n-th applied movement of the wallet again, same reference and parameters (possibly
    /// applied earlier in this very round, so in the same batch).
    Replay(usize),
    /// The n-th applied movement's reference with other parameters.
    Conflict(usize),
    /// Boundary probes, resolved against the model just before the request in arrival order.
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
        4 => (1..5_000i64).prop_map(Op::Credit),
        4 => (1..2_000i64).prop_map(Op::Debit),
        3 => (1..2_000i64, 1..120i64).prop_map(|(amount, ttl_minutes)| Op::Hold { amount, ttl_minutes }),
        1 => (1..100i64).prop_map(Op::HoldDueNow),
        3 => (0..6usize, 1..800i64).prop_map(|(hold, amount)| Op::Capture { hold, amount }),
        1 => (0..6usize).prop_map(|hold| Op::Release { hold }),
        1 => prop_oneof![(-3_000..-1i64), (1..3_000i64)].prop_map(Op::Correction),
        2 => (1..3_000i64).prop_map(Op::Reversal),
        3 => (0..20usize).prop_map(Op::Replay),
        1 => (0..20usize).prop_map(Op::Conflict),
        2 => (-1..=1i64).prop_map(Op::DebitAvailable),
        2 => (-1..=1i64).prop_map(Op::HoldAvailable),
        1 => (-1..=1i64).prop_map(Op::CorrectAvailable),
        2 => (-1..=1i64).prop_map(Op::ReverseAvailable),
        2 => (0..6usize, -1..=1i64).prop_map(|(hold, delta)| Op::CaptureRemaining { hold, delta }),
    ]
}

#[derive(Debug, Clone, Copy)]
enum FreezeChange {
    Keep,
    Freeze,
    Unfreeze,
}

#[derive(Debug, Clone)]
struct Round {
    /// In arrival order: (wallet index, operation).
    requests: Vec<(usize, Op)>,
    /// After the round, per wallet.
    freezes: Vec<FreezeChange>,
    /// After the round: move the clock on and sweep due holds.
    advance_minutes: Option<i64>,
}

fn round() -> impl Strategy<Value = Round> {
    let freeze = prop_oneof![
        6 => Just(FreezeChange::Keep),
        1 => Just(FreezeChange::Freeze),
        2 => Just(FreezeChange::Unfreeze),
    ];
    (
        proptest::collection::vec((0..WALLETS, op()), 0..30),
        proptest::collection::vec(freeze, WALLETS),
        proptest::option::weighted(0.3, 1..90i64),
    )
        .prop_map(|(requests, freezes, advance_minutes)| Round {
            requests,
            freezes,
            advance_minutes,
        })
}

#[derive(Debug, Clone)]
struct Case {
    max_batch: usize,
    shards: usize,
    rounds: Vec<Round>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(1usize), Just(3), Just(7), Just(256)],
        1..=3usize,
        proptest::collection::vec(round(), 1..8),
    )
        .prop_map(|(max_batch, shards, rounds)| Case {
            max_batch,
            shards,
            rounds,
        })
}

/// A request as sent: probes resolved, holds named by the model's index.
#[derive(Debug, Clone)]
enum Request {
    Credit(i64),
    Debit(i64),
    Hold {
        amount: i64,
        expires_at: DateTime<Utc>,
    },
    /// `None`: a hold whose id the caller cannot know (created this round, or never).
    Capture {
        hold: Option<usize>,
        amount: i64,
    },
    Release {
        hold: Option<usize>,
    },
    Correction(i64),
    Reversal(i64),
}

/// What the model expects of one request.
#[derive(Debug, Clone)]
enum Expected {
    Refused(&'static str),
    Applied {
        kind: EntryKind,
        amount: i64,
        balance_after: i64,
        held_after: i64,
    },
    /// The entry of an earlier applied request.
    Replay(Original),
}

#[derive(Debug, Clone)]
enum Original {
    Answered(Box<Entry>),
    /// Applied by request `i` of the current round.
    ThisRound(usize),
}

#[derive(Debug, Clone)]
struct ModelHold {
    id: Option<HoldId>,
    amount: i64,
    taken: i64,
    open: bool,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Applied {
    request: Request,
    reference: String,
    original: Original,
}

/// One wallet as the model sees it: plain integers, no locks, no idempotency machinery.
#[derive(Debug)]
struct ModelWallet {
    id: WalletId,
    balance: i64,
    held: i64,
    frozen: bool,
    holds: Vec<ModelHold>,
    applied: Vec<Applied>,
    /// Every entry the wallet must have, in order.
    entries: Vec<Entry>,
    step: usize,
}

impl ModelWallet {
    fn new(id: WalletId) -> Self {
        Self {
            id,
            balance: 0,
            held: 0,
            frozen: false,
            holds: Vec::new(),
            applied: Vec::new(),
            entries: Vec::new(),
            step: 0,
        }
    }

    fn available(&self) -> i64 {
        self.balance - self.held
    }

    fn known_hold(&self, index: usize) -> Option<usize> {
        self.holds
            .get(index)
            .filter(|hold| hold.id.is_some())
            .map(|_| index)
    }

    fn resolve(&self, op: &Op, now: DateTime<Utc>) -> Request {
        let hold_at = |ttl_minutes| now + Duration::minutes(ttl_minutes);
        match *op {
            Op::Credit(amount) => Request::Credit(amount),
            Op::Debit(amount) => Request::Debit(amount),
            Op::Hold {
                amount,
                ttl_minutes,
            } => Request::Hold {
                amount,
                expires_at: hold_at(ttl_minutes),
            },
            Op::HoldDueNow(amount) => Request::Hold {
                amount,
                expires_at: now,
            },
            Op::Capture { hold, amount } => Request::Capture {
                hold: self.known_hold(hold),
                amount,
            },
            Op::Release { hold } => Request::Release {
                hold: self.known_hold(hold),
            },
            Op::Correction(amount) => Request::Correction(amount),
            Op::Reversal(amount) => Request::Reversal(amount),
            Op::DebitAvailable(delta) => Request::Debit(self.available() + delta),
            Op::HoldAvailable(delta) => Request::Hold {
                amount: self.available() + delta,
                expires_at: hold_at(30),
            },
            Op::CorrectAvailable(delta) => Request::Correction(-(self.available() + delta)),
            Op::ReverseAvailable(delta) => Request::Reversal(self.available() + delta),
            Op::CaptureRemaining { hold, delta } => {
                let hold = self.known_hold(hold);
                let amount = hold.map_or(1, |i| {
                    let h = &self.holds[i];
                    h.amount - h.taken + delta
                });
                Request::Capture { hold, amount }
            }
            Op::Replay(_) | Op::Conflict(_) => unreachable!("replays are planned apart"),
        }
    }

    /// Applies the request to the model; the error code, or the entry's kind, amount and
    /// figures after it.
    fn apply(&mut self, request: &Request, now: DateTime<Utc>) -> Expected {
        match self.decide(request, now) {
            Ok((kind, amount)) => Expected::Applied {
                kind,
                amount,
                balance_after: self.balance,
                held_after: self.held,
            },
            Err(code) => Expected::Refused(code),
        }
    }

    fn decide(
        &mut self,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<(EntryKind, i64), &'static str> {
        let positive = match *request {
            Request::Credit(a)
            | Request::Debit(a)
            | Request::Reversal(a)
            | Request::Hold { amount: a, .. }
            | Request::Capture { amount: a, .. } => a,
            Request::Correction(a) => a.abs(),
            Request::Release { .. } => 1,
        };
        if positive <= 0 {
            return Err("INVALID_AMOUNT");
        }
        match *request {
            Request::Credit(amount) => {
                self.balance += amount;
                Ok((EntryKind::Credit, amount))
            }
            Request::Debit(amount) => {
                if self.frozen {
                    return Err("FROZEN_WALLET");
                }
                if amount > self.available() {
                    return Err("INSUFFICIENT_FUNDS");
                }
                self.balance -= amount;
                Ok((EntryKind::Debit, amount))
            }
            Request::Hold { amount, expires_at } => {
                if expires_at <= now {
                    return Err("INVALID_EXPIRY");
                }
                if self.frozen {
                    return Err("FROZEN_WALLET");
                }
                if amount > self.available() {
                    return Err("INSUFFICIENT_FUNDS");
                }
                self.held += amount;
                self.holds.push(ModelHold {
                    id: None,
                    amount,
                    taken: 0,
                    open: true,
                    expires_at,
                });
                Ok((EntryKind::Hold, amount))
            }
            Request::Capture { hold, amount } => {
                let h = &mut self.holds[hold.ok_or("HOLD_NOT_FOUND")?];
                if !h.open || now >= h.expires_at {
                    return Err("HOLD_NOT_OPEN");
                }
                if amount > h.amount - h.taken {
                    return Err("CAPTURE_EXCEEDS_HOLD");
                }
                h.taken += amount;
                h.open = h.taken < h.amount;
                self.balance -= amount;
                self.held -= amount;
                Ok((EntryKind::Capture, amount))
            }
            Request::Release { hold } => {
                let h = &mut self.holds[hold.ok_or("HOLD_NOT_FOUND")?];
                if !h.open {
                    return Err("HOLD_NOT_OPEN");
                }
                let rest = h.amount - h.taken;
                h.taken = h.amount;
                h.open = false;
                self.held -= rest;
                Ok((EntryKind::Release, rest))
            }
            Request::Correction(amount) => {
                if amount < 0 && -amount > self.available() {
                    return Err("INSUFFICIENT_FUNDS");
                }
                self.balance += amount;
                Ok((EntryKind::Correction, amount.abs()))
            }
            Request::Reversal(amount) => {
                if self.available() == 0 {
                    return Err("INSUFFICIENT_FUNDS");
                }
                let taken = amount.min(self.available());
                self.balance -= taken;
                Ok((EntryKind::Reversal, taken))
            }
        }
    }

    /// Expires what is due; how many holds that closed.
    fn expire(&mut self, now: DateTime<Utc>) -> usize {
        let mut expired = 0;
        for h in self
            .holds
            .iter_mut()
            .filter(|h| h.open && h.expires_at <= now)
        {
            self.held -= h.amount - h.taken;
            h.taken = h.amount;
            h.open = false;
            expired += 1;
        }
        expired
    }
}

/// One planned request of a round.
struct Planned {
    wallet: usize,
    request: Request,
    reference: String,
    expected: Expected,
}

/// The request as the writer gets it.
fn to_writer(model: &ModelWallet, planned: &Planned) -> Req {
    let wallet = model.id;
    // A hold the caller cannot name gets a fresh id (`HoldId::default` is a new one).
    let hold_id = |index: Option<usize>| -> HoldId {
        index.and_then(|i| model.holds[i].id).unwrap_or_default()
    };
    let r = planned.reference.as_str();
    match planned.request {
        Request::Credit(amount) => Req::Credit(credit(wallet, amount, r)),
        Request::Debit(amount) => Req::Debit(debit(wallet, amount, r)),
        Request::Hold { amount, expires_at } => Req::Hold(hold(wallet, amount, r, expires_at)),
        Request::Capture { hold, amount } => {
            Req::Capture(capture(wallet, hold_id(hold), amount, r))
        }
        Request::Release { hold } => Req::Release(release(wallet, hold_id(hold), r)),
        Request::Correction(amount) => Req::Correct(correction(wallet, amount, r)),
        Request::Reversal(amount) => Req::Reverse(reversal(wallet, amount, r)),
    }
}

#[test]
fn the_writer_agrees_with_a_naive_model_on_random_concurrent_batches() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let fixture = Arc::new(runtime.block_on(Fixture::new()));
    // Same knob as the single path's model test.
    let cases: u32 = std::env::var("LEDGER_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&case(), |case| {
            runtime.block_on(check_case(&fixture, &case));
            Ok(())
        })
        .unwrap();
    // The cases really shared batches: transactions that wrote entries of several wallets.
    let shared = runtime.block_on(fixture.numbers(
        "SELECT count(*) AS n FROM (SELECT 1 FROM ledger_entries GROUP BY xmin::text \
         HAVING count(DISTINCT wallet_id) > 1) AS shared_batches",
    ));
    assert!(shared[0] > 0, "no batch ever held several wallets");
}

async fn check_case(f: &Fixture, case: &Case) {
    let mut conn = f.conn().await;
    let mut wallets = Vec::with_capacity(WALLETS);
    for _ in 0..WALLETS {
        wallets.push(ModelWallet::new(
            open_wallet(&f.ledger, &mut conn, USD).await,
        ));
    }
    let w = f.writer(WriterConfig {
        max_batch: case.max_batch,
        shards: case.shards,
    });
    for (number, round) in case.rounds.iter().enumerate() {
        let now = primitives::Clock::now(&f.clock);
        let planned = plan(&mut wallets, round, now);
        let requests = planned
            .iter()
            .map(|p| send(&w, to_writer(&wallets[p.wallet], p)))
            .collect();
        let answers = in_order(requests).await;
        check_answers(&mut wallets, &planned, &answers, case, number);
        between_rounds(f, &mut conn, &mut wallets, round).await;
        for wallet in &wallets {
            let view = f.ledger.balance(&mut conn, wallet.id).await.unwrap();
            assert_eq!(
                (view.balance.minor(), view.held.minor(), view.frozen),
                (wallet.balance, wallet.held, wallet.frozen),
                "after round {number} of {case:?}"
            );
        }
    }
    for wallet in &wallets {
        let mut stored = Vec::new();
        let mut query = HistoryQuery {
            limit: 200,
            ..HistoryQuery::default()
        };
        loop {
            let page = f
                .ledger
                .history(&mut conn, wallet.id, query.clone())
                .await
                .unwrap();
            stored.extend(page.entries);
            match page.next_cursor {
                Some(cursor) => query.before = Some(cursor),
                None => break,
            }
        }
        stored.reverse();
        assert_eq!(
            stored, wallet.entries,
            "the books hold exactly the answers, in arrival order: {case:?}"
        );
        let report = f.ledger.reconcile(&mut conn, wallet.id).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
}

/// Runs the model through the round in arrival order.
fn plan(wallets: &mut [ModelWallet], round: &Round, now: DateTime<Utc>) -> Vec<Planned> {
    let mut planned = Vec::new();
    for (index, op) in round.requests.iter() {
        let wallet = &mut wallets[*index];
        wallet.step += 1;
        let fresh = format!("ref-{}", wallet.step);
        let (request, reference, expected) = match op {
            Op::Replay(_) | Op::Conflict(_) if wallet.applied.is_empty() => continue,
            Op::Replay(n) => {
                let original = wallet.applied[n % wallet.applied.len()].clone();
                let request = match original.request {
                    // Asking more than a reversal took still replays it.
                    Request::Reversal(amount) => Request::Reversal(amount + (n % 2) as i64),
                    other => other,
                };
                (
                    request,
                    original.reference,
                    Expected::Replay(original.original),
                )
            }
            Op::Conflict(n) => {
                let original = wallet.applied[n % wallet.applied.len()].clone();
                let request = match original.request {
                    Request::Debit(amount) => Request::Debit(amount + 1),
                    _ => Request::Debit(1),
                };
                (
                    request,
                    original.reference,
                    Expected::Refused("IDEMPOTENCY_CONFLICT"),
                )
            }
            other => {
                let request = wallet.resolve(other, now);
                let expected = wallet.apply(&request, now);
                if matches!(expected, Expected::Applied { .. }) {
                    wallet.applied.push(Applied {
                        request: request.clone(),
                        reference: fresh.clone(),
                        original: Original::ThisRound(planned.len()),
                    });
                }
                (request, fresh, expected)
            }
        };
        planned.push(Planned {
            wallet: *index,
            request,
            reference,
            expected,
        });
    }
    planned
}

fn check_answers(
    wallets: &mut [ModelWallet],
    planned: &[Planned],
    answers: &[Answer],
    case: &Case,
    round: usize,
) {
    let context = |i: usize| {
        format!(
            "request {i} of round {round}: {:?} in {case:?}",
            planned[i].request
        )
    };
    for (i, (p, answer)) in planned.iter().zip(answers).enumerate() {
        let wallet = &mut wallets[p.wallet];
        match (&p.expected, answer) {
            (Expected::Refused(code), Err(error)) => {
                assert_eq!(error.code(), *code, "{}", context(i));
            }
            (
                Expected::Applied {
                    kind,
                    amount,
                    balance_after,
                    held_after,
                },
                Ok((entry, hold, false)),
            ) => {
                assert_eq!(
                    (
                        entry.kind,
                        entry.amount.minor(),
                        entry.balance_after.minor(),
                        entry.held_after.minor(),
                        entry.wallet_id,
                        entry.reference.as_str(),
                    ),
                    (
                        *kind,
                        *amount,
                        *balance_after,
                        *held_after,
                        wallet.id,
                        p.reference.as_str()
                    ),
                    "{}",
                    context(i)
                );
                if let Request::Hold { amount, expires_at } = p.request {
                    let hold = hold.as_ref().unwrap();
                    assert_eq!(
                        (hold.amount.minor(), hold.remaining.minor(), hold.status),
                        (amount, amount, HoldStatus::Open),
                        "{}",
                        context(i)
                    );
                    assert_eq!(hold.expires_at, expires_at);
                    assert_eq!(entry.hold_id, Some(hold.id));
                    let model_hold = wallet.holds.iter_mut().find(|h| h.id.is_none()).unwrap();
                    model_hold.id = Some(hold.id);
                }
                wallet.entries.push(entry.clone());
            }
            (Expected::Replay(original), Ok((entry, _, true))) => {
                let original = match original {
                    Original::Answered(entry) => entry.as_ref(),
                    Original::ThisRound(j) => &answers[*j].as_ref().unwrap().0,
                };
                assert_eq!(entry, original, "{}", context(i));
            }
            (expected, answer) => {
                panic!("{}: expected {expected:?}, got {answer:?}", context(i))
            }
        }
    }
    // Replays in later rounds compare with the answered entries.
    for wallet in wallets.iter_mut() {
        for applied in &mut wallet.applied {
            if let Original::ThisRound(j) = applied.original {
                applied.original =
                    Original::Answered(Box::new(answers[j].as_ref().unwrap().0.clone()));
            }
        }
    }
}

async fn between_rounds(
    f: &Fixture,
    conn: &mut db::AsyncPgConnection,
    wallets: &mut [ModelWallet],
    round: &Round,
) {
    let reason = Reason::parse("model").unwrap();
    for (wallet, change) in wallets.iter_mut().zip(&round.freezes) {
        match change {
            FreezeChange::Keep => {}
            FreezeChange::Freeze => {
                f.ledger
                    .freeze(
                        conn,
                        FreezeRequest {
                            wallet_id: wallet.id,
                            source: FreezeSource::Admin,
                            reason: reason.clone(),
                            actor: Actor::admin(),
                        },
                    )
                    .await
                    .unwrap();
                wallet.frozen = true;
            }
            FreezeChange::Unfreeze => {
                f.ledger
                    .unfreeze(
                        conn,
                        UnfreezeRequest {
                            wallet_id: wallet.id,
                            source: FreezeSource::Admin,
                            reason: reason.clone(),
                            actor: Actor::admin(),
                        },
                    )
                    .await
                    .unwrap();
                wallet.frozen = false;
            }
        }
    }
    if let Some(minutes) = round.advance_minutes {
        f.clock.advance(Duration::minutes(minutes));
        let now = primitives::Clock::now(&f.clock);
        let sweep = f.ledger.expire_due_holds(conn, 10_000).await.unwrap();
        assert!(sweep.failed.is_empty(), "{:?}", sweep.failed);
        for wallet in wallets.iter_mut() {
            let expired: Vec<Entry> = sweep
                .expired
                .iter()
                .filter(|entry| entry.wallet_id == wallet.id)
                .cloned()
                .collect();
            assert_eq!(expired.len(), wallet.expire(now));
            wallet.entries.extend(expired);
        }
    }
}
