//! Every PayPal event type we map, verified and then parsed, as reviewed JSON snapshots:
//! PayPal's simulator deliveries as published, and bodies of the types the simulator vectors
//! lack signed with our own test chain.

use billing::{BillingEvent, BillingEventKind, BillingProvider, ParsedWebhook, ProviderError};
use chrono::{DateTime, Utc};

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

const SIGNED_HERE: [&str; 11] = [
    "sub_activated.json",
    "sub_updated.json",
    "sub_suspended.json",
    "sale_completed_subscription.json",
    "sale_reversed.json",
    "capture_denied.json",
    "capture_completed_jpy.json",
    "order_approved.json",
    "dispute_created.json",
    "dispute_resolved_seller_favour.json",
    "dispute_resolved_buyer_favour.json",
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
    let subscription = r#"{"id":"I-1","custom_id":"org_9","billing_info":{"last_failed_payment":{"amount":{"currency_code":"EUR","value":"9.99"}},"next_billing_time":"2026-02-16T10:00:00Z"}}"#;
    let sale = r#"{"id":"S-1","amount":{"total":"9.99","currency":"EUR"},"billing_agreement_id":"I-1","custom":"org_9"}"#;
    let capture =
        r#"{"id":"C-1","amount":{"currency_code":"EUR","value":"9.99"},"custom_id":"org_9"}"#;
    // An approved order: its reference is the order's id (here written like the capture's).
    let order = r#"{"id":"C-1","intent":"CAPTURE","status":"APPROVED","purchase_units":[{"custom_id":"org_9","amount":{"currency_code":"EUR","value":"9.99"}}]}"#;
    let dispute = |outcome: &str| {
        format!(
            r#"{{"dispute_id":"PP-D-1","disputed_transactions":[{{"seller_transaction_id":"C-1","custom":"org_9"}}],"dispute_amount":{{"currency_code":"EUR","value":"9.99"}},"dispute_outcome":{{"outcome_code":"{outcome}"}}}}"#
        )
    };
    let (opened, won, lost, canceled) = (
        dispute("NONE"),
        dispute("RESOLVED_SELLER_FAVOUR"),
        dispute("RESOLVED_BUYER_FAVOUR"),
        dispute("CANCELED_BY_BUYER"),
    );
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
        ("CHECKOUT.ORDER.APPROVED", order, Some(K::TopUpApproved)),
        ("CUSTOMER.DISPUTE.CREATED", &opened, Some(K::DisputeOpened)),
        ("CUSTOMER.DISPUTE.RESOLVED", &won, Some(K::DisputeWon)),
        ("CUSTOMER.DISPUTE.RESOLVED", &lost, Some(K::DisputeLost)),
        // Neither side won (the buyer withdrew): nothing for the ledger to decide.
        ("CUSTOMER.DISPUTE.RESOLVED", &canceled, None),
        ("CUSTOMER.DISPUTE.UPDATED", &opened, None),
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
                let subscription_event = event_type.starts_with("BILLING.SUBSCRIPTION.");
                let expected_reference = if subscription_event {
                    None
                } else if event_type.starts_with("PAYMENT.SALE.") {
                    Some("S-1")
                } else {
                    Some("C-1")
                };
                assert_eq!(
                    event.payment_reference.as_deref(),
                    expected_reference,
                    "{event_type}"
                );
                assert_eq!(
                    event.period_end,
                    subscription_event.then(|| time("2026-02-16T10:00:00Z")),
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

fn time(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .with_timezone(&Utc)
}

/// The one event a signed body of `event_type` around `resource` parses to.
async fn one_event(event_type: &str, resource: &str) -> BillingEvent {
    let setup = Setup::generated_valid();
    let body = format!(
        r#"{{"id":"WH-1","event_type":"{event_type}","create_time":"2026-01-16T11:00:00Z","resource":{resource}}}"#
    );
    let verified = setup
        .verify(&signed(body.as_bytes(), now()), body.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{resource}: {e}"));
    match setup.provider.parse_webhook(&verified) {
        Ok(ParsedWebhook::Events { mut events }) if events.len() == 1 => events.remove(0),
        other => panic!("{resource}: {other:?}"),
    }
}

#[tokio::test]
async fn a_sale_and_its_reversal_share_the_sale_id() {
    let amount = r#""amount":{"total":"-9.99","currency":"USD"},"billing_agreement_id":"I-1""#;
    let cases = [
        // PayPal's reversal sample: the reversed sale's id as the resource's id.
        (format!(r#"{{"id":"SALE1",{amount}}}"#), Some("SALE1")),
        // Refund-shaped: its own id, the sale as `sale_id` (preferred to `parent_payment`).
        (
            format!(
                r#"{{"id":"REFUND1","sale_id":"SALE1","parent_payment":"PAY-1AB","links":[{{"href":"https://api.paypal.com/v1/payments/sale/SALE2","rel":"sale","method":"GET"}}],{amount}}}"#
            ),
            Some("SALE1"),
        ),
        // Refund-shaped without `sale_id`: the `rel: sale` link.
        (
            format!(
                r#"{{"id":"REFUND1","parent_payment":"PAY-1AB","links":[{{"href":"https://api.paypal.com/v1/payments/refund/REFUND1","rel":"self","method":"GET"}},{{"href":"https://api.paypal.com/v1/payments/sale/SALE1","rel":"sale","method":"GET"}}],{amount}}}"#
            ),
            Some("SALE1"),
        ),
        // An empty `sale_id` and a `sale` link that names no sale: the resource's id.
        (
            format!(
                r#"{{"id":"REFUND1","sale_id":" ","links":[{{"href":"https://api.paypal.com/v1/payments/payment/PAY-1AB","rel":"sale","method":"GET"}}],{amount}}}"#
            ),
            Some("REFUND1"),
        ),
        (format!(r#"{{{amount}}}"#), None),
    ];
    for (resource, expected) in cases {
        let event = one_event("PAYMENT.SALE.REVERSED", &resource).await;
        assert_eq!(event.kind, BillingEventKind::Chargeback);
        assert_eq!(event.payment_reference.as_deref(), expected, "{resource}");
        assert_eq!(event.period_end, None, "{resource}");
    }
}

#[tokio::test]
async fn capture_refunds_and_reversals_name_the_capture_of_their_up_link() {
    let amount = r#""amount":{"currency_code":"USD","value":"5.00"}"#;
    let up = |href: &str| {
        format!(
            r#"{{"id":"REFUND1",{amount},"links":[{{"href":"https://api.paypal.com/v2/payments/refunds/REFUND1","rel":"self","method":"GET"}},{{"href":"{href}","rel":"up","method":"GET"}}]}}"#
        )
    };
    for event_type in ["PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"] {
        for (resource, expected) in [
            (
                up("https://api.paypal.com/v2/payments/captures/CAP1"),
                Some("CAP1"),
            ),
            (
                up("https://api.paypal.com/v2/payments/captures/CAP1/"),
                Some("CAP1"),
            ),
            // Not a capture, or not a plain id: the refund's own id.
            (
                up("https://api.paypal.com/v2/checkout/orders/ORDER1"),
                Some("REFUND1"),
            ),
            (
                up("https://api.paypal.com/v2/payments/captures/CAP%201"),
                Some("REFUND1"),
            ),
            (up("not a url"), Some("REFUND1")),
            (format!(r#"{{"id":"REFUND1",{amount}}}"#), Some("REFUND1")),
            (format!(r#"{{{amount}}}"#), None),
        ] {
            let event = one_event(event_type, &resource).await;
            assert_eq!(
                event.payment_reference.as_deref(),
                expected,
                "{event_type} {resource}"
            );
            assert_eq!(event.period_end, None);
        }
    }
    // A capture's own `up` link is its order: the capture keeps its own id.
    for event_type in ["PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"] {
        let resource = format!(
            r#"{{"id":"CAP1",{amount},"links":[{{"href":"https://api.paypal.com/v2/payments/captures/CAP2","rel":"up","method":"GET"}}]}}"#
        );
        let event = one_event(event_type, &resource).await;
        assert_eq!(
            event.payment_reference.as_deref(),
            Some("CAP1"),
            "{event_type}"
        );
    }
}

#[tokio::test]
async fn a_next_billing_time_that_is_not_a_time_is_no_period_end() {
    for (next, expected) in [
        (
            r#""2026-02-15T10:00:00Z""#,
            Some(time("2026-02-15T10:00:00Z")),
        ),
        (
            r#""2026-02-15T12:00:00+02:00""#,
            Some(time("2026-02-15T10:00:00Z")),
        ),
        (r#""2018-19-12T22:20:32.000Z""#, None),
        (r#""""#, None),
        ("null", None),
    ] {
        for event_type in [
            "BILLING.SUBSCRIPTION.ACTIVATED",
            "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        ] {
            let resource =
                format!(r#"{{"id":"I-1","billing_info":{{"next_billing_time":{next}}}}}"#);
            let event = one_event(event_type, &resource).await;
            assert_eq!(event.period_end, expected, "{event_type} {next}");
            assert_eq!(event.payment_reference, None);
        }
    }
    let event = one_event("BILLING.SUBSCRIPTION.ACTIVATED", r#"{"id":"I-1"}"#).await;
    assert_eq!(event.period_end, None);
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
        br#"{"id":"WH-1","event_type":"CUSTOMER.DISPUTE.CREATED","resource":{"dispute_id":"PP-D-1","disputed_transactions":[],"dispute_amount":{"currency_code":"USD","value":"1.00"}}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"CUSTOMER.DISPUTE.CREATED","resource":{"disputed_transactions":[{"seller_transaction_id":"C-1"}]}}"#.to_vec(),
        br#"{"id":"WH-1","event_type":"CUSTOMER.DISPUTE.CREATED","resource":{"disputed_transactions":[{"seller_transaction_id":"C-1"}],"dispute_amount":{"currency_code":"USD","value":"1.001"}}}"#.to_vec(),
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

/// The one event the fixture `file` (under the PayPal fixtures), signed with our test chain,
/// parses to.
async fn fixture_event(file: &str) -> BillingEvent {
    let setup = Setup::generated_valid();
    let body = std::fs::read(fixtures().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let verified = setup
        .verify(&signed(&body, now()), &body)
        .await
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    match setup.provider.parse_webhook(&verified) {
        Ok(ParsedWebhook::Events { mut events }) if events.len() == 1 => events.remove(0),
        other => panic!("{file}: {other:?}"),
    }
}

/// A top-up's order is its checkout: the approval names it, and so does the completed capture
/// through `supplementary_data.related_ids.order_id`; no other event does.
#[tokio::test]
async fn the_approval_and_the_completed_capture_name_the_order_they_complete() {
    let approved = fixture_event("events/order_approved.json").await;
    assert_eq!(approved.kind, BillingEventKind::TopUpApproved);
    assert_eq!(
        approved.checkout_reference.as_deref(),
        Some("5O190127TN364715T")
    );
    // PayPal's simulator capture carries its order as supplementary data.
    let captured = fixture_event("simulator/cap_completed.json").await;
    assert_eq!(captured.kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(
        captured.checkout_reference.as_deref(),
        Some("1AB234567A1234567")
    );
    assert_eq!(
        captured.payment_reference.as_deref(),
        Some("12A34567BC123456S")
    );
    // A capture without it still credits (by its capture id) but names no checkout.
    let bare = fixture_event("events/capture_completed_jpy.json").await;
    assert_eq!(bare.kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(bare.checkout_reference, None);
    assert_eq!(bare.payment_reference.as_deref(), Some("8UL64672ZC914325T"));

    let amount = r#""amount":{"currency_code":"USD","value":"5.00"}"#;
    let with_order = |order: &str| {
        format!(
            r#"{{"id":"CAP1",{amount},"supplementary_data":{{"related_ids":{{"order_id":{order}}}}}}}"#
        )
    };
    for (order, expected) in [
        (r#""ORDER1""#, Some("ORDER1")),
        (r#"" ORDER1 ""#, Some("ORDER1")),
        (r#""  ""#, None),
        ("null", None),
    ] {
        let event = one_event("PAYMENT.CAPTURE.COMPLETED", &with_order(order)).await;
        assert_eq!(event.checkout_reference.as_deref(), expected, "{order}");
    }
    let no_related_ids = format!(r#"{{"id":"CAP1",{amount},"supplementary_data":{{}}}}"#);
    let event = one_event("PAYMENT.CAPTURE.COMPLETED", &no_related_ids).await;
    assert_eq!(event.checkout_reference, None);
    // Refunds, reversals and denials of a capture complete nothing, whatever they carry.
    for event_type in [
        "PAYMENT.CAPTURE.REFUNDED",
        "PAYMENT.CAPTURE.REVERSED",
        "PAYMENT.CAPTURE.DENIED",
    ] {
        let event = one_event(event_type, &with_order(r#""ORDER1""#)).await;
        assert_eq!(event.checkout_reference, None, "{event_type}");
    }
    for file in [
        "events/sale_completed_subscription.json",
        "events/dispute_created.json",
        "events/sub_activated.json",
        "simulator/cap_refunded.json",
    ] {
        assert_eq!(fixture_event(file).await.checkout_reference, None, "{file}");
    }
}

/// Every event about the subscription's sale carries the sale id: its payment, the dispute
/// opened on it, and the dispute's outcome, so the ledger meets each debit with the credit.
#[tokio::test]
async fn a_sale_and_the_events_of_its_dispute_share_the_sale_id() {
    let setup = Setup::generated_valid();
    let mut events = Vec::new();
    for file in [
        "sale_completed_subscription.json",
        "dispute_created.json",
        "dispute_resolved_seller_favour.json",
        "dispute_resolved_buyer_favour.json",
    ] {
        let body = std::fs::read(fixtures().join("events").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let verified = setup
            .verify(&signed(&body, now()), &body)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let Ok(ParsedWebhook::Events { events: parsed }) = setup.provider.parse_webhook(&verified)
        else {
            panic!("{file}: not parsed");
        };
        events.extend(parsed);
    }
    let kinds: Vec<BillingEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            BillingEventKind::PaymentSucceeded,
            BillingEventKind::DisputeOpened,
            BillingEventKind::DisputeWon,
            BillingEventKind::DisputeLost,
        ]
    );
    for event in &events {
        assert_eq!(
            event.payment_reference.as_deref(),
            Some("5O190127TN364715T")
        );
        assert_eq!(event.amount, events[0].amount);
        assert_eq!(event.organization_ref.as_deref(), Some("org_01J9Z3T4"));
    }
}

#[tokio::test]
async fn subscription_events_carry_the_mapped_status_and_failures_their_reason() {
    use billing::ProviderSubscriptionStatus as S;
    for (status, expected) in [
        ("\"APPROVAL_PENDING\"", Some(S::Pending)),
        ("\"ACTIVE\"", Some(S::Active)),
        ("\"SUSPENDED\"", Some(S::Suspended)),
        ("\"CANCELLED\"", Some(S::Canceled)),
        ("\"EXPIRED\"", Some(S::Expired)),
        // A status PayPal may add later is no status, not a refused event.
        ("\"SOMETHING_NEW\"", None),
        ("null", None),
    ] {
        let resource = format!(r#"{{"id":"I-1","status":{status}}}"#);
        let event = one_event("BILLING.SUBSCRIPTION.UPDATED", &resource).await;
        assert_eq!(event.subscription_status, expected, "{status}");
        assert_eq!(event.failure_reason, None);
        assert_eq!(event.trial_end, None);
        assert_eq!(event.order_reference, None);
    }
    let failed = one_event(
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        r#"{"id":"I-1","status":"ACTIVE","billing_info":{"last_failed_payment":{"amount":{"currency_code":"USD","value":"5.00"},"reason_code":" INSUFFICIENT_FUNDS\n"}}}"#,
    )
    .await;
    assert_eq!(failed.failure_reason.as_deref(), Some("INSUFFICIENT_FUNDS"));
    assert_eq!(failed.subscription_status, Some(S::Active));
    let denied = one_event(
        "PAYMENT.CAPTURE.DENIED",
        r#"{"id":"C-1","amount":{"currency_code":"USD","value":"5.00"},"status":"DECLINED","status_details":{"reason":"DECLINED_BY_RISK_FRAUD_FILTERS"}}"#,
    )
    .await;
    assert_eq!(
        denied.failure_reason.as_deref(),
        Some("DECLINED_BY_RISK_FRAUD_FILTERS")
    );
    assert_eq!(denied.subscription_status, None);
    let long = format!(
        r#"{{"id":"I-1","billing_info":{{"last_failed_payment":{{"reason_code":"{}"}}}}}}"#,
        "X".repeat(1000)
    );
    let bounded = one_event("BILLING.SUBSCRIPTION.PAYMENT.FAILED", &long).await;
    assert_eq!(
        bounded.failure_reason.map(|reason| reason.len()),
        Some(billing::MAX_FAILURE_REASON_CHARS)
    );
}
