//! `ledger-bench`: the wallet ledger's debits against PostgreSQL with fsync on, in one run on one
//! server:
//!
//! - the batching writer (`ledger::LedgerWriter`) and the single path (`Ledger::debit`, a pooled
//!   connection per call), next to the naive lock-update-insert transaction driven by pgbench, on
//!   the hot wallet and spread over many wallets, at several caller counts;
//! - the practical ceiling: pgbench doing 100 naive debits per transaction on the hot wallet;
//! - debits through the real `api` binary over HTTP with real API keys, on the hot wallet.
//!
//! With `--ledger-sql`, pgbench also replays the single path's own debit statements, which
//! separates the cost of the SQL from the cost of the Rust client stack.
//!
//! Output: one JSON object per line on stdout (`type` says what it is); progress on stderr.
//! See docs/performance.md for what is measured and how to read it.

/// A human progress line on stderr (stdout is reserved for JSON lines).
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        benchkit::output::progress($crate::BENCH, format_args!($($arg)*))
    };
}

mod args;
mod cost;
mod http_run;
mod ledger_run;
mod pgbench;
mod pgurl;
mod profile;
mod report;
mod seed;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use benchkit::{
    machine::loadavg,
    output::emit,
    server::{self, Server},
    stats,
};
use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ledger::{Ledger, WriterConfig};
use primitives::{SystemClock, WalletId};
use serde_json::{Value, json};

use crate::{
    args::{Args, Engine, Part},
    cost::{Cost, Meter},
    ledger_run::Via,
    pgbench::{Pgbench, Protocol},
    pgurl::PgUrl,
    report::{Book, Figures, Http},
};

const BENCH: &str = "ledger-bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// Every client debits the same wallet: the row lock serializes them.
    Hot,
    /// Each debit picks one of the wallets at random.
    Spread,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Spread => "spread",
        }
    }
}

/// One measured run: which scenario, how many clients, how long.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub scenario: Scenario,
    pub concurrency: usize,
    pub warmup: Duration,
    pub seconds: Duration,
    /// Ledger clients keep one connection each instead of checking one out per debit.
    pub hold_connections: bool,
}

/// Connections the bench itself keeps or opens next to a run's callers: its own maintenance
/// connection, `describe`'s, a closing pool's last backends.
const OWN_CONNECTIONS: usize = 4;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    benchkit::output::exit_code(BENCH, run().await)
}

