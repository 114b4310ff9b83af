//! Property tests: no header string and no body makes verification or parsing panic, and only
//! a correct signature passes.

use billing::{BillingProvider, WebhookRequest};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use crate::common::{UNREACHABLE, WEBHOOK_SECRET, provider_at, sign, signed};

const NOW: i64 = 1_750_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Header values shaped like Stripe's, so the parser's inner branches are reached, not only
/// its first refusal.
fn header_value() -> impl Strategy<Value = String> {
    let element = prop_oneof![
        "t=[0-9]{0,20}",
        "t=[ -~]{0,12}",
        "v1=[0-9a-f]{0,70}",
        "v1=[ -~]{0,70}",
        "v0=[0-9a-f]{64}",
        "[a-z0-9]{0,3}=[ -~]{0,10}",
        "[ -~]{0,16}",
    ];
    proptest::collection::vec(element, 0..12).prop_map(|elements| elements.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_headers_and_bodies_never_panic_or_pass(
        value in header_value(),
        raw in "[ -~]{0,200}",
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let runtime = runtime();
        let (provider, _) = provider_at(UNREACHABLE, NOW);
        for value in [&value, &raw] {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert("stripe-signature", value);
            }
            let outcome = runtime.block_on(provider.verify_webhook(WebhookRequest {
                headers: &headers,
                body: &body,
            }));
            prop_assert!(outcome.is_err());
        }
    }

    #[test]
    fn a_correct_signature_passes_whatever_else_the_header_holds(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        noise in proptest::collection::vec("(v0|v2|x)=[0-9a-f]{0,64}", 0..4),
        skew in -300i64..=300,
    ) {
        let runtime = runtime();
        let (provider, _) = provider_at(UNREACHABLE, NOW + skew);
        let mut elements = noise;
        elements.insert(0, format!("t={NOW}"));
        elements.push(format!("v1={}", sign(WEBHOOK_SECRET, NOW, &body)));
        let mut headers = HeaderMap::new();
        headers.insert("stripe-signature", HeaderValue::from_str(&elements.join(",")).unwrap());
        let verified = runtime.block_on(provider.verify_webhook(WebhookRequest {
            headers: &headers,
            body: &body,
        }));
        prop_assert!(verified.is_ok(), "{verified:?}");
    }

    #[test]
    fn parsing_any_signed_body_never_panics(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            event_like().prop_map(|value| value.into_bytes()),
        ],
    ) {
        let runtime = runtime();
        let (provider, _) = provider_at(UNREACHABLE, NOW);
        let headers = signed(WEBHOOK_SECRET, NOW, &body);
        let verified = runtime
            .block_on(provider.verify_webhook(WebhookRequest { headers: &headers, body: &body }))
            .unwrap();
        // Ok or a typed error; never a panic.
        let _ = provider.parse_webhook(&verified);
    }
}

/// Envelopes of the known types with arbitrary objects.
fn event_like() -> impl Strategy<Value = String> {
    let event_type = prop_oneof![
        Just("customer.subscription.updated"),
        Just("invoice.paid"),
        Just("checkout.session.completed"),
        Just("payment_intent.succeeded"),
        Just("charge.refunded"),
        Just("charge.dispute.created"),
        Just("unknown.type"),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_]{0,12}".prop_map(serde_json::Value::from),
    ];
    let object = leaf.prop_recursive(3, 24, 6, |inner| {
        proptest::collection::btree_map(
            prop_oneof![
                Just("id".to_owned()),
                Just("status".to_owned()),
                Just("currency".to_owned()),
                Just("amount_paid".to_owned()),
                Just("amount_due".to_owned()),
                Just("metadata".to_owned()),
                Just("mode".to_owned()),
                Just("payment_status".to_owned()),
                Just("parent".to_owned()),
                "[a-z_]{1,10}",
            ],
            inner,
            0..8,
        )
        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
    });
    (event_type, object, any::<i64>()).prop_map(|(event_type, object, created)| {
        serde_json::json!({
            "id": "evt_prop",
            "type": event_type,
            "created": created,
            "data": {"object": object, "previous_attributes": {"amount_refunded": 5}},
        })
        .to_string()
    })
}
