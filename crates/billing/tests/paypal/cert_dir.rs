//! Certificates from a local directory (`PayPalConfig::cert_dir`, `DirCertFetcher`), with
//! deliveries signed by testkit's independent PayPal signer: found, missing, URLs that could
//! leave the directory, and certificates in the directory refused exactly as fetched ones are.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use billing::paypal::{
    CertFetcher, DirCertFetcher, PayPalConfig, PayPalProvider, StaticCertFetcher, signed_message,
};
use billing::{BillingEventKind, BillingProvider, ParsedWebhook, ProviderError, VerifyError};
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use primitives::ManualClock;
use testkit::signing::{
    PAYPAL_LEAF_NAME, PayPalPki, paypal_signed_message, paypal_transmission_time, write_paypal_cert,
};

use crate::support::{GENERATED_CERT_URL, WEBHOOK_ID, now};

const TRANSMISSION_ID: &str = "0a5b6c1e-f2d4-11f0-9a1b-0242ac120002";

/// A fresh, empty directory of this test's own under Cargo's per-target temporary directory.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("paypal-cert-dir")
        .join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Verification only, trusting only `pki`'s root, certificates from `dir` only.
fn provider(pki: &PayPalPki, dir: &Path) -> PayPalProvider {
    let mut config = PayPalConfig::verification_only(vec![WEBHOOK_ID.to_owned()]);
    config.trusted_roots_pem = Some(pki.root_pem());
    config.intermediates_pem = Some(String::new());
    config.cert_dir = Some(dir.to_path_buf());
    PayPalProvider::new(config, Arc::new(ManualClock::new(now()))).unwrap_or_else(|e| panic!("{e}"))
}

/// The same configuration with certificates from a static fetcher (a "fetched" certificate).
fn fetching_provider(pki: &PayPalPki, url: &str, document: &str) -> PayPalProvider {
    let mut config = PayPalConfig::verification_only(vec![WEBHOOK_ID.to_owned()]);
    config.trusted_roots_pem = Some(pki.root_pem());
    config.intermediates_pem = Some(String::new());
    let fetcher = StaticCertFetcher::new().with(url, document);
    PayPalProvider::with_cert_fetcher(config, Arc::new(ManualClock::new(now())), Arc::new(fetcher))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn header_map(pairs: Vec<(String, String)>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}")),
            HeaderValue::from_str(&value).unwrap_or_else(|e| panic!("{value}: {e}")),
        );
    }
    map
}

/// A delivery of `body` signed by testkit's PayPal signer for [`WEBHOOK_ID`], sent at
/// [`now`], naming `cert_url`.
fn delivery(pki: &PayPalPki, body: &[u8], cert_url: &str, sent: DateTime<Utc>) -> HeaderMap {
    header_map(pki.headers(
        body,
        WEBHOOK_ID,
        cert_url,
        TRANSMISSION_ID,
        &paypal_transmission_time(sent),
    ))
}

const BODY: &[u8] = br#"{"id":"WH-TESTKIT-1","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2026-01-16T11:59:58Z","resource":{"id":"3C679366HH908993F","amount":{"currency_code":"USD","value":"25.00"},"custom_id":"org_01J9Z3T4","status":"COMPLETED"}}"#;

