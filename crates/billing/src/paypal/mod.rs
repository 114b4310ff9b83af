//! PayPal: OAuth2 client credentials, the Subscriptions REST API, offline webhook verification
//! and the mapping of PayPal's webhook events onto [`BillingEvent`](crate::BillingEvent)s.
//!
//! - `verify`: the signed message `transmission_id|transmission_time|webhook_id|crc32(body)` and
//!   the RSA PKCS#1 v1.5 SHA-256 check (docs/guarantees.md).
//! - `certs`: where a signing certificate may come from (`https` on `paypal.com` or
//!   `*.paypal.com`, checked before any I/O), fetching it, caching it by URL and validating its
//!   chain, validity and name.
//! - `oauth`: the access-token cache; `api`: the REST calls (Subscriptions v1, Orders v2 for
//!   top-ups); `errors`: PayPal's error answers, read alike for both; `events`: webhook bodies
//!   to normalized events; `wire`: PayPal's JSON shapes, kept apart from the domain types;
//!   `web`: links to PayPal's web pages (no call).
//!
//! Customer calls: a top-up is an Orders v2 order (`POST /v2/checkout/orders`, intent
//! `CAPTURE`, the organization as `purchase_units[0].custom_id`, the buyer sent to its
//! `payer-action` link), captured after the buyer approved (`POST
//! /v2/checkout/orders/{id}/capture`; `ORDER_ALREADY_CAPTURED` counts as done); the capture's
//! `PAYMENT.CAPTURE.COMPLETED` credits the wallet. The payment-method link is the buyer's page
//! of the subscription, `{web}/myaccount/autopay/connect/{id}`, where `{web}` is
//! [`SANDBOX_WEB_URL`] when the API root is under `sandbox.paypal.com` and [`LIVE_WEB_URL`]
//! otherwise. PayPal cannot schedule a cancellation: `cancel_at_period_end` cancels now (the
//! trait's default).
//!
//! Configuration: [`PayPalConfig`], in code or from the environment
//! ([`PayPalConfig::from_lookup`], variables in [`VARIABLES`]; `PAYPAL_WEBHOOK_IDS` enables
//! PayPal). Without client credentials the adapter verifies and parses only
//! ([`PayPalProvider::has_api`] is false; API calls fail with [`ProviderError::Config`] naming
//! `PAYPAL_CLIENT_ID` and `PAYPAL_CLIENT_SECRET`). With [`PayPalConfig::cert_dir`] set,
//! certificates come from that directory only ([`DirCertFetcher`], the `wget -x` layout), after
//! the same allow-list and with the same chain, name and expiry checks as fetched ones.

mod api;
mod certs;
mod errors;
mod events;
mod oauth;
mod values;
mod verify;
mod web;
mod wire;

use primitives::config::Variable;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use primitives::Clock;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Env;
use crate::http::{ApiClient, RetryPolicy};
use crate::{
    BillingProvider, ConfigError, CreateSubscription, CreateTopUp, CreatedSubscription,
    ParsedWebhook, PaymentMethodLink, ProviderError, ProviderName, ProviderSubscription,
    RetryOutcome, TopUpCheckout, VerifiedWebhook, VerifyError, WebhookRequest,
};

pub use certs::{
    BUNDLED_INTERMEDIATES_PEM, BUNDLED_ROOTS_PEM, CertFetchError, CertFetcher, DirCertFetcher,
    FetchFuture, HttpCertFetcher, StaticCertFetcher, check_cert_url, is_message_verification_name,
};
pub use verify::{AUTH_ALGO, HEADERS, signed_message};
pub use web::{LIVE_WEB_URL, SANDBOX_WEB_URL};

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

/// The REST app's OAuth2 client credentials. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct PayPalCredentials {
    /// Not secret: it is sent in the clear inside Basic auth's base64.
    pub client_id: String,
    pub client_secret: SecretString,
}

/// The environment variables [`PayPalConfig::from_lookup`] reads; `PAYPAL_WEBHOOK_IDS` enables
/// PayPal, every other one needs it.
pub const VARIABLES: [Variable; 9] = [
    Variable {
        name: "PAYPAL_WEBHOOK_IDS",
        default: "unset",
        meaning: "comma-separated PayPal webhook ids; **enables PayPal** (any other `PAYPAL_*` without it is an error naming it)",
    },
    Variable {
        name: "PAYPAL_API_BASE_URL",
        default: "https://api-m.paypal.com",
        meaning: "PayPal's REST API root",
    },
    Variable {
        name: "PAYPAL_CLIENT_ID",
        default: "unset",
        meaning: "OAuth2 client id, with `PAYPAL_CLIENT_SECRET` or neither (neither: verification only)",
    },
    Variable {
        name: "PAYPAL_CLIENT_SECRET",
        default: "unset",
        meaning: "OAuth2 client secret (held as a secret, never logged)",
    },
    Variable {
        name: "PAYPAL_TRUSTED_ROOTS_FILE",
        default: "bundled DigiCert root",
        meaning: "PEM file of trusted roots, read and checked at start",
    },
    Variable {
        name: "PAYPAL_INTERMEDIATES_FILE",
        default: "bundled DigiCert intermediate",
        meaning: "PEM file of extra intermediates, read and checked at start",
    },
    Variable {
        name: "PAYPAL_CERT_DIR",
        default: "unset",
        meaning: "take signing certificates from this directory only, never the network (docs/providers.md)",
    },
    Variable {
        name: "PAYPAL_MAX_TRANSMISSION_AGE_SECS",
        default: "345600",
        meaning: "how old a PayPal transmission may be",
    },
    Variable {
        name: "PAYPAL_TIMEOUT_SECS",
        default: "20",
        meaning: "per REST call and certificate fetch",
    },
];

