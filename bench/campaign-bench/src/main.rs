//! `campaign-bench`: messages dispatched per second by the real `campaigns::Dispatcher`, sending
//! through the real `twilio::TwilioClient` to a fake Twilio on loopback, against PostgreSQL with
//! fsync on; with the database statements and round trips each message costs.
//!
//! Output: one JSON object per line on stdout (`type` says what it is); progress on stderr.
//! Exits non-zero if any check fails (a campaign not completed, a recipient not sent exactly
//! once, a hold not settled, a wallet that does not reconcile). See docs/performance.md,
//! section "Campaign dispatch".

/// A human progress line on stderr (stdout is reserved for JSON lines).
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        benchkit::output::progress($crate::BENCH, format_args!($($arg)*))
    };
}

mod address;
mod args;
mod fake_twilio;
mod scenario;
mod setup;
mod trace;
mod usage;

use std::{process::ExitCode, sync::Arc, time::Instant};

use anyhow::{Context, bail};
use benchkit::{
    machine::loadavg,
    output::emit,
    server::{self, Server},
    stats,
};
use campaigns::{Campaigns, FundsPolicy};
use ledger::Ledger;
use primitives::SystemClock;
use serde_json::{Value, json};
use subscriptions::{LifecyclePolicy, Subscriptions};

use crate::{args::Args, fake_twilio::FakeTwilio};

const BENCH: &str = "campaign-bench";

/// Per (mode, recipients, workers): every run's messages/s and their median.
fn medians(results: &[Value]) -> Vec<Value> {
    let mut groups: Vec<((String, u64, u64), Vec<f64>)> = Vec::new();
    for r in results {
        let key = (
            r["mode"].as_str().unwrap_or("").to_owned(),
            r["recipients"].as_u64().unwrap_or(0),
            r["workers"].as_u64().unwrap_or(0),
        );
        let value = r["messages_per_sec"].as_f64().unwrap_or(0.0);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => groups.push((key, vec![value])),
        }
    }
    groups
        .into_iter()
        .map(|((mode, recipients, workers), values)| {
            json!({
                "mode": mode,
                "recipients": recipients,
                "workers": workers,
                "runs": values.len(),
                "messages_per_sec": values,
                "median_messages_per_sec": stats::median(&values),
            })
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    benchkit::output::exit_code(BENCH, run().await)
}

async fn run() -> anyhow::Result<()> {
    let Some(args) = Args::parse(std::env::args().skip(1))? else {
        eprintln!("{}", args::USAGE);
        return Ok(());
    };
    benchkit::output::init_tracing("warn");

    let server = Server::resolve(BENCH).await?;
    let address = address::redact(server.maintenance_url());
    progress!("server: {address} (from {})", server.source);
    let description = server::describe(&server, &["full_page_writes", "plan_cache_mode"]).await?;
    let started_unix = benchkit::output::unix_now()?;
    let dbname = format!("campaign_bench_{started_unix}");
    let mut environment =
        benchkit::output::environment(BENCH, started_unix, &server, &address, &description);
    environment["runtime"] = json!({
        "flavor": "multi_thread",
        "worker_threads": std::thread::available_parallelism().map_or(0, |n| n.get()),
    });
    environment["config"] = json!({
        "recipients": args.recipients,
        "workers": args.workers,
        "modes": args.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "warmup_recipients": args.warmup,
        "history_recipients": args.history,
        "repeat": args.repeat,
        "twilio_delay_ms": args.twilio_delay.as_millis(),
        "trace": args.trace,
        "log_statements": args.log_statements,
        "auto_explain_ms": args.auto_explain_ms,
        "quick": args.quick,
        "keep": args.keep,
        "timeout_seconds": args.timeout.as_secs(),
    });
    environment["database"] = json!(dbname);
    emit(&environment);
    server::require_durable(BENCH, &description["settings"], "a billing system")?;

    progress!("creating database {dbname}");
    server::create_database(&server, &dbname).await?;
    let mut settings = Vec::new();
    if args.log_statements {
        settings.push("log_min_duration_statement = 0".to_owned());
    }
    if let Some(ms) = args.auto_explain_ms {
        settings.push("session_preload_libraries = 'auto_explain'".to_owned());
        settings.push(format!("auto_explain.log_min_duration = {ms}"));
    }
    if !settings.is_empty() {
        let mut conn = server::connect(server.maintenance_url()).await?;
        for setting in &settings {
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query(format!(
                    "ALTER DATABASE {} SET {setting}",
                    db::embedded::quote_ident(&dbname)
                )),
                &mut conn,
            )
            .await
            .with_context(|| format!("could not set {setting} (needs a superuser)"))?;
        }
        progress!("diagnostics for {dbname}: {}", settings.join(", "));
    }
    let outcome = bench(&args, &server, &dbname).await;
    emit(&server::teardown(BENCH, &server, &dbname, args.keep).await);
    outcome
}

