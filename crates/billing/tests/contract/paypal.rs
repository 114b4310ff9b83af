//! PayPal's harness: the four SDK vectors and nine simulator deliveries, and refusals for every
//! PAYPAL-* header missing or malformed, unsupported algorithms, certificate URLs off PayPal
//! (never fetched), untrusted chains, wrong leaf names, expired certificates, stale
//! transmissions, and messages signed with the CRC-32 written signed or in hex.
//!
//! The vectors were signed between 2015 and 2024 by certificates that have all expired, and the
//! adapter judges validity at its clock's time. The contract runs every delivery through one
//! provider, so [`ClockedPayPal`] sets the provider's manual clock to each delivery's
//! `PAYPAL-TRANSMISSION-TIME` (or to a test-only `x-harness-now` header) before delegating:
//! each delivery is checked as if it arrived when it was sent. The transmission-time window is
//! opened wide here so cases can move the clock to a certificate's expiry; the default window is
//! tested in `tests/paypal/`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use billing::paypal::{
    BUNDLED_ROOTS_PEM, CertFetcher, FetchFuture, PayPalConfig, PayPalProvider, StaticCertFetcher,
};
use billing::{
    BillingProvider, CreateSubscription, CreatedSubscription, ParsedWebhook, ProviderError,
    ProviderName, ProviderSubscription, RetryOutcome, VerifiedWebhook, VerifyError, WebhookRequest,
};
use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue};
use primitives::ManualClock;
use secrecy::SecretString;

use crate::{Delivery, Harness, NegativeCase, contract_tests};

// Shared with the `paypal` test binary, which uses every helper; this one uses fewer.
#[expect(dead_code, reason = "helpers shared with tests/paypal")]
#[path = "../paypal/pki.rs"]
mod pki;
#[expect(dead_code, reason = "helpers shared with tests/paypal")]
#[path = "../paypal/vectors.rs"]
mod vectors;

use pki::{IssuedBy, LeafSpec, Pki};

/// Test-only: the time the harness sets the clock to, instead of the transmission time.
const HARNESS_NOW: &str = "x-harness-now";
const GENERATED_WEBHOOK_ID: &str = "CONTRACT-WEBHOOK";
const GENERATED_URL: &str = "https://api.paypal.com/v1/notifications/certs/CERT-contract-generated";
const UNTRUSTED_URL: &str = "https://api.paypal.com/v1/notifications/certs/CERT-contract-untrusted";
const WRONG_NAME_URL: &str =
    "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-contract-wrong-name";
/// Ten years: wide enough for every case to move the clock to a certificate's expiry.
const WIDE: Duration = Duration::from_secs(3650 * 86_400);

/// Every URL any harness provider fetched, across the tests of this binary.
static FETCHED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Serves the vectors' and the generated certificates, recording every fetch.
#[derive(Debug)]
struct RecordingFetcher(StaticCertFetcher);

impl CertFetcher for RecordingFetcher {
    fn fetch<'a>(&'a self, url: &'a url::Url) -> FetchFuture<'a> {
        FETCHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(url.as_str().to_owned());
        self.0.fetch(url)
    }
}

/// True while no fetch ever left PayPal's two certificate hosts, judged independently of the
/// adapter's own allow-list.
fn nothing_foreign_fetched() -> bool {
    FETCHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .all(|url| {
            url.starts_with("https://api.paypal.com/")
                || url.starts_with("https://api.sandbox.paypal.com/")
        })
}

fn time(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap()
        .with_timezone(&Utc)
}

/// The PayPal provider with its clock moved to each delivery's time.
#[derive(Debug)]
pub struct ClockedPayPal {
    inner: PayPalProvider,
    clock: ManualClock,
}

#[async_trait::async_trait]
impl BillingProvider for ClockedPayPal {
    fn name(&self) -> ProviderName {
        self.inner.name()
    }

    async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        self.inner.create_subscription(request).await
    }

    async fn subscription(&self, id: &str) -> Result<ProviderSubscription, ProviderError> {
        self.inner.subscription(id).await
    }

    async fn cancel(&self, id: &str, reason: &str, key: &str) -> Result<(), ProviderError> {
        self.inner.cancel(id, reason, key).await
    }

    async fn pause(&self, id: &str, reason: &str, key: &str) -> Result<(), ProviderError> {
        self.inner.pause(id, reason, key).await
    }

    async fn reactivate(&self, id: &str, reason: &str, key: &str) -> Result<(), ProviderError> {
        self.inner.reactivate(id, reason, key).await
    }

    async fn retry_payment(&self, id: &str, key: &str) -> Result<RetryOutcome, ProviderError> {
        self.inner.retry_payment(id, key).await
    }

    async fn verify_webhook(
        &self,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        let at = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        if let Some(now) = at(HARNESS_NOW).or_else(|| at("paypal-transmission-time")) {
            self.clock.set(now);
        }
        self.inner.verify_webhook(request).await
    }

    fn parse_webhook(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError> {
        self.inner.parse_webhook(webhook)
    }
}

