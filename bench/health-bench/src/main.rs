//! `health-bench`: the cost of the health report (`app::health_report`, served at
//! `/v1/admin/health` and as the `billing_health_*` gauges) on a database seeded with
//! set-based SQL (`seed.sql`, 100,000 organizations by default), next to a trivial `SELECT 1`
//! on the same connection in the same run: the difference is what a scrape costs the database.
//!
//! Output: one JSON object per line on stdout (`type` says what it is); progress on stderr.
//! Usage: `health-bench [--orgs N] [--runs N] [--keep]`; the server is `BENCH_DATABASE_URL`
//! (else `DATABASE_URL`). See docs/performance.md, section "Health report".

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use app::health_report::{DEFAULT_STALLED_AFTER, HealthReport};
use benchkit::{
    output::emit,
    server::{self, Server},
    stats::{Summary, summarize},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::json;

const BENCH: &str = "health-bench";
const USAGE: &str = "usage: health-bench [--orgs N (1000..=1000000, default 100000)] \
                     [--runs N (10..=10000, default 200)] [--keep]";
const SEED: &str = include_str!("seed.sql");

struct Args {
    orgs: usize,
    runs: usize,
    keep: bool,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        orgs: 100_000,
        runs: 200,
        keep: false,
    };
    let mut flags = benchkit::args::Flags::new(std::env::args().skip(1), USAGE);
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--orgs" => {
                args.orgs = benchkit::args::parse_count(&flag, &flags.value()?, 1000, 1_000_000)?;
            }
            "--runs" => {
                args.runs = benchkit::args::parse_count(&flag, &flags.value()?, 10, 10_000)?;
            }
            "--keep" => args.keep = true,
            "--help" | "-h" => return Ok(None),
            _ => return Err(flags.unknown()),
        }
    }
    Ok(Some(args))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    benchkit::output::exit_code(BENCH, run().await)
}

fn progress(message: std::fmt::Arguments<'_>) {
    benchkit::output::progress(BENCH, message);
}

async fn run() -> anyhow::Result<()> {
    let Some(args) = parse_args()? else {
        eprintln!("{USAGE}");
        return Ok(());
    };
    let server = Server::resolve(BENCH).await?;
    let description = server::describe(&server, &[]).await?;
    let started_unix = benchkit::output::unix_now()?;
    let dbname = format!("health_bench_{started_unix}");
    let mut environment =
        benchkit::output::environment(BENCH, started_unix, &server, "", &description);
    environment["config"] = json!({ "orgs": args.orgs, "runs": args.runs, "keep": args.keep });
    environment["database"] = json!(dbname);
    emit(&environment);
    progress(format_args!("creating database {dbname}"));
    server::create_database(&server, &dbname).await?;
    let outcome = bench(&args, &server, &dbname).await;
    emit(&server::teardown(BENCH, &server, &dbname, args.keep).await);
    outcome
}

async fn bench(args: &Args, server: &Server, dbname: &str) -> anyhow::Result<()> {
    let url = server.url_for(dbname)?;
    progress(format_args!("applying migrations"));
    server::migrate(&url).await?;
    let mut conn = server::connect(&url).await?;
    progress(format_args!("seeding {} organizations", args.orgs));
    let started = Instant::now();
    conn.batch_execute(&SEED.replace("{orgs}", &args.orgs.to_string()))
        .await
        .context("seeding failed")?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let report = HealthReport::compute(&mut conn, DEFAULT_STALLED_AFTER).await?;
    check(args, &report)?;
    emit(&json!({
        "type": "seed",
        "orgs": args.orgs,
        "seconds": benchkit::stats::round1(seed_seconds),
        "report": format!("{report:?}"),
    }));

    progress(format_args!(
        "measuring {} runs of each, interleaved",
        args.runs
    ));
    let mut baseline = Vec::with_capacity(args.runs);
    let mut health = Vec::with_capacity(args.runs);
    // Warm-up: caches and plans as a steady scraper would find them.
    for _ in 0..5 {
        select_one(&mut conn).await?;
        HealthReport::compute(&mut conn, DEFAULT_STALLED_AFTER).await?;
    }
    for _ in 0..args.runs {
        baseline.push(micros(timed(select_one(&mut conn)).await?));
        let compute = HealthReport::compute(&mut conn, DEFAULT_STALLED_AFTER);
        health.push(micros(
            timed(async { compute.await.map(drop).map_err(anyhow::Error::from) }).await?,
        ));
    }
    for (query, latencies) in [("select_1", baseline), ("health_report", health)] {
        emit(&result_line(query, &summarize(latencies, 0.0)));
    }
    Ok(())
}

/// The seed's figures, so a wrong seed or query cannot produce a plausible timing.
fn check(args: &Args, report: &HealthReport) -> anyhow::Result<()> {
    let orgs = u64::try_from(args.orgs)?;
    let expected_stalled = orgs / 100;
    let active = report.subscriptions.get("active").copied().unwrap_or(0);
    if report.wallets_negative != 0
        || report.wallets_drifted != 0
        || report.campaigns_stalled != expected_stalled
        || report.subscriptions.values().sum::<u64>() != orgs
        || active == 0
    {
        bail!("the report does not match the seed: {report:?}");
    }
    Ok(())
}

fn result_line(query: &str, summary: &Summary) -> serde_json::Value {
    json!({
        "type": "result",
        "query": query,
        "runs": summary.count,
        "mean_ms": summary.mean_ms,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "max_ms": summary.max_ms,
    })
}

async fn select_one(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    diesel::sql_query("SELECT 1").execute(conn).await?;
    Ok(())
}

async fn timed(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    work.await?;
    Ok(started.elapsed())
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}
