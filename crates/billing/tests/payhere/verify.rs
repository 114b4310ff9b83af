//! Verification beyond the published vectors: notifications signed here with a merchant secret
//! of our own, and what md5sig does and does not cover.

use billing::payhere::signature::notification_md5sig;
use billing::{BillingProvider, ParsedWebhook, VerifyError};
use secrecy::SecretString;

use crate::support::{
    MERCHANT_ID, ORG, SECRET, decode, encode, our_body, ours, parse, provider, signed_body, verify,
};

fn events(parsed: &ParsedWebhook) -> &[billing::BillingEvent] {
    match parsed {
        ParsedWebhook::Events { events } => events,
        ParsedWebhook::Ignored { .. } => panic!("ignored: {parsed:?}"),
    }
}

#[tokio::test]
async fn fresh_notifications_signed_with_our_secret_verify() {
    let provider = ours();
    let order = format!("TOPUP-{ORG}.tu1");
    for status in ["2", "0", "-1", "-2", "-3"] {
        for (amount, currency) in [
            ("0.01", "LKR"),
            ("15.00", "USD"),
            ("123456789.99", "LKR"),
            ("10.50", "EUR"),
        ] {
            let body = our_body(
                &order,
                amount,
                currency,
                status,
                &[("payment_id", "320025157750")],
            );
            let verified = verify(&provider, &body).await.unwrap();
            assert_eq!(verified.body(), &body[..]);
            provider.parse_webhook(&verified).unwrap();
        }
    }
}

#[tokio::test]
async fn every_byte_of_the_signed_part_is_protected() {
    let provider = ours();
    let body = our_body(&format!("SUB-{ORG}.n1"), "2500.50", "LKR", "2", &[]);
    verify(&provider, &body).await.unwrap();
    for position in 0..body.len() {
        for mask in [0x01u8, 0x02, 0x20] {
            let mut tampered = body.clone();
            tampered[position] ^= mask;
            let outcome = verify(&provider, &tampered).await;
            assert!(
                matches!(
                    outcome,
                    Err(VerifyError::BadSignature | VerifyError::MalformedBody(_))
                ),
                "byte {position} ^ {mask:#x}: {:?} -> {outcome:?}",
                String::from_utf8_lossy(&tampered)
            );
        }
    }
}

#[tokio::test]
async fn unsigned_fields_are_not_covered_and_never_decide_organization_or_purpose() {
    let order = format!("SUB-{ORG}.n1");
    let genuine = our_body(
        &order,
        "15.00",
        "USD",
        "2",
        &[("custom_1", ORG), ("custom_2", "subscription")],
    );
    // Whoever edits custom_1/custom_2 (the customer can, in the checkout form) keeps a valid
    // md5sig: PayHere does not sign them.
    let forged = our_body(
        &order,
        "15.00",
        "USD",
        "2",
        &[("custom_1", "another-organization"), ("custom_2", "topup")],
    );
    let genuine = parse(&genuine).await;
    let forged = parse(&forged).await;
    assert_eq!(genuine, forged);
    let event = &events(&forged)[0];
    assert_eq!(event.organization_ref.as_deref(), Some(ORG));
    assert_eq!(event.kind, billing::BillingEventKind::PaymentSucceeded);
}

#[tokio::test]
async fn a_replayed_one_off_payment_with_altered_unsigned_fields_is_the_same_event() {
    let order = format!("TOPUP-{ORG}.tu7");
    let first = parse(&our_body(
        &order,
        "2500.50",
        "LKR",
        "2",
        &[("payment_id", "320025157750")],
    ))
    .await;
    let replay = parse(&our_body(
        &order,
        "2500.50",
        "LKR",
        "2",
        &[("payment_id", "320025157751"), ("status_message", "again")],
    ))
    .await;
    // Same id: the ledger applies the credit once (G3).
    assert_eq!(
        events(&first)[0].provider_event_id,
        events(&replay)[0].provider_event_id
    );
    let chargeback = parse(&our_body(&order, "2500.50", "LKR", "-3", &[])).await;
    assert_ne!(
        events(&first)[0].provider_event_id,
        events(&chargeback)[0].provider_event_id
    );
}

