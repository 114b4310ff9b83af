//! Providers and deliveries for the PayPal tests.

use std::sync::Arc;
use std::time::Duration;

use billing::http::RetryPolicy;
use billing::paypal::{PayPalConfig, PayPalProvider, StaticCertFetcher};
use billing::{BillingProvider, VerifiedWebhook, VerifyError, WebhookRequest};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use primitives::ManualClock;
use secrecy::SecretString;

use crate::pki::{LeafSpec, Pki};
use crate::vectors::{self, Vector};

/// Nothing listens here: providers built for verification tests make no REST call.
pub const UNREACHABLE_API: &str = "http://127.0.0.1:9";
/// Where the generated leaf is "served" (by the static fetcher).
pub const GENERATED_CERT_URL: &str =
    "https://api.paypal.com/v1/notifications/certs/CERT-billing-tests-0001";
pub const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
pub const CLIENT_SECRET: &str = "EHs3cr3t-never-to-be-logged";

pub fn time(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .with_timezone(&Utc)
}

/// "Now" for the generated-fixture tests.
pub fn now() -> DateTime<Utc> {
    time("2026-01-16T12:00:00Z")
}

/// A configuration with quick retries, pointed at `api`.
pub fn config(api: &str, webhook_ids: &[&str]) -> PayPalConfig {
    let mut config = PayPalConfig::new(
        api,
        "AV-client-id",
        SecretString::from(CLIENT_SECRET),
        webhook_ids.iter().map(|id| (*id).to_owned()).collect(),
    );
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    config.timeout = Duration::from_secs(5);
    config
}

/// A provider, its clock and the fetcher that records every certificate fetch.
pub struct Setup {
    pub provider: PayPalProvider,
    pub clock: ManualClock,
    pub fetcher: Arc<StaticCertFetcher>,
}

impl Setup {
    pub fn new(config: PayPalConfig, fetcher: StaticCertFetcher, now: DateTime<Utc>) -> Self {
        let clock = ManualClock::new(now);
        let fetcher = Arc::new(fetcher);
        let provider = PayPalProvider::with_cert_fetcher(
            config,
            Arc::new(clock.clone()),
            Arc::clone(&fetcher) as Arc<dyn billing::paypal::CertFetcher>,
        )
        .unwrap_or_else(|e| panic!("provider: {e}"));
        Self {
            provider,
            clock,
            fetcher,
        }
    }

    /// Trusting the bundled DigiCert roots, serving every vector's certificate, accepting every
    /// vector's webhook id.
    pub fn for_vectors(list: &[Vector]) -> Self {
        let mut fetcher = StaticCertFetcher::new();
        for v in list {
            fetcher = fetcher.with(&v.cert_url, v.cert_pem.clone());
        }
        let mut ids: Vec<&str> = list.iter().map(|v| v.webhook_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let start = list.first().map_or_else(now, Vector::sent_at);
        Self::new(config(UNREACHABLE_API, &ids), fetcher, start)
    }

    /// Trusting only our generated root (no bundled intermediate: the document carries it),
    /// serving `document` at [`GENERATED_CERT_URL`], at [`now`].
    pub fn generated(document: String) -> Self {
        let mut config = config(UNREACHABLE_API, &[WEBHOOK_ID]);
        config.trusted_roots_pem = Some(Pki::get().root_pem());
        config.intermediates_pem = Some(String::new());
        let fetcher = StaticCertFetcher::new().with(GENERATED_CERT_URL, document);
        Self::new(config, fetcher, now())
    }

    /// [`Setup::generated`] with a valid leaf.
    pub fn generated_valid() -> Self {
        Self::generated(Pki::get().leaf_document(&valid_leaf()))
    }

    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, VerifyError> {
        self.provider
            .verify_webhook(WebhookRequest { headers, body })
            .await
    }

    /// Verifies a vector with the clock at its transmission time.
    pub async fn verify_vector(&self, v: &Vector) -> Result<VerifiedWebhook, VerifyError> {
        self.clock.set(v.sent_at());
        self.verify(&v.headers(), &v.body).await
    }
}

/// Valid a month before [`now`] until a year after.
pub fn valid_leaf() -> LeafSpec {
    LeafSpec::valid(
        now() - chrono::Duration::days(30),
        now() + chrono::Duration::days(365),
    )
}

/// A delivery signed by the generated leaf over exactly `message`.
pub fn signed_over(message: &str, id: &str, sent: &str) -> HeaderMap {
    let signature = Pki::get().sign(message.as_bytes());
    vectors::headers(id, sent, &signature, GENERATED_CERT_URL, "SHA256withRSA")
}

/// A correctly signed delivery of `body` for [`WEBHOOK_ID`], sent at `sent`.
pub fn signed(body: &[u8], sent: DateTime<Utc>) -> HeaderMap {
    signed_for(body, sent, WEBHOOK_ID)
}

pub fn signed_for(body: &[u8], sent: DateTime<Utc>, webhook_id: &str) -> HeaderMap {
    let sent = sent.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let id = "b2f1c7e0-f2d4-11f0-9a1b-0242ac120002";
    // Built here rather than with the crate's `signed_message`, so the test does not trust
    // the code it tests.
    let message = format!("{id}|{sent}|{webhook_id}|{}", crc32fast::hash(body));
    signed_over(&message, id, &sent)
}