/// What an API call answers when no client credentials are configured.
const NO_API: &str =
    "PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set (webhook verification only)";

/// Everything the adapter needs. `Debug` shows no secret (`client_secret` is a [`SecretString`]).
#[derive(Debug, Clone)]
pub struct PayPalConfig {
    /// The REST API root: [`LIVE_API_BASE_URL`], [`SANDBOX_API_BASE_URL`], or a test server.
    pub api_base_url: String,
    /// `None`: webhook verification only; every API call fails with
    /// [`ProviderError::Config`] naming `PAYPAL_CLIENT_ID` and `PAYPAL_CLIENT_SECRET`.
    pub credentials: Option<PayPalCredentials>,
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
    /// Certificates from this directory instead of the network ([`DirCertFetcher`]: the file
    /// `<dir>/<host>/<path>` for `https://<host>/<path>`), for air-gapped deployments and
    /// end-to-end tests. [`PayPalProvider::new`] then never fetches over the network. The
    /// allow-list and the chain, name and expiry checks are the same as for fetched ones.
    pub cert_dir: Option<PathBuf>,
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
            credentials: Some(PayPalCredentials {
                client_id: client_id.into(),
                client_secret,
            }),
            ..Self::verification_only(webhook_ids)
        }
    }

    /// Webhook verification (and parsing) only: no client credentials, the live API root.
    pub fn verification_only(webhook_ids: Vec<String>) -> Self {
        Self {
            api_base_url: LIVE_API_BASE_URL.to_owned(),
            credentials: None,
            webhook_ids,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::DEFAULT,
            max_transmission_age: DEFAULT_MAX_TRANSMISSION_AGE,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            token_refresh_margin: DEFAULT_TOKEN_REFRESH_MARGIN,
            trusted_roots_pem: None,
            intermediates_pem: None,
            cert_cache_capacity: DEFAULT_CERT_CACHE_CAPACITY,
            cert_dir: None,
        }
    }

    /// Reads the variables of [`VARIABLES`] through `lookup` (pass
    /// `|name| std::env::var(name).ok()`; tests pass a map). `Ok(None)`: none is set, PayPal is
    /// not configured. Any of them set without `PAYPAL_WEBHOOK_IDS` is an error naming
    /// `PAYPAL_WEBHOOK_IDS`; `PAYPAL_CLIENT_ID` and `PAYPAL_CLIENT_SECRET` come together or not at
    /// all (without them: verification only). The PEM files are read and checked now, and
    /// `PAYPAL_CERT_DIR` must be a directory. Errors name the variable, never its value.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let env = Env::new(&lookup);
        let Some(webhook_ids) = env.list("PAYPAL_WEBHOOK_IDS")? else {
            return match env.first_set(&VARIABLES) {
                Some(other) => Err(ConfigError::new(
                    "PAYPAL_WEBHOOK_IDS",
                    format!("is not set, but {other} is (PAYPAL_WEBHOOK_IDS enables PayPal)"),
                )),
                None => Ok(None),
            };
        };
        let mut config = Self::verification_only(webhook_ids);
        if let Some(url) = env.url("PAYPAL_API_BASE_URL")? {
            config.api_base_url = url;
        }
        config.credentials =
            env.pair("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET")?
                .map(|(client_id, secret)| PayPalCredentials {
                    client_id,
                    client_secret: SecretString::from(secret),
                });
        if let Some(roots) = env.file("PAYPAL_TRUSTED_ROOTS_FILE")? {
            certs::Trust::from_pem(&roots, "")
                .map_err(|message| ConfigError::new("PAYPAL_TRUSTED_ROOTS_FILE", message))?;
            config.trusted_roots_pem = Some(roots);
        }
        if let Some(intermediates) = env.file("PAYPAL_INTERMEDIATES_FILE")? {
            let count = certs::count_certificates(&intermediates)
                .map_err(|message| ConfigError::new("PAYPAL_INTERMEDIATES_FILE", message))?;
            if count == 0 {
                return Err(ConfigError::new(
                    "PAYPAL_INTERMEDIATES_FILE",
                    "contains no certificate",
                ));
            }
            config.intermediates_pem = Some(intermediates);
        }
        if let Some(dir) = env.path("PAYPAL_CERT_DIR") {
            if !dir.is_dir() {
                return Err(ConfigError::new("PAYPAL_CERT_DIR", "is not a directory"));
            }
            config.cert_dir = Some(dir);
        }
        if let Some(age) = env.seconds("PAYPAL_MAX_TRANSMISSION_AGE_SECS")? {
            config.max_transmission_age = age;
        }
        if let Some(timeout) = env.seconds("PAYPAL_TIMEOUT_SECS")? {
            config.timeout = timeout;
        }
        Ok(Some(config))
    }

    /// [`PayPalConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// The PayPal adapter.
