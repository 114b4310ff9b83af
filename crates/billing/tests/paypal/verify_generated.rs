//! Verification beyond the published vectors: our own root -> intermediate -> leaf named like
//! PayPal's, signing fresh payloads, so each rule is reached with a signature that is
//! otherwise valid.

use billing::paypal::StaticCertFetcher;
use billing::{BillingEventKind, BillingProvider, ParsedWebhook, VerifyError};
use chrono::{Duration, SecondsFormat};

use crate::pki::{IssuedBy, LeafSpec, Pki};
use crate::support::{
    GENERATED_CERT_URL, Setup, UNREACHABLE_API, WEBHOOK_ID, config, now, signed, signed_for,
    signed_over, valid_leaf,
};

const BODY: &[u8] = br#"{"id":"WH-FRESH-0001","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2026-01-16T11:59:58Z","resource":{"id":"CAP-1","amount":{"currency_code":"EUR","value":"25.50"},"custom_id":"org_fresh"}}"#;

#[tokio::test]
async fn a_fresh_payload_signed_by_our_chain_verifies_and_parses() {
    let setup = Setup::generated_valid();
    let verified = setup
        .verify(&signed(BODY, now()), BODY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let parsed = setup.provider.parse_webhook(&verified);
    let Ok(ParsedWebhook::Events { events }) = parsed else {
        panic!("{parsed:?}");
    };
    assert_eq!(events[0].kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(events[0].organization_ref.as_deref(), Some("org_fresh"));
    assert_eq!(events[0].amount.map(|m| m.minor()), Some(2550));
}

#[tokio::test]
async fn the_sandbox_name_is_accepted_too() {
    let mut spec = valid_leaf();
    spec.name = "messageverificationcerts.sandbox.paypal.com".into();
    let setup = Setup::generated(Pki::get().leaf_document(&spec));
    assert!(setup.verify(&signed(BODY, now()), BODY).await.is_ok());
}

#[tokio::test]
async fn the_intermediate_may_come_from_configuration_instead_of_the_url() {
    let mut spec = valid_leaf();
    spec.with_intermediate = false;
    let document = Pki::get().leaf_document(&spec);
    // Leaf alone, nothing configured: no path.
    let bare = Setup::generated(document.clone());
    let refused = bare.verify(&signed(BODY, now()), BODY).await;
    assert!(
        matches!(refused, Err(VerifyError::CertChainInvalid(_))),
        "{refused:?}"
    );
    // Leaf alone, intermediate configured: verifies.
    let mut cfg = config(UNREACHABLE_API, &[WEBHOOK_ID]);
    cfg.trusted_roots_pem = Some(Pki::get().root_pem());
    cfg.intermediates_pem = Some(Pki::get().intermediate_pem());
    let setup = Setup::new(
        cfg,
        StaticCertFetcher::new().with(GENERATED_CERT_URL, document),
        now(),
    );
    assert!(setup.verify(&signed(BODY, now()), BODY).await.is_ok());
}

#[tokio::test]
async fn a_leaf_with_another_name_is_refused_though_its_signature_is_good() {
    for name in [
        "api.paypal.com",
        "www.paypal.com",
        "messageverificationcerts.paypal.com.evil.com",
        "messageverificationcerts.evil.com",
        "*.paypal.com",
        "evil.example",
    ] {
        let mut spec = valid_leaf();
        spec.name = name.into();
        let setup = Setup::generated(Pki::get().leaf_document(&spec));
        let refused = setup.verify(&signed(BODY, now()), BODY).await;
        assert!(
            matches!(refused, Err(VerifyError::CertChainInvalid(_))),
            "{name}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_leaf_under_an_untrusted_root_is_refused_though_its_signature_is_good() {
    let mut spec = valid_leaf();
    spec.issued_by = IssuedBy::Untrusted;
    let setup = Setup::generated(Pki::get().leaf_document(&spec));
    let refused = setup.verify(&signed(BODY, now()), BODY).await;
    assert!(
        matches!(refused, Err(VerifyError::CertChainInvalid(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_leaf_is_refused() {
    let expired = LeafSpec::valid(now() - Duration::days(400), now() - Duration::seconds(1));
    let future = LeafSpec::valid(now() + Duration::seconds(1), now() + Duration::days(400));
    for spec in [expired, future] {
        let setup = Setup::generated(Pki::get().leaf_document(&spec));
        let refused = setup.verify(&signed(BODY, now()), BODY).await;
        assert_eq!(refused.err(), Some(VerifyError::CertExpired));
    }
    // Valid up to its last second: the boundary is inclusive.
    let setup = Setup::generated(
        Pki::get().leaf_document(&LeafSpec::valid(now() - Duration::days(1), now())),
    );
    assert!(setup.verify(&signed(BODY, now()), BODY).await.is_ok());
}

#[tokio::test]
async fn validity_is_judged_at_the_clocks_time() {
    let until = now() + Duration::hours(1);
    let setup = Setup::generated(
        Pki::get().leaf_document(&LeafSpec::valid(now() - Duration::days(1), until)),
    );
    let later = until + Duration::seconds(1);
    setup.clock.set(later);
    // Sent "now" by the moved clock, so only the certificate's validity can refuse it.
    let refused = setup.verify(&signed(BODY, later), BODY).await;
    assert_eq!(refused.err(), Some(VerifyError::CertExpired));
}

/// The SDKs' negative cases: the same content signed over a message that renders the CRC-32
/// signed or in hex, or names another webhook, must not verify.
#[tokio::test]
async fn signatures_over_a_differently_written_message_are_refused() {
    // A body whose CRC-32 has the top bit set, so its signed rendering differs.
    let mut body = BODY.to_vec();
    while crc32fast::hash(&body) <= i32::MAX as u32 {
        body.push(b' ');
    }
    let crc = crc32fast::hash(&body);
    let signed_crc = crc as i32;
    assert!(signed_crc < 0);
    let setup = Setup::generated_valid();
    let sent = now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let id = "t-2";
    let correct = format!("{id}|{sent}|{WEBHOOK_ID}|{crc}");
    assert!(
        setup
            .verify(&signed_over(&correct, id, &sent), &body)
            .await
            .is_ok()
    );
    for wrong in [
        format!("{id}|{sent}|{WEBHOOK_ID}|{signed_crc}"),
        format!("{id}|{sent}|{WEBHOOK_ID}|{crc:x}"),
        format!("{id}|{sent}|{WEBHOOK_ID}|{crc:08X}"),
        format!("{id}|{sent}|{WEBHOOK_ID}|0x{crc:x}"),
        format!("{id}|{sent}|{WEBHOOK_ID}"),
        format!("{id}|{sent}|{WEBHOOK_ID}|{crc}\n"),
        format!("{id}|{sent}|NotToBeFound|{crc}"),
        format!("{id}|{sent}||{crc}"),
        format!("{id}|{sent}|{WEBHOOK_ID}|{}", crc32fast::hash(BODY)),
    ] {
        let refused = setup.verify(&signed_over(&wrong, id, &sent), &body).await;
        assert_eq!(refused.err(), Some(VerifyError::BadSignature), "{wrong:?}");
    }
}

#[tokio::test]
async fn the_transmission_time_is_signed_as_sent_not_as_reformatted() {
    let setup = Setup::generated_valid();
    // Signed with a "+00:00" offset: the verifier must use the header's text, not a
    // normalized rendering of the parsed time.
    let sent = now().to_rfc3339_opts(SecondsFormat::Millis, false);
    let message = format!("t-3|{sent}|{WEBHOOK_ID}|{}", crc32fast::hash(BODY));
    assert!(
        setup
            .verify(&signed_over(&message, "t-3", &sent), BODY)
            .await
            .is_ok()
    );
    let swapped = now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let refused = setup
        .verify(&signed_over(&message, "t-3", &swapped), BODY)
        .await;
    assert_eq!(refused.err(), Some(VerifyError::BadSignature));
}

#[tokio::test]
async fn any_configured_webhook_id_verifies_and_no_other() {
    let mut cfg = config(UNREACHABLE_API, &["LIVE-WEBHOOK", WEBHOOK_ID]);
    cfg.trusted_roots_pem = Some(Pki::get().root_pem());
    let document = Pki::get().leaf_document(&valid_leaf());
    let setup = Setup::new(
        cfg,
        StaticCertFetcher::new().with(GENERATED_CERT_URL, document),
        now(),
    );
    assert!(
        setup
            .verify(&signed_for(BODY, now(), "LIVE-WEBHOOK"), BODY)
            .await
            .is_ok()
    );
    assert!(
        setup
            .verify(&signed_for(BODY, now(), WEBHOOK_ID), BODY)
            .await
            .is_ok()
    );
    let refused = setup
        .verify(&signed_for(BODY, now(), "SOMEONE-ELSES"), BODY)
        .await;
    assert_eq!(refused.err(), Some(VerifyError::BadSignature));
}
