//! Every line of the published vectors file (copied to `tests/fixtures/payhere/vectors.txt`).

use billing::VerifyError;
use billing::payhere::signature::{checkout_hash, notification_md5sig};
use secrecy::SecretString;

use crate::support::{encode, provider, vectors, verify};

fn body(vector: &crate::support::Vector, amount: &str, md5sig: &str) -> Vec<u8> {
    encode(&[
        ("merchant_id", vector.get("merchant_id")),
        ("order_id", vector.get("order_id")),
        ("payment_id", "320025157750"),
        ("payhere_amount", amount),
        ("payhere_currency", vector.get("payhere_currency")),
        ("status_code", vector.get("status_code")),
        ("md5sig", md5sig),
    ])
}

#[test]
fn the_file_holds_what_the_tests_rely_on() {
    let vectors = vectors();
    assert_eq!(vectors.signed.len(), 7);
    let codes: Vec<&str> = vectors
        .signed
        .iter()
        .map(|v| v.get("status_code"))
        .collect();
    for code in ["2", "0", "-1", "-2", "-3"] {
        assert!(codes.contains(&code), "{code}");
    }
    assert_eq!(vectors.pitfalls.len(), 4);
}

#[test]
fn every_signed_vector_computes_to_its_md5sig() {
    for vector in vectors().signed {
        let computed = notification_md5sig(
            vector.get("merchant_id"),
            vector.get("order_id"),
            vector.get("payhere_amount"),
            vector.get("payhere_currency"),
            vector.get("status_code"),
            &SecretString::from(vector.get("merchant_secret")),
        );
        assert_eq!(computed, vector.md5sig, "{:?}", vector.fields);
    }
}

#[tokio::test]
async fn every_signed_vector_verifies_for_its_merchant_and_no_other() {
    for vector in vectors().signed {
        let merchant = vector.get("merchant_id");
        let body = body(&vector, vector.get("payhere_amount"), &vector.md5sig);
        let right = provider(merchant, &[vector.get("merchant_secret")]);
        verify(&right, &body)
            .await
            .unwrap_or_else(|error| panic!("{:?}: {error}", vector.fields));
        let wrong_secret = provider(merchant, &["secret124"]);
        assert_eq!(
            verify(&wrong_secret, &body).await.unwrap_err(),
            VerifyError::BadSignature
        );
        let other_merchant = provider("1", &[vector.get("merchant_secret")]);
        assert_eq!(
            verify(&other_merchant, &body).await.unwrap_err(),
            VerifyError::MalformedBody("merchant_id is not the configured merchant")
        );
    }
}

#[tokio::test]
async fn the_formatting_pitfalls_hash_as_published_and_are_refused() {
    let all = vectors();
    let base = all
        .signed
        .iter()
        .find(|v| v.get("merchant_id") == "1211149" && v.get("status_code") == "2")
        .unwrap();
    let secret = SecretString::from(base.get("merchant_secret"));
    let provider = provider("1211149", &[base.get("merchant_secret")]);
    for (amount, published) in &all.pitfalls {
        // Our hash function reproduces each published value, so a refusal below is the format
        // rule at work, not a hashing difference.
        let computed = notification_md5sig("1211149", "ItemNo12345", amount, "LKR", "2", &secret);
        assert_eq!(&computed, published, "{amount}");
        let outcome = verify(&provider, &body(base, amount, published)).await;
        if amount == "1000.00" {
            outcome.unwrap();
        } else {
            assert_eq!(
                outcome.unwrap_err(),
                VerifyError::MalformedBody(
                    "payhere_amount is not digits with exactly two decimals"
                ),
                "{amount}"
            );
            // Nor does the right md5sig make a misformatted amount pass.
            assert!(
                verify(&provider, &body(base, amount, &base.md5sig))
                    .await
                    .is_err()
            );
        }
    }
}

#[tokio::test]
async fn the_lowercase_inner_md5_mistake_is_a_bad_signature() {
    let all = vectors();
    let base = all
        .signed
        .iter()
        .find(|v| v.get("merchant_id") == "1211149" && v.get("status_code") == "2")
        .unwrap();
    let provider = provider("1211149", &[base.get("merchant_secret")]);
    let body = body(base, "1000.00", &all.lowercase_inner);
    assert_eq!(
        verify(&provider, &body).await.unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn the_checkout_hash_computes_as_published_and_is_no_notification_signature() {
    let all = vectors();
    let secret = SecretString::from("MTExMTExMTExMTExMTExMTExMTExMTExMTE=");
    assert_eq!(
        checkout_hash("1211149", "ItemNo12345", "1000.00", "LKR", &secret),
        all.checkout_hash
    );
    let base = all
        .signed
        .iter()
        .find(|v| v.get("merchant_id") == "1211149" && v.get("status_code") == "2")
        .unwrap();
    let provider = provider("1211149", &[base.get("merchant_secret")]);
    let body = body(base, "1000.00", &all.checkout_hash);
    assert_eq!(
        verify(&provider, &body).await.unwrap_err(),
        VerifyError::BadSignature
    );
}
