//! Where a delivery's time goes, from diesel's instrumentation hook on every connection of the
//! receiver's own pool: deliveries are sent one at a time, and everything the pool's connections
//! do between a request's start and its answer is that delivery's.
//!
//! Counted per delivery: statements (transaction control included), transactions and
//! savepoints, `COMMIT`s, and statements run outside any transaction (autocommit: an `INSERT`,
//! `UPDATE` or `DELETE` there is a commit of its own, with its own WAL flush); the time spent
//! waiting for statements, and for `COMMIT`s and autocommit writes (where the fsync is).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use benchkit::stats;
use db::DbPool;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::AsyncConnection;
use serde_json::{Value, json};

use crate::load::{self, Sent};

/// What the pool's connections did, summed.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    statements: u64,
    transactions: u64,
    savepoints: u64,
    commits: u64,
    autocommit_statements: u64,
    autocommit_writes: u64,
    statement_time: Duration,
    commit_time: Duration,
    /// By the statement's first words: executions and time.
    by_statement: BTreeMap<String, (u64, Duration)>,
    /// Every statement's first words, in order.
    sequence: Vec<String>,
}

impl Tally {
    fn minus(&self, before: &Self) -> Self {
        let mut by_statement = self.by_statement.clone();
        for (head, (count, time)) in &before.by_statement {
            if let Some(mine) = by_statement.get_mut(head) {
                mine.0 -= count;
                mine.1 = mine.1.saturating_sub(*time);
            }
        }
        by_statement.retain(|_, (count, _)| *count > 0);
        Self {
            statements: self.statements - before.statements,
            transactions: self.transactions - before.transactions,
            savepoints: self.savepoints - before.savepoints,
            commits: self.commits - before.commits,
            autocommit_statements: self.autocommit_statements - before.autocommit_statements,
            autocommit_writes: self.autocommit_writes - before.autocommit_writes,
            statement_time: self.statement_time.saturating_sub(before.statement_time),
            commit_time: self.commit_time.saturating_sub(before.commit_time),
            by_statement,
            sequence: self
                .sequence
                .get(before.sequence.len()..)
                .unwrap_or_default()
                .to_vec(),
        }
    }

    fn add(&mut self, other: &Self) {
        self.statements += other.statements;
        self.transactions += other.transactions;
        self.savepoints += other.savepoints;
        self.commits += other.commits;
        self.autocommit_statements += other.autocommit_statements;
        self.autocommit_writes += other.autocommit_writes;
        self.statement_time += other.statement_time;
        self.commit_time += other.commit_time;
        for (head, (count, time)) in &other.by_statement {
            let mine = self.by_statement.entry(head.clone()).or_default();
            mine.0 += count;
            mine.1 += *time;
        }
    }
}

/// One connection's hook; the tally is shared by all.
struct Recorder {
    tally: Arc<Mutex<Tally>>,
    in_transaction: bool,
    ending: bool,
    next_is_commit: bool,
    current: Option<Current>,
}

struct Current {
    started: Instant,
    head: String,
    commit: bool,
    autocommit: bool,
}

/// Stops writing after `limit` characters, so a statement's text is cut before its binds (a
/// delivery's body among them) are ever formatted.
struct Head {
    text: String,
    limit: usize,
}

impl std::fmt::Write for Head {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for c in s.chars() {
            if self.text.chars().count() >= self.limit {
                return Err(std::fmt::Error);
            }
            self.text.push(if c.is_whitespace() { ' ' } else { c });
        }
        Ok(())
    }
}

/// The statement's first words, numbered savepoints made one.
fn head(query: &dyn std::fmt::Display) -> String {
    let mut head = Head {
        text: String::new(),
        limit: 72,
    };
    // An error only means the limit was reached.
    let _ = write!(head, "{query}");
    let text = head.text.split(" -- binds").next().unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.first().copied() {
        Some("SAVEPOINT") => "SAVEPOINT".to_owned(),
        Some("RELEASE") => "RELEASE SAVEPOINT".to_owned(),
        Some("ROLLBACK") if words.get(1) == Some(&"TO") => "ROLLBACK TO SAVEPOINT".to_owned(),
        _ => words.join(" "),
    }
}

