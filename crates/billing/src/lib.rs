//! Billing providers behind one trait (docs/guarantees.md: G3, G9, G10, G12).
//!
//! - [`BillingProvider`]: create, inspect, cancel (now or at the period's end), pause,
//!   reactivate, retry a payment, start and capture a wallet top-up, link to where the customer
//!   changes their payment method, verify a webhook over its raw bytes, parse a verified webhook
//!   into [`BillingEvent`]s.
//! - [`VerifiedWebhook`] can only be made by a provider's `verify_webhook`, so nothing parses a
//!   body whose signature was not checked.
//! - Every API call goes through [`outbound`], the one outbound HTTP layer: base URL,
//!   timeouts, and retries with backoff and jitter only where a retry cannot charge twice
//!   ([`http::RetryPolicy`] in each adapter's configuration).
//! - [`Providers`]: the configured adapters by [`ProviderName`], each an
//!   `Arc<dyn BillingProvider>` (ours, or another implementation), read from the environment
//!   ([`ConfigError`] names the variable at fault), so the webhook receiver and the jobs
//!   dispatch by name. An adapter configured with its webhook secrets only verifies and parses;
//!   its API calls fail with [`ProviderError::Config`] naming the missing variables.
//!
//! The crate knows no database and serves no HTTP; the webhook receiver and the enforcement
//! layer use it.

mod config;
mod error;
mod event;
pub mod http;
pub mod payhere;
pub mod paypal;
mod provider;
mod registry;
pub mod stripe;
mod webhook;

pub use config::ConfigError;
pub use error::ProviderError;
pub use event::{BillingEvent, BillingEventKind, MAX_FAILURE_REASON_CHARS, ParsedWebhook};
pub use primitives::ProviderName;
pub use provider::{
    BillingProvider, CreateSubscription, CreateTopUp, CreatedSubscription, Payer,
    PaymentMethodLink, ProviderSubscription, ProviderSubscriptionStatus, RetryOutcome,
    TopUpCheckout,
};
pub use registry::{Providers, ProvidersConfig};
pub use webhook::{VerifiedWebhook, VerifyError, WebhookRequest};
