//! The configured adapters by [`ProviderName`], so the webhook receiver and the jobs dispatch
//! by name instead of knowing each adapter's type.
//!
//! A provider that is not configured answers [`VerifyError::ProviderNotConfigured`]
//! (`WEBHOOK_PROVIDER_NOT_CONFIGURED`) to a delivery and [`ProviderError::NotConfigured`] to a
//! call; a provider configured for verification only answers its calls with
//! [`ProviderError::Config`] naming the variables to set ([`Providers::has_api`] tells which
//! is which beforehand).

use std::fmt;
use std::sync::Arc;

use primitives::Clock;

use crate::payhere::{PayHereConfig, PayHereProvider};
use crate::paypal::{PayPalConfig, PayPalProvider};
use crate::stripe::{StripeConfig, StripeProvider};
use crate::{
    BillingProvider, ConfigError, CreateSubscription, CreatedSubscription, ParsedWebhook,
    ProviderError, ProviderName, ProviderSubscription, RetryOutcome, VerifiedWebhook, VerifyError,
    WebhookRequest,
};

/// The adapters of one deployment, each optional. Cheap to clone (the adapters are shared), and
/// its `Debug` names the configured providers only (no secret, no configuration).
#[derive(Clone, Default)]
pub struct Providers {
    paypal: Option<Arc<PayPalProvider>>,
    stripe: Option<Arc<StripeProvider>>,
    payhere: Option<Arc<PayHereProvider>>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .configured()
            .into_iter()
            .map(|name| {
                let mode = if self.has_api(name) {
                    "api"
                } else {
                    "verification only"
                };
                format!("{name} ({mode})")
            })
            .collect();
        f.debug_struct("Providers")
            .field("configured", &shown)
            .finish()
    }
}

/// The configuration of every provider, each optional: what [`Providers`] is built from.
/// Read once at start-up, so a service can hold it in its own configuration and build the
/// adapters on the clock it runs on.
#[derive(Debug, Clone, Default)]
pub struct ProvidersConfig {
    pub paypal: Option<PayPalConfig>,
    pub stripe: Option<StripeConfig>,
    pub payhere: Option<PayHereConfig>,
}

impl ProvidersConfig {
    /// Every provider whose variables are set (see [`PayPalConfig::from_lookup`],
    /// [`StripeConfig::from_lookup`], [`PayHereConfig::from_lookup`]). A provider none of
    /// whose variables is set is simply absent; a half configuration is an error naming the
    /// variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            paypal: PayPalConfig::from_lookup(&lookup)?,
            stripe: StripeConfig::from_lookup(&lookup)?,
            payhere: PayHereConfig::from_lookup(&lookup)?,
        })
    }

    /// The adapters. A failure is reported under the variable that enables the provider.
    pub fn build(self, clock: Arc<dyn Clock>) -> Result<Providers, ConfigError> {
        let mut providers = Providers::none();
        if let Some(config) = self.paypal {
            let provider = PayPalProvider::new(config, Arc::clone(&clock))
                .map_err(|error| adapter_error("PAYPAL_WEBHOOK_IDS", error))?;
            providers = providers.with_paypal(provider);
        }
        if let Some(config) = self.stripe {
            let provider = StripeProvider::new(config, Arc::clone(&clock))
                .map_err(|error| adapter_error("STRIPE_WEBHOOK_SECRETS", error))?;
            providers = providers.with_stripe(provider);
        }
        if let Some(config) = self.payhere {
            let provider = PayHereProvider::new(config, clock)
                .map_err(|error| adapter_error("PAYHERE_MERCHANT_ID", error))?;
            providers = providers.with_payhere(provider);
        }
        Ok(providers)
    }
}

/// Calls `$call` on the adapter named `$name` (each adapter has its own type, so the call is
/// written once per arm), or answers `$missing` when it is not configured.
macro_rules! dispatch {
    ($self:ident, $name:expr, $missing:expr, |$adapter:ident| $call:expr) => {
        match $name {
            ProviderName::Paypal => match $self.paypal.as_deref() {
                Some($adapter) => $call,
                None => Err($missing),
            },
            ProviderName::Stripe => match $self.stripe.as_deref() {
                Some($adapter) => $call,
                None => Err($missing),
            },
            ProviderName::Payhere => match $self.payhere.as_deref() {
                Some($adapter) => $call,
                None => Err($missing),
            },
        }
    };
}