async fn run() -> anyhow::Result<()> {
    let Some(args) = Args::parse(std::env::args().skip(1), |name| std::env::var(name).ok())? else {
        eprintln!("{}", args::USAGE);
        return Ok(());
    };
    benchkit::output::init_tracing("warn");

    let server = Server::resolve(BENCH).await?;
    // Parsed strictly: pgbench gets the server's host, port and user from it.
    let address = PgUrl::parse(server.maintenance_url())
        .with_context(|| format!("{} is invalid", server.source))?
        .redacted();
    progress!("server: {address} (from {})", server.source);
    let description = server::describe(
        &server,
        // The preloaded libraries: auto_explain or pg_stat_statements left on would tax every
        // statement.
        &[
            "full_page_writes",
            "superuser_reserved_connections",
            "shared_preload_libraries",
            "session_preload_libraries",
        ],
    )
    .await?;
    let pgbench = if args.pgbench {
        Pgbench::locate().await
    } else {
        Err("disabled with --no-pgbench".to_owned())
    };
    // Built (or found) before anything is measured: a build would compete for the cores.
    let api_bin = if args.runs(Part::Http) {
        Some(http_run::api_binary(args.api_bin.as_deref()).await?)
    } else {
        None
    };
    let writer = WriterSetup::new(&args);
    let started_unix = benchkit::output::unix_now()?;
    let dbname = format!("ledger_bench_{started_unix}");
    let mut environment =
        benchkit::output::environment(BENCH, started_unix, &server, &address, &description);
    environment["pgbench"] = match &pgbench {
        Ok(found) => json!({ "path": found.path, "version": found.version }),
        Err(_) => Value::Null,
    };
    environment["config"] = json!({
        "seconds": args.seconds.as_secs_f64(),
        "warmup_seconds": args.warmup.as_secs_f64(),
        "wallets": args.wallets,
        "scenarios": args.parts.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "engines": args.engines.iter().map(|e| format!("{e:?}").to_lowercase()).collect::<Vec<_>>(),
        "hot_concurrency": args.hot_concurrency,
        "spread_concurrency": args.spread_concurrency,
        "ceiling_clients": args.ceiling_clients,
        "ceiling_debits_per_transaction": pgbench::CEILING_DEBITS,
        "http_connections": args.http_connections,
        "http_keys": args.http_keys,
        "http_orgs": args.http_orgs,
        "api_bin": api_bin,
        "api_env": args.api_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "writer": writer.describe(),
        "profile_ops": args.profile_ops,
        "quick": args.quick,
        "keep": args.keep,
        "pgbench": args.pgbench,
        "ledger_sql": args.ledger_sql,
        "hold_connections": args.hold_connections,
    });
    environment["database"] = json!(dbname);
    emit(&environment);
    server::require_durable(BENCH, &description["settings"], "a billing ledger")?;
    check_connections(&server, &description["settings"], &args, &writer).await?;
    let pgbench = match pgbench {
        Ok(found) => Some(found),
        Err(reason) => {
            progress!("pgbench baseline skipped: {reason}");
            emit(&json!({ "type": "pgbench_skipped", "reason": reason }));
            None
        }
    };

    progress!("creating database {dbname}");
    server::create_database(&server, &dbname).await?;
    let work_dir = std::env::temp_dir().join(&dbname);
    let outcome = match std::fs::create_dir_all(&work_dir) {
        Ok(()) => {
            let bench = Bench {
                args: &args,
                url: server.url_for(&dbname)?,
                dbname: &dbname,
                run_tag: dbname.trim_start_matches("ledger_bench_").to_owned(),
                pgbench: pgbench.as_ref(),
                work_dir: &work_dir,
                writer,
                api_bin,
            };
            bench.run().await
        }
        Err(e) => Err(e).context("could not create the pgbench work directory"),
    };

    let mut teardown = server::teardown(BENCH, &server, &dbname, args.keep).await;
    if args.keep {
        progress!("kept pgbench and api logs in {}", work_dir.display());
        teardown["pgbench_logs"] = json!(work_dir);
    } else {
        // Best effort: a leftover temp directory is harmless.
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    emit(&teardown);
    outcome
}

/// The writer's configuration for every writer run, and the size of its pool.
#[derive(Debug, Clone)]
struct WriterSetup {
    config: WriterConfig,
    pool_size: usize,
}

impl WriterSetup {
    fn new(args: &Args) -> Self {
        let mut config = WriterConfig::default();
        if let Some(max_batch) = args.writer_max_batch {
            config.max_batch = max_batch;
        }
        if let Some(shards) = args.writer_shards {
            config.shards = shards;
        }
        // One connection per shard writes; two spare, so a shard never waits for the pool.
        let pool_size = args.writer_pool.unwrap_or(config.shards + 2);
        Self { config, pool_size }
    }

    fn describe(&self) -> Value {
        json!({
            "max_batch": self.config.max_batch,
            "shards": self.config.shards,
            "pool_size": self.pool_size,
        })
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    let row: Count = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .with_context(|| format!("query failed: {sql}"))?;
    Ok(row.n)
}

/// The api's pool: its `DATABASE_POOL_SIZE` from `--api-env`, else the default.
fn api_pool_size(args: &Args) -> usize {
    args.api_env
        .iter()
        .rev()
        .find(|(name, _)| name == "DATABASE_POOL_SIZE")
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(16)
}

/// Refuses to start when the server cannot take the most connections one run opens (pgbench at
/// 256 clients fails half-way otherwise): `max_connections` less the superuser reserve less the
/// connections already open.
async fn check_connections(
    server: &Server,
    settings: &Value,
    args: &Args,
    writer: &WriterSetup,
) -> anyhow::Result<()> {
    let setting = |name: &str| {
        settings[name]
            .as_str()
            .and_then(|v| v.parse::<usize>().ok())
            .with_context(|| format!("the server did not report {name}"))
    };
    let max_connections = setting("max_connections")?;
    let reserved = setting("superuser_reserved_connections")?;
    let mut conn = server::connect(server.maintenance_url()).await?;
    let open = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'",
    )
    .await?;
    let open = usize::try_from(open).unwrap_or(0);
    let mut needed = args.most_callers();
    if args.measures(Engine::Writer) {
        needed = needed.max(writer.pool_size);
    }
    if args.runs(Part::Http) {
        needed = needed.max(api_pool_size(args));
    }
    needed += OWN_CONNECTIONS;
    let available = max_connections
        .saturating_sub(reserved)
        .saturating_sub(open);
    emit(&json!({
        "type": "connections",
        "max_connections": max_connections,
        "superuser_reserved_connections": reserved,
        "open_before_start": open,
        "needed": needed,
    }));
    if needed > available {
        bail!(
            "the server takes {available} more connections (max_connections {max_connections}, \
             {reserved} reserved, {open} open) but the largest run needs {needed}. Raise it, e.g. \
             `ALTER SYSTEM SET max_connections = {}` and restart the server, or run fewer \
             callers (--hot-concurrency, --spread-concurrency, --ceiling-clients)",
            (needed + reserved + open + 50).next_multiple_of(100)
        );
    }
    Ok(())
}

/// Each run starts with the WAL checkpointed, so one run does not pay for the previous one's
/// dirty pages (superuser or pg_checkpoint; skipped quietly otherwise).
async fn checkpoint(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("CHECKPOINT").execute(conn).await.is_ok()
}

/// One run of the benchmark on its database.
struct Bench<'a> {
    args: &'a Args,
    url: String,
    dbname: &'a str,
    run_tag: String,
    pgbench: Option<&'a Pgbench>,
    work_dir: &'a Path,
    writer: WriterSetup,
    api_bin: Option<PathBuf>,
}

