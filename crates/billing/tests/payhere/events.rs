//! Every status code and message type as normalized events (insta JSON snapshots), from
//! notifications signed with our own secret, verified, then parsed.

use billing::{BillingProvider, ProviderError};

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
    let bodies = [
        our_body(&order, "1500.00", "LKR", "2", &without_subscription),
        our_body(&order, "1500.00", "LKR", "2", &bad_subscription),
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
