//! Stripe's harness: the stripe-dotnet vector, and refusals for every way the
//! `Stripe-Signature` header can be missing, malformed, unsigned by `v1`, or stale.
//!
//! A header with several `v1` values of which one matches must be accepted; that is a positive
//! case, tested in `tests/stripe/signature.rs`.

use std::sync::Arc;

use billing::VerifyError;
use billing::stripe::{StripeConfig, StripeProvider};
use chrono::DateTime;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use primitives::ManualClock;
use secrecy::SecretString;
use sha2::Sha256;

use crate::{Delivery, Harness, NegativeCase, contract_tests};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stripe");
const HEADER: &str = "stripe-signature";

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    secret: String,
    body_file: String,
    stripe_signature: String,
    valid_at_unix_time: i64,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn vector() -> Vector {
    let mut all = vectors();
    // One secret and one time serve every vector; the file holds exactly one today.
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn provider_with(secret: &str) -> StripeProvider {
    let vector = vector();
    let clock = ManualClock::new(DateTime::from_timestamp(vector.valid_at_unix_time, 0).unwrap());
    let mut config = StripeConfig::new(
        SecretString::from("sk_test_contract"),
        vec![SecretString::from(secret)],
    );
    // Port 9 (discard) on loopback: nothing answers, nothing leaves the machine.
    config.base_url = "http://127.0.0.1:9".into();
    StripeProvider::new(config, Arc::new(clock)).unwrap()
}

fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn with_header(valid: &Delivery, value: Option<HeaderValue>) -> Delivery {
    let mut headers = valid.headers.clone();
    headers.remove(HEADER);
    if let Some(value) = value {
        headers.insert(HEADER, value);
    }
    Delivery {
        name: valid.name.clone(),
        headers,
        body: valid.body.clone(),
    }
}

fn header(value: &str) -> Option<HeaderValue> {
    Some(HeaderValue::from_str(value).unwrap())
}

fn is_missing(error: &VerifyError) -> bool {
    *error == VerifyError::MissingHeader("Stripe-Signature")
}

fn is_malformed(error: &VerifyError) -> bool {
    matches!(
        error,
        VerifyError::MalformedHeader {
            header: "Stripe-Signature",
            ..
        }
    )
}

fn is_stale(error: &VerifyError) -> bool {
    *error
        == VerifyError::TimestampOutsideTolerance {
            tolerance_secs: 300,
        }
}

pub struct StripeHarness;

impl Harness for StripeHarness {
    type Provider = StripeProvider;

    async fn provider() -> StripeProvider {
        provider_with(&vector().secret)
    }

    async fn provider_with_wrong_secret() -> StripeProvider {
        provider_with("whsec_not_the_endpoint_secret")
    }

    fn valid_deliveries() -> Vec<Delivery> {
        vectors()
            .into_iter()
            .map(|vector| {
                let body = std::fs::read(format!("{FIXTURES}/{}", vector.body_file)).unwrap();
                let mut headers = HeaderMap::new();
                headers.insert(
                    HEADER,
                    HeaderValue::from_str(&vector.stripe_signature).unwrap(),
                );
                Delivery {
                    name: vector.name,
                    headers,
                    body,
                }
            })
            .collect()
    }

    fn reserialized(delivery: &Delivery) -> Delivery {
        let value: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
        Delivery {
            name: delivery.name.clone(),
            headers: delivery.headers.clone(),
            body: serde_json::to_vec(&value).unwrap(),
        }
    }

    fn negative_cases(valid: &Delivery) -> Vec<NegativeCase> {
        let vector = vector();
        let t = vector.valid_at_unix_time;
        let good = sign(&vector.secret, t, &valid.body);
        let old = t - 301;
        let new = t + 301;
        let mut cases = vec![
            (
                "header missing",
                with_header(valid, None),
                is_missing as fn(&VerifyError) -> bool,
            ),
            ("header empty", with_header(valid, header("")), is_malformed),
            (
                "no timestamp",
                with_header(valid, header(&format!("v1={good}"))),
                is_malformed,
            ),
            (
                "timestamp not a number",
                with_header(valid, header(&format!("t=abc,v1={good}"))),
                is_malformed,
            ),
            (
                "negative timestamp",
                with_header(valid, header(&format!("t=-{t},v1={good}"))),
                is_malformed,
            ),
            (
                "two timestamps",
                with_header(valid, header(&format!("t={t},t={t},v1={good}"))),
                is_malformed,
            ),
            (
                "element without =",
                with_header(valid, header(&format!("t={t},{good}"))),
                is_malformed,
            ),
            (
                "v0 only",
                with_header(valid, header(&format!("t={t},v0={good}"))),
                is_malformed,
            ),
            (
                "unknown scheme only",
                with_header(valid, header(&format!("t={t},v2={good}"))),
                is_malformed,
            ),
            (
                "v1 not hex",
                with_header(valid, header(&format!("t={t},v1=not-a-signature"))),
                is_malformed,
            ),
            (
                "v1 truncated",
                with_header(valid, header(&format!("t={t},v1={}", &good[..32]))),
                is_malformed,
            ),
            (
                "v1 of another body",
                with_header(
                    valid,
                    header(&format!("t={t},v1={}", sign(&vector.secret, t, b"{}"))),
                ),
                crate::is_bad_signature,
            ),
            (
                "timestamp changed, signature kept",
                with_header(valid, header(&format!("t={},v1={good}", t + 1))),
                crate::is_bad_signature,
            ),
            (
                "signed 301 s before the clock",
                with_header(
                    valid,
                    header(&format!(
                        "t={old},v1={}",
                        sign(&vector.secret, old, &valid.body)
                    )),
                ),
                is_stale,
            ),
            (
                "signed 301 s after the clock",
                with_header(
                    valid,
                    header(&format!(
                        "t={new},v1={}",
                        sign(&vector.secret, new, &valid.body)
                    )),
                ),
                is_stale,
            ),
            (
                "not visible ASCII",
                with_header(
                    valid,
                    Some(
                        HeaderValue::from_bytes(format!("t={t},v1=\u{e9}{good}").as_bytes())
                            .unwrap(),
                    ),
                ),
                is_malformed,
            ),
        ];
        let mut twice = valid.clone();
        twice.headers.append(
            HEADER,
            HeaderValue::from_str(&format!("t={t},v1={good}")).unwrap(),
        );
        cases.push(("header sent twice", twice, is_malformed));
        let mut trimmed = valid.clone();
        // The vector's body ends in a newline, which is signed too.
        assert_eq!(trimmed.body.pop(), Some(b'\n'));
        cases.push(("trailing newline dropped", trimmed, crate::is_bad_signature));
        cases
            .into_iter()
            .map(|(name, delivery, expect)| NegativeCase {
                name: name.to_owned(),
                delivery,
                expect,
            })
            .collect()
    }
}

contract_tests!(StripeHarness);
