//! Where a debit's time goes: sequential debits on one pooled connection traced with diesel's
//! instrumentation hook, counting statements, transactions and round trips ("flights": a batch of
//! statements sent before any of their answers came back, which is what the store's pipelining
//! produces), with each statement's time from send to answer.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::Context;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::AsyncConnection;
use ledger::{Actor, Counterparty, DebitRequest, Ledger, Reference};
use primitives::{Currency, Money, WalletId};
use serde_json::{Value, json};

use benchkit::{sql, stats};

#[derive(Default)]
struct Statement {
    sql: String,
    count: u64,
    total: Duration,
}

#[derive(Default)]
struct Trace {
    sent: HashMap<String, VecDeque<Instant>>,
    in_flight: usize,
    flights: u64,
    statements: BTreeMap<String, Statement>,
    begins: u64,
    commits: u64,
    rollbacks: u64,
    errors: u64,
    /// When this connection's wallet row lock was granted (the `FOR UPDATE` answer arrived).
    lock_granted: Option<Instant>,
    /// From sending `FOR UPDATE` to its answer: waiting for the lock, plus one round trip.
    lock_wait: Duration,
    /// From the `FOR UPDATE` answer to the `COMMIT` answer: how long the client kept the lock.
    lock_hold: Duration,
    locks: u64,
}

impl Trace {
    fn merge(&mut self, other: Trace) {
        self.flights += other.flights;
        for (label, statement) in other.statements {
            let mine = self.statements.entry(label).or_default();
            mine.count += statement.count;
            mine.total += statement.total;
            if mine.sql.is_empty() {
                mine.sql = statement.sql;
            }
        }
        self.begins += other.begins;
        self.commits += other.commits;
        self.rollbacks += other.rollbacks;
        self.errors += other.errors;
        self.lock_wait += other.lock_wait;
        self.lock_hold += other.lock_hold;
        self.locks += other.locks;
    }
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Trace>>);

impl Recorder {
    fn take(&self) -> Trace {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let mut trace = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let sql = sql_text(&query.to_string());
                if trace.in_flight == 0 {
                    trace.flights += 1;
                }
                trace.in_flight += 1;
                trace.sent.entry(sql).or_default().push_back(Instant::now());
            }
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                let sql = sql_text(&query.to_string());
                trace.in_flight = trace.in_flight.saturating_sub(1);
                if error.is_some() {
                    trace.errors += 1;
                }
                let sent = trace.sent.get_mut(&sql).and_then(VecDeque::pop_front);
                let now = Instant::now();
                let label = label(&sql);
                if label == "SELECT wallets FOR UPDATE" && error.is_none() {
                    trace.lock_granted = Some(now);
                    trace.locks += 1;
                    if let Some(sent) = sent {
                        trace.lock_wait += now - sent;
                    }
                } else if (sql == "COMMIT" || sql == "ROLLBACK")
                    && let Some(granted) = trace.lock_granted.take()
                {
                    trace.lock_hold += now - granted;
                }
                let statement = trace.statements.entry(label).or_default();
                statement.count += 1;
                if let Some(sent) = sent {
                    statement.total += now - sent;
                }
                if statement.sql.is_empty() {
                    statement.sql = sql.chars().take(400).collect();
                }
            }
            InstrumentationEvent::BeginTransaction { .. } => trace.begins += 1,
            InstrumentationEvent::CommitTransaction { .. } => trace.commits += 1,
            InstrumentationEvent::RollbackTransaction { .. } => trace.rollbacks += 1,
            _ => {}
        }
    }
}

/// The SQL without diesel's `-- binds: [...]` suffix.
fn sql_text(display: &str) -> String {
    sql::normalize(display.split(" -- binds:").next().unwrap_or(display))
}

/// A short name for a statement: verb, main table and row lock, e.g. `SELECT wallets FOR UPDATE`.
fn label(sql: &str) -> String {
    sql::label(sql, &["FOR UPDATE", "RETURNING"])
}

