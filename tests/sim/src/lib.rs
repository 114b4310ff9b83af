//! A seeded whole-system simulation (docs/reliability.md, "Seeded simulation"), in the spirit
//! of TigerBeetle's VOPR, kept simple.
//!
//! One seed drives a random mix of API calls (debits, credits, holds, captures, releases,
//! corrections on both of the ledger's write paths; campaigns created, started, paused,
//! resumed, canceled; operator freezes), signed Stripe deliveries (repeated, reordered,
//! delayed), clock jumps through dunning and hold expiry, Twilio and SMTP answers (accepted,
//! 4xx, 5xx, timeouts) and injected faults (database connections killed mid-operation, workers
//! stopped mid-batch), against real PostgreSQL and the real crates, with fakes only for the
//! outside world. After every step it checks the guarantees.
//!
//! - [`plan`]: the steps, a pure function of the seed.
//! - [`world`]: the database, the services, the fakes; [`steps`] carry out each step.
//! - [`fakes`]: Twilio, the mail server, the provider's dunning answers; [`provider`]: Stripe's
//!   deliveries.
//! - [`faults`]: killing sessions, dropping workers.
//! - [`model`]: what must be true; [`invariants`]: the checks.
//!
//! A failure panics with the seed, the step and the command that replays it.

#![expect(
    clippy::unwrap_used,
    reason = "a test harness: a panic is how it reports failure"
)]

pub mod config;
pub mod fakes;
pub mod faults;
pub mod invariants;
pub mod model;
pub mod plan;
pub mod provider;
pub mod snapshot;
pub mod sql;
pub mod stats;
pub mod steps;
pub mod world;

use std::{collections::VecDeque, panic::AssertUnwindSafe, time::Instant};

use futures::FutureExt;

pub use config::SimConfig;

use crate::{invariants::Checker, plan::Plan, plan::Step, stats::Stats, world::World};

/// How many of the last steps a failure shows.
const TRAIL: usize = 25;
/// A step that takes longer is hung: a failure like any other, with its seed and step.
const STEP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// What a run did, for the figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub config: SimConfig,
    pub steps: u64,
    pub full_checks: u64,
    pub elapsed: std::time::Duration,
    pub simulated: chrono::Duration,
    /// A digest of what every step did (its note): equal on two runs of a seed unless a fault's
    /// timing made an outcome differ.
    pub trace: u64,
    pub stats: Stats,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} ({:#x}): {} steps in {:.1} s ({:.2} ms/step), {} full checks, {} simulated days",
            self.config.seed,
            self.config.seed,
            self.steps,
            self.elapsed.as_secs_f64(),
            self.elapsed.as_secs_f64() * 1000.0 / self.steps.max(1) as f64,
            self.full_checks,
            self.simulated.num_days()
        )?;
        writeln!(f, "trace digest: {:016x}", self.trace)?;
        writeln!(f, "replay: {}", self.config.command())?;
        write!(f, "{}", self.stats)
    }
}

