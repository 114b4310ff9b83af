//! The figures of a whole run side by side: per scenario and caller count the writer, the single
//! path and the naive pgbench baseline, the 100-debits-per-commit ceiling and the HTTP api; the
//! ratios between them and the targets, met or not. No I/O here: the caller emits.

use std::collections::BTreeMap;

use benchkit::stats;
use serde_json::{Value, json};

use crate::{Scenario, args::Engine};

/// One measured run, per debit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Debits per second (pgbench: tps times the debits per transaction).
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: usize,
    /// The client's CPU per debit (the api's, for the HTTP run), µs.
    pub cpu_us_per_op: Option<f64>,
    pub wal_bytes_per_op: Option<f64>,
    pub machine_busy_pct: Option<f64>,
}

impl Figures {
    pub fn to_json(self) -> Value {
        json!({
            "ops_per_sec": self.per_sec,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "errors": self.errors,
            "cpu_us_per_op": self.cpu_us_per_op,
            "wal_bytes_per_op": self.wal_bytes_per_op,
            "machine_busy_pct": self.machine_busy_pct,
        })
    }
}

/// One scenario at one caller count.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    writer: Option<Figures>,
    single: Option<Figures>,
    naive: Option<Figures>,
}

/// The HTTP run: how many connections, and what they did.
#[derive(Debug, Clone, Copy)]
pub struct Http {
    pub connections: usize,
    pub figures: Figures,
}

#[derive(Debug, Default)]
pub struct Book {
    rows: BTreeMap<(Scenario, usize), Row>,
    /// The ceiling at each pgbench client count, per debit.
    pub ceilings: Vec<(usize, Figures)>,
    pub http: Option<Http>,
}

/// One of the targets.
struct Target {
    name: &'static str,
    goal: &'static str,
    value: Option<f64>,
    /// `value >= threshold`, or `value <= threshold` when `at_most`.
    threshold: f64,
    at_most: bool,
}

impl Book {
    pub fn record(&mut self, scenario: Scenario, callers: usize, engine: Engine, figures: Figures) {
        let row = self.rows.entry((scenario, callers)).or_default();
        match engine {
            Engine::Writer => row.writer = Some(figures),
            Engine::Single => row.single = Some(figures),
        }
    }

    pub fn record_naive(&mut self, scenario: Scenario, callers: usize, figures: Figures) {
        self.rows.entry((scenario, callers)).or_default().naive = Some(figures);
    }

    /// The practical ceiling: the best of the pgbench client counts tried, debits per second.
    pub fn ceiling(&self) -> Option<f64> {
        self.ceilings
            .iter()
            .map(|(_, figures)| figures.per_sec)
            .max_by(f64::total_cmp)
    }

    fn row(&self, scenario: Scenario, callers: usize) -> Row {
        self.rows
            .get(&(scenario, callers))
            .copied()
            .unwrap_or_default()
    }

    /// The `ratio` line of one scenario and caller count; `None` with fewer than two engines.
    pub fn comparison(&self, scenario: Scenario, callers: usize) -> Option<Value> {
        let row = self.row(scenario, callers);
        let measured = [row.writer, row.single, row.naive]
            .iter()
            .filter(|f| f.is_some())
            .count();
        if measured < 2 {
            return None;
        }
        let per_sec = |f: Option<Figures>| f.map(|f| f.per_sec);
        let ratio = |a: Option<Figures>, b: Option<f64>| stats::ratio(a?.per_sec, b?);
        let ceiling = match scenario {
            Scenario::Hot => self.ceiling(),
            Scenario::Spread => None,
        };
        let field =
            |f: Option<Figures>, pick: fn(&Figures) -> Option<f64>| f.and_then(|f| pick(&f));
        Some(json!({
            "type": "ratio",
            "scenario": scenario.as_str(),
            "concurrency": callers,
            "writer_ops_per_sec": per_sec(row.writer),
            "ledger_ops_per_sec": per_sec(row.single),
            "pgbench_tps": per_sec(row.naive),
            "ceiling_debits_per_sec": ceiling,
            "writer_vs_naive": ratio(row.writer, per_sec(row.naive)),
            "writer_vs_single": ratio(row.writer, per_sec(row.single)),
            "writer_vs_ceiling": ratio(row.writer, ceiling),
            // The single path against the naive pattern, as the line always said.
            "ratio": ratio(row.single, per_sec(row.naive)),
            "writer_p50_ms": row.writer.map(|f| f.p50_ms),
            "ledger_p50_ms": row.single.map(|f| f.p50_ms),
            "pgbench_p50_ms": row.naive.map(|f| f.p50_ms),
            "writer_p99_ms": row.writer.map(|f| f.p99_ms),
            "ledger_p99_ms": row.single.map(|f| f.p99_ms),
            "pgbench_p99_ms": row.naive.map(|f| f.p99_ms),
            "writer_p999_ms": row.writer.map(|f| f.p999_ms),
            "writer_wal_bytes_per_op": field(row.writer, |f| f.wal_bytes_per_op),
            "ledger_wal_bytes_per_op": field(row.single, |f| f.wal_bytes_per_op),
            "pgbench_wal_bytes_per_op": field(row.naive, |f| f.wal_bytes_per_op),
            "writer_client_cpu_us_per_op": field(row.writer, |f| f.cpu_us_per_op),
            "ledger_client_cpu_us_per_op": field(row.single, |f| f.cpu_us_per_op),
            "pgbench_client_cpu_us_per_op": field(row.naive, |f| f.cpu_us_per_op),
        }))
    }