/// Runs `ops` sequential debits twice: checking the connection out of the pool for each debit
/// (as the benchmark and a request handler do), then keeping one connection checked out.
pub async fn run(
    url: &str,
    ledger: &Ledger,
    wallet_id: WalletId,
    ops: usize,
    run_tag: &str,
) -> anyhow::Result<Value> {
    let mut config = db::DbConfig::new(url.to_owned().into(), "ledger-bench-profile");
    config.max_connections = 1;
    let pool = db::connect_pool(&config).context("could not build the pool")?;
    let recorder = Recorder::default();
    {
        let mut conn = pool.get().await?;
        conn.set_instrumentation(recorder.clone());
    }
    let counterparty = Counterparty::parse("revenue:messages")?;
    let actor = Actor::system("bench");
    let request = |n: usize, phase: &str| -> anyhow::Result<DebitRequest> {
        Ok(DebitRequest {
            wallet_id,
            amount: Money::from_minor(1, Currency::USD),
            counterparty: counterparty.clone(),
            reference: Reference::parse(format!("{run_tag}-profile-{phase}-{n}"))?,
            actor: actor.clone(),
        })
    };
    // Fill the prepared-statement cache first.
    for n in 0..20 {
        let mut conn = pool.get().await?;
        ledger.debit(&mut conn, request(n, "warm")?).await?;
    }
    recorder.take();

    let mut checkout_latencies = Vec::with_capacity(ops);
    let started = Instant::now();
    for n in 0..ops {
        let op = Instant::now();
        let mut conn = pool.get().await?;
        ledger.debit(&mut conn, request(n, "pooled")?).await?;
        checkout_latencies.push(op.elapsed());
    }
    let pooled_seconds = started.elapsed().as_secs_f64();
    let pooled = recorder.take();

    let mut held_latencies = Vec::with_capacity(ops);
    let started = Instant::now();
    {
        let mut conn = pool.get().await?;
        for n in 0..ops {
            let op = Instant::now();
            ledger.debit(&mut conn, request(n, "held")?).await?;
            held_latencies.push(op.elapsed());
        }
    }
    let held_seconds = started.elapsed().as_secs_f64();
    let held = recorder.take();
    pool.close();

    let (contended, contended_latencies, contended_seconds) =
        contended(url, ledger, wallet_id, ops, run_tag).await?;
    Ok(json!({
        "type": "profile",
        "note": "debits on the hot wallet: sequentially on one connection (checked out per debit, \
                 then held), and from 8 concurrent clients checking out per debit",
        "debits": ops,
        "pool_checkout_per_debit": describe(&pooled, checkout_latencies, pooled_seconds),
        "connection_held": describe(&held, held_latencies, held_seconds),
        "hot_concurrency_8": describe(&contended, contended_latencies, contended_seconds),
    }))
}

const CONTENDED_CLIENTS: usize = 8;

/// How many debits a profile of `ops` writes (warm-ups included), for the final entries check.
pub fn debits_written(ops: usize) -> u64 {
    let contended = ops.div_ceil(CONTENDED_CLIENTS) * CONTENDED_CLIENTS;
    (20 + 2 * ops + CONTENDED_CLIENTS * 5 + contended) as u64
}

