//! `api`: configuration from the environment, then the application until SIGTERM.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    httpkit::telemetry::init().context("logging")?;
    let config = api::Config::from_env().context("configuration")?;
    let application = api::Application::build(config)
        .await
        .context("starting the api")?;
    application.run_until_stopped().await.context("serving")?;
    Ok(())
}