fn is_write(head: &str) -> bool {
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .any(|verb| head.starts_with(verb))
}

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::BeginTransaction { depth, .. } => {
                let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
                if depth.get() == 1 {
                    tally.transactions += 1;
                    self.in_transaction = true;
                } else {
                    tally.savepoints += 1;
                }
            }
            InstrumentationEvent::CommitTransaction { depth, .. } if depth.get() == 1 => {
                self.next_is_commit = true;
                self.ending = true;
            }
            InstrumentationEvent::RollbackTransaction { depth, .. } if depth.get() == 1 => {
                self.ending = true;
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                self.current = Some(Current {
                    started: Instant::now(),
                    head: head(query),
                    commit: std::mem::take(&mut self.next_is_commit),
                    autocommit: !self.in_transaction,
                });
            }
            InstrumentationEvent::FinishQuery { .. } => {
                let Some(current) = self.current.take() else {
                    return;
                };
                let elapsed = current.started.elapsed();
                let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
                tally.statements += 1;
                tally.statement_time += elapsed;
                if current.commit {
                    tally.commits += 1;
                    tally.commit_time += elapsed;
                }
                if current.autocommit {
                    tally.autocommit_statements += 1;
                    if is_write(&current.head) {
                        tally.autocommit_writes += 1;
                        tally.commit_time += elapsed;
                    }
                }
                let entry = tally.by_statement.entry(current.head.clone()).or_default();
                entry.0 += 1;
                entry.1 += elapsed;
                let shown = if current.autocommit {
                    format!("(autocommit) {}", current.head)
                } else {
                    current.head
                };
                tally.sequence.push(shown);
                if self.ending {
                    self.ending = false;
                    self.in_transaction = false;
                }
            }
            _ => {}
        }
    }
}

/// Puts a hook on every connection the pool can hold (opening them all). Returns the tally
/// they share.
pub async fn instrument(pool: &DbPool) -> anyhow::Result<Arc<Mutex<Tally>>> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut held = benchkit::server::open_connections(pool, pool.status().max_size).await?;
    for conn in &mut held {
        conn.set_instrumentation(Recorder {
            tally: tally.clone(),
            in_transaction: false,
            ending: false,
            next_is_commit: false,
            current: None,
        });
    }
    Ok(tally)
}

#[derive(Default)]
struct KindProfile {
    latencies_us: Vec<u64>,
    tally: Tally,
    /// The statements of the first delivery of the kind, in order.
    example: Vec<String>,
}

/// Sends `deliveries` one at a time and attributes what the pool did to each. The answers are
/// returned as records, for the checks.
pub async fn run(
    client: &reqwest::Client,
    base_url: &str,
    tally: &Arc<Mutex<Tally>>,
    deliveries: Vec<Sent>,
) -> anyhow::Result<(Value, Vec<load::Record>)> {
    let snapshot = || tally.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut by_kind: BTreeMap<&'static str, KindProfile> = BTreeMap::new();
    let mut records = Vec::with_capacity(deliveries.len());
    for sent in deliveries {
        let before = snapshot();
        let (record, latency) = load::send_one(client, base_url, &sent).await;
        let spent = snapshot().minus(&before);
        // Re-sends are a line of their own: they store nothing new.
        let name = if sent.resend {
            "re-send (any kind)"
        } else {
            sent.delivery.kind.as_str()
        };
        let profile = by_kind.entry(name).or_default();
        if profile.example.is_empty() {
            profile.example = spent.sequence.clone();
        }
        profile
            .latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        profile.tally.add(&spent);
        records.push(record);
    }
    let mut total = KindProfile::default();
    let mut kinds = Vec::new();
    for (name, profile) in &by_kind {
        total.latencies_us.extend(&profile.latencies_us);
        total.tally.add(&profile.tally);
        kinds.push(describe(name, profile));
    }
    let statements: Vec<Value> = {
        let n = total.latencies_us.len().max(1) as f64;
        let mut rows: Vec<(&String, &(u64, Duration))> = total.tally.by_statement.iter().collect();
        rows.sort_by_key(|(_, (_, time))| std::cmp::Reverse(*time));
        rows.into_iter()
            .map(|(head, (count, time))| {
                json!({
                    "statement": head,
                    "per_delivery": stats::round3(*count as f64 / n),
                    "ms_per_delivery": stats::round3(time.as_secs_f64() * 1000.0 / n),
                    "mean_ms": stats::round3(time.as_secs_f64() * 1000.0 / (*count).max(1) as f64),
                })
            })
            .collect()
    };
    Ok((
        json!({
            "type": "profile",
            "overall": describe("all", &total),
            "by_kind": kinds,
            "statements": statements,
        }),
        records,
    ))
}

