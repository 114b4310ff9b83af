//! The domain services one process holds, built once over one clock from one configuration.
//!
//! The api, the worker and the webhook receiver each run some of the same domain rules (a
//! subscription event applied by the receiver schedules dunning that the worker runs; a campaign
//! hold placed by the api is renewed by the worker's dispatcher), so they must be built from the
//! same settings; this crate is the one place that builds them.

mod config;

use std::sync::Arc;

use billing::Providers;
use campaigns::Campaigns;
use enforcement::{CustomerActions, Enforcer};
use intake::Intake;
use ledger::Ledger;
use outbox::Outbox;
use primitives::Clock;
use subscriptions::Subscriptions;

pub use config::ServicesConfig;

/// Cheap to clone: everything inside is reference counted.
#[derive(Clone)]
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub ledger: Ledger,
    /// The subscription lifecycle on the configured dunning schedule and grace periods.
    pub subscriptions: Subscriptions,
    /// Applies subscription events with their effects (wallet freeze, notifications, outbox) in
    /// one transaction, over the same `subscriptions` and `ledger`.
    pub enforcer: Enforcer,
    /// The outbox on this clock with its delivery backoff.
    pub outbox: Outbox,
    /// Campaigns over the same `ledger`, with the configured holds.
    pub campaigns: Campaigns,
    /// The configured billing providers, by name.
    pub providers: Providers,
    /// Provider deliveries: stored, matched and applied.
    pub intake: Intake,
    /// The customer's own billing actions, over the same enforcer, ledger and providers.
    pub customer: CustomerActions,
}

impl Services {
    pub fn new(
        clock: Arc<dyn Clock>,
        config: &ServicesConfig,
    ) -> Result<Self, billing::ConfigError> {
        let ledger = Ledger::new(clock.clone());
        let subscriptions = Subscriptions::new(clock.clone(), config.lifecycle.clone());
        let enforcer = Enforcer::new(subscriptions.clone(), ledger.clone());
        let campaigns = Campaigns::new(ledger.clone(), config.holds.funds_policy());
        let providers = config.providers.clone().build(clock.clone())?;
        let intake = Intake::new(
            enforcer.clone(),
            ledger.clone(),
            providers.clone(),
            clock.clone(),
            config.intake.clone(),
        );
        let customer = CustomerActions::new(
            enforcer.clone(),
            ledger.clone(),
            providers.clone(),
            config.customer.clone(),
        );
        Ok(Self {
            customer,
            outbox: Outbox::new(clock.clone(), outbox::Redelivery::default()),
            clock,
            ledger,
            subscriptions,
            enforcer,
            campaigns,
            providers,
            intake,
        })
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}
