//! `ledger-bench`: the wallet ledger's debit path against PostgreSQL with fsync on, next to the
//! naive lock-update-insert transaction driven by pgbench on the same server in the same run.
//!
//! With `--ledger-sql`, pgbench also replays the ledger's own debit statements, which separates
//! the cost of the SQL from the cost of the Rust client stack.
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
mod ledger_run;
mod pgbench;
mod pgurl;
mod profile;
mod seed;

use std::{
    path::Path,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use benchkit::{
    machine::loadavg,
    output::emit,
    server::{self, Server},
    stats, usage,
};
use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ledger::Ledger;
use primitives::SystemClock;
use serde_json::{Value, json};

use crate::{args::Args, pgbench::Pgbench, pgurl::PgUrl};

const BENCH: &str = "ledger-bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let description = server::describe(&server, &["full_page_writes"]).await?;
    let pgbench = if args.pgbench {
        Pgbench::locate().await
    } else {
        Err("disabled with --no-pgbench".to_owned())
    };
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
        "concurrency": args.concurrency,
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
        Ok(()) => bench(&args, &server, &dbname, pgbench.as_ref(), &work_dir).await,
        Err(e) => Err(e).context("could not create the pgbench work directory"),
    };

    let mut teardown = server::teardown(BENCH, &server, &dbname, args.keep).await;
    if args.keep {
        progress!("kept pgbench logs in {}", work_dir.display());
        teardown["pgbench_logs"] = json!(work_dir);
    } else {
        // Best effort: a leftover temp directory is harmless.
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    emit(&teardown);
    outcome
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

/// Each run starts with the WAL checkpointed, so one run does not pay for the previous one's
/// dirty pages (superuser or pg_checkpoint; skipped quietly otherwise).
async fn checkpoint(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("CHECKPOINT").execute(conn).await.is_ok()
}

async fn bench(
    args: &Args,
    server: &Server,
    dbname: &str,
    pgbench: Option<&Pgbench>,
    work_dir: &Path,
) -> anyhow::Result<()> {
    let bench_started = Instant::now();
    let url = server.url_for(dbname)?;
    let run_tag = dbname.trim_start_matches("ledger_bench_").to_owned();

    let setup_started = Instant::now();
    progress!("applying migrations");
    let migrations = server::migrate(&url).await?;
    let mut conn = server::connect(&url).await?;
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
        "database": dbname,
        "migrations_applied": migrations,
        "wallets": wallets.len(),
        "funding_per_wallet_minor": seed::FUNDING,
        "seconds": stats::round3(setup_started.elapsed().as_secs_f64()),
    }));

    let ledger = Ledger::new(Arc::new(SystemClock));
    let mut debits_applied: u64 = 0;
    if args.profile_ops > 0 {
        progress!("profiling {} sequential debits", args.profile_ops);
        let profile = profile::run(&url, &ledger, wallets[0], args.profile_ops, &run_tag).await?;
        emit(&profile);
        debits_applied += profile::debits_written(args.profile_ops);
    }

    let bench_url = PgUrl::parse(&url)?;
    let target = pgbench::Target {
        url: &bench_url,
        dbname,
        log_dir: work_dir,
    };
    let mut ratios = Vec::new();
    let mut total_errors = 0usize;
    for scenario in [Scenario::Hot, Scenario::Spread] {
        let naive_script = work_dir.join(format!("naive-{}.sql", scenario.as_str()));
        std::fs::write(&naive_script, pgbench::script(scenario, args.wallets))
            .context("could not write the pgbench script")?;
        let ledger_sql_script = if args.ledger_sql {
            let path = work_dir.join(format!("ledger-sql-{}.sql", scenario.as_str()));
            std::fs::write(&path, pgbench::ledger_sql_script(scenario, args.wallets))
                .context("could not write the pgbench script")?;
            Some(path)
        } else {
            None
        };
        for &concurrency in &args.concurrency {
            let checkpointed = checkpoint(&mut conn).await;
            progress!(
                "{:<18} {:<6} c={concurrency:<3} warm-up {:.1}s, measure {:.1}s",
                "ledger",
                scenario.as_str(),
                args.warmup.as_secs_f64(),
                args.seconds.as_secs_f64()
            );
            let (cpu_before, wal_before) = (usage::own_cpu(), usage::wal_position(&mut conn).await);
            let plan = Plan {
                scenario,
                concurrency,
                warmup: args.warmup,
                seconds: args.seconds,
                hold_connections: args.hold_connections,
            };
            let run = ledger_run::run(&url, &ledger, Arc::clone(&wallets), &plan, &run_tag).await?;
            let (cpu_after, wal_after) = (usage::own_cpu(), usage::wal_position(&mut conn).await);
            // Warm-up included on both sides of the division.
            let all_ops = run.applied_total + run.errors_total;
            let ledger_cpu = usage::ticks_to_us_per(cpu_after.own - cpu_before.own, all_ops);
            let ledger_wal = usage::per(wal_before, wal_after, all_ops);
            debits_applied += run.applied_total;
            total_errors += run.errors;
            if !run.error_samples.is_empty() {
                progress!("ledger errors, e.g.: {}", run.error_samples.join(" | "));
            }
            progress!(
                "  -> {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
                run.summary.per_sec,
                run.summary.p50_ms,
                run.summary.p99_ms,
                run.errors
            );
            emit(&json!({
                "type": "result",
                "engine": if args.hold_connections { "ledger_held_connection" } else { "ledger" },
                "scenario": scenario.as_str(),
                "wallets": if scenario == Scenario::Hot { 1 } else { wallets.len() },
                "concurrency": concurrency,
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
                "client_cpu_us_per_op": ledger_cpu,
                "wal_bytes_per_op": ledger_wal,
                "checkpointed_before": checkpointed,
                "loadavg": loadavg(),
            }));

            let Some(pgbench) = pgbench else { continue };
            let runner = PgbenchRunner {
                pgbench,
                target: &target,
                plan: &plan,
                wallets: args.wallets,
            };
            let naive = runner.run(&mut conn, "pgbench_naive", &naive_script).await;
            if let Some(naive) = &naive {
                total_errors += naive.errors;
                let tps = naive.tps;
                let line = json!({
                    "type": "ratio",
                    "scenario": scenario.as_str(),
                    "concurrency": concurrency,
                    "ledger_ops_per_sec": run.summary.per_sec,
                    "pgbench_tps": tps,
                    "ratio": stats::ratio(run.summary.per_sec, tps),
                    "ledger_p50_ms": run.summary.p50_ms,
                    "pgbench_p50_ms": naive.p50_ms,
                    "ledger_p99_ms": run.summary.p99_ms,
                    "pgbench_p99_ms": naive.p99_ms,
                    "ledger_wal_bytes_per_op": ledger_wal,
                    "pgbench_wal_bytes_per_op": naive.wal_bytes_per_op,
                    "ledger_client_cpu_us_per_op": ledger_cpu,
                    "pgbench_client_cpu_us_per_op": naive.client_cpu_us_per_op,
                });
                emit(&line);
                ratios.push(line);
            }
            if let Some(script) = &ledger_sql_script {
                let replay = runner.run(&mut conn, "pgbench_ledger_sql", script).await;
                if let Some(replay) = replay {
                    total_errors += replay.errors;
                    debits_applied += replay.ok_including_warmup;
                }
            }
        }
    }

    progress!("reconciling every wallet");
    let drifts = ledger.reconcile_all(&mut conn).await?;
    let debit_entries = count(
        &mut conn,
        "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'debit'",
    )
    .await?;
    let spent = count(
        &mut conn,
        &format!(
            "SELECT ({} * count(*) - sum(balance))::bigint AS n FROM wallets",
            seed::FUNDING
        ),
    )
    .await?;
    let naive_entries = count(&mut conn, "SELECT count(*) AS n FROM naive_entries").await?;
    let naive_spent = count(
        &mut conn,
        &format!(
            "SELECT ({} * count(*) - sum(balance))::bigint AS n FROM naive_wallets",
            seed::FUNDING
        ),
    )
    .await?;
    let entries_match =
        u64::try_from(debit_entries).ok() == Some(debits_applied) && debit_entries == spent;
    emit(&json!({
        "type": "reconciliation",
        "wallets_checked": wallets.len(),
        "drifts": drifts.iter().map(|drift| format!("{drift:?}")).collect::<Vec<_>>(),
        "clean": drifts.is_empty(),
        "debits_reported_applied": debits_applied,
        "debit_entries": debit_entries,
        "minor_units_spent": spent,
        "entries_match": entries_match,
        "naive_entries": naive_entries,
        "naive_minor_units_spent": naive_spent,
        "naive_match": naive_entries == naive_spent,
    }));
    emit(&json!({
        "type": "summary",
        "elapsed_seconds": stats::round1(bench_started.elapsed().as_secs_f64()),
        "errors": total_errors,
        "ratios": ratios,
        "loadavg": loadavg(),
    }));
    for line in &ratios {
        progress!(
            "{:<6} c={:<3} ledger {:>8.1} ops/s  naive {:>8.1} tps  ratio {}",
            line["scenario"].as_str().unwrap_or(""),
            line["concurrency"],
            line["ledger_ops_per_sec"].as_f64().unwrap_or(0.0),
            line["pgbench_tps"].as_f64().unwrap_or(0.0),
            line["ratio"]
        );
    }
    if total_errors > 0 {
        progress!("WARNING: {total_errors} operations failed; the figures are suspect");
    }
    if !drifts.is_empty() {
        bail!("reconciliation found {} drifted wallets", drifts.len());
    }
    if !entries_match {
        bail!(
            "the entries do not match: {debits_applied} debits reported applied, \
             {debit_entries} debit entries, {spent} minor units spent"
        );
    }
    Ok(())
}

