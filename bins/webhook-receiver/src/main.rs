//! `webhook-receiver`: configuration from the environment, then the receiver until SIGTERM.

use std::sync::Arc;

use anyhow::{Context, bail};
use primitives::{Clock, SystemClock, config::Env};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    httpkit::telemetry::init().context("logging")?;
    let config = webhooks::ReceiverConfig::from_env(&Env::process()).context("configuration")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let providers = billing::Providers::from_env(clock.clone()).context("configuration")?;
    if providers.configured().is_empty() && config.twilio.is_none() {
        bail!(
            "configuration: nothing to receive; set PAYPAL_WEBHOOK_IDS, STRIPE_WEBHOOK_SECRETS \
             or PAYHERE_MERCHANT_ID, or Twilio's TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and \
             TWILIO_STATUS_CALLBACK_URL (see the README)"
        );
    }
    let receiver = webhooks::Receiver::build(config, providers, clock)
        .await
        .context("starting the webhook receiver")?;
    receiver.run_until_stopped().await.context("serving")?;
    Ok(())
}
