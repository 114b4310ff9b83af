//! PayPal: OAuth2 client credentials, the Subscriptions REST API, offline webhook verification
//! and the mapping of PayPal's webhook events onto [`BillingEvent`](crate::BillingEvent)s.
//!
//! - `verify`: the signed message `transmission_id|transmission_time|webhook_id|crc32(body)` and
//!   the RSA PKCS#1 v1.5 SHA-256 check (DESIGN.md section 6).
//! - `certs`: where a signing certificate may come from (`https` on `paypal.com` or
//!   `*.paypal.com`, checked before any I/O), fetching it, caching it by URL and validating its
//!   chain, validity and name.
//! - `oauth`: the access-token cache; `api`: the REST calls; `events`: webhook bodies to
//!   normalized events; `wire`: PayPal's JSON shapes, kept apart from the domain types.

mod api;
mod certs;
mod events;
mod oauth;
mod verify;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use primitives::Clock;
use secrecy::SecretString;

use crate::http::{ApiClient, RetryPolicy};
use crate::{
    BillingProvider, CreateSubscription, CreatedSubscription, ParsedWebhook, ProviderError,
    ProviderName, ProviderSubscription, RetryOutcome, VerifiedWebhook, VerifyError, WebhookRequest,
};

pub use certs::{
    BUNDLED_INTERMEDIATES_PEM, BUNDLED_ROOTS_PEM, CertFetchError, CertFetcher, FetchFuture,
    HttpCertFetcher, StaticCertFetcher, check_cert_url, is_message_verification_name,
};
pub use verify::{AUTH_ALGO, HEADERS, signed_message};

/// PayPal's live REST API root.
pub const LIVE_API_BASE_URL: &str = "https://api-m.paypal.com";
/// PayPal's sandbox REST API root.
pub const SANDBOX_API_BASE_URL: &str = "https://api-m.sandbox.paypal.com";

