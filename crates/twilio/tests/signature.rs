//! `X-Twilio-Signature` validation against the official twilio-python / twilio-node vectors
//! (tests/fixtures/vectors.json, copied from shared/vectors/twilio), plus refusals of tampered
//! requests and a property test that no input panics.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on broken fixtures")]

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::Value;
use twilio::signature::{SignatureError, SignatureValidator};

const BASE_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/vectors.json")).unwrap()
}

fn validator(token: &str) -> SignatureValidator {
    SignatureValidator::new(SecretString::from(token.to_owned()))
}

/// A params object as (name, value) pairs, arrays giving one pair per value.
fn pairs(params: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in params.as_object().unwrap() {
        match value {
            Value::Array(values) => {
                for v in values {
                    out.push((name.clone(), v.as_str().unwrap().to_owned()));
                }
            }
            v => out.push((name.clone(), v.as_str().unwrap().to_owned())),
        }
    }
    out
}

fn base_params() -> Vec<(String, String)> {
    pairs(&fixture()["params"])
}

#[test]
fn every_official_vector_validates() {
    let fixture = fixture();
    let validator = validator(fixture["auth_token"].as_str().unwrap());
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let url = case["url"].as_str().unwrap();
        let signature = case["signature"].as_str();
        let result = match case.get("json_body") {
            Some(body) => {
                validator.validate_json(url, body.as_str().unwrap().as_bytes(), signature)
            }
            None => {
                let params = case.get("params_override").map_or_else(base_params, pairs);
                validator.validate_form(url, params, signature)
            }
        };
        assert_eq!(result, Ok(()), "vector {case}");
    }
}

