//! Property tests: whatever arrives, verification never panics and never accepts what was not
//! signed; whatever was signed verifies, and any change to it does not.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use crate::support::{GENERATED_CERT_URL, Setup, now, signed, signed_for};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        Just(GENERATED_CERT_URL.to_owned()),
        Just("SHA256withRSA".to_owned()),
        Just("2026-01-16T12:00:00Z".to_owned()),
        "[A-Za-z0-9+/]{0,400}={0,2}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_headers_and_bodies_never_panic_and_never_verify(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        values in proptest::collection::vec(
            (0usize..5, header_value()),
            0..8,
        ),
    ) {
        let runtime = runtime();
        let setup = Setup::generated_valid();
        let names = [
            "paypal-transmission-id",
            "paypal-transmission-time",
            "paypal-transmission-sig",
            "paypal-cert-url",
            "paypal-auth-algo",
        ];
        let mut headers = HeaderMap::new();
        for (index, value) in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(HeaderName::from_static(names[index]), value);
            }
        }
        let outcome = runtime.block_on(setup.verify(&headers, &body));
        prop_assert!(outcome.is_err());
    }

    #[test]
    fn a_signed_body_verifies_and_any_single_change_does_not(
        body in proptest::collection::vec(any::<u8>(), 1..256),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let runtime = runtime();
        let setup = Setup::generated_valid();
        let headers = signed(&body, now());
        prop_assert!(runtime.block_on(setup.verify(&headers, &body)).is_ok());
        let mut changed = body.clone();
        let at = flip.index(changed.len());
        changed[at] ^= 1 << bit;
        let refused = runtime.block_on(setup.verify(&headers, &changed));
        prop_assert_eq!(refused.err(), Some(billing::VerifyError::BadSignature));
    }

    #[test]
    fn a_delivery_for_another_webhook_never_verifies(
        webhook in "[A-Z0-9]{1,24}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(webhook != crate::support::WEBHOOK_ID);
        let runtime = runtime();
        let setup = Setup::generated_valid();
        let refused = runtime.block_on(setup.verify(&signed_for(&body, now(), &webhook), &body));
        prop_assert_eq!(refused.err(), Some(billing::VerifyError::BadSignature));
    }
}
