//! `webhook-bench`: signed PayPal, Stripe and PayHere deliveries posted over loopback HTTP to the
//! real webhook receiver (`webhooks::Receiver`: verify, store in the inbox, apply through the
//! intake), against PostgreSQL with fsync on, at several numbers of concurrent senders; next to
//! two baselines in the same process run: the same requests answered by a handler that only
//! reads the body (HTTP alone), and by one that verifies the signature (no database).
//!
//! Output: one JSON object per line on stdout (`type` says what it is); progress on stderr.
//! Exits non-zero if any request failed or any exactly-once check fails (see `checks`). See
//! docs/performance.md, section "Webhook intake".

/// A human progress line on stderr (stdout is reserved for JSON lines).
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        benchkit::output::progress($crate::BENCH, format_args!($($arg)*))
    };
}

mod args;
mod checks;
mod deliveries;
mod load;
mod mix;
mod profile;
mod providers;
mod servers;
mod setup;
mod usage;

use std::{
    path::Path,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use benchkit::{
    machine::{git_commit, loadavg},
    output::emit,
    server::{self, Server, text_query},
    stats,
};
use diesel_async::AsyncPgConnection;
use ledger::Ledger;
use primitives::{Clock, SystemClock};
use secrecy::SecretString;
use serde_json::{Value, json};
use subscriptions::{LifecyclePolicy, Subscriptions};
use testkit::signing::PayPalPki;

use crate::{
    args::Args,
    checks::{Book, Check},
    deliveries::{Secrets, Signer},
    load::{Maker, RunResult, Script, Source, summary_json},
};

const BENCH: &str = "webhook-bench";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    benchkit::output::exit_code(BENCH, run().await)
}

async fn run() -> anyhow::Result<()> {
    let Some(args) = Args::parse(std::env::args().skip(1), |name| std::env::var(name).ok())? else {
        eprintln!("{}", args::USAGE);
        return Ok(());
    };
    // The enforcer warns of every failed payment, and a tenth of the mix is one.
    benchkit::output::init_tracing("warn,enforcement::failure=error");

    let server = Server::resolve(BENCH).await?;
    progress!("server: from {}", server.source);
    let description = server::describe(&server, &[]).await?;
    let started_unix = benchkit::output::unix_now()?;
    let dbname = format!("webhook_bench_{started_unix}");
    emit(&json!({
        "type": "environment",
        "bench": BENCH,
        "started_at_unix": started_unix,
        "server": { "source": server.source, "settings": description["settings"] },
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "loadavg": loadavg(),
            "git_commit": git_commit(),
        },
        "config": {
            "seconds": args.seconds.as_secs_f64(),
            "warmup_seconds": args.warmup.as_secs_f64(),
            "baseline_seconds": args.baseline_seconds.as_secs_f64(),
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "orgs": args.orgs,
            "duplicates_percent": args.duplicates,
            "pool_size": args.pool_size,
            "profile_deliveries": args.profile,
            "baselines": args.baselines,
            "quick": args.quick,
            "keep": args.keep,
        },
        "mix_per_mille": mix::describe()
            .into_iter()
            .map(|(kind, weight)| json!({ "kind": kind, "per_mille": weight }))
            .collect::<Vec<_>>(),
        "database": dbname,
    }));
    server::require_durable(
        BENCH,
        &description["settings"],
        "an intake that stores every delivery before answering",
    )?;

    progress!("creating database {dbname}");
    server::create_database(&server, &dbname).await?;
    let work_dir = std::env::temp_dir().join(&dbname);
    let outcome = match std::fs::create_dir_all(&work_dir) {
        Ok(()) => bench(&args, &server, &dbname, &work_dir).await,
        Err(e) => Err(e).context("could not create the work directory"),
    };
    emit(&server::teardown(BENCH, &server, &dbname, args.keep).await);
    // Best effort: a leftover temporary directory is harmless.
    let _ = std::fs::remove_dir_all(&work_dir);
    outcome
}