#[test]
fn sign_reproduces_the_vector_and_its_signed_string() {
    let fixture = fixture();
    let params = base_params();
    let borrowed: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let signature = validator("12345").sign(BASE_URL, &borrowed);
    assert_eq!(signature, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    // The signed string is the URL followed by the sorted params: signing it with no params
    // gives the same MAC.
    let signed = fixture["signed_string_for_base_url"].as_str().unwrap();
    assert_eq!(validator("12345").sign(signed, &[]), signature);
}

#[test]
fn default_port_is_accepted_added_or_removed() {
    let v = validator("12345");
    // Signed without the port, requested with it (a proxy added it) and the other way round.
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert_eq!(
        v.validate_form(
            with_port,
            base_params(),
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ),
        Ok(())
    );
    assert_eq!(
        v.validate_form(
            BASE_URL,
            base_params(),
            Some("kvajT1Ptam85bY51eRf/AJRuM3w=")
        ),
        Ok(())
    );
    assert_eq!(
        v.validate_form(
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            base_params(),
            Some("0ZXoZLH/DfblKGATFgpif+LLRf4=")
        ),
        Ok(())
    );
}

#[test]
fn non_default_port_is_never_dropped_or_changed() {
    let v = validator("12345");
    let signature = Some("Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
    for url in [
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        "http://mycompany.com:80/myapp.php?foo=1&bar=2",
        "http://mycompany.com:1235/myapp.php?foo=1&bar=2",
    ] {
        assert_eq!(
            v.validate_form(url, base_params(), signature),
            Err(SignatureError::BadSignature),
            "{url}"
        );
    }
}

#[test]
fn multi_valued_params_are_order_independent_and_deduplicated() {
    let v = validator("12345");
    let signature = Some("IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    let shuffled = [
        ("Digits", "1234"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Sid", "CA123"),
    ];
    assert_eq!(v.validate_form(BASE_URL, shuffled, signature), Ok(()));
    let missing_value = [
        ("Digits", "1234"),
        ("SidAccount", "AC123"),
        ("Sid", "CA123"),
    ];
    assert_eq!(
        v.validate_form(BASE_URL, missing_value, signature),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn tampered_url_or_params_are_refused() {
    let v = validator("12345");
    let good = Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    for url in [
        "https://mycompany.com/myapp.php?foo=1&bar=3",
        "https://mycompany.com/other.php?foo=1&bar=2",
        "https://evil.com/myapp.php?foo=1&bar=2",
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
    ] {
        assert_eq!(
            v.validate_form(url, base_params(), good),
            Err(SignatureError::BadSignature),
            "{url}"
        );
    }
    let mut changed = base_params();
    changed[0].1.push('9');
    assert_eq!(
        v.validate_form(BASE_URL, changed, good),
        Err(SignatureError::BadSignature)
    );
    let mut extra = base_params();
    extra.push(("Price".into(), "0".into()));
    assert_eq!(
        v.validate_form(BASE_URL, extra, good),
        Err(SignatureError::BadSignature)
    );
    let mut fewer = base_params();
    fewer.pop();
    assert_eq!(
        v.validate_form(BASE_URL, fewer, good),
        Err(SignatureError::BadSignature)
    );
    assert_eq!(
        validator("12346").validate_form(BASE_URL, base_params(), good),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn raw_form_bodies_are_decoded_before_signing() {
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    let v = validator("12345");
    assert_eq!(
        v.validate_form_body(BASE_URL, body, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
        Ok(())
    );
    // `+` in a form body is a space, not a plus: the signature no longer matches.
    let plus = b"CallSid=CA1234567890ABCDE&Caller=+14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    assert_eq!(
        v.validate_form_body(BASE_URL, plus, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")),
        Err(SignatureError::BadSignature)
    );
}

const JSON_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const JSON_BODY: &str = "{\"property\": \"value\", \"boolean\": true}";
const JSON_SIGNATURE: Option<&str> = Some("a9nBmqA0ju/hNViExpshrM61xv4=");

#[test]
fn tampered_json_bodies_and_hashes_are_refused() {
    let v = validator("12345");
    assert_eq!(
        v.validate_json(JSON_URL, JSON_BODY.as_bytes(), JSON_SIGNATURE),
        Ok(())
    );
    // Same JSON, re-serialized: different bytes, refused.
    assert_eq!(
        v.validate_json(
            JSON_URL,
            b"{\"property\":\"value\",\"boolean\":true}",
            JSON_SIGNATURE
        ),
        Err(SignatureError::BodyHashMismatch)
    );
    assert_eq!(
        v.validate_json(
            JSON_URL,
            b"{\"property\": \"value\", \"boolean\": false}",
            JSON_SIGNATURE
        ),
        Err(SignatureError::BodyHashMismatch)
    );
    // A hash for the forged body put into the URL breaks the URL's signature.
    let forged = JSON_URL.replace("0a1ff", "0a1fe");
    assert_eq!(
        v.validate_json(&forged, JSON_BODY.as_bytes(), JSON_SIGNATURE),
        Err(SignatureError::BadSignature)
    );
    assert_eq!(
        v.validate_json(BASE_URL, JSON_BODY.as_bytes(), JSON_SIGNATURE),
        Err(SignatureError::MissingBodyHash)
    );
    // The URL-only signature does not validate the same request as a form with parameters.
    assert_eq!(
        v.validate_form(JSON_URL, [("property", "value")], JSON_SIGNATURE),
        Err(SignatureError::BadSignature)
    );
}

#[test]
fn missing_and_malformed_signatures_are_typed() {
    let v = validator("12345");
    assert_eq!(
        v.validate_form(BASE_URL, base_params(), None),
        Err(SignatureError::MissingSignature)
    );
    assert_eq!(
        v.validate_form(BASE_URL, base_params(), Some("")),
        Err(SignatureError::MissingSignature)
    );
    for bad in [
        "not base64!",
        "AAAA",
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=AAAA",
        &"A".repeat(200),
    ] {
        assert_eq!(
            v.validate_form(BASE_URL, base_params(), Some(bad)),
            Err(SignatureError::MalformedSignature),
            "{bad}"
        );
    }
    assert_eq!(
        SignatureError::BadSignature.code(),
        "TWILIO_SIGNATURE_INVALID"
    );
}

#[test]
fn validator_debug_hides_the_token() {
    let debug = format!("{:?}", validator("super-secret-token"));
    assert!(!debug.contains("super-secret-token"), "{debug}");
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(
        url in ".{0,80}",
        params in proptest::collection::vec((".{0,10}", ".{0,10}"), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        signature in proptest::option::of(".{0,40}"),
    ) {
        let v = validator("12345");
        let _ = v.validate_form(&url, params.clone(), signature.as_deref());
        let _ = v.validate_form_body(&url, &body, signature.as_deref());
        let _ = v.validate_json(&url, &body, signature.as_deref());
    }

    #[test]
    fn what_is_signed_validates_and_nothing_else(
        path in "[a-z/]{0,20}",
        params in proptest::collection::vec(("[A-Za-z]{1,8}", ".{0,10}"), 0..6),
    ) {
        let v = validator("12345");
        let url = format!("https://example.com/{path}");
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, val)| (k.as_str(), val.as_str())).collect();
        let signature = v.sign(&url, &borrowed);
        prop_assert_eq!(v.validate_form(&url, borrowed.iter().rev().copied(), Some(&signature)), Ok(()));
        let other = format!("{url}x");
        prop_assert_eq!(v.validate_form(&other, borrowed, Some(&signature)), Err(SignatureError::BadSignature));
    }
}
