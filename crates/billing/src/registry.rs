//! The configured adapters by [`ProviderName`], so the webhook receiver and the jobs dispatch
//! by name instead of knowing each adapter's type. Each is an `Arc<dyn BillingProvider>`: ours
//! ([`Providers::with_paypal`] ...) or any other implementation ([`Providers::with`]).
//!
//! A provider that is not configured answers [`VerifyError::ProviderNotConfigured`]
//! (`WEBHOOK_PROVIDER_NOT_CONFIGURED`) to a delivery and [`ProviderError::NotConfigured`] to a
//! call; a provider configured for verification only answers its calls with
//! [`ProviderError::Config`] naming the variables to set ([`Providers::has_api`] tells which
//! is which beforehand).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use primitives::Clock;

use crate::payhere::{PayHereConfig, PayHereProvider};
use crate::paypal::{PayPalConfig, PayPalProvider};
use crate::stripe::{StripeConfig, StripeProvider};
use crate::{
    BillingProvider, ConfigError, CreateSubscription, CreateTopUp, CreatedSubscription,
    ParsedWebhook, PaymentMethodLink, ProviderError, ProviderName, ProviderSubscription,
    RetryOutcome, TopUpCheckout, VerifiedWebhook, VerifyError, WebhookRequest,
};

/// The adapters of one deployment, at most one per [`ProviderName`]. Cheap to clone (the
/// adapters are shared), and its `Debug` names the configured providers only (no secret, no
/// configuration).
#[derive(Clone, Default)]
pub struct Providers {
    adapters: BTreeMap<ProviderName, Arc<dyn BillingProvider>>,
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
    /// Every variable the three providers read, in the order the README lists them.
    pub fn variables() -> impl Iterator<Item = &'static primitives::config::Variable> {
        crate::paypal::VARIABLES
            .iter()
            .chain(&crate::stripe::VARIABLES)
            .chain(&crate::payhere::VARIABLES)
    }

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

    /// Registers `provider` under its [`BillingProvider::name`], replacing any adapter of
    /// that name: another implementation of a provider (a fake, another team's adapter) plugs
    /// in here.
    #[must_use]
    pub fn with(mut self, provider: Arc<dyn BillingProvider>) -> Self {
        self.adapters.insert(provider.name(), provider);
        self
    }

    #[must_use]
    pub fn with_paypal(self, provider: PayPalProvider) -> Self {
        self.with(Arc::new(provider))
    }

    #[must_use]
    pub fn with_stripe(self, provider: StripeProvider) -> Self {
        self.with(Arc::new(provider))
    }

    #[must_use]
    pub fn with_payhere(self, provider: PayHereProvider) -> Self {
        self.with(Arc::new(provider))
    }

    /// The adapter of `name`, if configured.
    pub fn get(&self, name: ProviderName) -> Option<Arc<dyn BillingProvider>> {
        self.adapters.get(&name).cloned()
    }

    /// The adapter of `name`, or [`ProviderError::NotConfigured`].
    pub fn provider(&self, name: ProviderName) -> Result<Arc<dyn BillingProvider>, ProviderError> {
        self.get(name).ok_or_else(|| not_configured(name))
    }

    /// The configured providers, in [`ProviderName::ALL`] order.
    pub fn configured(&self) -> Vec<ProviderName> {
        ProviderName::ALL
            .into_iter()
            .filter(|name| self.is_configured(*name))
            .collect()
    }

    pub fn is_configured(&self, name: ProviderName) -> bool {
        self.adapters.contains_key(&name)
    }

    /// Whether the provider is configured with API credentials (not for verification only).
    pub fn has_api(&self, name: ProviderName) -> bool {
        self.adapters.get(&name).is_some_and(|p| p.has_api())
    }

    /// The PayPal adapter, for what only it offers; `None` when PayPal is not configured or
    /// is served by another implementation.
    pub fn paypal(&self) -> Option<&PayPalProvider> {
        self.typed(ProviderName::Paypal)
    }

    /// The Stripe adapter (as [`Providers::paypal`]).
    pub fn stripe(&self) -> Option<&StripeProvider> {
        self.typed(ProviderName::Stripe)
    }

    /// The PayHere adapter (checkout forms, its payments list ...; as [`Providers::paypal`]).
    pub fn payhere(&self) -> Option<&PayHereProvider> {
        self.typed(ProviderName::Payhere)
    }

    fn typed<T: BillingProvider>(&self, name: ProviderName) -> Option<&T> {
        let adapter: &dyn Any = self.adapters.get(&name)?.as_ref();
        adapter.downcast_ref()
    }

    /// Verifies a delivery with the named provider's adapter.
    pub async fn verify(
        &self,
        name: ProviderName,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        match self.adapters.get(&name) {
            Some(adapter) => adapter.verify_webhook(request).await,
            None => Err(VerifyError::ProviderNotConfigured(name)),
        }
    }

    /// Parses a verified webhook with the adapter that verified it.
    pub fn parse(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError> {
        self.adapter(webhook.provider())?.parse_webhook(webhook)
    }

    pub async fn subscription(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        self.adapter(name)?
            .subscription(provider_subscription_id)
            .await
    }

    pub async fn retry_payment(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        self.adapter(name)?
            .retry_payment(provider_subscription_id, idempotency_key)
            .await
    }

    pub async fn create_subscription(
        &self,
        name: ProviderName,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        self.adapter(name)?.create_subscription(request).await
    }

    pub async fn cancel(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.adapter(name)?
            .cancel(provider_subscription_id, reason, idempotency_key)
            .await
    }

    pub async fn pause(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.adapter(name)?
            .pause(provider_subscription_id, reason, idempotency_key)
            .await
    }

    pub async fn reactivate(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.adapter(name)?
            .reactivate(provider_subscription_id, reason, idempotency_key)
            .await
    }

    pub async fn cancel_at_period_end(
        &self,
        name: ProviderName,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.adapter(name)?
            .cancel_at_period_end(provider_subscription_id, reason, idempotency_key)
            .await
    }

    pub async fn create_top_up(
        &self,
        name: ProviderName,
        request: &CreateTopUp,
    ) -> Result<TopUpCheckout, ProviderError> {
        self.adapter(name)?.create_top_up(request).await
    }

    pub async fn capture_top_up(
        &self,
        name: ProviderName,
        checkout_reference: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.adapter(name)?
            .capture_top_up(checkout_reference, idempotency_key)
            .await
    }

    pub async fn payment_method_link(
        &self,
        name: ProviderName,
        request: &PaymentMethodLink,
    ) -> Result<String, ProviderError> {
        self.adapter(name)?.payment_method_link(request).await
    }

    /// Borrowed, for the calls above (no reference count touched per call).
    fn adapter(&self, name: ProviderName) -> Result<&dyn BillingProvider, ProviderError> {
        self.adapters
            .get(&name)
            .map(AsRef::as_ref)
            .ok_or_else(|| not_configured(name))
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
