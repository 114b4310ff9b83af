//! Secrets never show: not in Debug output of the configuration, the provider or a request,
//! not in any error a caller can print.

use std::sync::Arc;

use billing::stripe::{StripeConfig, StripeProvider};
use billing::{BillingProvider, WebhookRequest};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{
    OLD_WEBHOOK_SECRET, SECRET_KEY, UNREACHABLE, WEBHOOK_SECRET, clock_at, config, headers,
    provider_at, sign,
};

const NOW: i64 = 1_750_000_000;

fn assert_no_secret(text: &str) {
    for secret in [SECRET_KEY, WEBHOOK_SECRET, OLD_WEBHOOK_SECRET] {
        assert!(!text.contains(secret), "{secret} leaked into: {text}");
        // Nor a recognisable piece of one.
        assert!(
            !text.contains(&secret[8..24]),
            "part of {secret} leaked into: {text}"
        );
    }
}

#[test]
fn debug_output_of_configuration_and_provider_shows_no_secret() {
    let config = config(UNREACHABLE);
    let config_debug = format!("{config:?} {config:#?}");
    assert_no_secret(&config_debug);
    assert!(config_debug.contains("REDACTED"), "{config_debug}");
    let provider = StripeProvider::new(config, Arc::new(clock_at(NOW))).unwrap();
    assert_no_secret(&format!("{provider:?} {provider:#?}"));
}

#[tokio::test]
async fn verification_errors_name_no_secret_or_signature() {
    let (provider, _) = provider_at(UNREACHABLE, NOW);
    let body = b"{}";
    let good = sign(WEBHOOK_SECRET, NOW, body);
    for value in [
        String::new(),
        format!("t={NOW},v0={good}"),
        format!("t=abc,v1={good}"),
        format!("t={NOW},v1={}", sign("whsec_other", NOW, body)),
        format!(
            "t={},v1={}",
            NOW - 999,
            sign(WEBHOOK_SECRET, NOW - 999, body)
        ),
    ] {
        let headers = headers(&value);
        let error = provider
            .verify_webhook(WebhookRequest {
                headers: &headers,
                body,
            })
            .await
            .unwrap_err();
        let text = format!("{error} {error:?}");
        assert_no_secret(&text);
        assert!(!text.contains(&good), "{text}");
    }
}

#[tokio::test]
async fn api_errors_show_stripes_message_but_not_our_key() {
    let server = MockServer::start().await;
    let (provider, _) = provider_at(&server.uri(), NOW);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****gged"}
        })))
        .mount(&server)
        .await;
    let error = provider.subscription("sub_1").await.unwrap_err();
    assert_no_secret(&format!("{error} {error:?}"));
    let transport = provider_at(UNREACHABLE, NOW)
        .0
        .subscription("sub_1")
        .await
        .unwrap_err();
    assert_no_secret(&format!("{transport} {transport:?}"));
}

#[test]
fn configuration_errors_show_no_secret() {
    let mut config = StripeConfig::new(SecretString::from(SECRET_KEY), vec![]);
    config.base_url = UNREACHABLE.into();
    let error = StripeProvider::new(config, Arc::new(clock_at(NOW))).unwrap_err();
    assert_no_secret(&format!("{error} {error:?}"));
    // A key that cannot be a header value is refused without echoing it.
    let mut config = crate::common::config(UNREACHABLE);
    config.secret_key = Some(SecretString::from(format!("{SECRET_KEY}\n")));
    let provider = StripeProvider::new(config, Arc::new(clock_at(NOW))).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime
        .block_on(provider.subscription("sub_1"))
        .unwrap_err();
    assert!(
        matches!(error, billing::ProviderError::Config { .. }),
        "{error:?}"
    );
    assert_no_secret(&format!("{error} {error:?}"));
}