/// WAL position and the next transaction id: what a run wrote, and how many transactions and
/// subtransactions that wrote (each takes an id) it took. Server-wide figures.
async fn wal_and_xid(conn: &mut AsyncPgConnection) -> anyhow::Result<(String, u64)> {
    let lsn = text_query(conn, "SELECT pg_current_wal_lsn()::text AS value").await?;
    let xid = text_query(
        conn,
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS value",
    )
    .await?
    .parse()
    .context("next transaction id")?;
    Ok((lsn, xid))
}

async fn wal_since(conn: &mut AsyncPgConnection, lsn: &str) -> anyhow::Result<i64> {
    if !lsn.bytes().all(|b| b.is_ascii_hexdigit() || b == b'/') {
        bail!("unexpected WAL position {lsn:?}");
    }
    text_query(
        conn,
        &format!("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn}')::bigint::text AS value"),
    )
    .await?
    .parse()
    .context("WAL bytes")
}

/// The PostgreSQL backends of the receiver's pool (its connections' `application_name`).
async fn receiver_backends(conn: &mut AsyncPgConnection) -> anyhow::Result<Vec<i32>> {
    benchkit::usage::backend_pids(conn, "webhook-receiver").await
}

fn seed(round: usize, concurrency: usize, sender: usize, salt: u64) -> u64 {
    salt ^ ((round as u64) << 40) ^ ((concurrency as u64) << 20) ^ sender as u64
}

/// Everything the runs share.
struct Ctx<'a> {
    args: &'a Args,
    client: reqwest::Client,
    maker: Maker,
    paypal_calls: Arc<servers::PayPalCalls>,
}

impl Ctx<'_> {
    /// A baseline: each sender sends the same few hundred deliveries round and round.
    async fn baseline(
        &self,
        base_url: &str,
        owned: &[Vec<usize>],
        suspended: &[bool],
        round: usize,
    ) -> anyhow::Result<RunResult> {
        let per_sender = (2000 / owned.len()).max(50);
        let mut sources = Vec::with_capacity(owned.len());
        for (sender, mine) in owned.iter().enumerate() {
            let mut script = Script::new(
                self.maker.clone(),
                mine,
                suspended.to_vec(),
                seed(round, owned.len(), sender, 0xba5e),
            );
            sources.push(Source::Cycle(script.distinct(per_sender)?));
        }
        load::run(
            &self.client,
            base_url,
            sources,
            self.args.warmup.min(Duration::from_secs(1)),
            self.args.baseline_seconds,
        )
        .await
    }
}

fn baseline_line(engine: &str, round: usize, concurrency: usize, run: &RunResult) -> Value {
    json!({
        "type": "result",
        "engine": engine,
        "round": round,
        "concurrency": concurrency,
        "summary": summary_json(&run.summary),
        "errors": run.errors,
        "errors_including_warmup": run.errors_total,
        "error_samples": run.error_samples,
        "sent_including_warmup": run.sent,
        "cpu": run.cpu,
        "loadavg": loadavg(),
    })
}

fn progress_line(engine: &str, concurrency: usize, run: &RunResult) {
    let s = &run.summary;
    progress!(
        "  {engine:<16} c={concurrency:<3} {:>8.1}/s  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  errors {}",
        s.per_sec,
        s.p50_ms,
        s.p99_ms,
        s.p999_ms,
        s.max_ms,
        run.errors
    );
}

fn checks_line(label: &str, checks: &[Check], failed: &mut Vec<String>) -> Value {
    for check in checks.iter().filter(|c| !c.ok) {
        progress!("  CHECK FAILED {}: {}", check.name, check.detail);
        failed.push(format!("{label}: {}: {}", check.name, check.detail));
    }
    json!({
        "type": "checks",
        "after": label,
        "ok": checks.iter().all(|c| c.ok),
        "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
    })
}

