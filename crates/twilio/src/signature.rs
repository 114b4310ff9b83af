//! `X-Twilio-Signature` validation for callbacks Twilio sends us (status callbacks).
//!
//! Twilio signs `base64(HMAC-SHA1(auth token, url + params))` where `params` is every POST
//! parameter as `name + value`, sorted by name then value, each pair once (the official
//! libraries sort and de-duplicate multi-valued parameters; the vectors test it). The URL is the
//! one Twilio requested, so a proxy in front of us may have added or dropped the default port:
//! like Twilio's own validators we accept the URL as given, with the default port (`:443` for
//! https, `:80` for http) added, and with it removed. A non-default port is never touched.
//!
//! JSON bodies are signed differently: the URL carries `bodySHA256=<hex SHA-256 of the body>`,
//! the signature covers the URL alone, and the body must hash to that value.
//!
//! Every comparison is constant-time, and every candidate URL is checked (no early exit), so
//! timing says nothing about how close a forgery came.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The header Twilio puts the signature in.
pub const HEADER: &str = "X-Twilio-Signature";

/// HMAC-SHA1 is 20 bytes.
const MAC_LEN: usize = 20;

/// The query parameter carrying a JSON body's hash.
const BODY_HASH_PARAM: &str = "bodySHA256";

type HmacSha1 = Hmac<Sha1>;

/// Why a callback was refused. Each has a stable code for problem bodies (G12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Twilio-Signature header is missing")]
    MissingSignature,
    #[error("the X-Twilio-Signature header is not a base64 HMAC-SHA1")]
    MalformedSignature,
    #[error("the X-Twilio-Signature does not match the request")]
    BadSignature,
    #[error("a JSON callback URL carries no bodySHA256 parameter")]
    MissingBodyHash,
    #[error("the body does not match the signed bodySHA256")]
    BodyHashMismatch,
}

impl SignatureError {
    /// A stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::MissingSignature => "TWILIO_SIGNATURE_MISSING",
            Self::MalformedSignature => "TWILIO_SIGNATURE_MALFORMED",
            Self::BadSignature => "TWILIO_SIGNATURE_INVALID",
            Self::MissingBodyHash => "TWILIO_BODY_HASH_MISSING",
            Self::BodyHashMismatch => "TWILIO_BODY_HASH_MISMATCH",
        }
    }
}

/// Validates callbacks with the account's auth token. `Debug` shows the token redacted.
#[derive(Debug, Clone)]
pub struct SignatureValidator {
    auth_token: SecretString,
}

impl SignatureValidator {
    pub fn new(auth_token: SecretString) -> Self {
        Self { auth_token }
    }

    /// A form-encoded callback, its parameters already decoded. `url` is the full URL Twilio
    /// requested (scheme, host, path and query exactly as sent).
    pub fn validate_form<I, K, V>(
        &self,
        url: &str,
        params: I,
        signature: Option<&str>,
    ) -> Result<(), SignatureError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let expected = decode_signature(signature)?;
        let params: Vec<(K, V)> = params.into_iter().collect();
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        self.check(url, &pairs, &expected)
    }

    /// A form-encoded callback from its raw body.
    pub fn validate_form_body(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        self.validate_form(url, url::form_urlencoded::parse(body), signature)
    }

    /// A JSON callback: the signature covers `url` alone, and `body` must hash to the URL's
    /// `bodySHA256`. The signature is checked first, so the hash compared is one Twilio signed.
    pub fn validate_json(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let expected = decode_signature(signature)?;
        let claimed = body_hash_param(url).ok_or(SignatureError::MissingBodyHash)?;
        self.check(url, &[], &expected)?;
        let actual = to_hex(&Sha256::digest(body));
        let claimed = claimed.to_ascii_lowercase();
        if bool::from(actual.as_bytes().ct_eq(claimed.as_bytes())) {
            Ok(())
        } else {
            Err(SignatureError::BodyHashMismatch)
        }
    }

    /// The signature Twilio would send for `url` and `params` (for fakes and tests).
    pub fn sign(&self, url: &str, params: &[(&str, &str)]) -> String {
        let mut pairs = params.to_vec();
        pairs.sort_unstable();
        pairs.dedup();
        STANDARD.encode(self.mac(url, &pairs))
    }

    fn check(
        &self,
        url: &str,
        pairs: &[(&str, &str)],
        expected: &[u8; MAC_LEN],
    ) -> Result<(), SignatureError> {
        let mut matched = Choice::from(0);
        for candidate in url_variants(url) {
            matched |= self.mac(&candidate, pairs).ct_eq(expected);
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SignatureError::BadSignature)
        }
    }

    fn mac(&self, url: &str, sorted_pairs: &[(&str, &str)]) -> [u8; MAC_LEN] {
        // HMAC takes keys of any length, so this cannot fail; an all-zero MAC matches nothing.
        let Ok(mut mac) = HmacSha1::new_from_slice(self.auth_token.expose_secret().as_bytes())
        else {
            return [0; MAC_LEN];
        };
        mac.update(url.as_bytes());
        for (name, value) in sorted_pairs {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }
}

pub(crate) fn decode_signature(signature: Option<&str>) -> Result<[u8; MAC_LEN], SignatureError> {
    let signature = signature
        .filter(|value| !value.is_empty())
        .ok_or(SignatureError::MissingSignature)?;
    // 20 bytes are 28 base64 characters; anything much longer is not worth decoding.
    if signature.len() > 64 {
        return Err(SignatureError::MalformedSignature);
    }
    let bytes = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::MalformedSignature)?;
    bytes
        .try_into()
        .map_err(|_| SignatureError::MalformedSignature)
}

/// `bodySHA256` from the URL's query, if present.
fn body_hash_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == BODY_HASH_PARAM)
        .map(|(_, value)| value.into_owned())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The URL as given, plus the form with the default port added (when it has none) or removed
/// (when it has exactly the default). Works on the text, not a parsed URL: parsing would
/// normalize what Twilio signed (drop default ports, re-encode the path).
pub(crate) fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // Credentials (`user:pass@`) may hold a colon; the port comes after the host, and an IPv6
    // host holds colons inside brackets.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (userinfo, host_port) = authority.split_at(host_start);
    let bracket = host_port.rfind(']');
    let port_colon = host_port
        .rfind(':')
        .filter(|colon| bracket.is_none_or(|bracket| *colon > bracket));
    match port_colon {
        Some(colon) => {
            let (host, port) = host_port.split_at(colon);
            if &port[1..] == default_port {
                variants.push(format!("{scheme}://{userinfo}{host}{tail}"));
            }
        }
        None => variants.push(format!(
            "{scheme}://{userinfo}{host_port}:{default_port}{tail}"
        )),
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_add_or_remove_only_the_default_port() {
        assert_eq!(
            url_variants("https://a.com/x?y=1"),
            ["https://a.com/x?y=1", "https://a.com:443/x?y=1"]
        );
        assert_eq!(
            url_variants("http://a.com:80?y"),
            ["http://a.com:80?y", "http://a.com?y"]
        );
        assert_eq!(url_variants("http://a.com:1234/"), ["http://a.com:1234/"]);
        assert_eq!(
            url_variants("https://u:p@[::1]/"),
            ["https://u:p@[::1]/", "https://u:p@[::1]:443/"]
        );
        assert_eq!(url_variants("ftp://a.com/"), ["ftp://a.com/"]);
        assert_eq!(url_variants("no scheme"), ["no scheme"]);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(to_hex(&[0x0a, 0xff]), "0aff");
    }
}
