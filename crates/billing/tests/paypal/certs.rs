//! Headers, the certificate URL allow-list (no fetch for a refused URL), the cache, and the
//! HTTP fetcher against a loopback server.

use std::time::Duration;

use billing::VerifyError;
use billing::paypal::{CertFetcher, HttpCertFetcher, StaticCertFetcher};
use http::{HeaderMap, HeaderValue};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::pki::Pki;
use crate::support::{
    GENERATED_CERT_URL, Setup, UNREACHABLE_API, WEBHOOK_ID, config, now, signed, valid_leaf,
};

const BODY: &[u8] = br#"{"id":"WH-CERTS-1","event_type":"BILLING.SUBSCRIPTION.CANCELLED","create_time":"2026-01-16T11:59:00Z","resource":{"id":"I-1","custom_id":"org_1"}}"#;

const HEADER_NAMES: [&str; 5] = [
    "paypal-transmission-id",
    "paypal-transmission-time",
    "paypal-transmission-sig",
    "paypal-cert-url",
    "paypal-auth-algo",
];

fn with(headers: &HeaderMap, name: &str, value: &str) -> HeaderMap {
    let mut changed = headers.clone();
    changed.insert(
        http::HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
        HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
    );
    changed
}

#[tokio::test]
async fn each_missing_header_is_named_and_nothing_is_fetched() {
    let setup = Setup::generated_valid();
    let good = signed(BODY, now());
    assert!(setup.verify(&good, BODY).await.is_ok());
    let setup = Setup::generated_valid();
    for name in HEADER_NAMES {
        let mut headers = good.clone();
        headers.remove(name);
        let refused = setup.verify(&headers, BODY).await;
        assert_eq!(refused.err(), Some(VerifyError::MissingHeader(name)));
    }
    assert!(setup.fetcher.calls().is_empty());
}

#[tokio::test]
async fn malformed_headers_are_refused_before_any_fetch() {
    let setup = Setup::generated_valid();
    let good = signed(BODY, now());
    let cases = [
        ("paypal-transmission-id", "a|b"),
        ("paypal-transmission-id", ""),
        ("paypal-transmission-time", "yesterday"),
        ("paypal-transmission-time", "2026-01-16 12:00:00"),
        ("paypal-transmission-time", "1768564800"),
        ("paypal-transmission-sig", "not base64!"),
        ("paypal-transmission-sig", ""),
        ("paypal-transmission-sig", "QUJD=="),
    ];
    for (name, value) in cases {
        let refused = setup.verify(&with(&good, name, value), BODY).await;
        assert!(
            matches!(refused, Err(VerifyError::MalformedHeader { header, .. }) if header == name),
            "{name}={value:?}: {refused:?}"
        );
    }
    let mut twice = good.clone();
    twice.append("paypal-transmission-sig", HeaderValue::from_static("QUJD"));
    let refused = setup.verify(&twice, BODY).await;
    assert!(
        matches!(refused, Err(VerifyError::MalformedHeader { .. })),
        "{refused:?}"
    );
    let long_id = "x".repeat(200);
    let refused = setup
        .verify(&with(&good, "paypal-transmission-id", &long_id), BODY)
        .await;
    assert!(
        matches!(refused, Err(VerifyError::MalformedHeader { .. })),
        "{refused:?}"
    );
    assert!(setup.fetcher.calls().is_empty());
}

#[tokio::test]
async fn only_sha256_with_rsa_is_accepted() {
    let setup = Setup::generated_valid();
    let good = signed(BODY, now());
    for algo in [
        "SHA1withRSA",
        "sha256withrsa",
        "SHA256withECDSA",
        "RS256",
        "SHA512withRSA",
    ] {
        let refused = setup
            .verify(&with(&good, "paypal-auth-algo", algo), BODY)
            .await;
        assert_eq!(
            refused.err(),
            Some(VerifyError::UnsupportedAlgorithm(algo.into()))
        );
    }
    assert!(setup.fetcher.calls().is_empty());
}

pub const REFUSED_URLS: &[&str] = &[
    "http://api.paypal.com/v1/notifications/certs/CERT-billing-tests-0001",
    "https://api.paypal.com.evil.com/v1/notifications/certs/CERT-billing-tests-0001",
    "https://paypal.com.evil.com/cert",
    "https://evilpaypal.com/cert",
    "https://evil.com/api.paypal.com/cert",
    "https://api.paypal.com@evil.com/cert",
    "https://evil.com@api.paypal.com/v1/notifications/certs/CERT-billing-tests-0001",
    "https://user:secret@api.paypal.com/v1/notifications/certs/CERT-billing-tests-0001",
    "https://api.paypal.com:8443/v1/notifications/certs/CERT-billing-tests-0001",
    "https://api.paypal.com:80/v1/notifications/certs/CERT-billing-tests-0001",
    "https://api.paypal.com./v1/notifications/certs/CERT-billing-tests-0001",
    "https://127.0.0.1/v1/notifications/certs/CERT-billing-tests-0001",
    "https://[::1]/cert",
    "https://169.254.169.254/latest/meta-data",
    "file:///etc/passwd",
    "ftp://api.paypal.com/cert",
    "//api.paypal.com/cert",
    "api.paypal.com/cert",
    "https://evil.com#@api.paypal.com/",
];

