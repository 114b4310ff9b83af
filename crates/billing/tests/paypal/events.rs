//! Every PayPal event type we map, verified and then parsed, as reviewed JSON snapshots:
//! PayPal's simulator deliveries as published, and bodies of the types the simulator vectors
//! lack signed with our own test chain.

use billing::{BillingEventKind, BillingProvider, ParsedWebhook, ProviderError};

use crate::support::{Setup, now, signed};
use crate::vectors::{self, fixtures};

fn snapshot_name(file: &str) -> String {
    file.trim_end_matches(".json").replace('/', "__")
}

#[tokio::test]
async fn simulator_deliveries_parse_to_the_expected_events() {
    let list = vectors::simulator();
    let setup = Setup::for_vectors(&list);
    for v in &list {
        let verified = setup
            .verify_vector(v)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let parsed = setup
            .provider
            .parse_webhook(&verified)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        insta::assert_json_snapshot!(snapshot_name(&v.name), parsed);
    }
}

#[tokio::test]
async fn sdk_deliveries_parse_without_error() {
    // One-off v1 sales and a plan event: acknowledged and ignored, never an error.
    let list = vectors::sdk();
    let setup = Setup::for_vectors(&list);
    for v in &list {
        let verified = setup
            .verify_vector(v)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let parsed = setup.provider.parse_webhook(&verified);
        assert!(
            matches!(parsed, Ok(ParsedWebhook::Ignored { .. })),
            "{}: {parsed:?}",
            v.name
        );
    }
}

const SIGNED_HERE: [&str; 8] = [
    "sub_activated.json",
    "sub_updated.json",
    "sub_suspended.json",
    "sale_completed_subscription.json",
    "sale_reversed.json",
    "capture_denied.json",
    "capture_completed_jpy.json",
    "order_approved_unknown.json",
];

#[tokio::test]
async fn the_other_event_types_parse_to_the_expected_events() {
    let setup = Setup::generated_valid();
    for file in SIGNED_HERE {
        let body = std::fs::read(fixtures().join("events").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let verified = setup
            .verify(&signed(&body, now()), &body)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let parsed = setup
            .provider
            .parse_webhook(&verified)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        insta::assert_json_snapshot!(snapshot_name(&format!("events/{file}")), parsed);
    }
}

#[tokio::test]
async fn every_documented_type_maps_to_its_kind() {
    use BillingEventKind as K;
    let setup = Setup::generated_valid();
    let subscription = r#"{"id":"I-1","custom_id":"org_9","billing_info":{"last_failed_payment":{"amount":{"currency_code":"EUR","value":"9.99"}}}}"#;
    let sale = r#"{"id":"S-1","amount":{"total":"9.99","currency":"EUR"},"billing_agreement_id":"I-1","custom":"org_9"}"#;
    let capture =
        r#"{"id":"C-1","amount":{"currency_code":"EUR","value":"9.99"},"custom_id":"org_9"}"#;
    let cases = [
        (
            "BILLING.SUBSCRIPTION.CREATED",
            subscription,
            Some(K::SubscriptionCreated),
        ),
        (
            "BILLING.SUBSCRIPTION.ACTIVATED",
            subscription,
            Some(K::SubscriptionActivated),
        ),
        (
            "BILLING.SUBSCRIPTION.RE-ACTIVATED",
            subscription,
            Some(K::SubscriptionActivated),
        ),
        (
            "BILLING.SUBSCRIPTION.UPDATED",
            subscription,
            Some(K::SubscriptionUpdated),
        ),
        (
            "BILLING.SUBSCRIPTION.SUSPENDED",
            subscription,
            Some(K::SubscriptionSuspended),
        ),
        (
            "BILLING.SUBSCRIPTION.CANCELLED",
            subscription,
            Some(K::SubscriptionCanceled),
        ),
        (
            "BILLING.SUBSCRIPTION.EXPIRED",
            subscription,
            Some(K::SubscriptionExpired),
        ),
        (
            "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
            subscription,
            Some(K::PaymentFailed),
        ),
        ("PAYMENT.SALE.COMPLETED", sale, Some(K::PaymentSucceeded)),
        ("PAYMENT.SALE.REFUNDED", sale, None),
        ("PAYMENT.SALE.REVERSED", sale, Some(K::Chargeback)),
        (
            "PAYMENT.CAPTURE.COMPLETED",
            capture,
            Some(K::WalletTopUpCompleted),
        ),
        ("PAYMENT.CAPTURE.REFUNDED", capture, Some(K::TopUpRefunded)),
        ("PAYMENT.CAPTURE.REVERSED", capture, Some(K::Chargeback)),
        ("PAYMENT.CAPTURE.DENIED", capture, Some(K::PaymentFailed)),
        ("PAYMENT.SALE.PENDING", sale, None),
        ("BILLING.PLAN.CREATED", "{}", None),
    ];
    for (event_type, resource, kind) in cases {
        let body = format!(
            r#"{{"id":"WH-{event_type}","event_type":"{event_type}","create_time":"2026-01-16T11:00:00Z","resource":{resource}}}"#
        );
        let verified = setup
            .verify(&signed(body.as_bytes(), now()), body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{event_type}: {e}"));
        let parsed = setup
            .provider
            .parse_webhook(&verified)
            .unwrap_or_else(|e| panic!("{event_type}: {e}"));
        match (kind, parsed) {
            (Some(kind), ParsedWebhook::Events { events }) => {
                assert_eq!(events.len(), 1);
                let event = &events[0];
                assert_eq!(event.kind, kind, "{event_type}");
                assert_eq!(event.provider_event_id, format!("WH-{event_type}"));
                assert_eq!(event.provider_event_type, event_type);
                assert_eq!(
                    event.organization_ref.as_deref(),
                    Some("org_9"),
                    "{event_type}"
                );
                assert_eq!(
                    event.amount.map(|m| m.minor()).unwrap_or(999),
                    999,
                    "{event_type}"
                );
            }
            (
                None,
                ParsedWebhook::Ignored {
                    provider_event_type,
                    provider_event_id,
                },
            ) => {
                assert_eq!(provider_event_type, event_type);
                assert_eq!(provider_event_id, Some(format!("WH-{event_type}")));
            }
            (kind, parsed) => panic!("{event_type}: expected {kind:?}, got {parsed:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_resources_are_decode_errors() {
    let setup = Setup::generated_valid();
    let too_many =
        std::fs::read(fixtures().join("events/capture_completed_too_many_decimals.json"))
            .unwrap_or_else(|e| panic!("{e}"));
    let bodies: Vec<Vec<u8>> = vec![
        too_many,
        br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"amount":{"currency_code":"XYZ","value":"1.00"}}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"amount":{"currency_code":"USD","value":"1,00"}}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"amount":{"currency_code":"USD","value":"0.00"}}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"PAYMENT.SALE.COMPLETED","resource":{"billing_agreement_id":"I-1"}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"BILLING.SUBSCRIPTION.ACTIVATED","resource":{"status":"ACTIVE"}}"#.to_vec(),
        br#"{"event_type":"BILLING.SUBSCRIPTION.ACTIVATED","resource":{"id":"I-1"}}"#.to_vec(),
        b"[1,2,3]".to_vec(),
    ];
    for body in bodies {
        let verified = setup
            .verify(&signed(&body, now()), &body)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let parsed = setup.provider.parse_webhook(&verified);
        assert!(
            matches!(parsed, Err(ProviderError::Decode { .. })),
            "{}: {parsed:?}",
            String::from_utf8_lossy(&body)
        );
    }
}