/// What the closing checks count.
#[derive(Debug, Default)]
struct Totals {
    /// Debits the ledger reported written (profile, engines, replay, HTTP), warm-ups included.
    debits_applied: u64,
    errors: usize,
}

impl Bench<'_> {
    async fn run(&self) -> anyhow::Result<()> {
        let args = self.args;
        let bench_started = Instant::now();
        let url = &self.url;

        let setup_started = Instant::now();
        progress!("applying migrations");
        let migrations = server::migrate(url).await?;
        let mut conn = server::connect(url).await?;
        progress!(
            "seeding {} funded wallets and the naive tables",
            args.wallets
        );
        let wallets = Arc::new(seed::seed_ledger(&mut conn, args.wallets).await?);
        seed::seed_naive(&mut conn, args.wallets).await?;
        seed::create_sql_helpers(&mut conn).await?;
        seed::vacuum_analyze(&mut conn).await?;
        emit(&json!({
            "type": "setup",
            "database": self.dbname,
            "migrations_applied": migrations,
            "wallets": wallets.len(),
            "funding_per_wallet_minor": seed::FUNDING,
            "seconds": stats::round3(setup_started.elapsed().as_secs_f64()),
        }));

        let ledger = Ledger::new(Arc::new(SystemClock));
        let mut totals = Totals::default();
        if args.profile_ops > 0 {
            progress!("profiling {} sequential debits", args.profile_ops);
            let profile =
                profile::run(url, &ledger, wallets[0], args.profile_ops, &self.run_tag).await?;
            emit(&profile);
            totals.debits_applied += profile::debits_written(args.profile_ops);
        }

        let mut book = Book::default();
        if args.runs(Part::Ceiling)
            && let Some(pgbench) = self.pgbench
        {
            self.ceiling(&mut conn, pgbench, &mut book, &mut totals)
                .await?;
        }
        for (part, scenario, concurrency) in [
            (Part::Hot, Scenario::Hot, &args.hot_concurrency),
            (Part::Spread, Scenario::Spread, &args.spread_concurrency),
        ] {
            if !args.runs(part) {
                continue;
            }
            self.scenario(
                &mut conn,
                &ledger,
                &wallets,
                scenario,
                concurrency,
                &mut book,
                &mut totals,
            )
            .await?;
        }
        if args.runs(Part::Http)
            && let Some(api_bin) = &self.api_bin
        {
            match self.http(&mut conn, api_bin).await {
                Ok((figures, applied)) => {
                    totals.debits_applied += applied;
                    totals.errors += figures.errors;
                    book.http = Some(Http {
                        connections: args.http_connections,
                        figures,
                    });
                }
                Err(error) => {
                    progress!("HTTP run failed: {error:#}");
                    emit(&json!({ "type": "http_failed", "reason": format!("{error:#}") }));
                    totals.errors += 1;
                }
            }
        }

        let reconciliation = self
            .reconcile(&mut conn, &ledger, &wallets, &totals)
            .await?;
        emit(&reconciliation);
        let targets = book.targets();
        for target in &targets {
            emit(target);
        }
        let comparisons = book.comparisons();
        emit(&json!({
            "type": "summary",
            "elapsed_seconds": stats::round1(bench_started.elapsed().as_secs_f64()),
            "errors": totals.errors,
            "ratios": comparisons,
            "ceiling_debits_per_sec": book.ceiling(),
            "http": book.http.map(|h| h.figures.to_json()),
            "targets": targets,
            "loadavg": loadavg(),
        }));
        for line in book.table() {
            progress!("{line}");
        }
        if totals.errors > 0 {
            progress!(
                "WARNING: {} operations failed; the figures are suspect",
                totals.errors
            );
        }
        if reconciliation["clean"] != json!(true) {
            bail!(
                "reconciliation found drifted wallets: {}",
                reconciliation["drifts"]
            );
        }
        if reconciliation["entries_match"] != json!(true) {
            bail!(
                "the entries do not match: {} debits reported applied, {} debit entries, {} \
                 minor units spent",
                reconciliation["debits_reported_applied"],
                reconciliation["debit_entries"],
                reconciliation["minor_units_spent"]
            );
        }
        Ok(())
    }

    /// pgbench's 100 debits per transaction on the hot wallet, at each `--ceiling-clients`.
    async fn ceiling(
        &self,
        conn: &mut AsyncPgConnection,
        pgbench: &Pgbench,
        book: &mut Book,
        totals: &mut Totals,
    ) -> anyhow::Result<()> {
        let script = self.work_dir.join("ceiling-hot.sql");
        std::fs::write(&script, pgbench::ceiling_script(pgbench::CEILING_DEBITS))
            .context("could not write the pgbench script")?;
        let url = PgUrl::parse(&self.url)?;
        let target = pgbench::Target {
            url: &url,
            dbname: self.dbname,
            log_dir: self.work_dir,
        };
        for &clients in &self.args.ceiling_clients {
            let plan = self.plan(Scenario::Hot, clients);
            let runner = PgbenchRunner {
                pgbench,
                target: &target,
                plan: &plan,
                wallets: self.args.wallets,
            };
            let run = runner
                .run(
                    conn,
                    "pgbench_ceiling",
                    &script,
                    // The best pgbench does with this pattern: 300 statements per commit, each
                    // parsed once per connection, not once per use.
                    Protocol::Prepared,
                    pgbench::CEILING_DEBITS,
                )
                .await;
            if let Some(run) = run {
                totals.errors += run.errors;
                book.ceilings.push((clients, run.figures));
            }
        }
        Ok(())
    }

    fn plan(&self, scenario: Scenario, concurrency: usize) -> Plan {
        Plan {
            scenario,
            concurrency,
            warmup: self.args.warmup,
            seconds: self.args.seconds,
            hold_connections: self.args.hold_connections,
        }
    }

    /// Every engine, then the naive pgbench (and the replay), at each caller count.
    #[expect(
        clippy::too_many_arguments,
        reason = "the run's state, passed down rather than bundled for one call"
    )]
    async fn scenario(
        &self,
        conn: &mut AsyncPgConnection,
        ledger: &Ledger,
        wallets: &Arc<Vec<WalletId>>,
        scenario: Scenario,
        concurrency: &[usize],
        book: &mut Book,
        totals: &mut Totals,
    ) -> anyhow::Result<()> {
        let args = self.args;
        let naive_script = self
            .work_dir
            .join(format!("naive-{}.sql", scenario.as_str()));
        std::fs::write(&naive_script, pgbench::script(scenario, args.wallets))
            .context("could not write the pgbench script")?;
        let ledger_sql_script = if args.ledger_sql {
            let path = self
                .work_dir
                .join(format!("ledger-sql-{}.sql", scenario.as_str()));
            std::fs::write(&path, pgbench::ledger_sql_script(scenario, args.wallets))
                .context("could not write the pgbench script")?;
            Some(path)
        } else {
            None
        };
        let url = PgUrl::parse(&self.url)?;
        let target = pgbench::Target {
            url: &url,
            dbname: self.dbname,
            log_dir: self.work_dir,
        };
        for &callers in concurrency {
            let plan = self.plan(scenario, callers);
            for &engine in &args.engines {
                let figures = self
                    .engine(conn, ledger, wallets, &plan, engine, totals)
                    .await?;
                book.record(scenario, callers, engine, figures);
            }
            let Some(pgbench) = self.pgbench else {
                continue;
            };
            let runner = PgbenchRunner {
                pgbench,
                target: &target,
                plan: &plan,
                wallets: args.wallets,
            };
            if let Some(naive) = runner
                .run(conn, "pgbench_naive", &naive_script, Protocol::Simple, 1)
                .await
            {
                totals.errors += naive.errors;
                book.record_naive(scenario, callers, naive.figures);
            }
            if let Some(script) = &ledger_sql_script
                && let Some(replay) = runner
                    .run(conn, "pgbench_ledger_sql", script, Protocol::Simple, 1)
                    .await
            {
                totals.errors += replay.errors;
                totals.debits_applied += replay.ok_including_warmup;
            }
            if let Some(line) = book.comparison(scenario, callers) {
                emit(&line);
            }
        }
        Ok(())
    }

    /// One engine at one caller count: its `result` line, and its figures.
    async fn engine(
        &self,
        conn: &mut AsyncPgConnection,
        ledger: &Ledger,
        wallets: &Arc<Vec<WalletId>>,
        plan: &Plan,
        engine: Engine,
        totals: &mut Totals,
    ) -> anyhow::Result<Figures> {
        let (name, via) = match engine {
            Engine::Writer => (
                "writer",
                Via::Writer {
                    config: self.writer.config.clone(),
                    pool_size: self.writer.pool_size,
                },
            ),
            Engine::Single if plan.hold_connections => ("ledger_held_connection", Via::Single),
            Engine::Single => ("ledger", Via::Single),
        };
        let checkpointed = checkpoint(conn).await;
        progress!(
            "{name:<18} {:<6} c={:<3} warm-up {:.1}s, measure {:.1}s",
            plan.scenario.as_str(),
            plan.concurrency,
            plan.warmup.as_secs_f64(),
            plan.seconds.as_secs_f64()
        );
        let meter = Meter::start(conn).await;
        let run = ledger_run::run(
            &self.url,
            ledger,
            Arc::clone(wallets),
            plan,
            &via,
            &self.run_tag,
        )
        .await?;
        // Warm-up included on both sides of the division.
        let cost = meter
            .finish(conn, run.applied_total + run.errors_total)
            .await;
        totals.debits_applied += run.applied_total;
        totals.errors += run.errors;
        if !run.error_samples.is_empty() {
            progress!("{name} errors, e.g.: {}", run.error_samples.join(" | "));
        }
        progress!(
            "  -> {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            run.summary.per_sec,
            run.summary.p50_ms,
            run.summary.p99_ms,
            run.errors
        );
        let mut line = json!({
            "type": "result",
            "engine": name,
            "scenario": plan.scenario.as_str(),
            "wallets": if plan.scenario == Scenario::Hot { 1 } else { wallets.len() },
            "concurrency": plan.concurrency,
            "measured_seconds": run.measured_seconds,
            "ops": run.summary.count,
            "ops_per_sec": run.summary.per_sec,
            "mean_ms": run.summary.mean_ms,
            "p50_ms": run.summary.p50_ms,
            "p99_ms": run.summary.p99_ms,
            "p999_ms": run.summary.p999_ms,
            "max_ms": run.summary.max_ms,
            "errors": run.errors,
            "errors_including_warmup": run.errors_total,
            "error_samples": run.error_samples,
            "client_cpu_us_per_op": cost.own_cpu_us_per_op,
            "wal_bytes_per_op": cost.wal_bytes_per_op,
            "machine_busy_pct": cost.machine_busy_pct,
            "machine_iowait_pct": cost.machine_iowait_pct,
            "checkpointed_before": checkpointed,
            "loadavg": loadavg(),
        });
        if engine == Engine::Writer {
            line["writer"] = self.writer.describe();
        }
        emit(&line);
        Ok(Figures::new(
            &run.summary,
            run.errors,
            cost.own_cpu_us_per_op,
            &cost,
        ))
    }

    /// The api binary on this database: organizations, keys and wallets through its admin API,
    /// then debits over HTTP on the hot organization's wallet. The figures and the debits
    /// answered 201 (warm-up included).
    async fn http(
        &self,
        conn: &mut AsyncPgConnection,
        api_bin: &Path,
    ) -> anyhow::Result<(Figures, u64)> {
        let args = self.args;
        let log = self.work_dir.join("api.log");
        progress!("starting {} on {}", api_bin.display(), self.dbname);
        let api = http_run::Api::start(api_bin, &self.url, &args.api_env, &log).await?;
        let outcome = self.http_load(conn, &api).await;
        let status = api.stop().await;
        let (figures, applied) = outcome?;
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => progress!("the api exited with {status}"),
            Err(error) => progress!("stopping the api: {error:#}"),
        }
        Ok((figures, applied))
    }

    async fn http_load(
        &self,
        conn: &mut AsyncPgConnection,
        api: &http_run::Api,
    ) -> anyhow::Result<(Figures, u64)> {
        let args = self.args;
        progress!(
            "making {} organizations with API keys and funded wallets through the admin API",
            args.http_orgs
        );
        let organizations =
            http_run::set_up(api, args.http_orgs, args.http_keys, &self.run_tag).await?;
        // Called as the slice's: diesel's `RunQueryDsl::first` is in scope.
        let hot = <[http_run::Organization]>::first(&organizations)
            .context("no organization was made")?;
        let checkpointed = checkpoint(conn).await;
        progress!(
            "{:<18} {:<6} c={:<3} warm-up {:.1}s, measure {:.1}s",
            "http_api",
            "hot",
            args.http_connections,
            args.warmup.as_secs_f64(),
            args.seconds.as_secs_f64()
        );
        let api_pid = api.pid().to_string();
        let api_before = benchkit::usage::process_cpu(&api_pid);
        let meter = Meter::start(conn).await;
        let run = http_run::run(
            api,
            hot,
            args.http_connections,
            args.warmup,
            args.seconds,
            &self.run_tag,
        )
        .await?;
        let all = run.applied_total + run.errors_total;
        let cost = meter.finish(conn, all).await;
        let api_cpu_us_per_op = match (api_before, benchkit::usage::process_cpu(&api_pid)) {
            (Some(before), Some(after)) => {
                benchkit::usage::ticks_to_us_per(after.own.saturating_sub(before.own), all)
            }
            _ => None,
        };
        if !run.error_samples.is_empty() {
            progress!("http errors, e.g.: {}", run.error_samples.join(" | "));
        }
        progress!(
            "  -> {:.0} debits/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            run.summary.per_sec,
            run.summary.p50_ms,
            run.summary.p99_ms,
            run.errors
        );
        emit(&json!({
            "type": "result",
            "engine": "http_api",
            "scenario": "hot",
            "wallets": 1,
            "organizations": organizations.len(),
            "api_keys": hot.keys.len(),
            "hot_wallet_id": hot.wallet_id,
            "concurrency": args.http_connections,
            "measured_seconds": run.measured_seconds,
            "ops": run.summary.count,
            "ops_per_sec": run.summary.per_sec,
            "mean_ms": run.summary.mean_ms,
            "p50_ms": run.summary.p50_ms,
            "p99_ms": run.summary.p99_ms,
            "p999_ms": run.summary.p999_ms,
            "max_ms": run.summary.max_ms,
            "errors": run.errors,
            "errors_including_warmup": run.errors_total,
            "error_samples": run.error_samples,
            "statuses": run.statuses.iter().map(|(s, n)| json!({ "status": s, "count": n })).collect::<Vec<_>>(),
            "client_cpu_us_per_op": cost.own_cpu_us_per_op,
            "api_cpu_us_per_op": api_cpu_us_per_op,
            "wal_bytes_per_op": cost.wal_bytes_per_op,
            "machine_busy_pct": cost.machine_busy_pct,
            "machine_iowait_pct": cost.machine_iowait_pct,
            "api_env": args.api_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "checkpointed_before": checkpointed,
            "loadavg": loadavg(),
        }));
        Ok((
            Figures::new(&run.summary, run.errors, api_cpu_us_per_op, &cost),
            run.applied_total,
        ))
    }

    /// `reconcile_all` over every wallet, and the entries counted against what was reported.
    async fn reconcile(
        &self,
        conn: &mut AsyncPgConnection,
        ledger: &Ledger,
        wallets: &[WalletId],
        totals: &Totals,
    ) -> anyhow::Result<Value> {
        progress!("reconciling every wallet");
        let drifts = ledger.reconcile_all(conn).await?;
        let debit_entries = count(
            conn,
            "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'debit'",
        )
        .await?;
        // Money in (every credit: the seeding and the api's funding) less money left: what
        // the debits took. Every debit is one minor unit.
        let spent = count(
            conn,
            "SELECT ((SELECT coalesce(sum(balance_change), 0) FROM ledger_entries \
                      WHERE kind = 'credit') \
                     - (SELECT coalesce(sum(balance), 0) FROM wallets))::bigint AS n",
        )
        .await?;
        let naive_entries = count(conn, "SELECT count(*) AS n FROM naive_entries").await?;
        let naive_spent = count(
            conn,
            &format!(
                "SELECT ({} * count(*) - sum(balance))::bigint AS n FROM naive_wallets",
                seed::FUNDING
            ),
        )
        .await?;
        let wallets_checked = count(conn, "SELECT count(*) AS n FROM wallets").await?;
        let entries_match = u64::try_from(debit_entries).ok() == Some(totals.debits_applied)
            && debit_entries == spent;
        Ok(json!({
            "type": "reconciliation",
            "wallets_checked": wallets_checked,
            "seeded_wallets": wallets.len(),
            "drifts": drifts.iter().map(|drift| format!("{drift:?}")).collect::<Vec<_>>(),
            "clean": drifts.is_empty(),
            "debits_reported_applied": totals.debits_applied,
            "debit_entries": debit_entries,
            "minor_units_spent": spent,
            "entries_match": entries_match,
            "naive_entries": naive_entries,
            "naive_minor_units_spent": naive_spent,
            "naive_match": naive_entries == naive_spent,
        }))
    }
}

