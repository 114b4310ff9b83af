//! Every status code and message type as normalized events (insta JSON snapshots), from
//! notifications signed with our own secret, verified, then parsed.

use billing::{BillingEvent, BillingEventKind, BillingProvider, ParsedWebhook, ProviderError};
use chrono::{DateTime, Utc};

use crate::support::{ORG, our_body, ours, parse, verify};

const SUBSCRIPTION_ID: &str = "420075032251";
const PAYMENT_ID: &str = "320025023469";

/// The unsigned fields PayHere adds to a recurring notification.
fn recurring_fields<'a>(message_type: &'a str, custom_1: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("payment_id", PAYMENT_ID),
        ("custom_1", custom_1),
        ("custom_2", "subscription"),
        ("status_message", "Successfully received the VISA payment"),
        ("method", "VISA"),
        ("card_holder_name", "Saman Kumara"),
        ("card_no", "************4564"),
        ("card_expiry", "12/27"),
        ("recurring", "1"),
        ("message_type", message_type),
        ("item_recurrence", "1 Month"),
        ("item_duration", "Forever"),
        ("item_rec_status", "0"),
        ("item_rec_date_next", "2026-02-01"),
        ("item_rec_install_paid", "1"),
        ("subscription_id", SUBSCRIPTION_ID),
    ]
}

fn one_off_fields(custom_2: &str) -> Vec<(&str, &str)> {
    vec![
        ("payment_id", "320025157750"),
        ("captured_amount", "2500.50"),
        ("custom_1", ORG),
        ("custom_2", custom_2),
        ("status_message", "Successfully received the VISA payment"),
        ("method", "VISA"),
        ("recurring", "0"),
    ]
}

#[tokio::test]
async fn one_off_payments() {
    let top_up = format!("TOPUP-{ORG}.tu42");
    let manual = format!("SUB-{ORG}.manual1");
    let cases = [
        ("top_up_success", top_up.as_str(), "2"),
        ("top_up_pending", &top_up, "0"),
        ("top_up_canceled", &top_up, "-1"),
        ("top_up_failed", &top_up, "-2"),
        ("top_up_charged_back", &top_up, "-3"),
        ("top_up_unknown_status", &top_up, "7"),
        ("subscription_order_manual_payment_success", &manual, "2"),
        ("subscription_order_manual_payment_failed", &manual, "-2"),
        (
            "subscription_order_manual_payment_charged_back",
            &manual,
            "-3",
        ),
        ("foreign_order_success", "ItemNo12345", "2"),
        ("foreign_order_charged_back", "WALLET-TOPUP-42", "-3"),
    ];
    for (name, order_id, status) in cases {
        let body = our_body(order_id, "2500.50", "LKR", status, &one_off_fields("topup"));
        insta::assert_json_snapshot!(format!("one_off__{name}"), parse(&body).await);
    }
}

#[tokio::test]
async fn recurring_notifications() {
    let order = format!("SUB-{ORG}.s1");
    let cases = [
        ("authorization_success", "AUTHORIZATION_SUCCESS", "2"),
        ("authorization_failed", "AUTHORIZATION_FAILED", "-2"),
        (
            "authorization_canceled_by_customer",
            "AUTHORIZATION_FAILED",
            "-1",
        ),
        ("authorization_pending", "AUTHORIZATION_SUCCESS", "0"),
        ("authorization_charged_back", "AUTHORIZATION_SUCCESS", "-3"),
        ("installment_success", "RECURRING_INSTALLMENT_SUCCESS", "2"),
        ("installment_pending", "RECURRING_INSTALLMENT_SUCCESS", "0"),
        ("installment_failed", "RECURRING_INSTALLMENT_FAILED", "-2"),
        (
            "installment_failed_canceled",
            "RECURRING_INSTALLMENT_FAILED",
            "-1",
        ),
        (
            "installment_charged_back",
            "RECURRING_INSTALLMENT_SUCCESS",
            "-3",
        ),
        // The signed status decides over the unsigned message type.
        (
            "installment_success_label_with_failed_status",
            "RECURRING_INSTALLMENT_SUCCESS",
            "-2",
        ),
        (
            "installment_failed_label_with_success_status",
            "RECURRING_INSTALLMENT_FAILED",
            "2",
        ),
        ("stopped", "RECURRING_STOPPED", "-1"),
        ("stopped_with_success_status", "RECURRING_STOPPED", "2"),
        ("complete", "RECURRING_COMPLETE", "2"),
        ("spaced_message_type", "RECURRING INSTALLMENT SUCCESS", "2"),
        (
            "lower_case_message_type",
            "recurring_installment_success",
            "2",
        ),
        ("unknown_message_type", "RECURRING_PAUSED", "2"),
        ("no_message_type", "", "2"),
        ("unknown_status", "RECURRING_INSTALLMENT_SUCCESS", "5"),
    ];
    for (name, message_type, status) in cases {
        let body = our_body(
            &order,
            "1500.00",
            "LKR",
            status,
            &recurring_fields(message_type, ORG),
        );
        insta::assert_json_snapshot!(format!("recurring__{name}"), parse(&body).await);
    }
}

