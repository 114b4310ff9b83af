//! What each kind of notification says, with full facts and with none.

use notifications::{Notification, NotificationKind, render};
use primitives::OrganizationId;
use serde_json::{Value, json};

fn rendered(kind: NotificationKind, payload: Value) -> notifications::Email {
    let notification = Notification {
        kind,
        organization_id: OrganizationId::new(),
        payload,
    };
    render(&notification, "Acme Ltd")
}

fn facts() -> Value {
    json!({
        "amount": "49.00 USD",
        "reason": "card declined",
        "attempt": 2,
        "next_attempt": 3,
        "next_step_at": "2026-11-25T14:00:00Z",
        "period_end": "2026-12-01T00:00:00+02:00",
        "trial_end": "2026-11-30T09:30:00Z",
        "subscription_id": "0190f3c2-0000-7000-8000-000000000001",
        "payment_reference": "ch_3NaB7x",
        "provider": "stripe",
        "shortfall": "5.00 USD",
        "plan": "pro",
    })
}

#[test]
fn payment_failed_says_what_failed_when_the_next_retry_is_and_what_to_do() {
    let email = rendered(NotificationKind::PaymentFailed, facts());
    assert_eq!(email.subject, "Payment failed for Acme Ltd");
    assert_eq!(
        email.text,
        "Hello,

We could not collect the payment of 49.00 USD for the Acme Ltd
subscription (reason: card declined).

We will try the payment again on 2026-11-25 14:00 UTC (attempt 3).

Please update your payment method or pay the outstanding amount as soon
as possible.

Organization: Acme Ltd
Subscription: 0190f3c2-0000-7000-8000-000000000001

This is an automatic message about your account's billing.
"
    );
}

#[test]
fn every_kind_has_its_own_subject_and_specific_sentences() {
    let expectations: [(NotificationKind, &str, &[&str]); 15] = [
        (
            NotificationKind::PaymentFailed,
            "Payment failed for Acme Ltd",
            &[
                "could not collect the payment of 49.00 USD",
                "2026-11-25 14:00 UTC",
            ],
        ),
        (
            NotificationKind::RetryScheduled,
            "Next payment attempt for Acme Ltd",
            &[
                "still outstanding (reason: card declined)",
                "on 2026-11-25 14:00 UTC (attempt 3)",
            ],
        ),
        (
            NotificationKind::PaymentWarning,
            "Action needed: the payment for Acme Ltd is overdue",
            &["will be suspended", "2026-11-25 14:00 UTC"],
        ),
        (
            NotificationKind::FinalWarning,
            "Final notice: sending for Acme Ltd will be suspended",
            &[
                "If no payment succeeds by 2026-11-25 14:00 UTC",
                "will be suspended until",
            ],
        ),
        (
            NotificationKind::Suspended,
            "Sending is suspended for Acme Ltd",
            &[
                "is now blocked",
                "paid manually",
                "update your payment method",
            ],
        ),
        (
            NotificationKind::Restored,
            "Access restored for Acme Ltd",
            &[
                "received the payment of 49.00 USD",
                "Access is back",
                "resume by themselves",
            ],
        ),
        (
            NotificationKind::TrialEnding,
            "The trial for Acme Ltd ends soon",
            &["ends on 2026-11-30 09:30 UTC", "Add a payment method"],
        ),
        (
            NotificationKind::TrialEnded,
            "The trial for Acme Ltd has ended",
            &["has ended", "Add a payment method"],
        ),
        (
            NotificationKind::CancellationScheduled,
            "The subscription for Acme Ltd will end",
            // Shown in UTC whatever offset the fact carries.
            &["will end on 2026-11-30 22:00 UTC", "keeps working"],
        ),
        (
            NotificationKind::Canceled,
            "The subscription for Acme Ltd has been canceled",
            &["has been canceled", "no longer available"],
        ),
        (
            NotificationKind::Expired,
            "The subscription for Acme Ltd has expired",
            &["has expired", "no longer available"],
        ),
        (
            NotificationKind::DisputeOpened,
            "A payment for Acme Ltd is disputed",
            &[
                "payment of 49.00 USD for Acme Ltd made through Stripe (reference ch_3NaB7x)",
                "has been disputed (reason: card declined)",
                "wallet is frozen",
            ],
        ),
        (
            NotificationKind::DisputeWon,
            "The payment dispute for Acme Ltd is resolved",
            &[
                "dispute over a payment of 49.00 USD",
                "(reference ch_3NaB7x)",
                "in our favour",
                "freeze placed on the Acme Ltd wallet for the review has been lifted",
            ],
        ),
        (
            NotificationKind::DisputeLost,
            "A disputed payment for Acme Ltd was taken back",
            &[
                "dispute over a payment of 49.00 USD",
                "taken back from the Acme Ltd wallet",
                "could not cover 5.00 USD of it, so it has been frozen",
            ],
        ),
        (
            NotificationKind::PaymentReversed,
            "A payment for Acme Ltd was reversed",
            &[
                "made through Stripe (reference ch_3NaB7x) was reversed",
                "taken back from the Acme Ltd wallet",
                "could not cover 5.00 USD of it, so it has been frozen",
            ],
        ),
    ];
    let mut subjects = Vec::new();
    for (kind, subject, sentences) in expectations {
        let email = rendered(kind, facts());
        assert_eq!(email.subject, subject, "{kind}");
        let unwrapped = email.text.replace('\n', " ");
        for sentence in sentences {
            assert!(
                unwrapped.contains(sentence),
                "{kind}: {sentence:?} missing from\n{}",
                email.text
            );
        }
        assert!(email.text.starts_with("Hello,\n\n"), "{kind}");
        assert!(email.text.contains("Organization: Acme Ltd\n"), "{kind}");
        assert!(
            email.text.lines().all(|line| line.chars().count() <= 72),
            "{kind}"
        );
        subjects.push(email.subject);
    }
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), NotificationKind::ALL.len());
}

