//! `api`: configuration from the environment, then the application until SIGTERM.
//!
//! With `DATABASE_URL` set this is the production api, which runs no background jobs (the
//! `worker` does). Unset, it is the development mode: one process with the embedded database,
//! the api, the webhook routes and the worker's jobs.

use anyhow::Context;
use primitives::config::Env;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    httpkit::telemetry::init().context("logging")?;
    let config = app::Config::from_env(&Env::process()).context("configuration")?;
    let application = app::Application::build(config)
        .await
        .context("starting the api")?;
    application.run_until_stopped().await.context("serving")?;
    Ok(())
}