#[tokio::test]
async fn recurring_special_cases() {
    // A subscription started outside our checkout: events, but no organization.
    let foreign = our_body(
        "Order0003",
        "100.00",
        "LKR",
        "2",
        &recurring_fields("RECURRING_INSTALLMENT_SUCCESS", ""),
    );
    insta::assert_json_snapshot!("recurring__foreign_order", parse(&foreign).await);
    // custom_1 naming another organization changes nothing: the signed order id decides.
    let order = format!("SUB-{ORG}.s1");
    let edited = our_body(
        &order,
        "15.00",
        "USD",
        "2",
        &recurring_fields("RECURRING_INSTALLMENT_SUCCESS", "someone-else"),
    );
    insta::assert_json_snapshot!("recurring__usd_with_edited_custom_1", parse(&edited).await);
}

fn events(parsed: ParsedWebhook) -> Vec<BillingEvent> {
    match parsed {
        ParsedWebhook::Events { events } => events,
        ParsedWebhook::Ignored { .. } => panic!("ignored: {parsed:?}"),
    }
}

fn colombo_midnight_of_2026_02_01() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-02-01T00:00:00+05:30")
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_chargeback_names_the_payment_it_takes_back() {
    // One-off: the top-up's credit and its chargeback share payment_id, so the ledger debits
    // the payment it credited.
    let top_up = format!("TOPUP-{ORG}.tu9");
    let fields = one_off_fields("topup");
    let credit = events(parse(&our_body(&top_up, "2500.50", "LKR", "2", &fields)).await);
    let debit = events(parse(&our_body(&top_up, "2500.50", "LKR", "-3", &fields)).await);
    assert_eq!(credit[0].kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(debit[0].kind, BillingEventKind::Chargeback);
    assert_eq!(credit[0].payment_reference.as_deref(), Some("320025157750"));
    assert_eq!(debit[0].payment_reference, credit[0].payment_reference);
    assert_ne!(debit[0].provider_event_id, credit[0].provider_event_id);
    // Recurring: the same for an installment, and the chargeback extends no period.
    let order = format!("SUB-{ORG}.s1");
    let paid = events(
        parse(&our_body(
            &order,
            "1500.00",
            "LKR",
            "2",
            &recurring_fields("RECURRING_INSTALLMENT_SUCCESS", ORG),
        ))
        .await,
    );
    let charged_back = events(
        parse(&our_body(
            &order,
            "1500.00",
            "LKR",
            "-3",
            &recurring_fields("RECURRING_INSTALLMENT_SUCCESS", ORG),
        ))
        .await,
    );
    assert_eq!(paid[0].payment_reference.as_deref(), Some(PAYMENT_ID));
    assert_eq!(charged_back[0].payment_reference, paid[0].payment_reference);
    assert_eq!(paid[0].period_end, Some(colombo_midnight_of_2026_02_01()));
    assert_eq!(charged_back[0].period_end, None);
}

#[tokio::test]
async fn an_unreadable_next_billing_date_is_no_period_end_never_an_error() {
    let order = format!("SUB-{ORG}.s1");
    for date in [
        "",
        "2026-02-30",
        "01/02/2026",
        "2026-2-1",
        "next month",
        "2026-02-01T00:00",
    ] {
        let mut fields = recurring_fields("AUTHORIZATION_SUCCESS", ORG);
        fields.retain(|(name, _)| *name != "item_rec_date_next");
        fields.push(("item_rec_date_next", date));
        let parsed = events(parse(&our_body(&order, "1500.00", "LKR", "2", &fields)).await);
        assert_eq!(parsed.len(), 2, "{date}");
        for event in &parsed {
            assert_eq!(event.period_end, None, "{date}");
            assert_eq!(
                event.payment_reference.as_deref(),
                Some(PAYMENT_ID),
                "{date}"
            );
        }
    }
    // Absent altogether: the same.
    let mut fields = recurring_fields("RECURRING_INSTALLMENT_SUCCESS", ORG);
    fields.retain(|(name, _)| *name != "item_rec_date_next");
    let parsed = events(parse(&our_body(&order, "1500.00", "LKR", "2", &fields)).await);
    assert_eq!(parsed[0].kind, BillingEventKind::PaymentSucceeded);
    assert_eq!(parsed[0].period_end, None);
}

#[tokio::test]
async fn a_one_off_payment_carries_no_period_end_even_with_a_next_date() {
    let order = format!("SUB-{ORG}.manual2");
    let mut fields = one_off_fields("subscription");
    fields.push(("item_rec_date_next", "2026-02-01"));
    let parsed = events(parse(&our_body(&order, "2500.50", "LKR", "2", &fields)).await);
    assert_eq!(parsed[0].kind, BillingEventKind::PaymentSucceeded);
    assert_eq!(parsed[0].period_end, None);
    // Without payment_id (PayHere always sends one): no reference, still the payment.
    let parsed = events(
        parse(&our_body(
            &order,
            "2500.50",
            "LKR",
            "2",
            &[("custom_1", ORG), ("recurring", "0")],
        ))
        .await,
    );
    assert_eq!(parsed[0].payment_reference, None);
}

#[tokio::test]
async fn what_cannot_be_read_is_a_decode_error_after_verification() {
    let provider = ours();
    let order = format!("SUB-{ORG}.s1");
    let without_subscription: Vec<(&str, &str)> =
        recurring_fields("RECURRING_INSTALLMENT_SUCCESS", ORG)
            .into_iter()
            .filter(|(name, _)| *name != "subscription_id")
            .collect();
    let mut bad_subscription = recurring_fields("RECURRING_INSTALLMENT_SUCCESS", ORG);
    bad_subscription.retain(|(name, _)| *name != "subscription_id");
    bad_subscription.push(("subscription_id", "42/../1"));
    // payment_id is the ledger's payment key, in one-off payments too: digits only.
    let mut bad_payment = one_off_fields("topup");
    bad_payment.retain(|(name, _)| *name != "payment_id");
    bad_payment.push(("payment_id", "320025157750#x"));
    let top_up = format!("TOPUP-{ORG}.tu3");
    let bodies = [
        our_body(&order, "1500.00", "LKR", "2", &without_subscription),
        our_body(&order, "1500.00", "LKR", "2", &bad_subscription),
        our_body(&top_up, "1500.00", "LKR", "2", &bad_payment),
        // Signed, but not money we can hold: an unknown currency, and decimals JPY lacks.
        our_body(&order, "1500.00", "XYZ", "2", &[]),
        our_body(&order, "1500.00", "JPY", "2", &[]),
    ];
    for body in bodies {
        let verified = verify(&provider, &body).await.unwrap();
        let error = provider.parse_webhook(&verified).unwrap_err();
        assert!(matches!(error, ProviderError::Decode { .. }), "{error:?}");
    }
}

/// The testkit's independent PayHere signer: its `md5sig` is billing's, and its notification
/// verifies and parses; every event names the signed order id, a failure PayHere's message.
#[tokio::test]
async fn testkit_notifications_verify_and_carry_the_order_and_the_failure() {
    use testkit::signing::{PayHereNotification, payhere_md5sig};

    let order_id = format!("SUB-{ORG}.s1");
    assert_eq!(
        payhere_md5sig(
            crate::support::MERCHANT_ID,
            &order_id,
            "15.00",
            "USD",
            "-2",
            crate::support::SECRET
        ),
        billing::payhere::signature::notification_md5sig(
            crate::support::MERCHANT_ID,
            &order_id,
            "15.00",
            "USD",
            "-2",
            &secrecy::SecretString::from(crate::support::SECRET),
        )
    );
    let notification = |status: &str, message: &str| {
        PayHereNotification::new(
            crate::support::MERCHANT_ID,
            crate::support::SECRET,
            &order_id,
            "15.00",
            "USD",
            status,
        )
        .field("payment_id", PAYMENT_ID)
        .field("status_message", message)
        .field("recurring", "1")
        .field("message_type", "RECURRING_INSTALLMENT_FAILED")
        .field("subscription_id", SUBSCRIPTION_ID)
        .field("item_rec_date_next", "2026-02-01")
        .body()
    };
    let ParsedWebhook::Events { events } =
        parse(&notification("-2", " Insufficient\tfunds \n")).await
    else {
        panic!("not parsed");
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, BillingEventKind::PaymentFailed);
    assert_eq!(
        events[0].failure_reason.as_deref(),
        Some("Insufficient funds")
    );
    assert_eq!(
        events[0].order_reference.as_deref(),
        Some(order_id.as_str())
    );
    assert_eq!(events[0].subscription_status, None);
    assert_eq!(events[0].trial_end, None);

    // A success carries the order id but no failure reason, whatever the message says.
    let ParsedWebhook::Events { events } = parse(&notification("2", "Declined?")).await else {
        panic!("not parsed");
    };
    assert_eq!(events[0].kind, BillingEventKind::PaymentSucceeded);
    assert_eq!(events[0].failure_reason, None);
    assert_eq!(
        events[0].order_reference.as_deref(),
        Some(order_id.as_str())
    );

    // A chargeback stays a chargeback (money already taken back), never a dispute.
    let ParsedWebhook::Events { events } = parse(&notification("-3", "Charged back")).await else {
        panic!("not parsed");
    };
    assert_eq!(events[0].kind, BillingEventKind::Chargeback);

    // Signed with another secret: refused by billing.
    let forged = PayHereNotification::new(
        crate::support::MERCHANT_ID,
        "not-our-secret",
        &order_id,
        "15.00",
        "USD",
        "2",
    )
    .body();
    assert_eq!(
        verify(&ours(), &forged).await.unwrap_err(),
        billing::VerifyError::BadSignature
    );
}
