//! Secrets never show: not in `Debug` of the configuration or the provider, not in errors.

use std::sync::Arc;

use billing::paypal::{PayPalProvider, StaticCertFetcher};
use billing::{BillingProvider, ProviderError};
use primitives::ManualClock;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{CLIENT_SECRET, WEBHOOK_ID, config, now};

const TOKEN: &str = "A21AAJ-access-token-never-to-be-logged";

#[tokio::test]
async fn neither_the_client_secret_nor_the_token_appears_in_debug_or_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 32400}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.", "details": [{"issue": "INVALID_RESOURCE_ID", "description": "Requested resource ID was not found."}]})))
        .mount(&server)
        .await;
    let cfg = config(&server.uri(), &[WEBHOOK_ID]);
    let config_debug = format!("{cfg:?}");
    let provider = PayPalProvider::with_cert_fetcher(
        cfg,
        Arc::new(ManualClock::new(now())),
        Arc::new(StaticCertFetcher::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let error = provider.subscription("I-UNKNOWN").await.err();
    assert!(
        matches!(&error, Some(ProviderError::Api { status: 404, code, .. }) if code == "INVALID_RESOURCE_ID"),
        "{error:?}"
    );
    let shown = [
        config_debug,
        format!("{provider:?}"),
        format!("{error:?}"),
        error.map(|e| e.to_string()).unwrap_or_default(),
    ];
    for text in shown {
        assert!(!text.contains(CLIENT_SECRET), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
    // The credentials did go out, so the test would notice them if they leaked.
    let sent = server.received_requests().await.unwrap_or_default();
    let auth: Vec<String> = sent
        .iter()
        .filter_map(|r| r.headers.get("authorization"))
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    assert!(auth.iter().any(|a| a.starts_with("Basic ")));
    assert!(auth.iter().any(|a| a == &format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn a_transport_failure_names_no_secret() {
    let provider = PayPalProvider::with_cert_fetcher(
        config(crate::support::UNREACHABLE_API, &[WEBHOOK_ID]),
        Arc::new(ManualClock::new(now())),
        Arc::new(StaticCertFetcher::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let error = provider.subscription("I-1").await.err();
    assert!(
        matches!(&error, Some(ProviderError::Transport { .. })),
        "{error:?}"
    );
    assert!(
        error.is_some_and(|e| e.is_transient() && !format!("{e:?}{e}").contains(CLIENT_SECRET))
    );
}

#[test]
fn a_misconfiguration_is_refused_at_construction() {
    let clock = Arc::new(ManualClock::new(now()));
    let fetcher = || Arc::new(StaticCertFetcher::new());
    let mut no_ids = config(crate::support::UNREACHABLE_API, &[]);
    assert!(matches!(
        PayPalProvider::with_cert_fetcher(no_ids.clone(), clock.clone(), fetcher()),
        Err(ProviderError::Config { .. })
    ));
    no_ids.webhook_ids = vec![String::new()];
    assert!(matches!(
        PayPalProvider::with_cert_fetcher(no_ids, clock.clone(), fetcher()),
        Err(ProviderError::Config { .. })
    ));
    let mut bad_roots = config(crate::support::UNREACHABLE_API, &[WEBHOOK_ID]);
    bad_roots.trusted_roots_pem = Some("not a pem".into());
    assert!(matches!(
        PayPalProvider::with_cert_fetcher(bad_roots, clock.clone(), fetcher()),
        Err(ProviderError::Config { .. })
    ));
    let bad_url = config("ftp://example", &[WEBHOOK_ID]);
    assert!(matches!(
        PayPalProvider::with_cert_fetcher(bad_url, clock, fetcher()),
        Err(ProviderError::Config { .. })
    ));
}
