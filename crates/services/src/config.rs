//! The settings every service must agree on: the subscription lifecycle, campaign holds, the
//! billing providers and the intake. Each part is read by its own crate; this gathers them.

use billing::ProvidersConfig;
use campaigns::HoldSettings;
use enforcement::CustomerConfig;
use intake::IntakePolicy;
use primitives::config::{ConfigError, Env};
use subscriptions::LifecyclePolicy;

#[derive(Debug, Clone, Default)]
pub struct ServicesConfig {
    /// The dunning schedule and grace periods (`BILLING_*`, see `subscriptions::LifecyclePolicy`).
    pub lifecycle: LifecyclePolicy,
    /// Campaign holds.
    pub holds: HoldSettings,
    /// The billing providers (`PAYPAL_*`, `STRIPE_*`, `PAYHERE_*`, see `billing::ProvidersConfig`).
    pub providers: ProvidersConfig,
    /// Retries, retention and provider calls of the webhook intake (`INBOX_*`, see
    /// `intake::IntakePolicy`).
    pub intake: IntakePolicy,
    /// The plan catalog and top-up limits of the customer actions (`BILLING_PLANS`,
    /// `TOP_UP_LIMITS`, see `enforcement::CustomerConfig`).
    pub customer: CustomerConfig,
}

impl ServicesConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let lifecycle = LifecyclePolicy::from_lookup(env.lookup())?;
        let providers = ProvidersConfig::from_lookup(env.lookup())?;
        let intake = IntakePolicy::from_lookup(env.lookup())?;
        let customer = CustomerConfig::from_lookup(env.lookup())?;
        Ok(Self {
            lifecycle,
            holds: HoldSettings::from_env(env)?,
            providers,
            intake,
            customer,
        })
    }
}
