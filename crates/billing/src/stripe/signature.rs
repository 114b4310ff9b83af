//! `Stripe-Signature` verification (docs/providers.md; G9 in docs/guarantees.md).
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`. Each `v1` is
//! HMAC-SHA256 over `"{t}.{raw body}"`, keyed by the bytes of the whole endpoint secret
//! (`whsec_...`, prefix included). A delivery passes when any configured secret (several during a
//! rotation) matches any `v1` value (Stripe sends one per active secret), and its timestamp is
//! within the tolerance of our clock in either direction. Other schemes (`v0` is Stripe's test
//! scheme) are never trusted.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use crate::VerifyError;

/// The header's name, as the typed errors report it.
pub(crate) const HEADER: &str = "Stripe-Signature";

/// More `v1` values than any real rotation produces; the cap bounds the work a forged header can
/// cause (each value is checked against each secret).
const MAX_SIGNATURES: usize = 8;

/// A SHA-256 MAC is 32 bytes, 64 hex digits.
const MAC_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The header, parsed. The timestamp keeps its exact text, because that text (not a
/// re-formatted number) is what was signed.
#[derive(Debug)]
struct SignatureHeader<'a> {
    timestamp_text: &'a str,
    timestamp: i64,
    signatures: Vec<[u8; MAC_LEN]>,
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedHeader {
        header: HEADER,
        reason,
    }
}

fn parse_header(value: &str) -> Result<SignatureHeader<'_>, VerifyError> {
    let mut timestamp_text = None;
    let mut signatures = Vec::new();
    let mut v1_seen = false;
    for element in value.split(',') {
        let (scheme, content) = element
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("an element is not key=value"))?;
        match scheme {
            "t" if timestamp_text.is_some() => {
                return Err(malformed("more than one timestamp"));
            }
            "t" => timestamp_text = Some(content),
            "v1" => {
                v1_seen = true;
                // A value that is not a SHA-256 hex digest cannot match; it is skipped like
                // an unknown scheme rather than failing the values that may.
                let mut mac = [0u8; MAC_LEN];
                if hex::decode_to_slice(content, &mut mac).is_ok() {
                    if signatures.len() == MAX_SIGNATURES {
                        return Err(malformed("too many v1 signatures"));
                    }
                    signatures.push(mac);
                }
            }
            // v0 (Stripe's test-mode scheme) and schemes we do not know are never trusted.
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or_else(|| malformed("no timestamp (t=)"))?;
    if timestamp_text.is_empty()
        || timestamp_text.len() > 18
        || !timestamp_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed("timestamp is not unix seconds"));
    }
    let timestamp = timestamp_text
        .parse()
        .map_err(|_| malformed("timestamp is not unix seconds"))?;
    if signatures.is_empty() {
        return Err(malformed(if v1_seen {
            "no v1 signature is a SHA-256 hex digest"
        } else {
            "no v1 signature"
        }));
    }
    Ok(SignatureHeader {
        timestamp_text,
        timestamp,
        signatures,
    })
}

/// The MAC Stripe computes for `timestamp_text` and `body` with `secret`.
pub(crate) fn sign(secret: &[u8], timestamp_text: &str, body: &[u8]) -> [u8; MAC_LEN] {
    // HMAC accepts keys of any length; the error case cannot happen for HMAC-SHA256, and an
    // all-zero MAC matches nothing a sender could know.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return [0; MAC_LEN];
    };
    mac.update(timestamp_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// What verification needs besides the request.
pub(crate) struct Verifier<'a> {
    pub secrets: &'a [SecretString],
    pub tolerance_secs: u64,
    pub now: DateTime<Utc>,
}

impl Verifier<'_> {
    /// Checks `header_value` (the `Stripe-Signature` header, already known to be present)
    /// against `body`.
    pub(crate) fn verify(&self, header_value: &str, body: &[u8]) -> Result<(), VerifyError> {
        let header = parse_header(header_value)?;
        // Every secret is compared with every value and the results OR'd, so the time taken
        // does not tell which secret or value matched, nor how many bytes of one did.
        let mut matched = Choice::from(0);
        for secret in self.secrets {
            let expected = sign(
                secret.expose_secret().as_bytes(),
                header.timestamp_text,
                body,
            );
            for candidate in &header.signatures {
                matched |= expected.ct_eq(candidate);
            }
        }
        if !bool::from(matched) {
            return Err(VerifyError::BadSignature);
        }
        // Checked after the signature, as Stripe's libraries do, so a stale replay of a genuine
        // delivery is reported as stale and not as forged.
        let skew = i128::from(self.now.timestamp()) - i128::from(header.timestamp);
        if skew.unsigned_abs() > u128::from(self.tolerance_secs) {
            return Err(VerifyError::TimestampOutsideTolerance {
                tolerance_secs: self.tolerance_secs,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secrets: &[SecretString], now: i64) -> Verifier<'_> {
        Verifier {
            secrets,
            tolerance_secs: 300,
            now: DateTime::from_timestamp(now, 0).unwrap_or_default(),
        }
    }

    fn header(secret: &str, t: &str, body: &[u8]) -> String {
        format!("t={t},v1={}", hex::encode(sign(secret.as_bytes(), t, body)))
    }

    #[test]
    fn the_signed_timestamp_is_the_header_text_not_a_reformatted_number() {
        let secrets = [SecretString::from("whsec_test")];
        let padded = header("whsec_test", "0001000", b"{}");
        assert_eq!(verifier(&secrets, 1000).verify(&padded, b"{}"), Ok(()));
        let retyped = padded.replacen("t=0001000", "t=1000", 1);
        assert_eq!(
            verifier(&secrets, 1000).verify(&retyped, b"{}"),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn tolerance_is_inclusive_at_its_edge_in_both_directions() {
        let secrets = [SecretString::from("whsec_test")];
        let value = header("whsec_test", "10000", b"x");
        assert_eq!(verifier(&secrets, 10_300).verify(&value, b"x"), Ok(()));
        assert_eq!(verifier(&secrets, 9_700).verify(&value, b"x"), Ok(()));
        let stale = Err(VerifyError::TimestampOutsideTolerance {
            tolerance_secs: 300,
        });
        assert_eq!(verifier(&secrets, 10_301).verify(&value, b"x"), stale);
        assert_eq!(verifier(&secrets, 9_699).verify(&value, b"x"), stale);
    }

    #[test]
    fn more_values_than_the_cap_are_refused_before_any_mac_is_computed() {
        let many = format!(
            "t=1,{}",
            vec![format!("v1={}", "ab".repeat(32)); 9].join(",")
        );
        assert!(matches!(
            parse_header(&many),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
}