fn describe(name: &str, profile: &KindProfile) -> Value {
    let n = profile.latencies_us.len().max(1) as f64;
    let t = &profile.tally;
    let per = |x: u64| stats::round3(x as f64 / n);
    let ms = |d: Duration| stats::round3(d.as_secs_f64() * 1000.0 / n);
    let latency = stats::summarize(profile.latencies_us.clone(), 1.0);
    let share = if latency.mean_ms > 0.0 {
        stats::round3(t.statement_time.as_secs_f64() * 1000.0 / n / latency.mean_ms)
    } else {
        0.0
    };
    json!({
        "kind": name,
        "deliveries": profile.latencies_us.len(),
        "mean_ms": latency.mean_ms,
        "p50_ms": latency.p50_ms,
        "statements": per(t.statements),
        "transactions": per(t.transactions),
        "savepoints": per(t.savepoints),
        "commits": per(t.commits),
        "autocommit_statements": per(t.autocommit_statements),
        "autocommit_writes": per(t.autocommit_writes),
        "durable_commits": per(t.commits + t.autocommit_writes),
        "statement_ms": ms(t.statement_time),
        "commit_ms": ms(t.commit_time),
        "share_of_latency_in_statements": share,
        "example_statements": profile.example,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sql(&'static str);

    impl std::fmt::Display for Sql {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    #[test]
    fn statements_are_named_by_their_first_words_before_any_bind() {
        assert_eq!(
            head(&Sql("SELECT \"a\" FROM \"t\" WHERE x = $1 -- binds: [1]")),
            "SELECT \"a\" FROM \"t\" WHERE x = $1"
        );
        assert_eq!(head(&Sql("SAVEPOINT diesel_savepoint_2")), "SAVEPOINT");
        assert_eq!(
            head(&Sql("RELEASE SAVEPOINT diesel_savepoint_1")),
            "RELEASE SAVEPOINT"
        );
        let long = head(&Sql(
            "INSERT INTO \"webhook_inbox\" (\"id\", \"provider\", \"delivery_id\", \"event_type\", \
             \"received_at\", \"body\") VALUES ($1, $2, $3, $4, $5, $6) -- binds: [..]",
        ));
        assert!(long.starts_with("INSERT INTO \"webhook_inbox\""));
        assert!(long.chars().count() <= 72);
        assert!(is_write(&long) && !is_write("SELECT 1") && !is_write("COMMIT"));
    }

    #[test]
    fn a_delivery_is_what_the_tally_grew_by() {
        let mut before = Tally {
            statements: 3,
            ..Tally::default()
        };
        before
            .by_statement
            .insert("COMMIT".into(), (1, Duration::from_millis(2)));
        let mut after = before.clone();
        after.statements = 10;
        after.commits = 2;
        after
            .by_statement
            .insert("COMMIT".into(), (3, Duration::from_millis(5)));
        after
            .by_statement
            .insert("BEGIN".into(), (2, Duration::from_millis(1)));
        let spent = after.minus(&before);
        assert_eq!((spent.statements, spent.commits), (7, 2));
        assert_eq!(spent.by_statement["COMMIT"], (2, Duration::from_millis(3)));
        assert_eq!(spent.by_statement.len(), 2);
    }
}