    /// Every `ratio` line, hot first, by caller count.
    pub fn comparisons(&self) -> Vec<Value> {
        self.rows
            .keys()
            .filter_map(|&(scenario, callers)| self.comparison(scenario, callers))
            .collect()
    }

    fn writer_vs_naive(&self, scenario: Scenario, callers: usize) -> Option<f64> {
        let row = self.row(scenario, callers);
        stats::ratio(row.writer?.per_sec, row.naive?.per_sec)
    }

    fn target_list(&self) -> Vec<Target> {
        let hot32 = self.row(Scenario::Hot, 32);
        let hot256 = self.row(Scenario::Hot, 256);
        let http = self
            .http
            .filter(|http| http.connections == 256)
            .map(|http| http.figures.per_sec);
        vec![
            Target {
                name: "hot_32_writer_vs_naive",
                goal: ">= 15",
                value: self.writer_vs_naive(Scenario::Hot, 32),
                threshold: 15.0,
                at_most: false,
            },
            Target {
                name: "hot_32_writer_p99_ms",
                goal: "<= 25",
                value: hot32.writer.map(|f| f.p99_ms),
                threshold: 25.0,
                at_most: true,
            },
            Target {
                name: "hot_256_writer_vs_naive",
                goal: ">= 20",
                value: self.writer_vs_naive(Scenario::Hot, 256),
                threshold: 20.0,
                at_most: false,
            },
            Target {
                name: "hot_256_writer_vs_ceiling",
                goal: ">= 0.5",
                value: hot256
                    .writer
                    .and_then(|w| stats::ratio(w.per_sec, self.ceiling()?)),
                threshold: 0.5,
                at_most: false,
            },
            Target {
                name: "spread_256_writer_vs_naive",
                goal: ">= 10",
                value: self.writer_vs_naive(Scenario::Spread, 256),
                threshold: 10.0,
                at_most: false,
            },
            Target {
                name: "http_hot_256_debits_per_sec",
                goal: ">= 8000",
                value: http,
                threshold: 8000.0,
                at_most: false,
            },
        ]
    }

    /// The targets as `target` lines: `met` is null when the run did not measure it.
    pub fn targets(&self) -> Vec<Value> {
        self.target_list()
            .into_iter()
            .map(|target| {
                let met = target.value.map(|value| {
                    if target.at_most {
                        value <= target.threshold
                    } else {
                        value >= target.threshold
                    }
                });
                json!({
                    "type": "target",
                    "name": target.name,
                    "goal": target.goal,
                    "value": target.value,
                    "met": met,
                })
            })
            .collect()
    }

