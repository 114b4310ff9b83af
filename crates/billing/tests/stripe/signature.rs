//! Verification beyond the published vector: our own secrets, rotation, several `v1` values,
//! a moving clock, a configurable tolerance, and freshly signed payloads of every event fixture.

use std::sync::Arc;
use std::time::Duration;

use billing::stripe::StripeProvider;
use billing::{BillingProvider, ParsedWebhook, VerifyError, WebhookRequest};
use secrecy::SecretString;

use crate::common::{
    OLD_WEBHOOK_SECRET, UNREACHABLE, WEBHOOK_SECRET, clock_at, config, fixture, headers,
    provider_at, sign, signed,
};

const NOW: i64 = 1_750_000_000;
const BODY: &[u8] = br#"{"id":"evt_1","object":"event","created":1750000000,"type":"customer.created","data":{"object":{"id":"cus_1"}}}"#;

async fn verify(
    provider: &StripeProvider,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), VerifyError> {
    provider
        .verify_webhook(WebhookRequest { headers, body })
        .await
        .map(|verified| assert_eq!(verified.body(), body))
}

#[tokio::test]
async fn the_published_vector_is_accepted_at_its_own_time_and_parses_as_ignored() {
    #[derive(serde::Deserialize)]
    struct Vector {
        secret: String,
        body_file: String,
        stripe_signature: String,
        valid_at_unix_time: i64,
    }
    let text =
        std::fs::read_to_string(format!("{}/vectors.json", crate::common::FIXTURES)).unwrap();
    let vectors: Vec<Vector> = serde_json::from_str(&text).unwrap();
    assert!(!vectors.is_empty());
    for vector in vectors {
        let body =
            std::fs::read(format!("{}/{}", crate::common::FIXTURES, vector.body_file)).unwrap();
        let mut config = config(UNREACHABLE);
        config.webhook_secrets = vec![SecretString::from(vector.secret.as_str())];
        let clock = clock_at(vector.valid_at_unix_time);
        let provider = StripeProvider::new(config, Arc::new(clock.clone())).unwrap();
        let headers = headers(&vector.stripe_signature);
        // testkit's independent signer produces the published `v1` for the published body.
        let testkit_header = testkit::signing::stripe_signature_header(
            &vector.secret,
            vector.valid_at_unix_time,
            &body,
        );
        let published_v1 = vector
            .stripe_signature
            .split(',')
            .find(|part| part.starts_with("v1="))
            .unwrap();
        assert!(testkit_header.ends_with(published_v1), "{testkit_header}");
        assert!(testkit_header.starts_with(&format!("t={},", vector.valid_at_unix_time)));
        let verified = provider
            .verify_webhook(WebhookRequest {
                headers: &headers,
                body: &body,
            })
            .await
            .unwrap();
        assert_eq!(
            provider.parse_webhook(&verified).unwrap(),
            ParsedWebhook::Ignored {
                provider_event_type: "customer.created".into(),
                provider_event_id: Some("evt_123".into()),
            }
        );
        // The same delivery a day later is a replay.
        clock.advance(chrono::Duration::days(1));
        assert_eq!(
            verify(&provider, &headers, &body).await,
            Err(VerifyError::TimestampOutsideTolerance {
                tolerance_secs: 300
            })
        );
    }
}

