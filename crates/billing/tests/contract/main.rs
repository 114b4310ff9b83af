//! The contract every adapter passes: the same cases, run against each provider through its
//! [`Harness`]. Provider-specific cases (Stripe's timestamp tolerance, PayPal's certificate
//! rules, PayHere's amount formatting) are listed by each harness as negative cases and run by
//! the same code.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

mod payhere;
mod paypal;
mod stripe;

use std::future::Future;

use billing::{BillingProvider, VerifyError, WebhookRequest};
use http::HeaderMap;

/// A webhook delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub name: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest {
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// A refusal a case expects.
pub type Expect = fn(&VerifyError) -> bool;

/// A delivery that must be refused, and how.
pub struct NegativeCase {
    pub name: String,
    pub delivery: Delivery,
    pub expect: Expect,
}

/// What a provider's test module supplies.
pub trait Harness {
    type Provider: BillingProvider;

    /// The adapter configured to accept [`Harness::valid_deliveries`] (their secrets, webhook
    /// ids and a clock at their time), its HTTP calls pointed at nothing reachable.
    fn provider() -> impl Future<Output = Self::Provider>;

    /// The same adapter with a wrong secret (or webhook id).
    fn provider_with_wrong_secret() -> impl Future<Output = Self::Provider>;

    /// Real published deliveries the adapter must accept.
    fn valid_deliveries() -> Vec<Delivery>;

    /// Whether the signature covers the raw body bytes (Stripe, PayPal) or only some decoded
    /// field values (PayHere's md5sig). With bytes, a re-serialized body must be refused;
    /// without, it must verify and mean exactly the same events.
    const SIGNS_RAW_BYTES: bool = true;

    /// The body with the same content serialized differently (reordered keys or fields,
    /// spacing, other percent-encoding).
    fn reserialized(delivery: &Delivery) -> Delivery;

    /// The delivery with one signed byte changed. By default a byte in the middle of the body;
    /// a provider that signs only some fields changes one of those.
    fn tampered(delivery: &Delivery) -> Delivery {
        let mut tampered = delivery.clone();
        let middle = tampered.body.len() / 2;
        tampered.body[middle] ^= 0x01;
        tampered
    }

    /// Provider-specific refusals: each signed header missing or malformed, stale timestamps,
    /// disallowed certificate URLs ...
    fn negative_cases(valid: &Delivery) -> Vec<NegativeCase>;
}

pub fn is_bad_signature(error: &VerifyError) -> bool {
    *error == VerifyError::BadSignature
}