async fn bench(args: &Args, server: &Server, dbname: &str, work_dir: &Path) -> anyhow::Result<()> {
    let bench_started = Instant::now();
    let url = server.url_for(dbname)?;
    progress!("applying migrations");
    let migrations = server::migrate(&url).await?;
    let mut conn = server::connect(&url).await?;
    let current = text_query(&mut conn, "SELECT current_database()::text AS value").await?;
    if current != dbname {
        bail!("connected to database {current:?}, not the bench's {dbname:?}");
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ledger = Ledger::new(clock.clone());
    let subscriptions = Subscriptions::new(clock.clone(), LifecyclePolicy::default());
    let setup_started = Instant::now();
    progress!(
        "making {} organizations, each with a USD wallet and an active subscription",
        args.orgs
    );
    let organizations = setup::organizations(&mut conn, &ledger, &subscriptions, args.orgs).await?;
    emit(&json!({
        "type": "setup",
        "database": dbname,
        "migrations_applied": migrations,
        "organizations": organizations.len(),
        "seconds": stats::round3(setup_started.elapsed().as_secs_f64()),
    }));

    let secrets = Secrets::generate();
    let pki = Arc::new(PayPalPki::generate(chrono::Utc::now()));
    let paypal_calls = Arc::new(servers::PayPalCalls::default());
    let fake_paypal = servers::fake_paypal(paypal_calls.clone()).await?;
    let providers = providers::configure(
        work_dir,
        &secrets,
        &pki,
        &fake_paypal.base_url,
        clock.clone(),
    )?;
    let mut config = webhooks::ReceiverConfig::new(SecretString::from(url.clone()));
    if let Some(size) = args.pool_size {
        config.database.pool_size = size;
    }
    let (pool_size, body_limit) = (config.database.pool_size, config.body_limit_bytes);
    let receiver = webhooks::Receiver::build(config, providers.clone(), clock.clone())
        .await
        .context("starting the receiver")?;
    let receiver_url = format!("http://{}", receiver.local_addr());
    let receiver_pool = receiver.state().pool.clone();
    let (stop_receiver, receiver_stopped) = tokio::sync::oneshot::channel::<()>();
    let receiver_task = tokio::spawn(receiver.run_until(async {
        let _ = receiver_stopped.await;
    }));
    let http = servers::http_baseline(body_limit).await?;
    let verify = servers::verify_baseline(providers, body_limit).await?;
    progress!("receiver on {receiver_url} (pool {pool_size}); baselines and fake PayPal up");
    emit(&json!({
        "type": "receiver",
        "pool_size": pool_size,
        "body_limit_bytes": body_limit,
        "paypal_api": "fake, on loopback (answers at once)",
    }));

    let ctx = Ctx {
        args,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?,
        maker: Maker {
            signer: Arc::new(Signer::new(secrets, pki)?),
            organizations: organizations.clone(),
            serial: Arc::new(AtomicU64::new(1)),
            duplicates_percent: args.duplicates,
        },
        paypal_calls,
    };
    let outcome = runs(
        &ctx,
        &mut conn,
        &ledger,
        &receiver_url,
        &receiver_pool,
        &http,
        &verify,
    )
    .await;
    let _ = stop_receiver.send(());
    let _ = receiver_task.await;
    http.stop().await;
    verify.stop().await;
    fake_paypal.stop().await;
    let (results, failed_checks) = outcome?;

    let mut medians = Vec::new();
    for &concurrency in &args.concurrency {
        let of = |engine: &str, field: &str| -> Vec<f64> {
            results
                .iter()
                .filter(|r| r["engine"] == engine && r["concurrency"] == concurrency)
                .filter_map(|r| r["summary"][field].as_f64())
                .collect()
        };
        let line = json!({
            "concurrency": concurrency,
            "intake_per_sec": of("intake", "per_sec"),
            "median_intake_per_sec": stats::median(&of("intake", "per_sec")),
            "median_intake_p99_ms": stats::median(&of("intake", "p99_ms")),
            "median_http_per_sec": stats::median(&of("http_baseline", "per_sec")),
            "median_verify_per_sec": stats::median(&of("verify_baseline", "per_sec")),
        });
        progress!(
            "c={concurrency:<3} median intake {} deliveries/s (p99 {} ms); http alone {}/s; verify alone {}/s",
            line["median_intake_per_sec"],
            line["median_intake_p99_ms"],
            line["median_http_per_sec"],
            line["median_verify_per_sec"]
        );
        medians.push(line);
    }
    emit(&json!({
        "type": "summary",
        "elapsed_seconds": stats::round1(bench_started.elapsed().as_secs_f64()),
        "medians": medians,
        "failed_checks": failed_checks,
        "loadavg": loadavg(),
    }));
    if !failed_checks.is_empty() {
        bail!(
            "{} check(s) failed: {}",
            failed_checks.len(),
            failed_checks.join("; ")
        );
    }
    Ok(())
}

/// Every measured run, the checks after each, and the profile. Returns the result lines and the
/// failed checks.
async fn runs(
    ctx: &Ctx<'_>,
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    receiver_url: &str,
    receiver_pool: &db::DbPool,
    http: &servers::Served,
    verify: &servers::Served,
) -> anyhow::Result<(Vec<Value>, Vec<String>)> {
    let args = ctx.args;
    let mut book = Book::default();
    let mut suspended = vec![false; args.orgs];
    let mut results = Vec::new();
    let mut failed_checks = Vec::new();
    // Deliveries made ahead of a run: three times the last run's rate, at least 1500/s (making
    // one takes well under 0.1 ms, so too many cost little; too few are made during the run).
    let mut expected_rate = 1500.0_f64;
    for round in 1..=args.repeat {
        for &concurrency in &args.concurrency {
            let owned = mix::partition(args.orgs, concurrency)
                .context("too few organizations for this many senders")?;
            if args.repeat > 1 {
                progress!("round {round} of {}", args.repeat);
            }
            let mut baseline = None;
            if args.baselines {
                let plain = ctx
                    .baseline(&http.base_url, &owned, &suspended, round)
                    .await?;
                progress_line("http alone", concurrency, &plain);
                let line = baseline_line("http_baseline", round, concurrency, &plain);
                emit(&line);
                results.push(line);
                let verified = ctx
                    .baseline(&verify.base_url, &owned, &suspended, round)
                    .await?;
                progress_line("verify alone", concurrency, &verified);
                let line = baseline_line("verify_baseline", round, concurrency, &verified);
                emit(&line);
                results.push(line);
                baseline = Some((plain, verified));
            }

            let window = (args.warmup + args.seconds).as_secs_f64();
            let per_sender = ((expected_rate * window) as usize).div_ceil(concurrency) + 16;
            let prepare_started = Instant::now();
            let mut sources = Vec::with_capacity(concurrency);
            for (sender, mine) in owned.iter().enumerate() {
                let mut script = Script::new(
                    ctx.maker.clone(),
                    mine,
                    suspended.clone(),
                    seed(round, concurrency, sender, 0x1a7a),
                );
                script.prepare(per_sender)?;
                sources.push(Source::Script(Box::new(script)));
            }
            let prepare_seconds = prepare_started.elapsed().as_secs_f64();
            let (lsn, xid) = wal_and_xid(conn).await?;
            let backends = receiver_backends(conn).await?;
            let backend_ticks = usage::ticks_of(&backends);
            let asked_before = ctx.paypal_calls.subscriptions.load(Ordering::Relaxed);
            progress!(
                "intake c={concurrency}: {} deliveries made ahead in {prepare_seconds:.1} s; \
                 warm-up {:.1} s, measure {:.1} s",
                per_sender * concurrency,
                args.warmup.as_secs_f64(),
                args.seconds.as_secs_f64()
            );
            let run = load::run(
                &ctx.client,
                receiver_url,
                sources,
                args.warmup,
                args.seconds,
            )
            .await?;
            let mut backends_after = receiver_backends(conn).await?;
            backends_after.extend(backends);
            backends_after.sort_unstable();
            backends_after.dedup();
            let backend_ms = usage::ms_per_delivery(
                usage::ticks_between(&backend_ticks, &usage::ticks_of(&backends_after)),
                run.sent,
            );
            let wal = wal_since(conn, &lsn).await?;
            let (_, xid_after) = wal_and_xid(conn).await?;
            let asked = ctx.paypal_calls.subscriptions.load(Ordering::Relaxed) - asked_before;
            progress_line("intake", concurrency, &run);
            progress!(
                "  cpu per delivery: {} ms in this process (receiver and senders), {backend_ms} ms \
                 in the pool's PostgreSQL backends; machine {:.0}% busy; {} bytes of WAL",
                run.cpu["bench_process_ms_per_delivery"],
                run.cpu["machine_busy_share"].as_f64().unwrap_or(0.0) * 100.0,
                wal / i64::try_from(run.sent.max(1)).unwrap_or(1)
            );
            if !run.error_samples.is_empty() {
                progress!("  errors, e.g.: {}", run.error_samples.join(" | "));
            }
            expected_rate = (3.0 * run.summary.per_sec).max(1500.0);
            suspended = load::suspended_after(&run.records, suspended);
            let sent = run.records.len();
            let resends = run.records.iter().filter(|r| r.resend).count();
            let per_delivery = |x: f64| (sent > 0).then(|| stats::round1(x / sent as f64));
            let line = json!({
                "type": "result",
                "engine": "intake",
                "round": round,
                "concurrency": concurrency,
                "summary": summary_json(&run.summary),
                "errors": run.errors,
                "errors_including_warmup": run.errors_total,
                "error_samples": run.error_samples,
                "sent_including_warmup": sent,
                "resends_including_warmup": resends,
                "made_ahead": per_sender * concurrency,
                "made_during_run": run.made_during_run,
                "wal_bytes_per_delivery": per_delivery(wal as f64),
                "transaction_ids_per_delivery": per_delivery(xid_after.saturating_sub(xid) as f64),
                "paypal_api_calls": asked,
                "cpu": run.cpu,
                "postgres_backends_ms_per_delivery": backend_ms,
                "outcomes": checks::outcomes(&run.records),
                "loadavg": loadavg(),
            });
            emit(&line);
            if let Some((plain, verified)) = &baseline {
                let (i, h, v) = (&run.summary, &plain.summary, &verified.summary);
                emit(&json!({
                    "type": "ratio",
                    "round": round,
                    "concurrency": concurrency,
                    "intake_per_sec": i.per_sec,
                    "http_per_sec": h.per_sec,
                    "verify_per_sec": v.per_sec,
                    "intake_vs_http": stats::ratio(i.per_sec, h.per_sec),
                    "intake_vs_verify": stats::ratio(i.per_sec, v.per_sec),
                    "verify_vs_http": stats::ratio(v.per_sec, h.per_sec),
                    "mean_ms": { "http": h.mean_ms, "verify": v.mean_ms, "intake": i.mean_ms },
                    "p99_ms": { "http": h.p99_ms, "verify": v.p99_ms, "intake": i.p99_ms },
                }));
            }
            results.push(line);
            let label = format!("intake c={concurrency} round {round}");
            let mut checks = book.add(&run.records);
            checks.extend(book.check_database(conn, ledger).await?);
            emit(&checks_line(&label, &checks, &mut failed_checks));
        }
    }

    if args.profile > 0 {
        progress!(
            "profile: {} deliveries one at a time, every statement traced",
            args.profile
        );
        let tally = profile::instrument(receiver_pool).await?;
        let owned = mix::partition(args.orgs, 1).context("organizations")?;
        let mut script = Script::new(ctx.maker.clone(), &owned[0], suspended.clone(), 0x9f0f);
        script.prepare(args.profile)?;
        let (profile, records) =
            profile::run(&ctx.client, receiver_url, &tally, script.take_ready()).await?;
        let overall = &profile["overall"];
        progress!(
            "  per delivery: {} statements, {} durable commits, {} ms in statements of {} ms",
            overall["statements"],
            overall["durable_commits"],
            overall["statement_ms"],
            overall["mean_ms"]
        );
        emit(&profile);
        let mut checks = book.add(&records);
        checks.extend(book.check_database(conn, ledger).await?);
        emit(&checks_line("profile", &checks, &mut failed_checks));
    }
    progress!(
        "{} distinct deliveries and {} re-sends in all",
        book.distinct(),
        book.resends()
    );
    Ok((results, failed_checks))
}
