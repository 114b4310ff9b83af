//! The wallet API's money movements, on both of the ledger's write paths, with their faults.
//!
//! What the model checks around each one: an acknowledged movement has exactly one entry under
//! its reference, of its kind and amount; a refused one has none; a retry after a fault settles
//! an unknown outcome (a replay if the first attempt had applied); a debit or a hold never
//! lands on a frozen wallet; and, for a fresh request, the ledger decides what the wallet's
//! figures before it say it must (frozen, insufficient funds, or applied).

use chrono::Duration;
use db::AsyncPgConnection;
use ledger::{
    Actor, CaptureRequest, CorrectionRequest, Counterparty, CreditRequest, DebitRequest,
    HoldRequest, Ledger, LedgerError, LedgerWriter, Reason, Reference, ReleaseRequest,
};
use primitives::HoldId;

use crate::{
    faults::{API_WRITER, VICTIM},
    model::Acknowledged,
    plan::{Kill, MoneyKind, MoneyStep, Path},
    sql,
    world::{World, usd},
};

/// A request as built for its first attempt; retries send exactly this again.
#[derive(Debug, Clone)]
pub enum Call {
    Debit(DebitRequest),
    Credit(CreditRequest),
    Correction(CorrectionRequest),
    Hold(HoldRequest),
    Capture(CaptureRequest),
    Release(ReleaseRequest),
}

impl Call {
    fn reference(&self) -> &Reference {
        match self {
            Self::Debit(r) => &r.reference,
            Self::Credit(r) => &r.reference,
            Self::Correction(r) => &r.reference,
            Self::Hold(r) => &r.reference,
            Self::Capture(r) => &r.reference,
            Self::Release(r) => &r.reference,
        }
    }

    /// The entry kind it writes and, when the request fixes it, the amount.
    fn expected(&self) -> (&'static str, Option<i64>) {
        match self {
            Self::Debit(r) => ("debit", Some(r.amount.minor())),
            Self::Credit(r) => ("credit", Some(r.amount.minor())),
            Self::Correction(r) => ("correction", Some(r.amount.minor().abs())),
            Self::Hold(r) => ("hold", Some(r.amount.minor())),
            Self::Capture(r) => ("capture", Some(r.amount.minor())),
            Self::Release(_) => ("release", None),
        }
    }
}

/// What an applied (or replayed) movement answered.
#[derive(Debug, Clone)]
pub struct Done {
    pub replayed: bool,
    pub hold: Option<HoldId>,
}

async fn on_connection(
    ledger: &Ledger,
    conn: &mut AsyncPgConnection,
    call: Call,
) -> Result<Done, LedgerError> {
    let entry = |outcome: ledger::Outcome<ledger::Entry>| Done {
        replayed: outcome.replayed,
        hold: None,
    };
    Ok(match call {
        Call::Debit(r) => entry(ledger.debit(conn, r).await?),
        Call::Credit(r) => entry(ledger.credit(conn, r).await?),
        Call::Correction(r) => entry(ledger.correct(conn, r).await?),
        Call::Capture(r) => entry(ledger.capture(conn, r).await?),
        Call::Release(r) => entry(ledger.release(conn, r).await?),
        Call::Hold(r) => {
            let outcome = ledger.hold(conn, r).await?;
            Done {
                replayed: outcome.replayed,
                hold: Some(outcome.value.hold.id),
            }
        }
    })
}

async fn through_writer(writer: &LedgerWriter, call: Call) -> Result<Done, LedgerError> {
    let entry = |outcome: ledger::Outcome<ledger::Entry>| Done {
        replayed: outcome.replayed,
        hold: None,
    };
    Ok(match call {
        Call::Debit(r) => entry(writer.debit(r).await?),
        Call::Credit(r) => entry(writer.credit(r).await?),
        Call::Correction(r) => entry(writer.correct(r).await?),
        Call::Capture(r) => entry(writer.capture(r).await?),
        Call::Release(r) => entry(writer.release(r).await?),
        Call::Hold(r) => {
            let outcome = writer.hold(r).await?;
            Done {
                replayed: outcome.replayed,
                hold: Some(outcome.value.hold.id),
            }
        }
    })
}

/// A decision against the request, as opposed to a failure of the system.
fn refusal(error: &LedgerError) -> Option<&'static str> {
    let code = error.code();
    matches!(
        code,
        "INSUFFICIENT_FUNDS"
            | "FROZEN_WALLET"
            | "HOLD_NOT_FOUND"
            | "HOLD_NOT_OPEN"
            | "CAPTURE_EXCEEDS_HOLD"
            | "INVALID_EXPIRY"
    )
    .then_some(code)
}