#[tokio::test]
async fn either_secret_of_a_rotation_is_accepted_and_a_third_is_not() {
    let (provider, _) = provider_at(UNREACHABLE, NOW);
    assert_eq!(
        verify(&provider, &signed(WEBHOOK_SECRET, NOW, BODY), BODY).await,
        Ok(())
    );
    assert_eq!(
        verify(&provider, &signed(OLD_WEBHOOK_SECRET, NOW, BODY), BODY).await,
        Ok(())
    );
    assert_eq!(
        verify(&provider, &signed("whsec_someone_else", NOW, BODY), BODY).await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn several_v1_values_pass_when_any_one_matches() {
    let (provider, _) = provider_at(UNREACHABLE, NOW);
    let good = sign(WEBHOOK_SECRET, NOW, BODY);
    let other = sign("whsec_retired_secret", NOW, BODY);
    let v0 = sign("whsec_test_mode", NOW, BODY);
    for value in [
        format!("t={NOW},v1={other},v1={good}"),
        format!("t={NOW},v1={good},v1={other}"),
        format!("v1={other},t={NOW},v0={v0},v1={good}"),
        // A value that is not a digest is skipped, not fatal, when another matches.
        format!("t={NOW},v1=garbage,v1={good}"),
        format!("t={NOW}, v1={good}"),
    ] {
        assert_eq!(
            verify(&provider, &headers(&value), BODY).await,
            Ok(()),
            "{value}"
        );
    }
    // Stripe sends one v1 per active secret during a rotation: old and new both present.
    let both = format!(
        "t={NOW},v1={},v1={}",
        sign(OLD_WEBHOOK_SECRET, NOW, BODY),
        sign("whsec_the_next_secret", NOW, BODY)
    );
    assert_eq!(verify(&provider, &headers(&both), BODY).await, Ok(()));
    let none = format!("t={NOW},v1={other},v1={}", sign("whsec_x", NOW, BODY));
    assert_eq!(
        verify(&provider, &headers(&none), BODY).await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn a_v0_signature_is_never_trusted_even_when_it_is_correct() {
    let (provider, _) = provider_at(UNREACHABLE, NOW);
    let value = format!("t={NOW},v0={}", sign(WEBHOOK_SECRET, NOW, BODY));
    assert!(matches!(
        verify(&provider, &headers(&value), BODY).await,
        Err(VerifyError::MalformedHeader {
            header: "Stripe-Signature",
            reason: "no v1 signature"
        })
    ));
}

#[tokio::test]
async fn the_tolerance_holds_both_ways_as_the_clock_moves() {
    let (provider, clock) = provider_at(UNREACHABLE, NOW);
    let headers = signed(WEBHOOK_SECRET, NOW, BODY);
    let stale = Err(VerifyError::TimestampOutsideTolerance {
        tolerance_secs: 300,
    });
    for (offset, expected) in [
        (-301, stale.clone()),
        (-300, Ok(())),
        (0, Ok(())),
        (300, Ok(())),
        (301, stale.clone()),
        (86_400, stale),
    ] {
        clock.set(chrono::DateTime::from_timestamp(NOW + offset, 0).unwrap());
        assert_eq!(
            verify(&provider, &headers, BODY).await,
            expected,
            "offset {offset}"
        );
    }
}

#[tokio::test]
async fn the_tolerance_is_configurable() {
    let mut config = config(UNREACHABLE);
    config.tolerance = Duration::from_secs(30);
    let provider = StripeProvider::new(config, Arc::new(clock_at(NOW + 31))).unwrap();
    assert_eq!(
        verify(&provider, &signed(WEBHOOK_SECRET, NOW, BODY), BODY).await,
        Err(VerifyError::TimestampOutsideTolerance { tolerance_secs: 30 })
    );
    assert_eq!(
        verify(&provider, &signed(WEBHOOK_SECRET, NOW + 1, BODY), BODY).await,
        Ok(())
    );
}

#[tokio::test]
async fn a_bad_signature_wins_over_a_stale_timestamp() {
    // A forger learns nothing from the order of checks; a genuine but late delivery is told
    // it is late.
    let (provider, _) = provider_at(UNREACHABLE, NOW + 10_000);
    assert_eq!(
        verify(&provider, &signed("whsec_forger", NOW, BODY), BODY).await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn freshly_signed_fixtures_of_every_event_type_verify_and_parse() {
    let names = std::fs::read_dir(format!("{}/events", crate::common::FIXTURES))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect::<Vec<_>>();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        let name = name.trim_end_matches(".json");
        let body = fixture(name);
        let at = crate::common::created(&body);
        let (provider, _) = provider_at(UNREACHABLE, at + 42);
        for secret in [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET] {
            let headers = signed(secret, at, &body);
            let verified = provider
                .verify_webhook(WebhookRequest {
                    headers: &headers,
                    body: &body,
                })
                .await
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            provider
                .parse_webhook(&verified)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
        }
        let mut tampered = body.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 0x20;
        assert_eq!(
            verify(&provider, &signed(WEBHOOK_SECRET, at, &body), &tampered).await,
            Err(VerifyError::BadSignature),
            "{name}"
        );
    }
}

#[test]
fn configuration_without_usable_secrets_is_refused() {
    let clock = Arc::new(clock_at(NOW));
    let mut none = config(UNREACHABLE);
    none.webhook_secrets.clear();
    assert!(StripeProvider::new(none, clock.clone()).is_err());
    let mut empty = config(UNREACHABLE);
    empty.webhook_secrets.push(SecretString::from(""));
    assert!(StripeProvider::new(empty, clock.clone()).is_err());
    let mut no_key = config(UNREACHABLE);
    no_key.secret_key = Some(SecretString::from(" "));
    assert!(StripeProvider::new(no_key, clock.clone()).is_err());
    let mut bad_url = config(UNREACHABLE);
    bad_url.base_url = "ftp://api.stripe.com".into();
    assert!(StripeProvider::new(bad_url, clock).is_err());
}