#[test]
fn missing_or_malformed_facts_leave_their_sentence_out() {
    let odd = json!({
        "amount": {"nested": true},
        "reason": "",
        "next_attempt": -1,
        "next_step_at": 12,
        "period_end": null,
        "subscription_id": ["x"],
        "payment_reference": null,
        "provider": {"name": "stripe"},
        "shortfall": [5],
    });
    for payload in [
        json!({}),
        Value::Null,
        json!("not an object"),
        json!([1, 2]),
        odd,
    ] {
        for kind in NotificationKind::ALL {
            let email = rendered(kind, payload.clone());
            for leak in ["{", "}", "[", "null", "None", " of .", "()", "  ", " ."] {
                assert!(
                    !email.text.contains(leak) && !email.subject.contains(leak),
                    "{kind} with {payload}: {leak:?} in\n{}",
                    email.text
                );
            }
            assert!(!email.text.contains("Subscription:"), "{kind}");
            assert!(
                !email.text.contains("could not cover") && !email.text.contains("reference"),
                "{kind}"
            );
        }
    }
    let failed = rendered(NotificationKind::PaymentFailed, json!({}));
    assert!(
        failed
            .text
            .contains("We will try the payment again automatically.")
    );
    let unparsable_time = rendered(
        NotificationKind::TrialEnding,
        json!({ "trial_end": "next Tuesday" }),
    );
    assert!(unparsable_time.text.contains("ends on next Tuesday."));
    let numeric = rendered(
        NotificationKind::Restored,
        json!({ "amount": 12.5, "currency": "EUR" }),
    );
    assert!(numeric.text.contains("payment of 12.5 EUR"));
}

#[test]
fn injected_control_characters_never_reach_the_email() {
    let email = rendered(
        NotificationKind::PaymentFailed,
        json!({ "reason": "declined\r\nBcc: victim@example.com", "amount": "1.00 USD\u{7}" }),
    );
    assert!(!email.text.contains('\r') && !email.text.contains('\u{7}'));
    assert!(!email.text.contains("\nBcc:"));
    let long = rendered(
        NotificationKind::PaymentFailed,
        json!({ "reason": "x".repeat(10_000) }),
    );
    assert!(long.text.len() < 1_000);
}

#[test]
fn a_payment_reversed_in_full_says_what_was_taken_back_and_from_where() {
    let email = rendered(
        NotificationKind::PaymentReversed,
        json!({
            "amount": "49.00 USD",
            "payment_reference": "5TY05013RG002845M",
            "provider": "paypal",
            "reason": "refund",
        }),
    );
    assert_eq!(email.subject, "A payment for Acme Ltd was reversed");
    assert_eq!(
        email.text,
        "Hello,

A payment of 49.00 USD for Acme Ltd made through PayPal (reference
5TY05013RG002845M) was reversed (reason: refund), so the amount has been
taken back from the Acme Ltd wallet.

The entry is in the wallet's history.

Organization: Acme Ltd

This is an automatic message about your account's billing.
"
    );
}

#[test]
fn a_lost_dispute_the_wallet_could_not_cover_says_it_is_frozen_and_for_how_much() {
    let email = rendered(
        NotificationKind::DisputeLost,
        json!({
            "amount": 4900,
            "shortfall": 1250,
            "currency": "LKR",
            "payment_reference": "320025",
            "provider": "payhere",
        }),
    );
    assert_eq!(
        email.text,
        "Hello,

The dispute over a payment of 4900 LKR for Acme Ltd made through PayHere
(reference 320025) was resolved in the payer's favour, so the amount has
been taken back from the Acme Ltd wallet.

The wallet could not cover 1250 LKR of it, so it has been frozen:
messages and campaigns paid from the wallet cannot be sent until the
outstanding 1250 LKR is settled. Please contact us to settle it.

Organization: Acme Ltd

This is an automatic message about your account's billing.
"
    );
}

#[test]
fn a_zero_shortfall_is_no_shortfall_and_unknown_providers_show_as_named() {
    for shortfall in [json!("0.00 USD"), json!(0), json!("0"), json!("")] {
        for kind in [
            NotificationKind::DisputeLost,
            NotificationKind::PaymentReversed,
        ] {
            let email = rendered(
                kind,
                json!({ "amount": "1.00 USD", "shortfall": shortfall.clone() }),
            );
            assert!(
                !email.text.contains("could not cover"),
                "{kind} {shortfall}"
            );
            assert!(email.text.contains("in the wallet's history"), "{kind}");
        }
    }
    let email = rendered(
        NotificationKind::PaymentReversed,
        json!({ "shortfall": "0.01 USD", "provider": "Adyen" }),
    );
    let unwrapped = email.text.replace('\n', " ");
    assert!(unwrapped.contains(
        "A payment for Acme Ltd made through Adyen was reversed (a refund or a chargeback)"
    ));
    assert!(unwrapped.contains("could not cover 0.01 USD of it"));
}

#[test]
fn dispute_notices_without_facts_still_say_what_happened() {
    let opened = rendered(NotificationKind::DisputeOpened, json!({}));
    let unwrapped = opened.text.replace('\n', " ");
    assert!(unwrapped.contains("A payment for Acme Ltd has been disputed."));
    assert!(unwrapped.contains("the Acme Ltd wallet is frozen"));
    let won = rendered(NotificationKind::DisputeWon, json!({}));
    let unwrapped = won.text.replace('\n', " ");
    assert!(
        unwrapped.contains("The dispute over a payment for Acme Ltd was resolved in our favour")
    );
    assert!(unwrapped.contains("has been lifted"));
}