fn generated_leaf(name: &str, issued_by: IssuedBy) -> String {
    let mut spec = LeafSpec::valid(time("2010-01-01T00:00:00Z"), time("2040-01-01T00:00:00Z"));
    spec.name = name.to_owned();
    spec.issued_by = issued_by;
    Pki::get().leaf_document(&spec)
}

fn provider_for(webhook_ids: Vec<String>) -> ClockedPayPal {
    let list = vectors::all();
    let mut fetcher = StaticCertFetcher::new()
        .with(
            GENERATED_URL,
            generated_leaf(pki::LEAF_NAME, IssuedBy::Trusted),
        )
        .with(
            UNTRUSTED_URL,
            generated_leaf(pki::LEAF_NAME, IssuedBy::Untrusted),
        )
        .with(
            WRONG_NAME_URL,
            generated_leaf("api.sandbox.paypal.com", IssuedBy::Trusted),
        );
    for v in &list {
        fetcher = fetcher.with(&v.cert_url, v.cert_pem.clone());
    }
    let mut config = PayPalConfig::new(
        // Port 9 (discard) on loopback: nothing answers, nothing leaves the machine.
        "http://127.0.0.1:9",
        "contract-client",
        SecretString::from("contract-secret"),
        webhook_ids,
    );
    // PayPal's DigiCert root and our own, so generated deliveries can reach every rule.
    config.trusted_roots_pem = Some(format!("{BUNDLED_ROOTS_PEM}{}", Pki::get().root_pem()));
    config.max_transmission_age = WIDE;
    config.max_clock_skew = WIDE;
    let clock = ManualClock::new(time("2024-07-30T17:17:31Z"));
    let inner = PayPalProvider::with_cert_fetcher(
        config,
        Arc::new(clock.clone()),
        Arc::new(RecordingFetcher(fetcher)),
    )
    .unwrap();
    ClockedPayPal { inner, clock }
}

fn header(delivery: &Delivery, name: &str) -> String {
    delivery.headers[name].to_str().unwrap().to_owned()
}

fn with(valid: &Delivery, name: &str, value: &str) -> Delivery {
    let mut delivery = valid.clone();
    delivery.headers.insert(
        HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
    );
    delivery
}

/// A delivery of `valid`'s body signed by our generated leaf over exactly `message`.
fn signed_over(valid: &Delivery, message: &str, url: &str) -> Delivery {
    let signature = Pki::get().sign(message.as_bytes());
    let mut delivery = with(valid, "paypal-transmission-sig", &signature);
    delivery = with(&delivery, "paypal-cert-url", url);
    delivery
}

fn case(name: &str, delivery: Delivery, expect: crate::Expect) -> NegativeCase {
    NegativeCase {
        name: name.to_owned(),
        delivery,
        expect,
    }
}

pub struct PayPalHarness;

impl Harness for PayPalHarness {
    type Provider = ClockedPayPal;

    async fn provider() -> ClockedPayPal {
        let mut ids: Vec<String> = vectors::all().into_iter().map(|v| v.webhook_id).collect();
        ids.push(GENERATED_WEBHOOK_ID.to_owned());
        ids.sort();
        ids.dedup();
        provider_for(ids)
    }

    async fn provider_with_wrong_secret() -> ClockedPayPal {
        provider_for(vec!["NotToBeFound".to_owned()])
    }

    fn valid_deliveries() -> Vec<Delivery> {
        vectors::all()
            .into_iter()
            .map(|v| Delivery {
                headers: v.headers(),
                name: v.name,
                body: v.body,
            })
            .collect()
    }

    fn reserialized(delivery: &Delivery) -> Delivery {
        let value: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
        Delivery {
            name: delivery.name.clone(),
            headers: delivery.headers.clone(),
            body: serde_json::to_vec_pretty(&value).unwrap(),
        }
    }