/// Runs one pgbench script for one plan and prints its result line.
struct PgbenchRunner<'a> {
    pgbench: &'a Pgbench,
    target: &'a pgbench::Target<'a>,
    plan: &'a Plan,
    wallets: usize,
}

/// What the ratio lines and the totals need from a pgbench result.
struct PgbenchFigures {
    /// Per debit: tps times the debits per transaction.
    figures: Figures,
    errors: usize,
    ok_including_warmup: u64,
}

impl PgbenchRunner<'_> {
    /// `None` when pgbench failed (reported as a `pgbench_failed` line, the run goes on).
    /// `debits_per_transaction`: what one transaction of the script counts for.
    async fn run(
        &self,
        conn: &mut AsyncPgConnection,
        engine: &str,
        script: &Path,
        protocol: Protocol,
        debits_per_transaction: usize,
    ) -> Option<PgbenchFigures> {
        let Plan {
            scenario,
            concurrency,
            ..
        } = *self.plan;
        let checkpointed = checkpoint(conn).await;
        progress!("{engine:<18} {:<6} c={concurrency:<3}", scenario.as_str());
        let log_name = format!("{engine}-{}-c{concurrency}", scenario.as_str());
        let meter = Meter::start(conn).await;
        let result = self
            .pgbench
            .run(self.target, script, protocol, self.plan, &log_name)
            .await;
        let run = match result {
            Ok(run) => run,
            Err(error) => {
                progress!("pgbench failed: {error:#}");
                emit(&json!({
                    "type": "pgbench_failed",
                    "engine": engine,
                    "scenario": scenario.as_str(),
                    "concurrency": concurrency,
                    "reason": format!("{error:#}"),
                }));
                return None;
            }
        };
        // The warm-up is a separate pgbench process; both deltas include it.
        let debits = run.ops_including_warmup * debits_per_transaction as u64;
        let cost = meter.finish(conn, debits).await;
        let tps = run.reported_tps.unwrap_or(run.summary.per_sec);
        let debits_per_sec = stats::round1(tps * debits_per_transaction as f64);
        progress!(
            "  -> {:.0} tps ({debits_per_sec:.0} debits/s), p50 {:.2} ms, p99 {:.2} ms, errors {}",
            tps,
            run.summary.p50_ms,
            run.summary.p99_ms,
            run.errors
        );
        emit(&json!({
            "type": "result",
            "engine": engine,
            "scenario": scenario.as_str(),
            "wallets": if scenario == Scenario::Hot { 1 } else { self.wallets },
            "concurrency": concurrency,
            "measured_seconds": run.measured_seconds,
            "ops": run.summary.count,
            "ops_per_sec": run.summary.per_sec,
            "tps": tps,
            "debits_per_transaction": debits_per_transaction,
            "debits_per_sec": debits_per_sec,
            "mean_ms": run.summary.mean_ms,
            "p50_ms": run.summary.p50_ms,
            "p99_ms": run.summary.p99_ms,
            "p999_ms": run.summary.p999_ms,
            "max_ms": run.summary.max_ms,
            "errors": run.errors,
            "client_cpu_us_per_op": cost.children_cpu_us_per_op,
            "wal_bytes_per_op": cost.wal_bytes_per_op,
            "per_op": "debit",
            "machine_busy_pct": cost.machine_busy_pct,
            "machine_iowait_pct": cost.machine_iowait_pct,
            "checkpointed_before": checkpointed,
            "command": run.command,
            "loadavg": loadavg(),
        }));
        let mut figures =
            Figures::new(&run.summary, run.errors, cost.children_cpu_us_per_op, &cost);
        figures.per_sec = debits_per_sec;
        Some(PgbenchFigures {
            figures,
            errors: run.errors,
            ok_including_warmup: run.ok_including_warmup,
        })
    }
}

/// What a run's cost says, in the shape [`Figures`] keeps.
impl Figures {
    fn new(
        summary: &stats::Summary,
        errors: usize,
        cpu_us_per_op: Option<f64>,
        cost: &Cost,
    ) -> Self {
        Self {
            per_sec: summary.per_sec,
            p50_ms: summary.p50_ms,
            p99_ms: summary.p99_ms,
            p999_ms: summary.p999_ms,
            errors,
            cpu_us_per_op,
            wal_bytes_per_op: cost.wal_bytes_per_op,
            machine_busy_pct: cost.machine_busy_pct,
        }
    }
}
