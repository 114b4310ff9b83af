//! PayPal's published vectors through the real verifier: accepted at their transmission time,
//! refused when the clock, the roots, the webhook id or the bytes are wrong.

use billing::VerifyError;
use billing::paypal::{BUNDLED_INTERMEDIATES_PEM, StaticCertFetcher, signed_message};
use chrono::Duration;

use crate::pki::Pki;
use crate::support::{Setup, UNREACHABLE_API, config};
use crate::vectors::{self, SIMULATOR_CERT_URL};

#[test]
fn signed_message_matches_every_published_string_and_crc() {
    for v in vectors::all() {
        assert_eq!(crc32fast::hash(&v.body), v.crc32, "{}", v.name);
        let message = signed_message(
            &v.transmission_id,
            &v.transmission_time,
            &v.webhook_id,
            &v.body,
        );
        assert_eq!(
            message,
            format!(
                "{}|{}|{}|{}",
                v.transmission_id, v.transmission_time, v.webhook_id, v.crc32
            )
        );
        if let Some(published) = &v.signed_string {
            assert_eq!(&message, published, "{}", v.name);
        }
    }
}

#[tokio::test]
async fn every_published_vector_verifies_at_its_transmission_time() {
    let list = vectors::all();
    assert_eq!(list.len(), 13);
    let setup = Setup::for_vectors(&list);
    for v in &list {
        let verified = setup
            .verify_vector(v)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(verified.body(), &v.body[..]);
    }
}

#[tokio::test]
async fn certificates_are_fetched_once_per_url() {
    let list = vectors::simulator();
    let setup = Setup::for_vectors(&list);
    for v in &list {
        setup
            .verify_vector(v)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
    }
    assert_eq!(setup.fetcher.calls(), vec![SIMULATOR_CERT_URL.to_owned()]);
}

#[tokio::test]
async fn a_wrong_webhook_id_does_not_verify() {
    for v in vectors::all() {
        let wrong = Setup::new(
            config(UNREACHABLE_API, &["NotToBeFound"]),
            StaticCertFetcher::new().with(&v.cert_url, v.cert_pem.clone()),
            v.sent_at(),
        );
        let refused = wrong.verify_vector(&v).await;
        assert_eq!(refused.err(), Some(VerifyError::BadSignature), "{}", v.name);
    }
}