/// Runs one pgbench script for one plan and prints its result line.
struct PgbenchRunner<'a> {
    pgbench: &'a Pgbench,
    target: &'a pgbench::Target<'a>,
    plan: &'a Plan,
    wallets: usize,
}

/// What the ratio line and the totals need from a pgbench result.
struct PgbenchFigures {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
    ok_including_warmup: u64,
    client_cpu_us_per_op: Option<f64>,
    wal_bytes_per_op: Option<f64>,
}

impl PgbenchRunner<'_> {
    /// `None` when pgbench failed (reported as a `pgbench_failed` line, the run goes on).
    async fn run(
        &self,
        conn: &mut AsyncPgConnection,
        engine: &str,
        script: &Path,
    ) -> Option<PgbenchFigures> {
        let Plan {
            scenario,
            concurrency,
            ..
        } = *self.plan;
        let checkpointed = checkpoint(conn).await;
        progress!("{engine:<18} {:<6} c={concurrency:<3}", scenario.as_str());
        let log_name = format!("{engine}-{}-c{concurrency}", scenario.as_str());
        let (cpu_before, wal_before) = (usage::own_cpu(), usage::wal_position(conn).await);
        let result = self
            .pgbench
            .run(self.target, script, self.plan, &log_name)
            .await;
        let (cpu_after, wal_after) = (usage::own_cpu(), usage::wal_position(conn).await);
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
        let all_ops = run.ops_including_warmup;
        let client_cpu_us_per_op =
            usage::ticks_to_us_per(cpu_after.children - cpu_before.children, all_ops);
        let wal_bytes_per_op = usage::per(wal_before, wal_after, all_ops);
        let tps = run.reported_tps.unwrap_or(run.summary.per_sec);
        progress!(
            "  -> {:.0} tps, p50 {:.2} ms, p99 {:.2} ms, errors {}",
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
            "mean_ms": run.summary.mean_ms,
            "p50_ms": run.summary.p50_ms,
            "p99_ms": run.summary.p99_ms,
            "p999_ms": run.summary.p999_ms,
            "max_ms": run.summary.max_ms,
            "errors": run.errors,
            "client_cpu_us_per_op": client_cpu_us_per_op,
            "wal_bytes_per_op": wal_bytes_per_op,
            "checkpointed_before": checkpointed,
            "command": run.command,
            "loadavg": loadavg(),
        }));
        Some(PgbenchFigures {
            tps,
            p50_ms: run.summary.p50_ms,
            p99_ms: run.summary.p99_ms,
            errors: run.errors,
            ok_including_warmup: run.ok_including_warmup,
            client_cpu_us_per_op,
            wal_bytes_per_op,
        })
    }
}