async fn verify(
    provider: &PayPalProvider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<billing::VerifiedWebhook, VerifyError> {
    provider
        .verify_webhook(billing::WebhookRequest { headers, body })
        .await
}

#[tokio::test]
async fn a_certificate_in_the_directory_verifies_a_testkit_signed_delivery() {
    let pki = PayPalPki::generate(now());
    let dir = fresh_dir("found");
    let written = pki.write_cert_dir(&dir, GENERATED_CERT_URL);
    assert_eq!(
        written,
        dir.join("api.paypal.com/v1/notifications/certs/CERT-billing-tests-0001")
    );
    let provider = provider(&pki, &dir);
    let headers = delivery(&pki, BODY, GENERATED_CERT_URL, now());
    let verified = verify(&provider, &headers, BODY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let Ok(ParsedWebhook::Events { events }) = provider.parse_webhook(&verified) else {
        panic!("not parsed");
    };
    assert_eq!(events[0].kind, BillingEventKind::WalletTopUpCompleted);

    // The two implementations of PayPal's message agree, and a signature for another webhook
    // id, or over another body, is refused.
    assert_eq!(
        paypal_signed_message(TRANSMISSION_ID, "t", WEBHOOK_ID, BODY),
        signed_message(TRANSMISSION_ID, "t", WEBHOOK_ID, BODY)
    );
    let other_id = header_map(pki.headers(
        BODY,
        "OTHER-WEBHOOK",
        GENERATED_CERT_URL,
        TRANSMISSION_ID,
        &paypal_transmission_time(now()),
    ));
    assert_eq!(
        verify(&provider, &other_id, BODY).await.unwrap_err(),
        VerifyError::BadSignature
    );
    let mut tampered = BODY.to_vec();
    tampered[60] ^= 1;
    assert_eq!(
        verify(&provider, &headers, &tampered).await.unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn a_verification_only_adapter_makes_no_api_call() {
    let pki = PayPalPki::generate(now());
    let provider = provider(&pki, &fresh_dir("no-api"));
    assert!(!provider.has_api());
    let expected =
        "PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set (webhook verification only)";
    let results = [
        provider.subscription("I-1").await.map(drop),
        provider.retry_payment("I-1", "k").await.map(drop),
        provider.cancel("I-1", "r", "k").await,
        provider.pause("I-1", "r", "k").await,
        provider.reactivate("I-1", "r", "k").await,
    ];
    for result in results {
        let Err(ProviderError::Config { message, .. }) = result else {
            panic!("{result:?}");
        };
        assert_eq!(message, expected);
    }
}

#[tokio::test]
async fn a_missing_file_is_unavailable() {
    let pki = PayPalPki::generate(now());
    let dir = fresh_dir("missing");
    let provider = provider(&pki, &dir);
    let headers = delivery(&pki, BODY, GENERATED_CERT_URL, now());
    let refused = verify(&provider, &headers, BODY).await.unwrap_err();
    assert!(
        matches!(&refused, VerifyError::CertUnavailable(why) if why.contains("no file")),
        "{refused:?}"
    );
    assert!(refused.is_transient());
    // Placed afterwards, it is found: a missing file is not remembered as a failure.
    pki.write_cert_dir(&dir, GENERATED_CERT_URL);
    assert!(verify(&provider, &headers, BODY).await.is_ok());
}

#[tokio::test]
async fn urls_that_could_leave_the_directory_are_refused() {
    let pki = PayPalPki::generate(now());
    let root = fresh_dir("traversal");
    let dir = root.join("certs");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    // A valid chain outside the directory, where an escaping URL would lead.
    std::fs::write(root.join("outside.pem"), pki.chain_pem()).unwrap_or_else(|e| panic!("{e}"));
    let fetcher = DirCertFetcher::new(&dir);
    for raw in [
        "https://api.paypal.com/..%2Foutside.pem",
        "https://api.paypal.com/a%5C..%5C..%5Coutside.pem",
        "https://api.paypal.com/cert?file=../outside.pem",
        "https://api.paypal.com/cert#../outside.pem",
        "https://api.paypal.com/",
        "https://api.paypal.com/a//outside.pem",
        "https://api.paypal.com/caf%C3%A9.pem",
    ] {
        let url = url::Url::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        let refused = fetcher.fetch(&url).await;
        assert!(
            matches!(&refused, Err(error) if error.0.contains("refused")),
            "{raw}: {refused:?}"
        );
    }
    // `..` segments (also written `%2e%2e`) never survive URL parsing: what is asked for
    // stays inside the directory, and is simply not there.
    for raw in [
        "https://api.paypal.com/a/../../../outside.pem",
        "https://api.paypal.com/%2e%2e/%2E%2E/outside.pem",
    ] {
        let normalized = url::Url::parse(raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fetcher
                .path_for(&normalized)
                .unwrap_or_else(|e| panic!("{e}")),
            dir.join("api.paypal.com/outside.pem"),
            "{raw}"
        );
        let missing = fetcher.fetch(&normalized).await;
        assert!(
            matches!(&missing, Err(error) if error.0.starts_with("unavailable")),
            "{raw}: {missing:?}"
        );
    }

    // Through the adapter: the allow-list first (a file for another host is never read), then
    // the directory's own refusal.
    let provider = provider(&pki, &dir);
    write_paypal_cert(&dir, "https://evil.example.com/cert", pki.chain_pem());
    let headers = delivery(&pki, BODY, "https://evil.example.com/cert", now());
    assert!(matches!(
        verify(&provider, &headers, BODY).await,
        Err(VerifyError::CertUrlNotAllowed(_))
    ));
    let headers = delivery(
        &pki,
        BODY,
        "https://api.paypal.com/..%2F..%2Foutside.pem",
        now(),
    );
    let refused = verify(&provider, &headers, BODY).await.unwrap_err();
    assert!(
        matches!(&refused, VerifyError::CertUnavailable(why) if why.contains("refused")),
        "{refused:?}"
    );
}

/// Each bad document is refused from the directory exactly as when fetched.
#[tokio::test]
async fn a_bad_certificate_in_the_directory_is_refused_like_a_fetched_one() {
    let pki = PayPalPki::generate(now());
    let stranger = PayPalPki::generate(now());
    type Expected = fn(&VerifyError) -> bool;
    let cases: [(&str, String, Expected); 4] = [
        (
            "expired",
            pki.leaf_chain_pem(
                PAYPAL_LEAF_NAME,
                now() - Duration::days(400),
                now() - Duration::days(1),
            ),
            |e| *e == VerifyError::CertExpired,
        ),
        (
            "not yet valid",
            pki.leaf_chain_pem(
                PAYPAL_LEAF_NAME,
                now() + Duration::days(1),
                now() + Duration::days(400),
            ),
            |e| *e == VerifyError::CertExpired,
        ),
        (
            "wrongly named",
            pki.leaf_chain_pem(
                "api.paypal.com",
                now() - Duration::days(1),
                now() + Duration::days(30),
            ),
            |e| matches!(e, VerifyError::CertChainInvalid(_)),
        ),
        ("another root", stranger.chain_pem().to_owned(), |e| {
            matches!(e, VerifyError::CertChainInvalid(_))
        }),
    ];
    for (name, document, expected) in cases {
        let dir = fresh_dir(&format!("bad-{}", name.replace(' ', "-")));
        write_paypal_cert(&dir, GENERATED_CERT_URL, &document);
        let from_dir = provider(&pki, &dir);
        let fetched = fetching_provider(&pki, GENERATED_CERT_URL, &document);
        // `stranger` signs its own deliveries (right key for its leaf), `pki` the others.
        let signer = if name == "another root" {
            &stranger
        } else {
            &pki
        };
        let headers = delivery(signer, BODY, GENERATED_CERT_URL, now());
        let dir_refusal = verify(&from_dir, &headers, BODY).await.unwrap_err();
        let fetch_refusal = verify(&fetched, &headers, BODY).await.unwrap_err();
        assert!(expected(&dir_refusal), "{name}: {dir_refusal:?}");
        assert_eq!(dir_refusal, fetch_refusal, "{name}");
    }
}
