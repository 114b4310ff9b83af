//! Statements and database round trips of the dispatcher, counted with diesel's
//! instrumentation hook on every pooled connection (as `ledger-bench`'s profile does), and
//! sorted into the phases of a batch.
//!
//! How a round trip is counted, per connection:
//! - a **flight** is a group of statements sent before any of their answers came back: a
//!   statement that starts while none is in flight opens one (pipelined statements share it);
//! - a **prepare** adds one: diesel-async runs every statement as a prepared statement, and
//!   preparing (Parse/Describe, then wait) is a round trip of its own before the execution.
//!   Statements diesel caches are prepared once per connection (the hook reports a
//!   `CacheQuery`); statements it never caches (every `diesel::sql_query`) are prepared again at
//!   every execution. A statement that never produced a `CacheQuery` on its connection is
//!   counted as uncacheable. Transaction control (`BEGIN`, `COMMIT`, savepoints) goes through
//!   the simple protocol: one round trip, no prepare.
//!
//! Statements pipelined together that all need preparing (the ledger's writes are uncacheable
//! `UPDATE`s and an `INSERT` sent in one `join!`) send their prepares together, then their
//! executions: two round trips, not one per prepare. So a flight with any prepare in it costs
//! one more round trip, and round trips = flights + flights that prepared. Checked against the
//! server's own log (`--log-statements`): the same statements and prepares, one for one.
//!
//! Phases: a transaction containing the claim `UPDATE … SET status = 'sending'` is a **claim**;
//! one containing the settlement `UPDATE … FROM unnest(…)` a **settle**; one with only the
//! recovery `UPDATE … SET status = 'unconfirmed'` a **claim without batch** (the campaign had
//! nothing to claim); statements outside transactions are **autocommit** (`run_once`'s scan for
//! abandoned claims and its list of due campaigns).

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use serde_json::{Value, json};

use benchkit::{
    sql::{self, normalize},
    stats,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Claim,
    ClaimWithoutBatch,
    Settle,
    OtherTransaction,
    Autocommit,
}