/// The shared cases, instantiated once per provider module.
#[macro_export]
macro_rules! contract_tests {
    ($harness:ty) => {
        #[tokio::test]
        async fn contract_accepts_the_published_vectors() {
            let provider = <$harness as $crate::Harness>::provider().await;
            let deliveries = <$harness as $crate::Harness>::valid_deliveries();
            assert!(!deliveries.is_empty());
            for delivery in deliveries {
                let verified = billing::BillingProvider::verify_webhook(&provider, delivery.request())
                    .await
                    .unwrap_or_else(|error| panic!("{}: {error}", delivery.name));
                assert_eq!(verified.body(), &delivery.body[..]);
                billing::BillingProvider::parse_webhook(&provider, &verified)
                    .unwrap_or_else(|error| panic!("{}: {error}", delivery.name));
            }
        }

        #[tokio::test]
        async fn contract_refuses_a_tampered_body() {
            let provider = <$harness as $crate::Harness>::provider().await;
            for valid in <$harness as $crate::Harness>::valid_deliveries() {
                let delivery = <$harness as $crate::Harness>::tampered(&valid);
                assert_ne!(delivery.body, valid.body, "{}", valid.name);
                let refused = billing::BillingProvider::verify_webhook(&provider, delivery.request()).await;
                assert!(
                    matches!(&refused, Err(error) if $crate::is_bad_signature(error)
                        || matches!(error, billing::VerifyError::MalformedBody(_))),
                    "{}: {refused:?}",
                    delivery.name
                );
            }
        }

        #[tokio::test]
        async fn contract_reserialized_bodies_follow_what_the_signature_covers() {
            let provider = <$harness as $crate::Harness>::provider().await;
            for delivery in <$harness as $crate::Harness>::valid_deliveries() {
                let reserialized = <$harness as $crate::Harness>::reserialized(&delivery);
                assert_ne!(reserialized.body, delivery.body, "{}", delivery.name);
                let outcome =
                    billing::BillingProvider::verify_webhook(&provider, reserialized.request()).await;
                if <$harness as $crate::Harness>::SIGNS_RAW_BYTES {
                    assert!(
                        matches!(&outcome, Err(error) if $crate::is_bad_signature(error)),
                        "{}: {outcome:?}",
                        delivery.name
                    );
                } else {
                    let original = billing::BillingProvider::verify_webhook(&provider, delivery.request())
                        .await
                        .unwrap();
                    let reserialized = outcome.unwrap_or_else(|error| panic!("{}: {error}", delivery.name));
                    assert_eq!(
                        billing::BillingProvider::parse_webhook(&provider, &reserialized).unwrap(),
                        billing::BillingProvider::parse_webhook(&provider, &original).unwrap(),
                        "{}",
                        delivery.name
                    );
                }
            }
        }

        #[tokio::test]
        async fn contract_refuses_a_wrong_secret() {
            let provider = <$harness as $crate::Harness>::provider_with_wrong_secret().await;
            for delivery in <$harness as $crate::Harness>::valid_deliveries() {
                let refused = billing::BillingProvider::verify_webhook(&provider, delivery.request()).await;
                assert!(
                    matches!(&refused, Err(error) if $crate::is_bad_signature(error)),
                    "{}: {refused:?}",
                    delivery.name
                );
            }
        }

        #[tokio::test]
        async fn contract_refuses_every_provider_specific_case() {
            let provider = <$harness as $crate::Harness>::provider().await;
            for valid in <$harness as $crate::Harness>::valid_deliveries() {
                let cases = <$harness as $crate::Harness>::negative_cases(&valid);
                assert!(!cases.is_empty());
                for case in cases {
                    let refused =
                        billing::BillingProvider::verify_webhook(&provider, case.delivery.request()).await;
                    match refused {
                        Err(error) => assert!(
                            (case.expect)(&error),
                            "{} / {}: unexpected refusal {error:?}",
                            valid.name,
                            case.name
                        ),
                        Ok(_) => panic!("{} / {}: accepted", valid.name, case.name),
                    }
                }
            }
        }

        #[test]
        fn contract_arbitrary_bytes_and_headers_never_panic() {
            use proptest::prelude::*;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let provider = runtime.block_on(<$harness as $crate::Harness>::provider());
            let valid = <$harness as $crate::Harness>::valid_deliveries();
            let mut names: Vec<String> = valid[0]
                .headers
                .keys()
                .map(|name| name.as_str().to_owned())
                .collect();
            names.push("content-type".to_owned());
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
            let strategy = (
                proptest::collection::vec(any::<u8>(), 0..600),
                proptest::collection::vec(
                    (proptest::sample::select(names.clone()), "[ -~]{0,120}"),
                    0..6,
                ),
                any::<bool>(),
            );
            runner
                .run(&strategy, |(bytes, headers, keep_body)| {
                    let mut map = http::HeaderMap::new();
                    for (name, value) in headers {
                        if let (Ok(name), Ok(value)) = (
                            http::HeaderName::from_bytes(name.as_bytes()),
                            http::HeaderValue::from_str(&value),
                        ) {
                            map.append(name, value);
                        }
                    }
                    let body = if keep_body { valid[0].body.clone() } else { bytes };
                    let request = billing::WebhookRequest { headers: &map, body: &body };
                    let outcome =
                        runtime.block_on(billing::BillingProvider::verify_webhook(&provider, request));
                    // Random bytes must never pass as a signed delivery.
                    if !keep_body {
                        prop_assert!(outcome.is_err());
                    }
                    Ok(())
                })
                .unwrap();
        }
    };
}