/// `ops` debits on the hot wallet from 8 clients, every pooled connection traced.
async fn contended(
    url: &str,
    ledger: &Ledger,
    wallet_id: WalletId,
    ops: usize,
    run_tag: &str,
) -> anyhow::Result<(Trace, Vec<Duration>, f64)> {
    let mut config = db::DbConfig::new(url.to_owned().into(), "ledger-bench-profile");
    config.max_connections = CONTENDED_CLIENTS;
    let pool = db::connect_pool(&config).context("could not build the pool")?;
    let recorders: Vec<Recorder> = (0..CONTENDED_CLIENTS)
        .map(|_| Recorder::default())
        .collect();
    {
        let mut opened = Vec::with_capacity(CONTENDED_CLIENTS);
        for recorder in &recorders {
            let mut conn = pool.get().await?;
            conn.set_instrumentation(recorder.clone());
            opened.push(conn);
        }
    }
    let counterparty = Counterparty::parse("revenue:messages")?;
    let per_client = ops.div_ceil(CONTENDED_CLIENTS);
    let client = |task: usize, phase: &'static str, count: usize| {
        let (pool, ledger, counterparty) = (pool.clone(), ledger.clone(), counterparty.clone());
        let prefix = format!("{run_tag}-profile-{phase}-t{task}");
        async move {
            let mut latencies = Vec::with_capacity(count);
            for n in 0..count {
                let request = DebitRequest {
                    wallet_id,
                    amount: Money::from_minor(1, Currency::USD),
                    counterparty: counterparty.clone(),
                    reference: Reference::parse(format!("{prefix}-{n}"))?,
                    actor: Actor::system("bench"),
                };
                let op = Instant::now();
                let mut conn = pool.get().await?;
                ledger.debit(&mut conn, request).await?;
                latencies.push(op.elapsed());
            }
            anyhow::Ok(latencies)
        }
    };
    // Warm every connection's statement cache, then measure.
    let warm: Vec<_> = (0..CONTENDED_CLIENTS)
        .map(|task| tokio::spawn(client(task, "warm8", 5)))
        .collect();
    for handle in warm {
        handle.await??;
    }
    for recorder in &recorders {
        recorder.take();
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONTENDED_CLIENTS)
        .map(|task| tokio::spawn(client(task, "hot8", per_client)))
        .collect();
    let mut latencies = Vec::with_capacity(per_client * CONTENDED_CLIENTS);
    for handle in tasks {
        latencies.extend(handle.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    pool.close();
    let mut trace = Trace::default();
    for recorder in &recorders {
        trace.merge(recorder.take());
    }
    Ok((trace, latencies, seconds))
}

fn describe(trace: &Trace, latencies: Vec<Duration>, seconds: f64) -> Value {
    let ops = latencies.len().max(1);
    let per_op = |n: u64| stats::round3(n as f64 / ops as f64);
    let mean_ms = |total: Duration, n: u64| {
        (n > 0).then(|| stats::round3(total.as_secs_f64() * 1000.0 / n as f64))
    };
    let statements: u64 = trace.statements.values().map(|s| s.count).sum();
    let latencies_us = latencies
        .iter()
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .collect();
    let summary = stats::summarize(latencies_us, seconds);
    let mut by_statement: Vec<Value> = trace
        .statements
        .iter()
        .map(|(label, s)| {
            json!({
                "statement": label,
                "per_debit": per_op(s.count),
                "mean_send_to_answer_ms": stats::round3(
                    s.total.as_secs_f64() * 1000.0 / s.count.max(1) as f64
                ),
                "sql": s.sql,
            })
        })
        .collect();
    by_statement.sort_by(|a, b| {
        let key = |v: &Value| v["mean_send_to_answer_ms"].as_f64().unwrap_or(0.0);
        key(b).total_cmp(&key(a))
    });
    json!({
        "ops_per_sec": summary.per_sec,
        "mean_ms": summary.mean_ms,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "statements_per_debit": per_op(statements),
        "round_trips_per_debit": per_op(trace.flights),
        "transactions_per_debit": per_op(trace.begins),
        "commits": trace.commits,
        "rollbacks": trace.rollbacks,
        "failed_statements": trace.errors,
        "mean_lock_wait_ms": mean_ms(trace.lock_wait, trace.locks),
        "mean_lock_hold_ms": mean_ms(trace.lock_hold, trace.locks),
        "statements": by_statement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_get_short_labels() {
        let lock = r#"SELECT "wallets"."id", "wallets"."balance" FROM "wallets" WHERE ("wallets"."id" = $1) LIMIT $2 FOR UPDATE -- binds: [1, 1]"#;
        assert_eq!(label(&sql_text(lock)), "SELECT wallets FOR UPDATE");
        let insert =
            r#"INSERT INTO "ledger_entries" ("id") VALUES ($1) RETURNING "ledger_entries"."id""#;
        assert_eq!(label(insert), "INSERT ledger_entries RETURNING");
        assert_eq!(label("BEGIN"), "BEGIN");
        assert_eq!(sql_text("SELECT  1\n -- binds: [1]"), "SELECT 1");
    }
}