    /// The closing table on stderr.
    pub fn table(&self) -> Vec<String> {
        let show = |f: Option<Figures>| {
            f.map_or_else(|| format!("{:>9}", "-"), |f| format!("{:>9.0}", f.per_sec))
        };
        let times =
            |x: Option<f64>| x.map_or_else(|| format!("{:>7}", "-"), |x| format!("{x:>6.2}x"));
        let mut lines = vec![format!(
            "{:<6} {:>4} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7} {:>7}",
            "", "c", "writer/s", "single/s", "naive/s", "w p99ms", "w/naive", "w/singl", "w/ceil"
        )];
        for (&(scenario, callers), row) in &self.rows {
            let ceiling = match scenario {
                Scenario::Hot => self.ceiling(),
                Scenario::Spread => None,
            };
            lines.push(format!(
                "{:<6} {:>4} {} {} {} {:>8} {} {} {}",
                scenario.as_str(),
                callers,
                show(row.writer),
                show(row.single),
                show(row.naive),
                row.writer
                    .map_or_else(|| "-".to_owned(), |f| format!("{:.1}", f.p99_ms)),
                times(
                    row.writer
                        .and_then(|w| stats::ratio(w.per_sec, row.naive?.per_sec))
                ),
                times(
                    row.writer
                        .and_then(|w| stats::ratio(w.per_sec, row.single?.per_sec))
                ),
                times(row.writer.and_then(|w| stats::ratio(w.per_sec, ceiling?))),
            ));
        }
        for (clients, figures) in &self.ceilings {
            lines.push(format!(
                "ceiling (pgbench, 100 debits per commit, hot) c={clients}: {:.0} debits/s",
                figures.per_sec
            ));
        }
        if let Some(http) = self.http {
            lines.push(format!(
                "http api, hot wallet, {} connections: {:.0} debits/s, p50 {:.2} ms, p99 {:.2} ms, \
                 errors {}",
                http.connections,
                http.figures.per_sec,
                http.figures.p50_ms,
                http.figures.p99_ms,
                http.figures.errors
            ));
        }
        for target in self.targets() {
            lines.push(format!(
                "target {:<28} {:<7} value {:<10} met {}",
                target["name"].as_str().unwrap_or(""),
                target["goal"].as_str().unwrap_or(""),
                target["value"],
                target["met"]
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(per_sec: f64, p99_ms: f64) -> Figures {
        Figures {
            per_sec,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            p999_ms: p99_ms * 2.0,
            errors: 0,
            cpu_us_per_op: None,
            wal_bytes_per_op: None,
            machine_busy_pct: None,
        }
    }

    fn target<'a>(targets: &'a [Value], name: &str) -> &'a Value {
        targets
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no target {name}"))
    }

    #[test]
    fn ratios_compare_the_writer_with_each_baseline() {
        let mut book = Book::default();
        book.record(Scenario::Hot, 32, Engine::Writer, figures(16_000.0, 20.0));
        book.record(Scenario::Hot, 32, Engine::Single, figures(800.0, 160.0));
        book.record_naive(Scenario::Hot, 32, figures(1_000.0, 100.0));
        book.ceilings.push((1, figures(20_000.0, 5.0)));
        book.ceilings.push((8, figures(30_000.0, 30.0)));
        assert_eq!(book.ceiling(), Some(30_000.0));
        let line = book.comparison(Scenario::Hot, 32).unwrap();
        assert_eq!(line["writer_vs_naive"], json!(16.0));
        assert_eq!(line["writer_vs_single"], json!(20.0));
        assert_eq!(line["writer_vs_ceiling"], json!(0.533));
        assert_eq!(line["ratio"], json!(0.8));
        // The spread scenario has no ceiling.
        book.record(Scenario::Spread, 8, Engine::Writer, figures(5_000.0, 4.0));
        book.record_naive(Scenario::Spread, 8, figures(4_000.0, 3.0));
        let spread = book.comparison(Scenario::Spread, 8).unwrap();
        assert_eq!(spread["writer_vs_ceiling"], Value::Null);
        assert_eq!(spread["writer_vs_single"], Value::Null);
        // One engine alone compares with nothing.
        book.record(Scenario::Hot, 1, Engine::Writer, figures(900.0, 2.0));
        assert!(book.comparison(Scenario::Hot, 1).is_none());
        assert_eq!(book.comparisons().len(), 2);
    }

    #[test]
    fn targets_are_met_missed_or_not_measured() {
        let mut book = Book::default();
        book.record(Scenario::Hot, 32, Engine::Writer, figures(15_000.0, 26.0));
        book.record_naive(Scenario::Hot, 32, figures(1_000.0, 100.0));
        book.record(Scenario::Hot, 256, Engine::Writer, figures(19_000.0, 40.0));
        book.record_naive(Scenario::Hot, 256, figures(1_000.0, 400.0));
        book.ceilings.push((1, figures(40_000.0, 3.0)));
        book.http = Some(Http {
            connections: 256,
            figures: figures(8_000.0, 50.0),
        });
        let targets = book.targets();
        assert_eq!(targets.len(), 6);
        let met = |name: &str| target(&targets, name)["met"].clone();
        // Exactly on the threshold counts as met.
        assert_eq!(met("hot_32_writer_vs_naive"), json!(true));
        assert_eq!(met("hot_32_writer_p99_ms"), json!(false));
        assert_eq!(met("hot_256_writer_vs_naive"), json!(false));
        assert_eq!(met("hot_256_writer_vs_ceiling"), json!(false));
        assert_eq!(met("spread_256_writer_vs_naive"), Value::Null);
        assert_eq!(met("http_hot_256_debits_per_sec"), json!(true));
        // The HTTP target is about 256 connections only.
        book.http = Some(Http {
            connections: 64,
            figures: figures(9_000.0, 5.0),
        });
        assert_eq!(
            target(&book.targets(), "http_hot_256_debits_per_sec")["met"],
            Value::Null
        );
        assert!(book.table().len() > 6);
    }
}
