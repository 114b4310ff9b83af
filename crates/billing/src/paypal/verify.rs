//! Offline verification of a PayPal webhook (docs/providers.md; G9 in docs/guarantees.md).
//!
//! PayPal signs `transmission_id|transmission_time|webhook_id|crc32` with RSA PKCS#1 v1.5 and
//! SHA-256, where crc32 is the zlib CRC-32 of the raw body bytes written as an unsigned decimal.
//! The webhook id is ours (not in the request), so a delivery meant for another registration
//! does not verify. Order of checks: headers present and well-formed, algorithm, certificate URL
//! allow-list and transmission-time window (all before any I/O), then the certificate (fetched
//! or cached, chain and validity at the clock's time), then the signature.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use primitives::Clock;
use rustls_pki_types::UnixTime;
use webpki::EndEntityCert;

use super::certs::{CertStore, check_cert_url};
use crate::{ProviderName, VerifiedWebhook, VerifyError, WebhookRequest};

/// The only algorithm PayPal signs with, as its header names it.
pub const AUTH_ALGO: &str = "SHA256withRSA";

const TRANSMISSION_ID: &str = "paypal-transmission-id";
const TRANSMISSION_TIME: &str = "paypal-transmission-time";
const TRANSMISSION_SIG: &str = "paypal-transmission-sig";
const CERT_URL: &str = "paypal-cert-url";
const AUTH_ALGO_HEADER: &str = "paypal-auth-algo";

/// The headers a delivery must carry, each exactly once.
pub const HEADERS: [&str; 5] = [
    TRANSMISSION_ID,
    TRANSMISSION_TIME,
    TRANSMISSION_SIG,
    CERT_URL,
    AUTH_ALGO_HEADER,
];

/// An RSA signature is at most 8192 bits; anything longer is not one.
const MAX_SIGNATURE_BYTES: usize = 1024;
const MAX_ID_LEN: usize = 128;

/// The message PayPal signs. The transmission id and time are used exactly as received (no
/// reformatting), and the CRC-32 is unsigned decimal: a signed or hex rendering is a different
/// message and fails.
pub fn signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    format!(
        "{transmission_id}|{transmission_time}|{webhook_id}|{}",
        crc32fast::hash(body)
    )
}

/// The verification half of the adapter.
#[derive(Debug)]
pub(crate) struct WebhookVerifier {
    pub(crate) webhook_ids: Vec<String>,
    pub(crate) certs: CertStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_age: Duration,
    pub(crate) max_skew: Duration,
}

/// The signed headers, checked for shape.
struct Headers<'a> {
    transmission_id: &'a str,
    transmission_time: &'a str,
    sent_at: DateTime<Utc>,
    signature: Vec<u8>,
    cert_url: &'a str,
    algorithm: &'a str,
}

impl WebhookVerifier {
    pub(crate) async fn verify(
        &self,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        let headers = Headers::read(request.headers)?;
        if headers.algorithm != AUTH_ALGO {
            let shown: String = headers.algorithm.chars().take(40).collect();
            return Err(VerifyError::UnsupportedAlgorithm(shown));
        }
        let url = check_cert_url(headers.cert_url)?;
        let now = self.clock.now();
        self.check_window(headers.sent_at, now)?;
        let unix_now = u64::try_from(now.timestamp())
            .map(|secs| UnixTime::since_unix_epoch(Duration::from_secs(secs)))
            .map_err(|_| VerifyError::CertExpired)?;
        let chain = self.certs.chain(&url, unix_now).await?;
        let leaf_der = chain.first().ok_or_else(|| {
            VerifyError::CertChainInvalid("no certificate in the document".into())
        })?;
        let leaf = EndEntityCert::try_from(leaf_der)
            .map_err(|e| VerifyError::CertChainInvalid(format!("leaf does not parse: {e}")))?;
        let signed_for_us = self.webhook_ids.iter().any(|webhook_id| {
            let message = signed_message(
                headers.transmission_id,
                headers.transmission_time,
                webhook_id,
                request.body,
            );
            leaf.verify_signature(
                webpki::ring::RSA_PKCS1_2048_8192_SHA256,
                message.as_bytes(),
                &headers.signature,
            )
            .is_ok()
        });
        if signed_for_us {
            Ok(VerifiedWebhook::new(ProviderName::Paypal, request.body))
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn check_window(&self, sent_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), VerifyError> {
        let age = now.signed_duration_since(sent_at);
        let too_old = age.to_std().is_ok_and(|age| age > self.max_age);
        let too_new = (-age).to_std().is_ok_and(|ahead| ahead > self.max_skew);
        if too_old || too_new {
            Err(VerifyError::TimestampOutsideTolerance {
                tolerance_secs: self.max_age.as_secs(),
            })
        } else {
            Ok(())
        }
    }
}

impl<'a> Headers<'a> {
    fn read(map: &'a HeaderMap) -> Result<Self, VerifyError> {
        // Presence of all first, so a request missing several gets the same answer every time.
        for name in HEADERS {
            if !map.contains_key(name) {
                return Err(VerifyError::MissingHeader(name));
            }
        }
        let transmission_id = single(map, TRANSMISSION_ID)?;
        let transmission_time = single(map, TRANSMISSION_TIME)?;
        let signature = single(map, TRANSMISSION_SIG)?;
        let cert_url = single(map, CERT_URL)?;
        let algorithm = single(map, AUTH_ALGO_HEADER)?;
        // '|' separates the message's fields: an id containing it could shift them.
        if transmission_id.len() > MAX_ID_LEN || transmission_id.contains('|') {
            return Err(malformed(TRANSMISSION_ID, "not a transmission id"));
        }
        let sent_at = DateTime::parse_from_rfc3339(transmission_time)
            .map_err(|_| malformed(TRANSMISSION_TIME, "not an RFC 3339 time"))?
            .with_timezone(&Utc);
        let signature = STANDARD
            .decode(signature)
            .map_err(|_| malformed(TRANSMISSION_SIG, "not base64"))?;
        if signature.is_empty() || signature.len() > MAX_SIGNATURE_BYTES {
            return Err(malformed(TRANSMISSION_SIG, "not an RSA signature's length"));
        }
        Ok(Self {
            transmission_id,
            transmission_time,
            sent_at,
            signature,
            cert_url,
            algorithm,
        })
    }
}

/// The header's one value as visible ASCII, non-empty.
fn single<'a>(map: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let mut values = map.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed(name, "must appear exactly once"));
    };
    let value = value
        .to_str()
        .map_err(|_| malformed(name, "not visible ASCII"))?;
    if value.is_empty() {
        return Err(malformed(name, "empty"));
    }
    Ok(value)
}

fn malformed(header: &'static str, reason: &'static str) -> VerifyError {
    VerifyError::MalformedHeader { header, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_uses_unsigned_decimal_crc32() {
        // PayPal's Java SDK sample: crc32 3494065244 does not fit an i32, so a signed
        // rendering would print a negative number.
        let body = b"hello";
        let crc = crc32fast::hash(body);
        assert_eq!(
            signed_message("id", "t", "wh", body),
            format!("id|t|wh|{crc}")
        );
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            signed_message("a", "b", "c", b"123456789"),
            "a|b|c|3421780262"
        );
    }
}
