//! Twilio callback signatures (Twilio's "webhooks security" documentation): `X-Twilio-Signature`
//! is the base64 HMAC-SHA1, keyed by the account's auth token, of the full URL Twilio requested
//! (query included, exactly as written) followed by each POST parameter's name and value, the
//! parameters sorted by name (then value).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The header Twilio signs with.
pub const TWILIO_SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// `X-Twilio-Signature` of a form POST of `params` to `url`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn the_published_vector_signs_as_published() {
        // twilio-python's RequestValidator test (auth token `12345`).
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn parameter_order_does_not_matter_but_the_url_does() {
        let forward = pairs(&[("A", "1"), ("B", "2")]);
        let backward = pairs(&[("B", "2"), ("A", "1")]);
        assert_eq!(
            twilio_signature("t", "https://h/x", &forward),
            twilio_signature("t", "https://h/x", &backward)
        );
        assert_ne!(
            twilio_signature("t", "https://h/x", &forward),
            twilio_signature("t", "https://h/y", &forward)
        );
    }
}
