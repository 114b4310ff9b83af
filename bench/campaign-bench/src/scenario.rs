//! One scenario: a fresh tenant, a warm-up campaign, then the measured campaign dispatched by
//! `workers` tokio tasks, each with its own `Dispatcher` (and Twilio client) over one shared
//! pool, until the campaign is completed. Then every check.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use benchkit::{
    server, stats,
    usage::{backend_pids, machine_cpu, own_cpu, per, ticks_to_us_per, wal_position},
};
use campaigns::{
    BatchReport, CampaignId, CampaignStatus, Campaigns, DispatchConfig, Dispatcher, RunReport,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ledger::Ledger;
use secrecy::SecretString;
use serde_json::{Value, json};
use subscriptions::Subscriptions;
use twilio::{TwilioClient, TwilioConfig};

use crate::{
    args::Mode,
    fake_twilio::FakeTwilio,
    setup,
    trace::{Phase, Recorder, Trace},
    usage,
};

/// The parent account the Twilio client authenticates as (the fake checks it).
pub const PARENT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "campaign-bench-token";

/// How long an idle worker waits before asking again (a worker process would wait longer; the
/// figures do not depend on it, see `last_work_end`).
const IDLE_SLEEP: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct Plan {
    pub index: usize,
    pub mode: Mode,
    pub recipients: usize,
    pub workers: usize,
    pub batch_size: usize,
    pub concurrency: usize,
    pub warmup: usize,
    pub trace: bool,
    pub timeout: Duration,
}

pub struct Ctx<'a> {
    pub url: &'a str,
    pub ledger: &'a Ledger,
    pub subscriptions: &'a Subscriptions,
    pub campaigns: &'a Campaigns,
    pub twilio: &'a FakeTwilio,
}

/// One named check and whether it held.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn check(name: &'static str, ok: bool, detail: String) -> Check {
    Check { name, ok, detail }
}

pub struct Outcome {
    pub result: Value,
    pub checks: Vec<Check>,
}

/// What the workers did.
#[derive(Debug, Default)]
struct Dispatched {
    report: RunReport,
    /// When each call that sent a batch returned, and how long it took (µs).
    batch_latencies_us: Vec<(Instant, u64)>,
    idle_calls: u64,
    last_work_end: Option<Instant>,
}

/// The backend pids of the pool's sessions (by application name); none when the server does not
/// tell.
async fn pool_backends(conn: &mut AsyncPgConnection, application: &str) -> BTreeSet<i32> {
    backend_pids(conn, application)
        .await
        .map(|pids| pids.into_iter().collect())
        .unwrap_or_default()
}

