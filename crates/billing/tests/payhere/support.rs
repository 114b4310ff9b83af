//! Helpers: the published vectors, providers, and notifications signed with our own secret.

use std::sync::Arc;

use billing::payhere::signature::notification_md5sig;
use billing::payhere::{PayHereConfig, PayHereProvider};
use billing::{BillingProvider, ParsedWebhook, VerifiedWebhook, VerifyError, WebhookRequest};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use primitives::ManualClock;
use secrecy::SecretString;
use url::form_urlencoded;

pub const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/payhere/vectors.txt"
);

/// Our own merchant for generated notifications: not PayHere's, never published.
pub const MERCHANT_ID: &str = "1299001";
pub const SECRET: &str = "generated-fixture-secret-4f1c9a";
pub const ORG: &str = "0190f5a4-7c7e-7d2a-9d4e-1c2b3a4d5e6f";

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap()
}

pub fn provider(merchant_id: &str, secrets: &[&str]) -> PayHereProvider {
    let mut config = PayHereConfig::new(merchant_id, SecretString::from(secrets[0]));
    config.merchant_secrets = secrets.iter().map(|s| SecretString::from(*s)).collect();
    config.base_url = "http://127.0.0.1:9".into();
    PayHereProvider::new(config, Arc::new(ManualClock::new(now()))).unwrap()
}

/// The provider of our generated notifications.
pub fn ours() -> PayHereProvider {
    provider(MERCHANT_ID, &[SECRET])
}

/// A published vector: its fields (`merchant_secret` included) and md5sig.
#[derive(Debug, Clone)]
pub struct Vector {
    pub fields: Vec<(String, String)>,
    pub md5sig: String,
}

impl Vector {
    pub fn get(&self, name: &str) -> &str {
        &self.fields.iter().find(|(n, _)| n == name).unwrap().1
    }
}

/// What the vectors file holds.
pub struct Vectors {
    pub signed: Vec<Vector>,
    /// `(amount, md5sig)` of the formatting pitfalls.
    pub pitfalls: Vec<(String, String)>,
    pub checkout_hash: String,
    pub lowercase_inner: String,
}

pub fn vectors() -> Vectors {
    let text = std::fs::read_to_string(VECTORS).unwrap();
    let mut signed = Vec::new();
    let mut pitfalls = Vec::new();
    let mut checkout_hash = None;
    let mut lowercase_inner = None;
    let mut current = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("merchant_id=") {
            current = Some(
                line.split(' ')
                    .map(|pair| {
                        let (name, value) = pair.split_once('=').unwrap();
                        (name.to_owned(), value.to_owned())
                    })
                    .collect(),
            );
        } else if let Some(rest) = trimmed.strip_prefix("md5sig") {
            signed.push(Vector {
                fields: current.take().unwrap(),
                md5sig: rest.trim().trim_start_matches('=').trim().to_owned(),
            });
        } else if let Some(rest) = trimmed.strip_prefix("amount '") {
            let (amount, hash) = rest.split_once("' -> ").unwrap();
            pitfalls.push((amount.to_owned(), hash.trim().to_owned()));
        } else if let Some(rest) = trimmed.strip_prefix("# checkout request hash (no status_code):")
        {
            checkout_hash = Some(rest.trim().to_owned());
        } else if let Some(rest) = trimmed.strip_prefix("# lowercase inner md5 (WRONG) ->") {
            lowercase_inner = Some(rest.trim().to_owned());
        }
    }
    Vectors {
        signed,
        pitfalls,
        checkout_hash: checkout_hash.unwrap(),
        lowercase_inner: lowercase_inner.unwrap(),
    }
}

pub fn encode<N: AsRef<str>, V: AsRef<str>>(fields: &[(N, V)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
        .finish()
        .into_bytes()
}

pub fn decode(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A notification PayHere could send, signed with `secret` for `merchant_id`: the five signed
/// fields first, then `extra` (unsigned) in order, as PayHere lays them out.
pub fn signed_body(
    merchant_id: &str,
    secret: &str,
    order_id: &str,
    amount: &str,
    currency: &str,
    status_code: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let md5sig = notification_md5sig(
        merchant_id,
        order_id,
        amount,
        currency,
        status_code,
        &SecretString::from(secret),
    );
    let mut fields: Vec<(&str, &str)> = vec![
        ("merchant_id", merchant_id),
        ("order_id", order_id),
        ("payhere_amount", amount),
        ("payhere_currency", currency),
        ("status_code", status_code),
        ("md5sig", &md5sig),
    ];
    fields.extend_from_slice(extra);
    encode(&fields)
}

/// [`signed_body`] for our merchant.
pub fn our_body(
    order_id: &str,
    amount: &str,
    currency: &str,
    status_code: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    signed_body(
        MERCHANT_ID,
        SECRET,
        order_id,
        amount,
        currency,
        status_code,
        extra,
    )
}

pub async fn verify(
    provider: &PayHereProvider,
    body: &[u8],
) -> Result<VerifiedWebhook, VerifyError> {
    let headers = HeaderMap::new();
    provider
        .verify_webhook(WebhookRequest {
            headers: &headers,
            body,
        })
        .await
}

/// Verifies with our provider and parses.
pub async fn parse(body: &[u8]) -> ParsedWebhook {
    let provider = ours();
    let verified = verify(&provider, body).await.unwrap();
    provider.parse_webhook(&verified).unwrap()
}