impl Phase {
    pub const ALL: [Self; 5] = [
        Self::Claim,
        Self::ClaimWithoutBatch,
        Self::Settle,
        Self::OtherTransaction,
        Self::Autocommit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::ClaimWithoutBatch => "claim_without_batch",
            Self::Settle => "settle",
            Self::OtherTransaction => "other_transaction",
            Self::Autocommit => "autocommit",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct StatementStats {
    count: u64,
    prepares: u64,
    total: Duration,
    sql: String,
    /// When each execution was answered and how long it took (µs), to see trends over a run.
    samples: Vec<(Instant, u64)>,
}

/// What one phase cost, summed over transactions (or autocommit statements).
#[derive(Debug, Default, Clone)]
pub struct PhaseTrace {
    pub transactions: u64,
    pub statements: u64,
    pub flights: u64,
    /// Cache misses plus executions of uncacheable statements (Parse messages).
    pub prepares: u64,
    /// Flights that had to prepare: each costs one round trip more.
    pub prepare_round_trips: u64,
    /// Executions of statements diesel never caches (included in `prepares`).
    pub uncacheable: u64,
    pub overlapped_prepares: u64,
    pub failed_statements: u64,
    /// Each transaction's end and its time from sending `BEGIN` to the answer to `COMMIT` (µs).
    pub durations_us: Vec<(Instant, u64)>,
    by_statement: BTreeMap<String, StatementStats>,
}

impl PhaseTrace {
    pub fn round_trips(&self) -> u64 {
        self.flights + self.prepare_round_trips
    }

    fn merge(&mut self, other: PhaseTrace) {
        self.transactions += other.transactions;
        self.statements += other.statements;
        self.flights += other.flights;
        self.prepares += other.prepares;
        self.prepare_round_trips += other.prepare_round_trips;
        self.uncacheable += other.uncacheable;
        self.overlapped_prepares += other.overlapped_prepares;
        self.failed_statements += other.failed_statements;
        self.durations_us.extend(other.durations_us);
        for (label, stats) in other.by_statement {
            let mine = self.by_statement.entry(label).or_default();
            mine.count += stats.count;
            mine.prepares += stats.prepares;
            mine.total += stats.total;
            mine.samples.extend(stats.samples);
            if mine.sql.is_empty() {
                mine.sql = stats.sql;
            }
        }
    }

    /// The phase per transaction (or, for autocommit, per `per` unit, e.g. per batch).
    pub fn to_json(&self, per: u64) -> Value {
        let per = if self.transactions > 0 {
            self.transactions
        } else {
            per.max(1)
        };
        let ratio = |n: u64| stats::round3(n as f64 / per as f64);
        let mut durations: Vec<u64> = self.durations_us.iter().map(|(_, us)| *us).collect();
        durations.sort_unstable();
        let mut statements: Vec<(&String, &StatementStats)> = self.by_statement.iter().collect();
        statements.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        json!({
            "transactions": self.transactions,
            "statements_per_unit": ratio(self.statements),
            "round_trips_per_unit": ratio(self.round_trips()),
            "flights_per_unit": ratio(self.flights),
            "prepares_per_unit": ratio(self.prepares),
            "prepare_round_trips_per_unit": ratio(self.prepare_round_trips),
            "uncacheable_per_unit": ratio(self.uncacheable),
            "overlapped_prepares": self.overlapped_prepares,
            "failed_statements": self.failed_statements,
            "transaction_ms": (!durations.is_empty()).then(|| json!({
                "mean": stats::round3(
                    durations.iter().sum::<u64>() as f64 / durations.len() as f64 / 1000.0
                ),
                "p50": stats::round3(stats::percentile(&durations, 0.50) as f64 / 1000.0),
                "p99": stats::round3(stats::percentile(&durations, 0.99) as f64 / 1000.0),
                "first_tenth_mean": trend(&self.durations_us).0,
                "last_tenth_mean": trend(&self.durations_us).1,
            })),
            "statements": statements.iter().map(|(label, s)| json!({
                "statement": label,
                "per_unit": ratio(s.count),
                "prepares_per_unit": ratio(s.prepares),
                "mean_send_to_answer_ms": stats::round3(
                    s.total.as_secs_f64() * 1000.0 / s.count.max(1) as f64
                ),
                "first_tenth_mean_ms": trend(&s.samples).0,
                "last_tenth_mean_ms": trend(&s.samples).1,
                "sql": s.sql,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The mean (ms) of the first and of the last tenth of `samples` in time order: whether a
/// statement gets slower as the campaign progresses.
fn trend(samples: &[(Instant, u64)]) -> (Option<f64>, Option<f64>) {
    if samples.len() < 10 {
        return (None, None);
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|(at, _)| *at);
    let tenth = sorted.len() / 10;
    let mean = |part: &[(Instant, u64)]| {
        Some(stats::round3(
            part.iter().map(|(_, us)| *us as f64).sum::<f64>() / part.len() as f64 / 1000.0,
        ))
    };
    (
        mean(&sorted[..tenth]),
        mean(&sorted[sorted.len() - tenth..]),
    )
}

/// Every phase of one or more connections.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub phases: BTreeMap<Phase, PhaseTrace>,
}

impl Trace {
    pub fn merge(&mut self, other: Trace) {
        for (phase, trace) in other.phases {
            self.phases.entry(phase).or_default().merge(trace);
        }
    }

    pub fn phase(&self, phase: Phase) -> PhaseTrace {
        self.phases.get(&phase).cloned().unwrap_or_default()
    }

    pub fn total(&self) -> PhaseTrace {
        let mut total = PhaseTrace::default();
        for trace in self.phases.values() {
            let mut trace = trace.clone();
            trace.by_statement.clear();
            trace.durations_us.clear();
            total.merge(trace);
        }
        total
    }
}

/// A statement sent and not yet answered.
struct Pending {
    sent: Instant,
    label: String,
    /// Other statements were in flight when it was sent.
    overlapped: bool,
    flight: u64,
}

struct Transaction {
    started: Instant,
    trace: PhaseTrace,
    claimed: bool,
    settled: bool,
    recovered: bool,
}

#[derive(Default)]
struct Connection {
    sent: HashMap<String, VecDeque<Pending>>,
    in_flight: usize,
    /// Flights opened so far, and the last one that paid for a prepare.
    flights: u64,
    last_prepared_flight: Option<u64>,
    /// Statements this connection has in diesel's statement cache.
    cached: HashSet<String>,
    /// Statements prepared for the cache during their current execution.
    caching: HashSet<String>,
    transaction: Option<Transaction>,
    trace: Trace,
}

impl Connection {
    fn current(&mut self) -> &mut PhaseTrace {
        match &mut self.transaction {
            Some(transaction) => &mut transaction.trace,
            None => self.trace.phases.entry(Phase::Autocommit).or_default(),
        }
    }

    fn start(&mut self, display: &str) {
        let (sql, binds) = split_display(display);
        let label = label(&sql, binds);
        let now = Instant::now();
        if sql.starts_with("BEGIN") && self.transaction.is_none() {
            self.transaction = Some(Transaction {
                started: now,
                trace: PhaseTrace::default(),
                claimed: false,
                settled: false,
                recovered: false,
            });
        }
        if let Some(transaction) = &mut self.transaction {
            transaction.claimed |= label.starts_with(CLAIM);
            transaction.settled |= label.starts_with(SETTLE);
            transaction.recovered |= label.starts_with(RECOVER);
        }
        let opens_flight = self.in_flight == 0;
        if opens_flight {
            self.flights += 1;
            self.current().flights += 1;
        }
        let flight = self.flights;
        self.sent.entry(sql).or_default().push_back(Pending {
            sent: now,
            label,
            overlapped: !opens_flight,
            flight,
        });
        self.in_flight += 1;
    }

    fn finish(&mut self, display: &str, failed: bool) {
        let (sql, _) = split_display(display);
        let now = Instant::now();
        self.in_flight = self.in_flight.saturating_sub(1);
        let pending = self.sent.get_mut(&sql).and_then(VecDeque::pop_front);
        let simple = is_simple_protocol(&sql);
        let (prepared, uncacheable) = if simple {
            (false, false)
        } else if self.caching.remove(&sql) {
            (true, false)
        } else {
            (!self.cached.contains(&sql), !self.cached.contains(&sql))
        };
        let flight = pending.as_ref().map_or(self.flights, |p| p.flight);
        let new_prepare_round_trip = prepared && self.last_prepared_flight != Some(flight);
        if new_prepare_round_trip {
            self.last_prepared_flight = Some(flight);
        }
        let current = self.current();
        current.statements += 1;
        if new_prepare_round_trip {
            current.prepare_round_trips += 1;
        }
        if failed {
            current.failed_statements += 1;
        }
        if prepared {
            current.prepares += 1;
        }
        if uncacheable {
            current.uncacheable += 1;
        }
        let (label, elapsed, overlapped) = match pending {
            Some(p) => (p.label, now - p.sent, p.overlapped),
            None => (label(&sql, ""), Duration::ZERO, false),
        };
        if prepared && overlapped {
            current.overlapped_prepares += 1;
        }
        let stats = current.by_statement.entry(label).or_default();
        stats.count += 1;
        stats.total += elapsed;
        stats
            .samples
            .push((now, u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)));
        if prepared {
            stats.prepares += 1;
        }
        if stats.sql.is_empty() {
            stats.sql = sql.chars().take(300).collect();
        }
        if (sql == "COMMIT" || sql == "ROLLBACK")
            && let Some(transaction) = self.transaction.take()
        {
            let phase = if transaction.settled {
                Phase::Settle
            } else if transaction.claimed {
                Phase::Claim
            } else if transaction.recovered {
                Phase::ClaimWithoutBatch
            } else {
                Phase::OtherTransaction
            };
            let mut trace = transaction.trace;
            trace.transactions = 1;
            let took = u64::try_from((now - transaction.started).as_micros()).unwrap_or(u64::MAX);
            trace.durations_us.push((now, took));
            self.trace.phases.entry(phase).or_default().merge(trace);
        }
    }
}

/// One connection's recorder; clones share it, so the benchmark keeps one to read it.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Connection>>);

impl Recorder {
    /// What was recorded so far; the recorder starts afresh.
    pub fn take(&self) -> Trace {
        let mut connection = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut connection.trace)
    }
}

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let mut connection = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                connection.start(&query.to_string());
            }
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                connection.finish(&query.to_string(), error.is_some());
            }
            InstrumentationEvent::CacheQuery { sql, .. } => {
                let sql = normalize(sql);
                connection.cached.insert(sql.clone());
                connection.caching.insert(sql);
            }
            _ => {}
        }
    }
}

const CLAIM: &str = "claim:";
const SETTLE: &str = "settle:";
const RECOVER: &str = "recover:";

/// The SQL (whitespace normalized) and the text of its binds, from diesel's debug display
/// `SQL -- binds: [..]`.
fn split_display(display: &str) -> (String, &str) {
    match display.split_once(" -- binds: ") {
        Some((sql, binds)) => (normalize(sql), binds),
        None => (normalize(display), ""),
    }
}

fn is_simple_protocol(sql: &str) -> bool {
    let upper = sql
        .trim_start()
        .get(..9)
        .unwrap_or(sql)
        .to_ascii_uppercase();
    [
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "SET ",
    ]
    .iter()
    .any(|prefix| upper.starts_with(prefix))
}

/// A short, stable name for a statement, e.g. `SELECT campaigns FOR UPDATE`.
pub fn label(sql: &str, binds: &str) -> String {
    if sql.contains("SET status = 'sending'") {
        return format!("{CLAIM} UPDATE campaign_recipients -> sending (SKIP LOCKED) RETURNING");
    }
    if sql.contains("SET status = u.status") {
        return format!("{SETTLE} UPDATE campaign_recipients FROM unnest(outcomes) RETURNING");
    }
    if sql.contains("SET status = 'unconfirmed'") {
        return format!("{RECOVER} UPDATE campaign_recipients -> unconfirmed (expired leases)");
    }
    if sql.starts_with("SELECT count(*) AS n FROM (SELECT 1 FROM campaign_recipients") {
        let status = [
            "pending",
            "sending",
            "sent",
            "failed",
            "unconfirmed",
            "canceled",
        ]
        .into_iter()
        .find(|status| binds.contains(&format!("\"{status}\"")))
        .unwrap_or("?");
        let limit = if binds.trim_end().trim_end_matches(']').ends_with("None") {
            "no limit"
        } else {
            "LIMIT n"
        };
        return format!("count recipients {status} ({limit})");
    }
    if sql.starts_with("SAVEPOINT") {
        return "SAVEPOINT".to_owned();
    }
    if sql.starts_with("RELEASE SAVEPOINT") {
        return "RELEASE SAVEPOINT".to_owned();
    }
    sql::label(sql, &["DISTINCT", "FOR UPDATE", "RETURNING"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_get_short_labels() {
        let lock = r#"SELECT "campaigns"."id" FROM "campaigns" WHERE ("campaigns"."id" = $1) LIMIT $2 FOR UPDATE -- binds: [0193, 1]"#;
        let (sql, binds) = split_display(lock);
        assert_eq!(label(&sql, binds), "SELECT campaigns FOR UPDATE");
        let count = "SELECT count(*) AS n FROM (SELECT 1 FROM campaign_recipients \
                     WHERE campaign_id = $1 AND status = $2 LIMIT $3) AS t -- binds: [0193, \"sending\", None]";
        let (sql, binds) = split_display(count);
        assert_eq!(label(&sql, binds), "count recipients sending (no limit)");
        let capped = count
            .replace("None", "Some(100)")
            .replace("sending", "pending");
        let (sql, binds) = split_display(&capped);
        assert_eq!(label(&sql, binds), "count recipients pending (LIMIT n)");
        assert!(
            label(
                "UPDATE campaign_recipients AS r SET status = 'sending', x = 1",
                ""
            )
            .starts_with(CLAIM)
        );
        assert_eq!(label("SAVEPOINT diesel_savepoint_1", ""), "SAVEPOINT");
        assert!(is_simple_protocol("BEGIN") && is_simple_protocol("RELEASE SAVEPOINT d_1"));
        assert!(!is_simple_protocol("SELECT 1"));
    }

    #[test]
    fn flights_prepares_and_phases_are_counted_per_connection() {
        let mut conn = Connection::default();
        let lock = "SELECT \"campaigns\".\"id\" FROM \"campaigns\" FOR UPDATE";
        let claim = "UPDATE campaign_recipients AS r SET status = 'sending' RETURNING r.id";
        // A claim transaction: BEGIN, a cached lock (prepared the first time), an uncacheable
        // claim, two pipelined cached statements, COMMIT.
        conn.start("BEGIN");
        conn.finish("BEGIN", false);
        conn.start(&format!("{lock} -- binds: [1]"));
        conn.cached.insert(normalize(lock));
        conn.caching.insert(normalize(lock));
        conn.finish(lock, false);
        conn.start(&format!("{claim} -- binds: [1]"));
        conn.finish(claim, false);
        conn.start(&format!("{lock} -- binds: [2]"));
        conn.start(&format!("{lock} -- binds: [3]"));
        conn.finish(lock, false);
        conn.finish(lock, false);
        // Two uncacheable statements pipelined: prepared together, then executed together.
        let update = "UPDATE wallets SET balance = $1";
        conn.start(&format!("{update} -- binds: [1]"));
        conn.start(&format!("{update} -- binds: [2]"));
        conn.finish(update, false);
        conn.finish(update, false);
        conn.start("COMMIT");
        conn.finish("COMMIT", false);
        // Then one autocommit statement, already cached.
        conn.start(lock);
        conn.finish(lock, false);

        let claim_phase = conn.trace.phase(Phase::Claim);
        assert_eq!(claim_phase.transactions, 1);
        assert_eq!(claim_phase.statements, 8);
        assert_eq!(
            claim_phase.flights, 6,
            "pipelined statements share a flight"
        );
        assert_eq!(
            claim_phase.prepares, 4,
            "the lock's first use, the uncacheable claim and both updates"
        );
        assert_eq!(claim_phase.uncacheable, 3);
        assert_eq!(
            claim_phase.prepare_round_trips, 3,
            "the updates prepare together"
        );
        assert_eq!(claim_phase.overlapped_prepares, 1);
        assert_eq!(claim_phase.round_trips(), 9);
        let autocommit = conn.trace.phase(Phase::Autocommit);
        assert_eq!((autocommit.statements, autocommit.round_trips()), (1, 1));
        assert_eq!(conn.trace.total().statements, 9);
    }
}