pub async fn run(ctx: &Ctx<'_>, plan: &Plan) -> anyhow::Result<Outcome> {
    let tag = format!("s{}-{}", plan.index, uuid::Uuid::now_v7().simple());
    let mut conn = server::connect(ctx.url).await?;
    let cost = setup::PRICE_PER_SEGMENT;
    let total_messages = i64::try_from(plan.recipients + plan.warmup)?;
    let credit = total_messages * cost + 1_000;
    let tenant = setup::tenant(&mut conn, ctx.ledger, ctx.subscriptions, &tag, credit).await?;

    // The pool the workers share, with one connection per worker (each holds at most one at a
    // time), every connection instrumented before any work.
    let application = format!("campaign-bench-{}", plan.index);
    let mut db_config = db::DbConfig::new(SecretString::from(ctx.url.to_owned()), &application);
    db_config.max_connections = plan.workers;
    db_config.acquire_timeout = Duration::from_secs(30);
    let pool = db::connect_pool(&db_config).context("could not build the pool")?;
    let recorders: Vec<Recorder> = (0..plan.workers).map(|_| Recorder::default()).collect();
    {
        let mut opened = server::open_connections(&pool, plan.workers).await?;
        if plan.trace {
            for (conn, recorder) in opened.iter_mut().zip(&recorders) {
                conn.set_instrumentation(recorder.clone());
            }
        }
    }
    let backends_before = pool_backends(&mut conn, &application).await;

    let dispatchers = (0..plan.workers)
        .map(|n| {
            let mut twilio = TwilioConfig::new(PARENT_SID, SecretString::from(AUTH_TOKEN));
            twilio.base_url = ctx.twilio.base_url.clone();
            let config = DispatchConfig {
                batch_size: plan.batch_size,
                concurrency: plan.concurrency,
                worker: format!("bench-{}-worker-{n}", plan.index),
                ..DispatchConfig::default()
            };
            Ok(Arc::new(Dispatcher::new(
                pool.clone(),
                ctx.campaigns.clone(),
                TwilioClient::new(twilio)?,
                config,
            )))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let subaccount = tenant.brand.twilio_subaccount_sid.clone();

    // Warm-up: the same path, untimed, so each connection has its cached statements prepared and
    // the Twilio clients have their HTTP connections open.
    let mut warmup_checks = Vec::new();
    if plan.warmup > 0 {
        let warm = setup::started_campaign(
            &mut conn,
            ctx.campaigns,
            &tenant,
            &format!("warm-up {tag}"),
            plan.warmup,
        )
        .await?;
        ctx.twilio.reset(&subaccount);
        let warmed = dispatch(ctx, plan, &dispatchers, &tenant, warm).await?;
        let twilio = ctx.twilio.counts();
        warmup_checks.push(check(
            "warmup_sent_all",
            warmed.report.sent == plan.warmup && twilio.accepted == plan.warmup as u64,
            format!(
                "sent {} of {}, Twilio accepted {}",
                warmed.report.sent, plan.warmup, twilio.accepted
            ),
        ));
        for recorder in &recorders {
            recorder.take();
        }
    }

    crate::progress!(
        "scenario {}: {} recipients, {} worker(s), {}: setting up",
        plan.index,
        plan.recipients,
        plan.workers,
        plan.mode.as_str()
    );
    let setup_started = Instant::now();
    let campaign = setup::started_campaign(
        &mut conn,
        ctx.campaigns,
        &tenant,
        &format!("bench {tag}"),
        plan.recipients,
    )
    .await?;
    // Fresh statistics for the new recipients (autovacuum would do it during the run otherwise),
    // and a checkpoint so the run does not pay for the set-up's dirty pages.
    diesel::sql_query("VACUUM (ANALYZE) campaign_recipients")
        .execute(&mut conn)
        .await
        .context("VACUUM (ANALYZE) campaign_recipients")?;
    let checkpointed = diesel::sql_query("CHECKPOINT")
        .execute(&mut conn)
        .await
        .is_ok();
    let setup_seconds = setup_started.elapsed().as_secs_f64();

    ctx.twilio.reset(&subaccount);
    let (cpu_before, wal_before) = (own_cpu().own, wal_position(&mut conn).await);
    let server_before = usage::backend_ticks(backends_before.iter().copied());
    let machine_before = machine_cpu();
    crate::progress!("scenario {}: dispatching", plan.index);
    let started = Instant::now();
    let dispatched = dispatch(ctx, plan, &dispatchers, &tenant, campaign).await?;
    let wall = dispatched
        .last_work_end
        .map_or(Duration::ZERO, |end| end - started);
    let (cpu_after, wal_after) = (own_cpu().own, wal_position(&mut conn).await);
    let server_after = usage::backend_ticks(backends_before.iter().copied());
    let machine_after = machine_cpu();
    let twilio = ctx.twilio.counts();
    let distinct = ctx.twilio.distinct_recipients();
    let backends_after = pool_backends(&mut conn, &application).await;
    let mut trace = Trace::default();
    for recorder in &recorders {
        trace.merge(recorder.take());
    }
    drop(dispatchers);
    pool.close();

    // The books and the campaign after the run.
    let summary = ctx
        .campaigns
        .summary(&mut conn, tenant.organization, campaign)
        .await?;
    let reconciliation = ctx.ledger.reconcile(&mut conn, tenant.wallet).await?;
    let wallet = ctx.ledger.balance(&mut conn, tenant.wallet).await?;
    let n = plan.recipients;
    let n64 = n as u64;
    let expected_capture = i64::try_from(n)? * cost;
    let mut checks = warmup_checks;
    checks.extend([
        check(
            "campaign_completed",
            summary.campaign.status == CampaignStatus::Completed,
            format!("status {}", summary.campaign.status),
        ),
        check(
            "all_recipients_sent",
            summary.recipients.sent == i64::try_from(n)?
                && summary.recipients.total() == summary.recipients.sent
                && dispatched.report.sent == n,
            format!(
                "{:?}; dispatcher reported sent {}",
                summary.recipients, dispatched.report.sent
            ),
        ),
        check(
            "nothing_failed_or_unconfirmed",
            dispatched.report.failed == 0
                && dispatched.report.unconfirmed == 0
                && dispatched.report.recovered == 0
                && dispatched.report.paused == 0,
            format!("{:?}", dispatched.report),
        ),
        check(
            "twilio_requests_equal_recipients",
            twilio.requests == n64 && twilio.accepted == n64 && distinct == n,
            format!(
                "{} requests, {} accepted, {distinct} distinct numbers, for {n} recipients",
                twilio.requests, twilio.accepted
            ),
        ),
        check(
            "twilio_requests_valid",
            twilio.unauthorized == 0
                && twilio.wrong_account == 0
                && twilio.malformed == 0
                && twilio.duplicates == 0
                && twilio.unexpected == 0,
            twilio.to_json().to_string(),
        ),
        check(
            "hold_settled",
            summary.captured.minor() + summary.released.minor() == summary.held.minor()
                && summary.reserved.minor() == 0
                && summary.captured.minor() == expected_capture
                && summary.campaign.hold_id.is_none(),
            format!(
                "held {}, captured {} (expected {expected_capture}), released {}, reserved {}",
                summary.held.minor(),
                summary.captured.minor(),
                summary.released.minor(),
                summary.reserved.minor()
            ),
        ),
        check(
            "wallet_reconciles",
            reconciliation.is_clean(),
            format!("{reconciliation:?}"),
        ),
        check(
            "wallet_balance",
            wallet.held.minor() == 0
                && wallet.balance.minor() == tenant.credited - total_messages * cost,
            format!(
                "balance {}, held {}, expected balance {}",
                wallet.balance.minor(),
                wallet.held.minor(),
                tenant.credited - total_messages * cost
            ),
        ),
    ]);
    if plan.trace {
        checks.push(check(
            "every_connection_instrumented",
            !backends_before.is_empty()
                && backends_before.len() == plan.workers
                && backends_after.is_subset(&backends_before),
            format!("pool backends before {backends_before:?}, after {backends_after:?}"),
        ));
    }

    let seconds = wall.as_secs_f64();
    let batches = dispatched.report.batches as u64;
    let mut timeline = dispatched.batch_latencies_us.clone();
    timeline.sort_by_key(|(at, _)| *at);
    let tenth = timeline.len() / 10;
    let tenth_mean = |part: &[(Instant, u64)]| {
        (!part.is_empty()).then(|| {
            stats::round3(
                part.iter().map(|(_, us)| *us as f64).sum::<f64>() / part.len() as f64 / 1000.0,
            )
        })
    };
    let (first_tenth, last_tenth) = if tenth > 0 {
        (
            tenth_mean(&timeline[..tenth]),
            tenth_mean(&timeline[timeline.len() - tenth..]),
        )
    } else {
        (None, None)
    };
    let mut latencies: Vec<u64> = timeline.iter().map(|(_, us)| *us).collect();
    latencies.sort_unstable();
    let ms = |us: u64| stats::round3(us as f64 / 1000.0);
    let total = trace.total();
    let per_message = |x: u64| stats::round3(x as f64 / n64.max(1) as f64);
    let per_batch = |x: u64| stats::round3(x as f64 / batches.max(1) as f64);
    let phases: serde_json::Map<String, Value> = Phase::ALL
        .iter()
        .map(|&phase| (phase.as_str().to_owned(), trace.phase(phase)))
        .filter(|(_, t)| t.statements > 0)
        .map(|(name, t)| (name, t.to_json(batches)))
        .collect();
    let messages_per_sec = if seconds > 0.0 {
        stats::round1(n as f64 / seconds)
    } else {
        0.0
    };
    let result = json!({
        "type": "result",
        "scenario": plan.index,
        "mode": plan.mode.as_str(),
        "recipients": n,
        "workers": plan.workers,
        "batch_size": plan.batch_size,
        "concurrency": plan.concurrency,
        "messages_per_sec": messages_per_sec,
        "elapsed_seconds": stats::round3(seconds),
        "batches": batches,
        "batch_ms": {
            "p50": ms(stats::percentile(&latencies, 0.50)),
            "p99": ms(stats::percentile(&latencies, 0.99)),
            "max": ms(latencies.last().copied().unwrap_or(0)),
            "mean": ms(if latencies.is_empty() { 0 } else {
                latencies.iter().sum::<u64>() / latencies.len() as u64
            }),
            "first_tenth_mean": first_tenth,
            "last_tenth_mean": last_tenth,
        },
        "idle_calls": dispatched.idle_calls,
        "traced": plan.trace,
        "round_trips_per_message": plan.trace.then(|| per_message(total.round_trips())),
        "statements_per_message": plan.trace.then(|| per_message(total.statements)),
        "round_trips_per_batch": plan.trace.then(|| per_batch(total.round_trips())),
        "statements_per_batch": plan.trace.then(|| per_batch(total.statements)),
        "totals": plan.trace.then(|| json!({
            "statements": total.statements,
            "round_trips": total.round_trips(),
            "flights": total.flights,
            "prepares": total.prepares,
            "prepare_round_trips": total.prepare_round_trips,
            "uncacheable_executions": total.uncacheable,
            "overlapped_prepares": total.overlapped_prepares,
            "failed_statements": total.failed_statements,
        })),
        "phases": plan.trace.then_some(Value::Object(phases)),
        "twilio": twilio.to_json(),
        "client_cpu_us_per_message": ticks_to_us_per(cpu_after - cpu_before, n64),
        "server_cpu_us_per_message": server_before
            .zip(server_after)
            .and_then(|(before, after)| ticks_to_us_per(after.saturating_sub(before), n64)),
        "machine_busy_percent": usage::busy_percent(machine_before, machine_after),
        "wal_bytes_per_message": per(wal_before, wal_after, n64),
        "setup_seconds": stats::round3(setup_seconds),
        "warmup_recipients": plan.warmup,
        "checkpointed_before": checkpointed,
        "loadavg": benchkit::machine::loadavg(),
    });
    Ok(Outcome { result, checks })
}

/// Runs `plan.workers` worker tasks on `campaign` until one of them sees it completed.
async fn dispatch(
    ctx: &Ctx<'_>,
    plan: &Plan,
    dispatchers: &[Arc<Dispatcher<TwilioClient>>],
    tenant: &setup::Tenant,
    campaign: CampaignId,
) -> anyhow::Result<Dispatched> {
    let done = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + plan.timeout;
    let mut tasks = tokio::task::JoinSet::new();
    for dispatcher in dispatchers {
        // Each worker checks the campaign's status on a connection of its own, outside the
        // instrumented pool, and only when it found nothing to do.
        let status_conn = AsyncPgConnection::establish(ctx.url)
            .await
            .context("could not open the status connection")?;
        let worker = Worker {
            dispatcher: Arc::clone(dispatcher),
            campaigns: ctx.campaigns.clone(),
            organization: tenant.organization,
            campaign,
            mode: plan.mode,
            done: Arc::clone(&done),
            deadline,
        };
        tasks.spawn(worker.run(status_conn));
    }
    let mut merged = Dispatched::default();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.context("a worker task panicked").and_then(|r| r) {
            Ok(outcome) => {
                let r = &mut merged.report;
                let o = outcome.report;
                r.batches += o.batches;
                r.sent += o.sent;
                r.failed += o.failed;
                r.unconfirmed += o.unconfirmed;
                r.recovered += o.recovered;
                r.paused += o.paused;
                r.completed += o.completed;
                merged.batch_latencies_us.extend(outcome.batch_latencies_us);
                merged.idle_calls += outcome.idle_calls;
                merged.last_work_end = merged.last_work_end.max(outcome.last_work_end);
            }
            Err(error) => {
                AtomicBool::store(&done, true, Ordering::SeqCst);
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(merged),
    }
}

struct Worker {
    dispatcher: Arc<Dispatcher<TwilioClient>>,
    campaigns: Campaigns,
    organization: primitives::OrganizationId,
    campaign: CampaignId,
    mode: Mode,
    done: Arc<AtomicBool>,
    deadline: Instant,
}

impl Worker {
    async fn run(self, mut status_conn: AsyncPgConnection) -> anyhow::Result<Dispatched> {
        let result = self.work(&mut status_conn).await;
        if result.is_err() {
            AtomicBool::store(&self.done, true, Ordering::SeqCst);
        }
        result
    }

    async fn work(&self, status_conn: &mut AsyncPgConnection) -> anyhow::Result<Dispatched> {
        let mut out = Dispatched::default();
        while !AtomicBool::load(&self.done, Ordering::SeqCst) {
            if Instant::now() > self.deadline {
                bail!("the campaign did not complete before --timeout");
            }
            let call_started = Instant::now();
            let batch = match self.mode {
                Mode::RunOnce => {
                    let report = self.dispatcher.run_once().await?;
                    if report.paused > 0 {
                        bail!("the campaign was paused: {report:?}");
                    }
                    let r = &mut out.report;
                    r.batches += report.batches;
                    r.sent += report.sent;
                    r.failed += report.failed;
                    r.unconfirmed += report.unconfirmed;
                    r.recovered += report.recovered;
                    r.completed += report.completed;
                    report.batches > 0
                }
                Mode::Batch => match self.dispatcher.dispatch_batch(self.campaign).await? {
                    BatchReport::Sent(counts) => {
                        let r = &mut out.report;
                        r.batches += 1;
                        r.sent += counts.sent;
                        r.failed += counts.failed;
                        r.unconfirmed += counts.unconfirmed;
                        r.recovered += counts.recovered;
                        true
                    }
                    BatchReport::Paused(blockers) => {
                        bail!("the campaign was paused: {blockers:?}")
                    }
                    BatchReport::Completed => {
                        out.report.completed += 1;
                        false
                    }
                    BatchReport::Idle => false,
                },
            };
            let call_ended = Instant::now();
            if batch {
                out.batch_latencies_us.push((
                    call_ended,
                    u64::try_from((call_ended - call_started).as_micros()).unwrap_or(u64::MAX),
                ));
                out.last_work_end = Some(call_ended);
                continue;
            }
            out.idle_calls += 1;
            let campaign = self
                .campaigns
                .get(status_conn, self.organization, self.campaign)
                .await?;
            match campaign.status {
                CampaignStatus::Completed => {
                    AtomicBool::store(&self.done, true, Ordering::SeqCst);
                }
                CampaignStatus::Running => tokio::time::sleep(IDLE_SLEEP).await,
                other => bail!("the campaign is {other}, not running"),
            }
        }
        Ok(out)
    }
}
