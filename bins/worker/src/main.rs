//! `worker`: configuration from the environment, then every enabled background job until
//! SIGTERM, when it stops claiming, lets the runs in progress finish and exits 0.
//!
//! Any number of workers may run side by side (every job claims its work with a lease or a row
//! lock). The worker never migrates: it needs the database the migrator prepared.

use std::sync::Arc;

use anyhow::Context;
use db::DatabaseSettings;
use jobs::{Jobs, JobsConfig, Worker};
use primitives::{Clock, SystemClock, config::Env};
use services::{Services, ServicesConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    httpkit::telemetry::init().context("logging")?;
    let env = Env::process();
    let database = DatabaseSettings::from_env(&env).context("configuration")?;
    database.require_url("worker").context("configuration")?;
    let services_config = ServicesConfig::from_env(&env).context("configuration")?;
    let jobs_config =
        JobsConfig::from_env(&env, &services_config.holds).context("configuration")?;

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pool = database.open("worker").await.context("database")?.pool;
    let services = Services::new(clock, &services_config).context("billing providers")?;
    let addr = jobs_config.addr;
    let jobs = Jobs::new(jobs_config, app_name()).context("starting the jobs")?;
    let worker = Worker::build(addr, pool, services, jobs)
        .await
        .context("starting the worker")?;
    worker.run_until_stopped().await.context("running")?;
    Ok(())
}

/// Names this process's dispatcher loops in logs and on the batches they claim.
fn app_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!("{host}:{}", std::process::id())
}