/// How long a delivery's `PAYPAL-TRANSMISSION-TIME` may lie in the past: four days. PayPal
/// redelivers a failed webhook for up to three days, so a late redelivery is never refused even
/// if it kept its first transmission time; duplicates within the window are stopped by the
/// event-id deduplication of the receiver (G3, G9), the window only bounds how long a captured
/// delivery stays usable at all.
pub const DEFAULT_MAX_TRANSMISSION_AGE: Duration = Duration::from_secs(4 * 24 * 60 * 60);
/// How far a transmission time may lie in the future: clock skew between PayPal and us.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// An access token is renewed this long before PayPal says it expires, so a request never
/// leaves with a token that expires in flight.
pub const DEFAULT_TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Certificates kept by URL. PayPal signs with one certificate at a time (two around a
/// rotation); the bound only stops a flood of distinct allowed URLs from growing memory.
pub const DEFAULT_CERT_CACHE_CAPACITY: usize = 32;
/// Timeout of each REST call and certificate fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything the adapter needs. `Debug` shows no secret (`client_secret` is a [`SecretString`]).
#[derive(Debug, Clone)]
pub struct PayPalConfig {
    /// The REST API root: [`LIVE_API_BASE_URL`], [`SANDBOX_API_BASE_URL`], or a test server.
    pub api_base_url: String,
    /// The REST app's client id (not secret: it is sent in the clear inside Basic auth's base64).
    pub client_id: String,
    pub client_secret: SecretString,
    /// The ids of our webhook registrations; a delivery verifies if it was signed for any of
    /// them (live and sandbox apps pointing at one receiver, or a re-registration). Never put
    /// the simulator's literal `WEBHOOK_ID` here in production.
    pub webhook_ids: Vec<String>,
    /// Per-request timeout (REST and certificate fetches).
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// See [`DEFAULT_MAX_TRANSMISSION_AGE`].
    pub max_transmission_age: Duration,
    /// See [`DEFAULT_MAX_CLOCK_SKEW`].
    pub max_clock_skew: Duration,
    /// See [`DEFAULT_TOKEN_REFRESH_MARGIN`].
    pub token_refresh_margin: Duration,
    /// Trusted root certificates (PEM). `None`: the bundled DigiCert High Assurance EV Root CA
    /// ([`BUNDLED_ROOTS_PEM`]).
    pub trusted_roots_pem: Option<String>,
    /// Intermediates offered to path building besides those the certificate URL serves (PEM).
    /// `None`: the bundled DigiCert SHA2 Extended Validation Server CA
    /// ([`BUNDLED_INTERMEDIATES_PEM`]), because PayPal's certificate URLs serve the leaf alone.
    /// An intermediate is never trusted by itself: the chain must still reach a root.
    pub intermediates_pem: Option<String>,
    /// See [`DEFAULT_CERT_CACHE_CAPACITY`].
    pub cert_cache_capacity: usize,
}

impl PayPalConfig {
    /// A configuration with every documented default.
    pub fn new(
        api_base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
        webhook_ids: Vec<String>,
    ) -> Self {
        Self {
            api_base_url: api_base_url.into(),
            client_id: client_id.into(),
            client_secret,
            webhook_ids,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::DEFAULT,
            max_transmission_age: DEFAULT_MAX_TRANSMISSION_AGE,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            token_refresh_margin: DEFAULT_TOKEN_REFRESH_MARGIN,
            trusted_roots_pem: None,
            intermediates_pem: None,
            cert_cache_capacity: DEFAULT_CERT_CACHE_CAPACITY,
        }
    }
}

/// The PayPal adapter.
#[derive(Debug)]
pub struct PayPalProvider {
    api: api::PayPalApi,
    verifier: verify::WebhookVerifier,
    clock: Arc<dyn Clock>,
}

impl PayPalProvider {
    /// The adapter fetching certificates over HTTPS.
    pub fn new(config: PayPalConfig, clock: Arc<dyn Clock>) -> Result<Self, ProviderError> {
        let fetcher = HttpCertFetcher::new(config.timeout)?;
        Self::with_cert_fetcher(config, clock, Arc::new(fetcher))
    }

    /// The adapter with certificates from `fetcher` (tests, or an outbound proxy of your own).
    /// The URL allow-list is applied before the fetcher is asked, whatever it is.
    pub fn with_cert_fetcher(
        config: PayPalConfig,
        clock: Arc<dyn Clock>,
        fetcher: Arc<dyn CertFetcher>,
    ) -> Result<Self, ProviderError> {
        let config_error = |message: String| ProviderError::Config {
            provider: ProviderName::Paypal,
            message,
        };
        if config.webhook_ids.is_empty() || config.webhook_ids.iter().any(String::is_empty) {
            return Err(config_error(
                "at least one non-empty webhook id is needed".into(),
            ));
        }
        let trust = certs::Trust::from_pem(
            config
                .trusted_roots_pem
                .as_deref()
                .unwrap_or(BUNDLED_ROOTS_PEM),
            config
                .intermediates_pem
                .as_deref()
                .unwrap_or(BUNDLED_INTERMEDIATES_PEM),
        )
        .map_err(config_error)?;
        let store = certs::CertStore::new(trust, fetcher, config.cert_cache_capacity);
        let verifier = verify::WebhookVerifier {
            webhook_ids: config.webhook_ids.clone(),
            certs: store,
            clock: Arc::clone(&clock),
            max_age: config.max_transmission_age,
            max_skew: config.max_clock_skew,
        };
        let client = ApiClient::new(
            ProviderName::Paypal,
            &config.api_base_url,
            config.timeout,
            config.retry,
        )?;
        let tokens = oauth::TokenSource::new(
            client.clone(),
            config.client_id,
            config.client_secret,
            Arc::clone(&clock),
            config.token_refresh_margin,
        );
        Ok(Self {
            api: api::PayPalApi::new(client, tokens),
            verifier,
            clock,
        })
    }
}

impl BillingProvider for PayPalProvider {
    fn name(&self) -> ProviderName {
        ProviderName::Paypal
    }

    async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        self.api.create_subscription(request).await
    }

    async fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        self.api.subscription(provider_subscription_id).await
    }

    async fn cancel(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api
            .transition(
                provider_subscription_id,
                api::Transition::Cancel,
                reason,
                idempotency_key,
            )
            .await
    }

    async fn pause(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api
            .transition(
                provider_subscription_id,
                api::Transition::Suspend,
                reason,
                idempotency_key,
            )
            .await
    }

    async fn reactivate(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api
            .transition(
                provider_subscription_id,
                api::Transition::Activate,
                reason,
                idempotency_key,
            )
            .await
    }

    async fn retry_payment(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        self.api
            .capture_outstanding(provider_subscription_id, idempotency_key)
            .await
    }

    async fn verify_webhook(
        &self,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        self.verifier.verify(request).await
    }

    fn parse_webhook(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError> {
        if webhook.provider() != ProviderName::Paypal {
            return Err(ProviderError::Decode {
                provider: ProviderName::Paypal,
                message: format!(
                    "a {} webhook was handed to the PayPal parser",
                    webhook.provider()
                ),
            });
        }
        events::parse(webhook.body(), self.clock.now())
    }
}