impl Providers {
    /// No provider configured.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every provider whose variables are set, through `lookup` (see
    /// [`ProvidersConfig::from_lookup`]).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        ProvidersConfig::from_lookup(lookup)?.build(clock)
    }

    /// [`Providers::from_lookup`] over the process environment.
    pub fn from_env(clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), clock)
    }

    #[must_use]
    pub fn with_paypal(mut self, provider: PayPalProvider) -> Self {
        self.paypal = Some(Arc::new(provider));
        self
    }

    #[must_use]
    pub fn with_stripe(mut self, provider: StripeProvider) -> Self {
        self.stripe = Some(Arc::new(provider));
        self
    }

    #[must_use]
    pub fn with_payhere(mut self, provider: PayHereProvider) -> Self {
        self.payhere = Some(Arc::new(provider));
        self
    }

    /// The configured providers, in [`ProviderName::ALL`] order.
    pub fn configured(&self) -> Vec<ProviderName> {
        ProviderName::ALL
            .into_iter()
            .filter(|name| self.is_configured(*name))
            .collect()
    }

    pub fn is_configured(&self, name: ProviderName) -> bool {
        match name {
            ProviderName::Paypal => self.paypal.is_some(),
            ProviderName::Stripe => self.stripe.is_some(),
            ProviderName::Payhere => self.payhere.is_some(),
        }
    }

    /// Whether the provider is configured with API credentials (not for verification only).
    pub fn has_api(&self, name: ProviderName) -> bool {
        match name {
            ProviderName::Paypal => self.paypal.as_ref().is_some_and(|p| p.has_api()),
            ProviderName::Stripe => self.stripe.as_ref().is_some_and(|p| p.has_api()),
            ProviderName::Payhere => self.payhere.as_ref().is_some_and(|p| p.has_api()),
        }
    }

    /// The PayPal adapter, for what only it offers.
    pub fn paypal(&self) -> Option<&PayPalProvider> {
        self.paypal.as_deref()
    }

    /// The Stripe adapter.
    pub fn stripe(&self) -> Option<&StripeProvider> {
        self.stripe.as_deref()
    }

    /// The PayHere adapter (checkout forms, its payments list ...).
    pub fn payhere(&self) -> Option<&PayHereProvider> {
        self.payhere.as_deref()
    }

    /// Verifies a delivery with the named provider's adapter.
    pub async fn verify(
        &self,
        name: ProviderName,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        dispatch!(
            self,
            name,
            VerifyError::ProviderNotConfigured(name),
            |adapter| adapter.verify_webhook(request).await
        )
    }

    /// Parses a verified webhook with the adapter that verified it.
    pub fn parse(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError> {
        let name = webhook.provider();
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .parse_webhook(webhook))
    }

    pub async fn subscription(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .subscription(provider_subscription_id)
            .await)
    }

    pub async fn retry_payment(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .retry_payment(provider_subscription_id, idempotency_key)
            .await)
    }

    pub async fn create_subscription(
        &self,
        name: ProviderName,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .create_subscription(request)
            .await)
    }

    pub async fn cancel(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .cancel(provider_subscription_id, reason, idempotency_key)
            .await)
    }

    pub async fn pause(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .pause(provider_subscription_id, reason, idempotency_key)
            .await)
    }

    pub async fn reactivate(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        dispatch!(self, name, not_configured(name), |adapter| adapter
            .reactivate(provider_subscription_id, reason, idempotency_key)
            .await)
    }
}

fn not_configured(provider: ProviderName) -> ProviderError {
    ProviderError::NotConfigured { provider }
}

/// An adapter that refused a configuration its `from_lookup` accepted (what `from_lookup`
/// checks leaves little: a client that cannot be built, say), under the variable that enabled
/// the provider.
fn adapter_error(variable: &'static str, error: ProviderError) -> ConfigError {
    let message = match error {
        ProviderError::Config { message, .. } => message,
        other => other.to_string(),
    };
    ConfigError::new(variable, message)
}