#[tokio::test]
async fn cert_urls_off_paypal_are_refused_and_never_fetched() {
    let setup = Setup::generated_valid();
    let good = signed(BODY, now());
    for url in REFUSED_URLS {
        let refused = setup
            .verify(&with(&good, "paypal-cert-url", url), BODY)
            .await;
        assert!(
            matches!(refused, Err(VerifyError::CertUrlNotAllowed(_))),
            "{url}: {refused:?}"
        );
    }
    assert_eq!(setup.fetcher.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn an_unreachable_certificate_is_transient_and_not_cached() {
    let setup = Setup::generated_valid();
    let missing = "https://api.paypal.com/v1/notifications/certs/CERT-missing";
    let headers = with(&signed(BODY, now()), "paypal-cert-url", missing);
    for _ in 0..2 {
        let refused = setup.verify(&headers, BODY).await;
        let Err(error) = refused else {
            panic!("accepted")
        };
        assert!(
            matches!(error, VerifyError::CertUnavailable(_)),
            "{error:?}"
        );
        assert!(error.is_transient());
    }
    assert_eq!(setup.fetcher.calls().len(), 2);
}

#[tokio::test]
async fn a_valid_chain_is_cached_by_url_and_a_refused_one_is_not() {
    let setup = Setup::generated_valid();
    for _ in 0..3 {
        assert!(setup.verify(&signed(BODY, now()), BODY).await.is_ok());
    }
    assert_eq!(setup.fetcher.calls(), vec![GENERATED_CERT_URL.to_owned()]);

    let mut spec = valid_leaf();
    spec.name = "api.paypal.com".into();
    let bad = Setup::generated(Pki::get().leaf_document(&spec));
    for _ in 0..2 {
        assert!(matches!(
            bad.verify(&signed(BODY, now()), BODY).await,
            Err(VerifyError::CertChainInvalid(_))
        ));
    }
    assert_eq!(bad.fetcher.calls().len(), 2);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let other = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-billing-tests-0002";
    let document = Pki::get().leaf_document(&valid_leaf());
    let mut cfg = config(UNREACHABLE_API, &[WEBHOOK_ID]);
    cfg.trusted_roots_pem = Some(Pki::get().root_pem());
    cfg.cert_cache_capacity = 1;
    let fetcher = StaticCertFetcher::new()
        .with(GENERATED_CERT_URL, document.clone())
        .with(other, document);
    let setup = Setup::new(cfg, fetcher, now());
    let first = signed(BODY, now());
    let second = with(&first, "paypal-cert-url", other);
    for headers in [&first, &second, &first] {
        assert!(setup.verify(headers, BODY).await.is_ok());
    }
    // Capacity one: the third verification had to fetch the first URL again.
    assert_eq!(setup.fetcher.calls().len(), 3);
}

#[tokio::test]
async fn a_document_without_a_certificate_is_refused() {
    let setup = Setup::generated("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n".into());
    let refused = setup.verify(&signed(BODY, now()), BODY).await;
    assert!(
        matches!(refused, Err(VerifyError::CertChainInvalid(_))),
        "{refused:?}"
    );
    let setup = Setup::generated("garbage".into());
    assert!(setup.verify(&signed(BODY, now()), BODY).await.is_err());
}

#[tokio::test]
async fn the_http_fetcher_gets_the_document_and_follows_no_redirect() {
    let server = MockServer::start().await;
    let pem = Pki::get().leaf_document(&valid_leaf());
    Mock::given(method("GET"))
        .and(path("/certs/good"))
        .respond_with(ResponseTemplate::new(200).set_body_string(pem.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/certs/moved"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/certs/good"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/certs/huge"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'A'; 100 * 1024]))
        .mount(&server)
        .await;
    let fetcher = HttpCertFetcher::new(Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    let url = |p: &str| {
        url::Url::parse(&format!("{}{p}", server.uri())).unwrap_or_else(|e| panic!("{e}"))
    };
    let good = fetcher.fetch(&url("/certs/good")).await;
    assert_eq!(good.ok(), Some(pem.into_bytes()));
    assert!(fetcher.fetch(&url("/certs/moved")).await.is_err());
    assert!(fetcher.fetch(&url("/certs/huge")).await.is_err());
    assert!(fetcher.fetch(&url("/certs/absent")).await.is_err());
}