/// What the wallet's figures before a fresh request say the ledger must decide: `Ok` applied,
/// `Err(code)` refused; `None` when the sim does not predict it (captures and releases depend
/// on the hold).
fn predict(kind: MoneyKind, before: &sql::WalletRow) -> Option<Result<(), &'static str>> {
    let spend = |amount: i64| {
        if before.is_frozen() {
            Err("FROZEN_WALLET")
        } else if amount > before.available() {
            Err("INSUFFICIENT_FUNDS")
        } else {
            Ok(())
        }
    };
    match kind {
        MoneyKind::Debit { amount } | MoneyKind::Hold { amount, .. } => Some(spend(amount)),
        MoneyKind::Credit { .. } => Some(Ok(())),
        MoneyKind::Correction { amount } if amount < 0 && -amount > before.available() => {
            Some(Err("INSUFFICIENT_FUNDS"))
        }
        MoneyKind::Correction { .. } => Some(Ok(())),
        MoneyKind::Capture { .. } | MoneyKind::Release { .. } => None,
    }
}

fn kind_name(kind: MoneyKind) -> &'static str {
    match kind {
        MoneyKind::Debit { .. } => "debit",
        MoneyKind::Credit { .. } => "credit",
        MoneyKind::Correction { .. } => "correction",
        MoneyKind::Hold { .. } => "hold",
        MoneyKind::Capture { .. } => "capture",
        MoneyKind::Release { .. } => "release",
    }
}

fn parse<T, E: std::fmt::Display>(value: Result<T, E>) -> T {
    value.unwrap_or_else(|e| panic!("sim: {e}"))
}

impl World {
    /// The request a plan step stands for; `None` when it names a hold the world never got.
    fn build_call(&self, step: &MoneyStep) -> Option<Call> {
        let wallet_id = self.orgs[step.org].wallet;
        let reference = parse(Reference::parse(format!("sim:op:{}", step.op)));
        let actor = parse(Actor::parse(format!("api_key:sim-{}", step.org)));
        Some(match step.kind {
            MoneyKind::Debit { amount } => Call::Debit(DebitRequest {
                wallet_id,
                amount: usd(amount),
                counterparty: parse(Counterparty::parse("revenue:api")),
                reference,
                actor,
            }),
            MoneyKind::Credit { amount } => Call::Credit(CreditRequest {
                wallet_id,
                amount: usd(amount),
                counterparty: parse(Counterparty::parse("topup:manual")),
                reference,
                actor: Actor::admin(),
            }),
            MoneyKind::Correction { amount } => Call::Correction(CorrectionRequest {
                wallet_id,
                amount: usd(amount),
                reason: parse(Reason::parse("simulated operator correction")),
                reference,
                actor: Actor::admin(),
            }),
            MoneyKind::Hold {
                amount,
                ttl_seconds,
                ..
            } => Call::Hold(HoldRequest {
                wallet_id,
                amount: usd(amount),
                counterparty: parse(Counterparty::parse("revenue:api")),
                expires_at: self.now() + Duration::seconds(ttl_seconds),
                reference,
                actor,
            }),
            MoneyKind::Capture { slot, amount } => Call::Capture(CaptureRequest {
                wallet_id,
                hold_id: *self.holds.get(&slot)?,
                amount: usd(amount),
                reference,
                actor,
            }),
            MoneyKind::Release { slot } => Call::Release(ReleaseRequest {
                wallet_id,
                hold_id: *self.holds.get(&slot)?,
                reference,
                actor,
            }),
        })
    }

    pub async fn money(&mut self, step: &MoneyStep) -> Result<String, String> {
        let Some(call) = self.build_call(step) else {
            self.stats.bump("skipped.money_on_a_hold_never_placed");
            return Ok("skipped: its hold was never placed".into());
        };
        self.run_money(step, call, false).await
    }

    pub async fn retry(&mut self, op: u32) -> Result<String, String> {
        let Some((step, call)) = self.faulted.remove(&op) else {
            return Ok("nothing to retry".into());
        };
        self.run_money(&step, call, true).await
    }

    async fn execute_call(&self, path: Path, call: Call) -> Result<Done, LedgerError> {
        match path {
            Path::Single => {
                let mut conn = self.conn().await;
                on_connection(&self.services.ledger, &mut conn, call).await
            }
            Path::Writer => through_writer(&self.api_writer, call).await,
        }
    }

    /// Runs `call` while the fault kills its connection; whether a session was killed.
    async fn faulty_call(
        &mut self,
        path: Path,
        call: Call,
        kill: Kill,
        wallet: uuid::Uuid,
    ) -> (Result<Done, LedgerError>, bool) {
        let lock = format!("SELECT 1 FROM wallets WHERE id = '{wallet}' FOR UPDATE");
        let ledger = self.services.ledger.clone();
        let (app, operation): (&str, futures::future::BoxFuture<'static, _>) = match path {
            Path::Single => {
                let victim = self.victim_pool();
                (
                    VICTIM,
                    Box::pin(async move {
                        let mut conn =
                            victim.get().await.map_err(|e| LedgerError::Unavailable {
                                cause: e.to_string(),
                            })?;
                        on_connection(&ledger, &mut conn, call).await
                    }),
                )
            }
            Path::Writer => {
                let writer = self.api_writer.clone();
                (
                    API_WRITER,
                    Box::pin(async move { through_writer(&writer, call).await }),
                )
            }
        };
        let faulted = match kill {
            Kill::WhileLocked => self.control.kill_while_locked(app, &lock, operation).await,
            Kill::Random { after } => self.control.kill_randomly(app, after, operation).await,
        };
        if path == Path::Single {
            self.control.wait_gone(VICTIM).await;
        }
        (faulted.result, faulted.killed)
    }