/// Runs the simulation; panics at the first broken guarantee.
pub async fn run(config: SimConfig) -> Report {
    let started = Instant::now();
    let mut world = World::new().await;
    let begin = world.now();
    let mut checker = Checker::new(&mut world).await;
    let mut plan = Plan::new(config.seed);
    let mut trail: VecDeque<String> = VecDeque::with_capacity(TRAIL);
    let mut trace = Fnv::default();
    // `SIM_TRACE=<file>` writes every step and what it did, to compare two runs of a seed.
    let mut trace_file = std::env::var("SIM_TRACE")
        .ok()
        .map(|path| std::fs::File::create(path).unwrap());
    for index in 0..config.steps {
        let step = plan.next_step();
        let last = index + 1 == config.steps;
        let full = (index + 1).is_multiple_of(config.full_every) || last;
        let began = Instant::now();
        let outcome = tokio::time::timeout(
            STEP_DEADLINE,
            AssertUnwindSafe(one_step(&mut world, &mut checker, &step, full)).catch_unwind(),
        )
        .await;
        let note = match outcome {
            Ok(Ok(Ok(note))) => note,
            Ok(Ok(Err(failure))) => fail(&config, index, &step, &failure, &trail, &world),
            Err(_) => {
                let failure = format!("the step did not finish within {STEP_DEADLINE:?} (hung)");
                fail(&config, index, &step, &failure, &trail, &world)
            }
            Ok(Err(panic)) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                fail(&config, index, &step, &message, &trail, &world)
            }
        };
        trace.write(note.as_bytes());
        if let Some(file) = &mut trace_file {
            use std::io::Write;
            writeln!(file, "#{index} {step:?}\n      -> {note}").unwrap();
        }
        if trail.len() == TRAIL {
            trail.pop_front();
        }
        trail.push_back(format!("#{index} {step:?}\n      -> {note}"));
        world.stats.bump(format!("step.{}", step.kind()));
        world.stats.add(
            format!("time_ms.{}", step.kind()),
            began.elapsed().as_millis() as u64,
        );
    }
    end_figures(&mut world).await;
    let twilio = world.twilio.stats();
    let mail = world.mail.notifier.stats();
    let stats = &mut world.stats;
    stats.add("twilio.sends", twilio.sends);
    stats.add("twilio.accepted", twilio.accepted);
    stats.add("twilio.refused_4xx", twilio.refused);
    stats.add("twilio.server_error_5xx", twilio.server_errors);
    stats.add("twilio.timeout", twilio.timeouts);
    stats.add("twilio.rate_limited_429", twilio.rate_limited);
    stats.add("twilio.connect_failed", twilio.connect_failed);
    stats.add("twilio.hung_worker_stopped", twilio.hung);
    stats.add("twilio.subaccount_calls", twilio.subaccount_calls);
    stats.add("twilio.subaccount_failures", twilio.subaccount_failures);
    stats.add("twilio.message_list_reads", twilio.lookups);
    stats.add(
        "twilio.messages_really_sent",
        world.twilio.held().len() as u64,
    );
    stats.add("smtp.attempts", mail.attempts);
    stats.add("smtp.accepted", mail.accepted);
    stats.add("smtp.refused_451", mail.refused_transient);
    stats.add("smtp.refused_554", mail.refused_permanent);
    stats.add("smtp.timeout", mail.timeouts);
    stats.add("smtp.hung_worker_stopped", mail.hung);
    stats.add("time_ms.smtp_accepted_mails", mail.ok_micros / 1000);
    stats.add(
        "smtp.mails_received",
        world.mail.sink.messages().len() as u64,
    );
    stats.add("dunning.provider_retries_asked", world.retrier.calls());
    Report {
        config,
        steps: config.steps,
        full_checks: checker.full_checks,
        elapsed: started.elapsed(),
        simulated: world.now() - begin,
        trace: trace.0,
        stats: world.stats.clone(),
    }
}

async fn one_step(
    world: &mut World,
    checker: &mut Checker,
    step: &Step,
    full: bool,
) -> Result<String, String> {
    let note = world.execute(step).await?;
    checker.after_step(world, step).await?;
    if *step == Step::Quiesce {
        checker.quiesced(world).await?;
    } else if full {
        checker.full(world).await?;
    }
    Ok(note)
}

fn fail(
    config: &SimConfig,
    index: u64,
    step: &Step,
    failure: &str,
    trail: &VecDeque<String>,
    world: &World,
) -> ! {
    let replay = SimConfig {
        steps: index + 1,
        ..*config
    };
    let trail = trail.iter().cloned().collect::<Vec<_>>().join("\n  ");
    panic!(
        "\nSIMULATION FAILED at step {index} of seed {seed} ({seed:#x}), simulated time {now}\n\
         step: {step:?}\n\
         broken: {failure}\n\
         last steps:\n  {trail}\n\
         replay: {command}\n",
        seed = config.seed,
        now = world.now(),
        command = replay.command(),
    );
}

/// What the database holds at the end, by status, for the figures.
async fn end_figures(world: &mut World) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        key: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = "\
        SELECT 'end.recipients.' || status AS key, count(*)::bigint AS n FROM campaign_recipients GROUP BY 1 \
        UNION ALL SELECT 'end.campaigns.' || status, count(*) FROM campaigns GROUP BY 1 \
        UNION ALL SELECT 'end.batch_charges.' || coalesce(charge_state, 'none'), count(*) FROM campaign_batches GROUP BY 1 \
        UNION ALL SELECT 'end.outbox.' || topic || '.' || status, count(*) FROM outbox_messages GROUP BY 1 \
        UNION ALL SELECT 'end.inbox.' || status, count(*) FROM webhook_inbox GROUP BY 1 \
        UNION ALL SELECT 'end.ledger_entries.' || kind, count(*) FROM ledger_entries GROUP BY 1 \
        UNION ALL SELECT 'end.subscription_transitions', count(*) FROM subscription_transitions";
    let mut conn = world.conn().await;
    let rows: Vec<Row> = diesel_async::RunQueryDsl::load(diesel::sql_query(sql), &mut conn)
        .await
        .unwrap_or_else(|e| panic!("sim: figures: {e}"));
    drop(conn);
    for row in rows {
        world.stats.add(row.key, u64::try_from(row.n).unwrap_or(0));
    }
}

/// FNV-1a: a stable digest (std's hasher may change between releases).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