#[tokio::test]
async fn sha1_with_rsa_is_refused_before_any_fetch() {
    for v in vectors::all() {
        let setup = Setup::for_vectors(std::slice::from_ref(&v));
        setup.clock.set(v.sent_at());
        let headers = vectors::headers(
            &v.transmission_id,
            &v.transmission_time,
            &v.signature,
            &v.cert_url,
            "SHA1withRSA",
        );
        let refused = setup.verify(&headers, &v.body).await;
        assert_eq!(
            refused.err(),
            Some(VerifyError::UnsupportedAlgorithm("SHA1withRSA".into())),
            "{}",
            v.name
        );
        assert!(setup.fetcher.calls().is_empty());
    }
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_certificate_is_refused() {
    for v in vectors::all() {
        let mut cfg = config(UNREACHABLE_API, &[&v.webhook_id]);
        // Wide enough that the window is not what refuses.
        cfg.max_transmission_age = std::time::Duration::from_secs(10 * 365 * 86_400);
        cfg.max_clock_skew = cfg.max_transmission_age;
        let setup = Setup::new(
            cfg,
            StaticCertFetcher::new().with(&v.cert_url, v.cert_pem.clone()),
            v.sent_at(),
        );
        // Still good at its last second ...
        setup.clock.set(v.not_after);
        assert!(
            setup.verify(&v.headers(), &v.body).await.is_ok(),
            "{}",
            v.name
        );
        // ... expired one second later, and not valid before it started.
        for at in [
            v.not_after + Duration::seconds(1),
            v.not_before - Duration::seconds(1),
        ] {
            setup.clock.set(at);
            let refused = setup.verify(&v.headers(), &v.body).await;
            assert_eq!(
                refused.err(),
                Some(VerifyError::CertExpired),
                "{} at {at}",
                v.name
            );
        }
    }
}

#[tokio::test]
async fn a_chain_to_roots_we_do_not_trust_is_refused() {
    for v in vectors::all() {
        let mut cfg = config(UNREACHABLE_API, &[&v.webhook_id]);
        cfg.trusted_roots_pem = Some(Pki::get().root_pem());
        let setup = Setup::new(
            cfg,
            StaticCertFetcher::new().with(&v.cert_url, v.cert_pem.clone()),
            v.sent_at(),
        );
        let refused = setup.verify_vector(&v).await;
        assert!(
            matches!(refused, Err(VerifyError::CertChainInvalid(_))),
            "{}: {refused:?}",
            v.name
        );
    }
}

#[tokio::test]
async fn the_bundled_intermediate_is_what_completes_paypals_chain() {
    // PayPal's URLs serve the leaf alone: without the bundled intermediate there is no path.
    let v = &vectors::simulator()[0];
    let mut cfg = config(UNREACHABLE_API, &[&v.webhook_id]);
    cfg.intermediates_pem = Some(String::new());
    let setup = Setup::new(
        cfg,
        StaticCertFetcher::new().with(&v.cert_url, v.cert_pem.clone()),
        v.sent_at(),
    );
    assert!(matches!(
        setup.verify_vector(v).await,
        Err(VerifyError::CertChainInvalid(_))
    ));
    // Served together with the intermediate, the same leaf verifies with nothing bundled.
    let mut cfg = config(UNREACHABLE_API, &[&v.webhook_id]);
    cfg.intermediates_pem = Some(String::new());
    let mut document = v.cert_pem.clone();
    document.extend_from_slice(BUNDLED_INTERMEDIATES_PEM.as_bytes());
    let setup = Setup::new(
        cfg,
        StaticCertFetcher::new().with(&v.cert_url, document),
        v.sent_at(),
    );
    assert!(setup.verify_vector(v).await.is_ok());
}

#[tokio::test]
async fn a_stale_or_future_transmission_is_refused_before_any_fetch() {
    let v = &vectors::simulator()[0];
    let setup = Setup::for_vectors(std::slice::from_ref(v));
    for at in [
        v.sent_at() + Duration::days(4) + Duration::seconds(1),
        v.sent_at() - Duration::minutes(5) - Duration::seconds(1),
    ] {
        setup.clock.set(at);
        let refused = setup.verify(&v.headers(), &v.body).await;
        assert!(
            matches!(refused, Err(VerifyError::TimestampOutsideTolerance { .. })),
            "{at}: {refused:?}"
        );
    }
    assert!(setup.fetcher.calls().is_empty());
    // Inside the window (four days late, five minutes early) it verifies.
    for at in [
        v.sent_at() + Duration::days(4),
        v.sent_at() - Duration::minutes(5),
    ] {
        setup.clock.set(at);
        assert!(setup.verify(&v.headers(), &v.body).await.is_ok(), "{at}");
    }
}

#[tokio::test]
async fn a_reserialized_or_tampered_body_is_refused() {
    for v in vectors::all() {
        let setup = Setup::for_vectors(std::slice::from_ref(&v));
        setup.clock.set(v.sent_at());
        let value: serde_json::Value =
            serde_json::from_slice(&v.body).unwrap_or_else(|e| panic!("{e}"));
        let pretty = serde_json::to_vec_pretty(&value).unwrap_or_else(|e| panic!("{e}"));
        let mut with_newline = v.body.clone();
        with_newline.push(b'\n');
        for body in [pretty, with_newline, v.body[..v.body.len() - 1].to_vec()] {
            let refused = setup.verify(&v.headers(), &body).await;
            assert_eq!(refused.err(), Some(VerifyError::BadSignature), "{}", v.name);
        }
    }
}

#[test]
fn the_bundled_roots_are_the_published_digicert_certificates() {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let der = |pem: &[u8]| -> Vec<Vec<u8>> {
        CertificateDer::pem_slice_iter(pem)
            .map(|cert| cert.unwrap_or_else(|e| panic!("{e}")).to_vec())
            .collect()
    };
    let fixture = |file: &str| {
        std::fs::read(vectors::fixtures().join("roots").join(file))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let root = der(&fixture("root.pem"));
    let intermediate = der(&fixture("DigiCertSHA2EV.pem"));
    assert_eq!(root.len(), 1);
    assert_eq!(der(billing::paypal::BUNDLED_ROOTS_PEM.as_bytes()), root);
    assert_eq!(der(BUNDLED_INTERMEDIATES_PEM.as_bytes()), intermediate);
}