    async fn run_money(
        &mut self,
        step: &MoneyStep,
        call: Call,
        retry: bool,
    ) -> Result<String, String> {
        let wallet = self.orgs[step.org].wallet.as_uuid();
        let reference = call.reference().as_str().to_owned();
        let kind = kind_name(step.kind);
        let before = self
            .snapshot
            .wallet(wallet)
            .ok_or("sim: the wallet vanished")?;
        let fault = if retry { None } else { step.fault };
        let (result, killed) = match fault {
            None => (self.execute_call(step.path, call.clone()).await, false),
            Some(kill) => {
                let name = match kill {
                    Kill::WhileLocked => "while_locked",
                    Kill::Random { .. } => "random",
                };
                let path = match step.path {
                    Path::Single => "single_path",
                    Path::Writer => "writer",
                };
                let outcome = self
                    .faulty_call(step.path, call.clone(), kill, wallet)
                    .await;
                let hit = if outcome.1 { "injected" } else { "missed" };
                self.stats
                    .bump(format!("fault.kill_{name}.ledger_{path}.{hit}"));
                // Retried by the plan whatever the outcome: a replay if it had applied.
                self.faulted.insert(step.op, (step.clone(), call.clone()));
                outcome
            }
        };
        let entries = {
            let mut conn = self.conn().await;
            sql::entries_of(&mut conn, wallet, &reference).await
        };
        let (expected_kind, expected_amount) = call.expected();
        let was_acknowledged = self.model.acknowledged.contains_key(&reference);
        match result {
            Ok(done) => {
                let [entry] = entries.as_slice() else {
                    return Err(format!(
                        "{kind} {reference} was acknowledged but has {} entries",
                        entries.len()
                    ));
                };
                if entry.kind != expected_kind
                    || expected_amount.is_some_and(|amount| amount != entry.amount)
                {
                    return Err(format!(
                        "{reference}: acknowledged as {expected_kind} {expected_amount:?}, \
                         recorded as {} {}",
                        entry.kind, entry.amount
                    ));
                }
                if was_acknowledged && !done.replayed {
                    return Err(format!(
                        "{reference} was applied again: the first attempt had been \
                         acknowledged, the retry was not answered as a replay"
                    ));
                }
                if !done.replayed && matches!(expected_kind, "debit" | "hold") && before.is_frozen()
                {
                    return Err(format!(
                        "a {expected_kind} ({reference}) was applied to a wallet frozen by {}",
                        before.frozen
                    ));
                }
                if !retry
                    && fault.is_none()
                    && let Some(Err(code)) = predict(step.kind, &before)
                {
                    return Err(format!(
                        "{kind} {reference} was applied, but the wallet before it ({before:?}) \
                         says {code}"
                    ));
                }
                if let (MoneyKind::Hold { slot, .. }, Some(hold)) = (step.kind, done.hold) {
                    self.holds.insert(slot, hold);
                }
                self.model.unknown.remove(&step.op);
                self.model.acknowledge(
                    reference.clone(),
                    Acknowledged {
                        wallet,
                        kind: expected_kind,
                        amount: expected_amount,
                    },
                );
                let how = if done.replayed { "replayed" } else { "applied" };
                self.stats.bump(format!("money.{kind}.{how}"));
                Ok(format!("{kind} {reference}: {how}"))
            }
            Err(error) => {
                if let Some(code) = refusal(&error) {
                    if !entries.is_empty() {
                        return Err(format!(
                            "{kind} {reference} was refused ({code}) yet has {} entries",
                            entries.len()
                        ));
                    }
                    if was_acknowledged {
                        return Err(format!(
                            "{reference} had been acknowledged, its retry was refused ({code})"
                        ));
                    }
                    if !retry
                        && fault.is_none()
                        && let Some(predicted) = predict(step.kind, &before)
                        && predicted != Err(code)
                    {
                        return Err(format!(
                            "{kind} {reference} was refused {code}, but the wallet before it \
                             ({before:?}) says {predicted:?}"
                        ));
                    }
                    self.model.unknown.remove(&step.op);
                    self.stats.bump(format!("money.{kind}.refused.{code}"));
                    return Ok(format!("{kind} {reference}: refused {code}"));
                }
                if killed {
                    if entries.len() > 1 {
                        return Err(format!(
                            "{reference} has {} entries after a killed attempt",
                            entries.len()
                        ));
                    }
                    if fault == Some(Kill::WhileLocked) && !entries.is_empty() {
                        return Err(format!(
                            "{reference} was killed while waiting for its wallet's lock, yet it \
                             applied"
                        ));
                    }
                    self.model.unknown.insert(step.op);
                    self.stats.bump(format!("money.{kind}.unknown_after_kill"));
                    return Ok(format!(
                        "{kind} {reference}: killed ({}), {} entries",
                        error.code(),
                        entries.len()
                    ));
                }
                Err(format!(
                    "{kind} {reference} failed unexpectedly: {} {error}",
                    error.code()
                ))
            }
        }
    }
}