async fn bench(args: &Args, server: &Server, dbname: &str) -> anyhow::Result<()> {
    let bench_started = Instant::now();
    let url = server.url_for(dbname)?;
    progress!("applying migrations");
    let migrations = server::migrate(&url).await?;
    let clock = Arc::new(SystemClock);
    let ledger = Ledger::new(clock.clone());
    let subscriptions = Subscriptions::new(clock, LifecyclePolicy::default());
    let campaigns = Campaigns::new(ledger.clone(), FundsPolicy::default());
    let history_started = Instant::now();
    if args.history > 0 {
        progress!(
            "adding {} recipients of a finished campaign (history)",
            args.history
        );
        let mut conn = server::connect(&url).await?;
        setup::history(&mut conn, &ledger, &subscriptions, &campaigns, args.history).await?;
    }
    emit(&json!({
        "type": "setup",
        "database": dbname,
        "migrations_applied": migrations,
        "history_recipients": args.history,
        "history_seconds": stats::round1(history_started.elapsed().as_secs_f64()),
    }));
    let twilio = FakeTwilio::start(
        scenario::PARENT_SID,
        scenario::AUTH_TOKEN,
        args.twilio_delay,
    )?;
    progress!("fake Twilio listening on {}", twilio.base_url);
    let ctx = scenario::Ctx {
        url: &url,
        ledger: &ledger,
        subscriptions: &subscriptions,
        campaigns: &campaigns,
        twilio: &twilio,
    };

    let mut results = Vec::new();
    let mut failed_checks = Vec::new();
    let mut index = 0;
    let mut failure = None;
    'plans: for round in 1..=args.repeat {
        for &mode in &args.modes {
            for &recipients in &args.recipients {
                for &workers in &args.workers {
                    index += 1;
                    if args.repeat > 1 {
                        progress!("round {round} of {}", args.repeat);
                    }
                    let plan = scenario::Plan {
                        index,
                        mode,
                        recipients,
                        workers,
                        batch_size: args.batch_size,
                        concurrency: args.concurrency,
                        warmup: args.warmup,
                        trace: args.trace,
                        timeout: args.timeout,
                    };
                    let outcome = match scenario::run(&ctx, &plan).await {
                        Ok(outcome) => outcome,
                        Err(error) => {
                            failure = Some(error.context(format!(
                                "scenario {index} ({recipients} recipients, {workers} workers, {})",
                                mode.as_str()
                            )));
                            break 'plans;
                        }
                    };
                    emit(&outcome.result);
                    let checks: Vec<Value> = outcome
                        .checks
                        .iter()
                        .map(|c| json!({ "check": c.name, "ok": c.ok, "detail": c.detail }))
                        .collect();
                    let all_ok = outcome.checks.iter().all(|c| c.ok);
                    emit(&json!({
                        "type": "checks",
                        "scenario": index,
                        "ok": all_ok,
                        "checks": checks,
                    }));
                    let r = &outcome.result;
                    progress!(
                        "  -> {} msg/s, {} s, round trips/msg {}, statements/msg {}, batch p50 {} ms p99 {} ms, checks {}",
                        r["messages_per_sec"],
                        r["elapsed_seconds"],
                        r["round_trips_per_message"],
                        r["statements_per_message"],
                        r["batch_ms"]["p50"],
                        r["batch_ms"]["p99"],
                        if all_ok { "ok" } else { "FAILED" }
                    );
                    for c in outcome.checks.iter().filter(|c| !c.ok) {
                        progress!("  CHECK FAILED {}: {}", c.name, c.detail);
                        failed_checks.push(format!("scenario {index}: {}: {}", c.name, c.detail));
                    }
                    results.push(json!({
                        "scenario": index,
                        "round": round,
                        "mode": mode.as_str(),
                        "recipients": recipients,
                        "workers": workers,
                        "messages_per_sec": r["messages_per_sec"],
                        "elapsed_seconds": r["elapsed_seconds"],
                        "round_trips_per_message": r["round_trips_per_message"],
                        "statements_per_message": r["statements_per_message"],
                        "checks_ok": all_ok,
                    }));
                }
            }
        }
    }
    twilio.stop();
    let medians = medians(&results);
    for line in &medians {
        progress!(
            "{:<14} {:>7} recipients, {} worker(s): median {} msg/s over {} run(s): {}",
            line["mode"].as_str().unwrap_or(""),
            line["recipients"],
            line["workers"],
            line["median_messages_per_sec"],
            line["runs"],
            line["messages_per_sec"]
        );
    }
    emit(&json!({
        "type": "summary",
        "elapsed_seconds": stats::round1(bench_started.elapsed().as_secs_f64()),
        "scenarios": results,
        "medians": medians,
        "failed_checks": failed_checks,
        "loadavg": loadavg(),
    }));
    if let Some(error) = failure {
        return Err(error);
    }
    if !failed_checks.is_empty() {
        bail!(
            "{} check(s) failed: {}",
            failed_checks.len(),
            failed_checks.join("; ")
        );
    }
    Ok(())
}
