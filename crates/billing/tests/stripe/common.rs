//! Helpers: a provider pointed at a test server with a manual clock, signing with our own test
//! secrets, fixtures, and reading the form a request sent.

use std::sync::Arc;
use std::time::Duration;

use billing::http::RetryPolicy;
use billing::stripe::{StripeConfig, StripeProvider};
use billing::{BillingProvider, ParsedWebhook, VerifiedWebhook, WebhookRequest};
use chrono::DateTime;
use http::{HeaderMap, HeaderValue};
use primitives::ManualClock;
use secrecy::SecretString;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stripe");

/// Test-only secrets; distinctive so a leak is easy to search for.
pub const SECRET_KEY: &str = "sk_test_51SecretKeyThatMustNeverBeLogged";
pub const WEBHOOK_SECRET: &str = "whsec_CurrentEndpointSecretNeverLogged";
pub const OLD_WEBHOOK_SECRET: &str = "whsec_PreviousEndpointSecretNeverLogged";

/// Fast enough for tests, same shape as production.
pub const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(20),
};

pub fn config(base_url: &str) -> StripeConfig {
    let mut config = StripeConfig::new(
        SecretString::from(SECRET_KEY),
        vec![
            SecretString::from(WEBHOOK_SECRET),
            SecretString::from(OLD_WEBHOOK_SECRET),
        ],
    );
    config.base_url = base_url.to_owned();
    config.retry = FAST;
    config.timeout = Duration::from_secs(5);
    config
}

pub fn clock_at(unix: i64) -> ManualClock {
    ManualClock::new(DateTime::from_timestamp(unix, 0).unwrap())
}

/// A provider whose calls go to `base_url`, its clock at `now`.
pub fn provider_at(base_url: &str, now: i64) -> (StripeProvider, ManualClock) {
    let clock = clock_at(now);
    let provider = StripeProvider::new(config(base_url), Arc::new(clock.clone())).unwrap();
    (provider, clock)
}

/// Nothing listens there (port 9, discard, on loopback).
pub const UNREACHABLE: &str = "http://127.0.0.1:9";

/// The `v1` value Stripe computes, by testkit's independent implementation of Stripe's
/// algorithm (checked against the published vector in `signature.rs`).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    testkit::signing::stripe_signature(secret, timestamp, body)
}

pub fn headers(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("stripe-signature", HeaderValue::from_str(value).unwrap());
    headers
}

/// The header Stripe would send for `body` signed by `secret` at `timestamp`.
pub fn signed(secret: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    headers(&testkit::signing::stripe_signature_header(
        secret, timestamp, body,
    ))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/events/{name}.json"))
        .unwrap_or_else(|error| panic!("fixture {name}: {error}"))
}

/// The event's own `created`, where a fresh delivery of it would be signed.
pub fn created(body: &[u8]) -> i64 {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["created"].as_i64().unwrap()
}

/// Signs `body` as Stripe would at its `created` time and verifies it at that time.
pub async fn verified(body: &[u8]) -> (StripeProvider, VerifiedWebhook) {
    let at = created(body);
    let (provider, _) = provider_at(UNREACHABLE, at);
    let headers = signed(WEBHOOK_SECRET, at, body);
    let verified = provider
        .verify_webhook(WebhookRequest {
            headers: &headers,
            body,
        })
        .await
        .unwrap();
    (provider, verified)
}

/// Verifies and parses an arbitrary body.
pub async fn parse(body: &[u8]) -> Result<ParsedWebhook, billing::ProviderError> {
    let (provider, verified) = verified(body).await;
    provider.parse_webhook(&verified)
}

/// The fields of a form-encoded request body, in order.
pub fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

pub fn header<'a>(request: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .get(name)
        .map(|value| value.to_str().unwrap())
}

/// Asserts what every call sends: the Bearer key, and the idempotency key on writes.
pub fn assert_authenticated(request: &wiremock::Request, idempotency_key: Option<&str>) {
    assert_eq!(
        header(request, "authorization"),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    assert_eq!(header(request, "idempotency-key"), idempotency_key);
}

pub fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}