#[derive(Debug)]
pub struct PayPalProvider {
    /// `None` in a verification-only configuration.
    api: Option<api::PayPalApi>,
    verifier: verify::WebhookVerifier,
    clock: Arc<dyn Clock>,
    /// [`LIVE_WEB_URL`] or [`SANDBOX_WEB_URL`], after the API root.
    web_root: &'static str,
}

impl PayPalProvider {
    /// The adapter fetching certificates over HTTPS, or, when [`PayPalConfig::cert_dir`] is
    /// set, reading them from that directory only.
    pub fn new(config: PayPalConfig, clock: Arc<dyn Clock>) -> Result<Self, ProviderError> {
        let fetcher: Arc<dyn CertFetcher> = match &config.cert_dir {
            Some(dir) => Arc::new(DirCertFetcher::new(dir.clone())),
            None => Arc::new(HttpCertFetcher::new(config.timeout)?),
        };
        Self::with_cert_fetcher(config, clock, fetcher)
    }

    /// The adapter with certificates from `fetcher` (tests, or an outbound proxy of your own);
    /// [`PayPalConfig::cert_dir`] is not used. The URL allow-list is applied before the fetcher
    /// is asked, whatever it is.
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
        let web_root = web::web_root(&config.api_base_url);
        let api = match config.credentials {
            Some(credentials) => {
                if credentials.client_id.trim().is_empty()
                    || credentials.client_secret.expose_secret().trim().is_empty()
                {
                    return Err(config_error(
                        "the client id or client secret is empty".into(),
                    ));
                }
                let client = ApiClient::new(
                    ProviderName::Paypal,
                    &config.api_base_url,
                    config.timeout,
                    config.retry,
                )?;
                let tokens = oauth::TokenSource::new(
                    client.clone(),
                    credentials.client_id,
                    credentials.client_secret,
                    Arc::clone(&clock),
                    config.token_refresh_margin,
                );
                Some(api::PayPalApi::new(client, tokens))
            }
            None => None,
        };
        Ok(Self {
            api,
            verifier,
            clock,
            web_root,
        })
    }

    /// Whether API calls can be made (client credentials are configured); without, the
    /// adapter only verifies and parses webhooks.
    pub fn has_api(&self) -> bool {
        self.api.is_some()
    }

    fn api(&self) -> Result<&api::PayPalApi, ProviderError> {
        self.api.as_ref().ok_or_else(|| ProviderError::Config {
            provider: ProviderName::Paypal,
            message: NO_API.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl BillingProvider for PayPalProvider {
    fn name(&self) -> ProviderName {
        ProviderName::Paypal
    }

    fn has_api(&self) -> bool {
        self.api.is_some()
    }

    async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        self.api()?.create_subscription(request).await
    }

    async fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        self.api()?.subscription(provider_subscription_id).await
    }

    async fn cancel(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api()?
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
        self.api()?
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
        self.api()?
            .transition(
                provider_subscription_id,
                api::Transition::Activate,
                reason,
                idempotency_key,
            )
            .await
    }

    /// An Orders v2 order (intent `CAPTURE`); the approval URL is its `payer-action` link.
    /// Once the buyer approved (`CHECKOUT.ORDER.APPROVED`), [`Self::capture_top_up`] takes the
    /// money and the capture's `PAYMENT.CAPTURE.COMPLETED` credits the wallet.
    async fn create_top_up(&self, request: &CreateTopUp) -> Result<TopUpCheckout, ProviderError> {
        self.api()?.create_order(request).await
    }

    /// `POST /v2/checkout/orders/{id}/capture`; an order captured already counts as done.
    async fn capture_top_up(
        &self,
        checkout_reference: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api()?
            .capture_order(checkout_reference, idempotency_key)
            .await
    }

    /// The buyer's page of the subscription in their PayPal account, where they change the
    /// funding source: no API call (so no credentials needed), and no way back to
    /// `return_url`, which PayPal's page does not take.
    async fn payment_method_link(
        &self,
        request: &PaymentMethodLink,
    ) -> Result<String, ProviderError> {
        web::subscription_page(self.web_root, &request.provider_subscription_id)
    }

    async fn retry_payment(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        self.api()?
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
