//! Secrets never appear in `Debug` output or in errors.

use std::collections::HashMap;
use std::sync::Arc;

use billing::payhere::{PayHereApiCredentials, PayHereConfig, PayHereProvider};
use primitives::ManualClock;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MERCHANT_ID, now};

const MERCHANT_SECRET: &str = "merchant-secret-do-not-print";
const APP_SECRET: &str = "app-secret-do-not-print";
const TOKEN: &str = "access-token-do-not-print";

fn config(base_url: &str) -> PayHereConfig {
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(MERCHANT_SECRET));
    config.base_url = base_url.to_owned();
    config.api = Some(PayHereApiCredentials {
        app_id: "app-id".into(),
        app_secret: SecretString::from(APP_SECRET),
    });
    config
}

fn assert_clean(text: &str) {
    for secret in [MERCHANT_SECRET, APP_SECRET, TOKEN] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

#[tokio::test]
async fn debug_output_and_errors_name_no_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/merchant/v1/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": TOKEN, "token_type": "bearer", "expires_in": 599
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/merchant/v1/subscription"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream failure"))
        .mount(&server)
        .await;
    let config = config(&server.uri());
    assert_clean(&format!("{config:?}"));
    let provider = PayHereProvider::new(config, Arc::new(ManualClock::new(now()))).unwrap();
    // After a token is cached, too.
    let error = provider.list_subscriptions().await.unwrap_err();
    assert_clean(&format!("{error:?} {error}"));
    assert_clean(&format!("{provider:?}"));
}

#[tokio::test]
async fn a_refused_token_call_names_no_credential() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/merchant/v1/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client", "error_description": "Bad client credentials"
        })))
        .mount(&server)
        .await;
    let provider =
        PayHereProvider::new(config(&server.uri()), Arc::new(ManualClock::new(now()))).unwrap();
    let error = provider.list_subscriptions().await.unwrap_err();
    assert!(
        matches!(&error, billing::ProviderError::Api { status: 401, code, .. } if code == "invalid_client")
    );
    assert_clean(&format!("{error:?} {error}"));
}

fn lookup(env: &HashMap<&'static str, &'static str>) -> impl Fn(&str) -> Option<String> + use<> {
    let env = env.clone();
    move |name: &str| env.get(name).map(|v| (*v).to_owned())
}

#[test]
fn configuration_from_the_environment_names_variables_not_values() {
    let env: HashMap<&str, &str> = HashMap::from([
        ("PAYHERE_MERCHANT_ID", "1211149"),
        ("PAYHERE_MERCHANT_SECRET", "web-secret, app-secret"),
        ("PAYHERE_APP_ID", "app-id"),
        ("PAYHERE_APP_SECRET", APP_SECRET),
        ("PAYHERE_BASE_URL", "https://sandbox.payhere.lk"),
        ("PAYHERE_NOTIFY_URL", "https://hooks.example.com/payhere"),
        ("PAYHERE_TIMEOUT_SECS", "12"),
    ]);
    let config = PayHereConfig::from_lookup(lookup(&env)).unwrap().unwrap();
    assert_eq!(config.merchant_id, "1211149");
    assert_eq!(config.merchant_secrets.len(), 2);
    assert_eq!(config.base_url, "https://sandbox.payhere.lk");
    assert_eq!(
        config.notify_url.as_deref(),
        Some("https://hooks.example.com/payhere")
    );
    assert_eq!(config.timeout, std::time::Duration::from_secs(12));
    assert!(config.api.is_some());
    assert_clean(&format!("{config:?}"));

    let defaults = PayHereConfig::from_lookup(lookup(&HashMap::from([
        ("PAYHERE_MERCHANT_ID", "1211149"),
        ("PAYHERE_MERCHANT_SECRET", "s"),
    ])))
    .unwrap()
    .unwrap();
    assert_eq!(defaults.base_url, PayHereConfig::LIVE_BASE_URL);
    assert!(defaults.api.is_none());

    let mut half = env.clone();
    half.remove("PAYHERE_APP_ID");
    let error = PayHereConfig::from_lookup(lookup(&half)).unwrap_err();
    assert_clean(&error.to_string());
    assert_eq!(error.variable, "PAYHERE_APP_ID");
    let mut missing = env.clone();
    missing.remove("PAYHERE_MERCHANT_SECRET");
    let error = PayHereConfig::from_lookup(lookup(&missing)).unwrap_err();
    assert_eq!(error.variable, "PAYHERE_MERCHANT_SECRET");
    assert!(error.to_string().starts_with("PAYHERE_MERCHANT_SECRET: "));
    let mut no_merchant = env.clone();
    no_merchant.remove("PAYHERE_MERCHANT_ID");
    let error = PayHereConfig::from_lookup(lookup(&no_merchant)).unwrap_err();
    assert_eq!(error.variable, "PAYHERE_MERCHANT_ID");
    let mut bad_timeout = env.clone();
    bad_timeout.insert("PAYHERE_TIMEOUT_SECS", "-1");
    let error = PayHereConfig::from_lookup(lookup(&bad_timeout)).unwrap_err();
    assert_eq!(error.variable, "PAYHERE_TIMEOUT_SECS");
    // Nothing set: PayHere is not configured, which is no error.
    assert!(
        PayHereConfig::from_lookup(lookup(&HashMap::new()))
            .unwrap()
            .is_none()
    );
}

#[test]
fn empty_secrets_are_refused_at_start() {
    let clock = Arc::new(ManualClock::new(now()));
    let mut config = config("http://127.0.0.1:9");
    config.merchant_secrets.push(SecretString::from(""));
    assert!(PayHereProvider::new(config, clock.clone()).is_err());
    let mut config = PayHereConfig::new("", SecretString::from("s"));
    config.base_url = "http://127.0.0.1:9".into();
    assert!(PayHereProvider::new(config, clock).is_err());
}