    fn negative_cases(valid: &Delivery) -> Vec<NegativeCase> {
        let mut cases = Vec::new();
        for name in [
            "paypal-transmission-id",
            "paypal-transmission-time",
            "paypal-transmission-sig",
            "paypal-cert-url",
            "paypal-auth-algo",
        ] {
            let mut delivery = valid.clone();
            delivery.headers.remove(name);
            cases.push(case(&format!("{name} missing"), delivery, |e| {
                matches!(e, VerifyError::MissingHeader(_))
            }));
        }
        let malformed: crate::Expect = |e| matches!(e, VerifyError::MalformedHeader { .. });
        for (name, value) in [
            ("paypal-transmission-id", "071f7d20|2017"),
            ("paypal-transmission-time", "Thu, 30 Mar 2017 20:04:05 GMT"),
            ("paypal-transmission-time", "2017-03-30"),
            ("paypal-transmission-sig", "***"),
            ("paypal-transmission-sig", ""),
        ] {
            cases.push(case(
                &format!("{name} = {value:?}"),
                with(valid, name, value),
                malformed,
            ));
        }
        let mut twice = valid.clone();
        let sig = header(valid, "paypal-transmission-sig");
        twice.headers.append(
            "paypal-transmission-sig",
            HeaderValue::from_str(&sig).unwrap(),
        );
        cases.push(case("signature header twice", twice, malformed));

        for algo in ["SHA1withRSA", "SHA512withRSA", "sha256withrsa"] {
            cases.push(case(
                &format!("algorithm {algo}"),
                with(valid, "paypal-auth-algo", algo),
                |e| matches!(e, VerifyError::UnsupportedAlgorithm(_)),
            ));
        }

        for url in [
            "http://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
            "https://paypal.com.evil.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
            "https://api.paypal.com.evil.com/cert",
            "https://evilpaypal.com/cert",
            "https://evil.com/cert",
            "https://api.paypal.com@evil.com/cert",
            "https://evil.com@api.paypal.com/cert",
            "https://user:pass@api.paypal.com/cert",
            "https://api.paypal.com:8443/cert",
            "https://127.0.0.1/cert",
            "file:///etc/passwd",
            "not a url",
        ] {
            cases.push(case(
                &format!("cert url {url}"),
                with(valid, "paypal-cert-url", url),
                |e| matches!(e, VerifyError::CertUrlNotAllowed(_)) && nothing_foreign_fetched(),
            ));
        }

        let chain_invalid: crate::Expect = |e| matches!(e, VerifyError::CertChainInvalid(_));
        cases.push(case(
            "the same signature with a certificate under an untrusted root",
            with(valid, "paypal-cert-url", UNTRUSTED_URL),
            chain_invalid,
        ));

        // Correctly signed by our generated leaf, for our generated webhook id ...
        let id = header(valid, "paypal-transmission-id");
        let sent = header(valid, "paypal-transmission-time");
        let crc = crc32fast::hash(&valid.body);
        let good = format!("{id}|{sent}|{GENERATED_WEBHOOK_ID}|{crc}");
        cases.push(case(
            "correctly signed by a leaf under an untrusted root",
            signed_over(valid, &good, UNTRUSTED_URL),
            chain_invalid,
        ));
        cases.push(case(
            "correctly signed by a trusted leaf not named messageverificationcerts",
            signed_over(valid, &good, WRONG_NAME_URL),
            chain_invalid,
        ));
        // ... but over a message written the ways the SDKs warn about.
        let bad_signature: crate::Expect = |e| *e == VerifyError::BadSignature;
        let mut variants = vec![
            (
                "crc32 written in hex",
                format!("{id}|{sent}|{GENERATED_WEBHOOK_ID}|{crc:x}"),
            ),
            (
                "signed for webhook NotToBeFound",
                format!("{id}|{sent}|NotToBeFound|{crc}"),
            ),
        ];
        // Written signed, a CRC-32 differs only when its top bit is set (9 of the 13 bodies).
        if crc > i32::MAX as u32 {
            variants.push((
                "crc32 written signed",
                format!("{id}|{sent}|{GENERATED_WEBHOOK_ID}|{}", crc as i32),
            ));
        }
        for (name, message) in variants {
            cases.push(case(
                name,
                signed_over(valid, &message, GENERATED_URL),
                bad_signature,
            ));
        }

        // Time: the vector's certificate after its notAfter and before its notBefore, and a
        // transmission outside even the wide window.
        let vector = vectors::all()
            .into_iter()
            .find(|v| v.transmission_id == id)
            .unwrap();
        let expired: crate::Expect = |e| *e == VerifyError::CertExpired;
        for (name, at) in [
            (
                "clock one second after the certificate's notAfter",
                vector.not_after + chrono::Duration::seconds(1),
            ),
            (
                "clock one second before the certificate's notBefore",
                vector.not_before - chrono::Duration::seconds(1),
            ),
        ] {
            cases.push(case(
                name,
                with(valid, HARNESS_NOW, &at.to_rfc3339()),
                expired,
            ));
        }
        let stale = vector.sent_at() + chrono::Duration::days(3651);
        cases.push(case(
            "transmission older than the window",
            with(valid, HARNESS_NOW, &stale.to_rfc3339()),
            |e| matches!(e, VerifyError::TimestampOutsideTolerance { .. }),
        ));
        cases
    }
}

/// The generated leaf signs a delivery the harness provider accepts, so the refusals above
/// that use it fail for the reason they name and not for another.
#[tokio::test]
async fn the_generated_delivery_used_by_the_negative_cases_is_accepted() {
    let provider = PayPalHarness::provider().await;
    for valid in PayPalHarness::valid_deliveries() {
        let id = header(&valid, "paypal-transmission-id");
        let sent = header(&valid, "paypal-transmission-time");
        let message = format!(
            "{id}|{sent}|{GENERATED_WEBHOOK_ID}|{}",
            crc32fast::hash(&valid.body)
        );
        let delivery = signed_over(&valid, &message, GENERATED_URL);
        let verified = provider.verify_webhook(delivery.request()).await;
        assert!(verified.is_ok(), "{}: {verified:?}", valid.name);
    }
}

contract_tests!(PayPalHarness);