#[tokio::test]
async fn reordered_or_differently_encoded_fields_are_the_same_notification() {
    let provider = ours();
    let order = format!("TOPUP-{ORG}.tu2");
    let body = our_body(
        &order,
        "1000.00",
        "LKR",
        "2",
        &[("status_message", "Successfully received")],
    );
    let original = parse(&body).await;
    let mut fields = decode(&body);
    fields.reverse();
    let reordered = encode(&fields);
    // Every byte percent-encoded, spaces as %20 instead of '+'.
    let reencoded: String = decode(&body)
        .iter()
        .map(|(name, value)| {
            let value: String = value.bytes().map(|b| format!("%{b:02x}")).collect();
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join("&");
    for variant in [reordered, reencoded.into_bytes()] {
        let verified = verify(&provider, &variant).await.unwrap();
        assert_eq!(provider.parse_webhook(&verified).unwrap(), original);
    }
}

#[tokio::test]
async fn a_lowercase_md5sig_of_the_right_digest_is_refused() {
    let body = our_body("ItemNo1", "1.00", "LKR", "2", &[]);
    let mut fields = decode(&body);
    for (name, value) in &mut fields {
        if name == "md5sig" {
            *value = value.to_ascii_lowercase();
        }
    }
    assert_eq!(
        verify(&ours(), &encode(&fields)).await.unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn any_configured_merchant_secret_verifies() {
    // PayHere issues one merchant secret per domain or app; a notification is signed with the
    // secret of the app that started the checkout.
    let provider = provider(MERCHANT_ID, &["web-app-secret", SECRET]);
    for secret in ["web-app-secret", SECRET] {
        let body = signed_body(MERCHANT_ID, secret, "ItemNo1", "1.00", "LKR", "2", &[]);
        verify(&provider, &body).await.unwrap();
    }
    let body = signed_body(
        MERCHANT_ID,
        "third-secret",
        "ItemNo1",
        "1.00",
        "LKR",
        "2",
        &[],
    );
    assert_eq!(
        verify(&provider, &body).await.unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn refusals_are_typed_and_name_no_secret() {
    let provider = ours();
    let sig = |amount: &str, status: &str| {
        notification_md5sig(
            MERCHANT_ID,
            "ItemNo1",
            amount,
            "LKR",
            status,
            &SecretString::from(SECRET),
        )
    };
    let cases: Vec<(Vec<(&str, String)>, VerifyError)> = vec![
        (
            vec![
                ("merchant_id", MERCHANT_ID.into()),
                ("order_id", "ItemNo1".into()),
            ],
            VerifyError::MalformedBody("missing md5sig"),
        ),
        (
            vec![
                ("merchant_id", MERCHANT_ID.into()),
                ("order_id", "ItemNo1".into()),
                ("payhere_amount", "+1.00".into()),
                ("payhere_currency", "LKR".into()),
                ("status_code", "2".into()),
                ("md5sig", sig("+1.00", "2")),
            ],
            VerifyError::MalformedBody("payhere_amount is not digits with exactly two decimals"),
        ),
        (
            vec![
                ("merchant_id", MERCHANT_ID.into()),
                ("order_id", "ItemNo1".into()),
                ("payhere_amount", "1.00".into()),
                ("payhere_currency", "LKR".into()),
                ("status_code", "02".into()),
                ("md5sig", sig("1.00", "2")),
            ],
            VerifyError::BadSignature,
        ),
    ];
    for (fields, expected) in cases {
        let error = verify(&provider, &encode(&fields)).await.unwrap_err();
        assert_eq!(error, expected, "{fields:?}");
        assert!(!error.to_string().contains(SECRET));
        assert_eq!(
            error.code(),
            match expected {
                VerifyError::BadSignature => "WEBHOOK_BAD_SIGNATURE",
                _ => "WEBHOOK_MALFORMED_BODY",
            }
        );
    }
}

#[tokio::test]
async fn a_relabelled_message_type_is_still_the_same_payment_event() {
    let order = format!("SUB-{ORG}.s1");
    let body = |message_type| {
        our_body(
            &order,
            "1500.00",
            "LKR",
            "2",
            &[
                ("recurring", "1"),
                ("message_type", message_type),
                ("subscription_id", "420075032251"),
                ("payment_id", "320025023469"),
            ],
        )
    };
    let genuine = parse(&body("RECURRING_INSTALLMENT_SUCCESS")).await;
    let genuine_id = &events(&genuine)[0].provider_event_id;
    for relabel in ["RECURRING_INSTALLMENT_FAILED", "AUTHORIZATION_SUCCESS"] {
        let relabelled = parse(&body(relabel)).await;
        let payment = events(&relabelled)
            .iter()
            .find(|event| event.kind == billing::BillingEventKind::PaymentSucceeded)
            .unwrap();
        assert_eq!(&payment.provider_event_id, genuine_id, "{relabel}");
    }
}
