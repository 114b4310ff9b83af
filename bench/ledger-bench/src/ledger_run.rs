//! Drives the real ledger from one tokio task per caller: either `Ledger::debit` through a
//! `db::DbPool`, each caller checking a connection out for every debit as a request handler did
//! before the writer (the single path), or `ledger::LedgerWriter::debit`, each caller handing its
//! debit to the batching writer and waiting for its own result.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use db::AsyncPgConnection;
use ledger::{Actor, Counterparty, DebitRequest, Ledger, LedgerWriter, Reference, WriterConfig};
use primitives::{Currency, Money, WalletId};
use rand::{Rng, SeedableRng, rngs::StdRng};

use benchkit::stats;

use crate::{Plan, Scenario};

pub struct LedgerRun {
    pub summary: stats::Summary,
    pub measured_seconds: f64,
    /// Failed or replayed debits inside the measured window.
    pub errors: usize,
    /// Debits written, warm-up included (checked against the entries table at the end).
    pub applied_total: u64,
    /// Debits that failed or replayed, warm-up included.
    pub errors_total: u64,
    pub error_samples: Vec<String>,
}

/// Which engine the callers go through.
#[derive(Debug, Clone)]
pub enum Via {
    /// `Ledger::debit`, a pooled connection per call (or held, with `--hold-connections`).
    Single,
    /// `LedgerWriter::debit`, with this configuration and a pool of `pool_size` connections.
    Writer {
        config: WriterConfig,
        pool_size: usize,
    },
}

struct Ctx {
    ledger: Ledger,
    pool: db::DbPool,
    writer: Option<LedgerWriter>,
    wallets: Arc<Vec<WalletId>>,
    scenario: Scenario,
    reference_prefix: String,
    counterparty: Counterparty,
    actor: Actor,
    measure_from: Instant,
    end: Instant,
    hold_connection: bool,
}

#[derive(Default)]
struct ClientResult {
    latencies_us: Vec<u64>,
    errors: usize,
    applied_total: u64,
    errors_total: u64,
    error_samples: Vec<String>,
}

pub async fn run(
    url: &str,
    ledger: &Ledger,
    wallets: Arc<Vec<WalletId>>,
    plan: &Plan,
    via: &Via,
    run_tag: &str,
) -> anyhow::Result<LedgerRun> {
    let Plan {
        scenario,
        concurrency,
        warmup,
        seconds,
        ..
    } = *plan;
    // The single path gets a connection per caller, as the benchmark always gave it; the
    // writer needs only its own few.
    let (pool_size, engine) = match via {
        Via::Single => (concurrency, "single"),
        Via::Writer { pool_size, .. } => (*pool_size, "writer"),
    };
    let mut config = db::DbConfig::new(url.to_owned().into(), "ledger-bench");
    config.max_connections = pool_size;
    config.acquire_timeout = Duration::from_secs(10);
    let pool = db::connect_pool(&config).context("could not build the pool")?;
    // Open every connection before the clock starts.
    drop(benchkit::server::open_connections(&pool, pool_size).await?);
    let writer = match via {
        Via::Single => None,
        Via::Writer { config, .. } => Some(LedgerWriter::start(
            pool.clone(),
            ledger.clone(),
            config.clone(),
        )),
    };

    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        ledger: ledger.clone(),
        pool: pool.clone(),
        writer,
        wallets,
        scenario,
        reference_prefix: format!("{run_tag}-{engine}-{}-c{concurrency}", scenario.as_str()),
        counterparty: Counterparty::parse("revenue:messages")?,
        actor: Actor::system("bench"),
        measure_from: start + warmup,
        end: start + warmup + seconds,
        hold_connection: plan.hold_connections,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..concurrency {
        tasks.spawn(client(Arc::clone(&ctx), task));
    }
    let mut merged = ClientResult::default();
    while let Some(result) = tasks.join_next().await {
        let result = result.context("a client task panicked")?;
        merged.latencies_us.extend(result.latencies_us);
        merged.errors += result.errors;
        merged.applied_total += result.applied_total;
        merged.errors_total += result.errors_total;
        for sample in result.error_samples {
            if merged.error_samples.len() < 5 {
                merged.error_samples.push(sample);
            }
        }
    }
    // The measured window is exactly `seconds`: a debit counts when it started inside it.
    let measured_seconds = seconds.as_secs_f64();
    // The writer's tasks end with their last handle; then its connections can go.
    drop(ctx);
    pool.close();
    Ok(LedgerRun {
        summary: stats::summarize(merged.latencies_us, measured_seconds),
        measured_seconds,
        errors: merged.errors,
        applied_total: merged.applied_total,
        errors_total: merged.errors_total,
        error_samples: merged.error_samples,
    })
}

async fn client(ctx: Arc<Ctx>, task: usize) -> ClientResult {
    let mut rng = StdRng::seed_from_u64(0x5eed_0000 + task as u64);
    let mut result = ClientResult::default();
    let mut n: u64 = 0;
    let mut held = None;
    if ctx.hold_connection && ctx.writer.is_none() {
        match ctx.pool.get().await {
            Ok(conn) => held = Some(conn),
            Err(error) => {
                result.errors_total += 1;
                result.error_samples.push(format!("pool: {error}"));
                return result;
            }
        }
    }
    loop {
        let started = Instant::now();
        if started >= ctx.end {
            break;
        }
        let wallet_id = match ctx.scenario {
            Scenario::Hot => ctx.wallets[0],
            Scenario::Spread => ctx.wallets[rng.random_range(0..ctx.wallets.len())],
        };
        let reference = format!("{}-t{task}-{n}", ctx.reference_prefix);
        n += 1;
        let outcome = debit(&ctx, held.as_deref_mut(), wallet_id, reference).await;
        let latency = started.elapsed();
        let measured = started >= ctx.measure_from;
        match outcome {
            Ok(()) => {
                result.applied_total += 1;
                if measured {
                    result
                        .latencies_us
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                }
            }
            Err(error) => {
                result.errors_total += 1;
                if measured {
                    result.errors += 1;
                }
                if result.error_samples.len() < 5 {
                    result.error_samples.push(format!("{error:#}"));
                }
            }
        }
    }
    result
}

/// One debit: through the writer, else on the task's own connection when it holds one, else on
/// one checked out for it.
async fn debit(
    ctx: &Ctx,
    held: Option<&mut AsyncPgConnection>,
    wallet_id: WalletId,
    reference: String,
) -> anyhow::Result<()> {
    let request = DebitRequest {
        wallet_id,
        amount: Money::from_minor(1, Currency::USD),
        counterparty: ctx.counterparty.clone(),
        reference: Reference::parse(reference)?,
        actor: ctx.actor.clone(),
    };
    let outcome = match (&ctx.writer, held) {
        (Some(writer), _) => writer.debit(request).await?,
        (None, Some(conn)) => ctx.ledger.debit(conn, request).await?,
        (None, None) => {
            let mut conn = ctx.pool.get().await.context("pool")?;
            ctx.ledger.debit(&mut conn, request).await?
        }
    };
    if outcome.replayed {
        anyhow::bail!("a fresh reference was replayed");
    }
    Ok(())
}
