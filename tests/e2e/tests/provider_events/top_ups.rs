//! A wallet top-up credits once, however many times and through however many event types its
//! completion arrives; a partial refund takes back its own amount once, however often it is
//! delivered.

use chrono::Utc;
use e2e::{
    Stack, StackOptions,
    events::{payhere, paypal, stripe},
    stack::{stored, text},
};
use serde_json::Value;

use crate::entries_of;

fn owned(entries: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|(a, r, c)| ((*a).to_owned(), (*r).to_owned(), (*c).to_owned()))
        .collect()
}

/// A first delivery: stored anew and applied.
fn assert_applied(answer: &Value) {
    assert_eq!(answer["duplicate"], false, "{answer}");
    assert_eq!(answer["status"], "applied", "{answer}");
}

/// The provider sent this very delivery before: the stored row, unchanged.
fn assert_repeat(answer: &Value, first: &Value) {
    assert_eq!(answer["duplicate"], true, "{answer}");
    assert_eq!(answer["inbox_id"], first["inbox_id"], "{answer}");
    assert_eq!(answer["status"], "applied", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_top_up_credits_once_and_each_partial_refund_debits_once() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Top-up Stripe", "USD").await;
    let now = Utc::now().timestamp();
    let payment_intent = "pi_3R8pH9LkdIwHu7ixE2eTopUp1";
    let session = stripe::top_up_session(
        "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoE2eTopUp1",
        &org.id,
        payment_intent,
        2500,
        "usd",
    );
    let completed = stripe::checkout(
        "evt_1R8pI0LkdIwHu7ixE2eDone1",
        "checkout.session.completed",
        now,
        session.clone(),
    );
    let async_succeeded = stripe::checkout(
        "evt_1R8rK2LkdIwHu7ixE2eAsync1",
        "checkout.session.async_payment_succeeded",
        now + 1,
        session,
    );
    let first = stack.stripe(&completed).await;
    assert_applied(&first);
    assert_repeat(&stack.stripe(&completed).await, &first);
    let other_type = stack.stripe(&async_succeeded).await;
    assert_applied(&other_type);
    let delivery = stack.webhook_event(&text(&other_type["inbox_id"])).await;
    assert_eq!(delivery["outcomes"][0]["result"], "duplicate", "{delivery}");
    assert_eq!(stack.wallet(&org).await["balance"], "25.00");
    let credit = (
        "25.00",
        "topup:stripe:pi_3R8pH9LkdIwHu7ixE2eTopUp1",
        "topup:stripe",
    );
    assert_eq!(entries_of(&stack, &org, "credit").await, owned(&[credit]));

    // Two partial refunds of the charge (4.00, then 6.00 more), each delivered twice.
    let charge_id = "ch_3R8pH9LkdIwHu7ixE2eChg01";
    let first_refund = stripe::charge_refunded(
        "evt_3R8pH9LkdIwHu7ixE2eRef01",
        now + 2,
        stripe::top_up_charge(charge_id, &org.id, payment_intent, 2500, 400, "usd"),
        0,
    );
    let second_refund = stripe::charge_refunded(
        "evt_3R8pH9LkdIwHu7ixE2eRef02",
        now + 3,
        stripe::top_up_charge(charge_id, &org.id, payment_intent, 2500, 1000, "usd"),
        400,
    );
    for refund in [&first_refund, &second_refund] {
        let first = stack.stripe(refund).await;
        assert_applied(&first);
        assert_repeat(&stack.stripe(refund).await, &first);
    }
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["balance"], "15.00", "{wallet}");
    assert_eq!(wallet["frozen"], false, "{wallet}");
    assert_eq!(entries_of(&stack, &org, "credit").await, owned(&[credit]));
    assert_eq!(
        entries_of(&stack, &org, "reversal").await,
        owned(&[
            (
                "4.00",
                "refund:stripe:evt_3R8pH9LkdIwHu7ixE2eRef01",
                "topup:stripe"
            ),
            (
                "6.00",
                "refund:stripe:evt_3R8pH9LkdIwHu7ixE2eRef02",
                "topup:stripe"
            ),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_top_up_credits_once_and_a_partial_refund_debits_once() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Top-up PayPal", "USD").await;
    let now = Utc::now();
    let capture_id = "12A34567BC12E2E1S";
    let completed = paypal::capture_completed(
        "WH-58D329510W468E2E1-8HN650336L201105X",
        now,
        capture_id,
        &org.id,
        "30.00",
        "USD",
    );
    // PayPal redelivers the same event (a new transmission of it), and the same capture is
    // reported again under a second event id.
    let resent = paypal::capture_completed(
        "WH-58D329510W468E2E2-8HN650336L201105Y",
        now,
        capture_id,
        &org.id,
        "30.00",
        "USD",
    );
    let first = stack.paypal(&completed).await;
    assert_applied(&first);
    assert_repeat(&stack.paypal(&completed).await, &first);
    let again = stack.paypal(&resent).await;
    assert_applied(&again);
    let delivery = stack.webhook_event(&text(&again["inbox_id"])).await;
    assert_eq!(delivery["outcomes"][0]["result"], "duplicate", "{delivery}");
    let credit = ("30.00", "topup:paypal:12A34567BC12E2E1S", "topup:paypal");
    assert_eq!(entries_of(&stack, &org, "credit").await, owned(&[credit]));

    let refunded = paypal::capture_refunded(
        "WH-1GE84257G0350E2E1-6RW800890C634293G",
        now + chrono::Duration::seconds(1),
        "1Y107995YT783E2E1",
        capture_id,
        "10.00",
        "10.00",
        "USD",
    );
    let first = stack.paypal(&refunded).await;
    assert_applied(&first);
    assert_repeat(&stack.paypal(&refunded).await, &first);
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["balance"], "20.00", "{wallet}");
    assert_eq!(entries_of(&stack, &org, "credit").await, owned(&[credit]));
    assert_eq!(
        entries_of(&stack, &org, "reversal").await,
        owned(&[(
            "10.00",
            "refund:paypal:WH-1GE84257G0350E2E1-6RW800890C634293G",
            "topup:paypal"
        )])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payhere_top_up_credits_once() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Top-up PayHere", "LKR").await;
    let order = payhere::top_up_order(&org.id, "e2e1");
    let notification = payhere::one_off(
        &stack.keys.payhere,
        &order,
        "320025071290",
        "2500.00",
        "LKR",
        "2",
    );
    let first = stack.payhere(&notification).await;
    assert_applied(&first);
    assert_repeat(&stack.payhere(&notification).await, &first);
    // PayHere sends the notification again with an unsigned field changed: the same payment.
    let edited = payhere::edited(
        &notification,
        "status_message",
        Some("Successfully completed the payment (resent)."),
    );
    assert_repeat(&stored(stack.send_payhere(edited).await).await, &first);
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["balance"], "2500.00", "{wallet}");
    assert_eq!(
        entries_of(&stack, &org, "credit").await,
        owned(&[("2500.00", "topup:payhere:320025071290", "topup:payhere")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_deliveries_of_one_top_up_credit_once() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Racing", "USD").await;
    let now = Utc::now().timestamp();
    let payment_intent = "pi_3R8pH9LkdIwHu7ixE2eRace1";
    let session = stripe::top_up_session(
        "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoE2eRace1",
        &org.id,
        payment_intent,
        4000,
        "usd",
    );
    let completed = stripe::checkout(
        "evt_1R8pI0LkdIwHu7ixE2eRace1",
        "checkout.session.completed",
        now,
        session.clone(),
    );
    let async_succeeded = stripe::checkout(
        "evt_1R8rK2LkdIwHu7ixE2eRace2",
        "checkout.session.async_payment_succeeded",
        now + 1,
        session,
    );
    // Stripe's retries overlapping: three of each event at once.
    let deliveries = [
        &completed,
        &async_succeeded,
        &completed,
        &async_succeeded,
        &completed,
        &async_succeeded,
    ]
    .map(|event| stack.stripe(event));
    let answers = futures_join_all(deliveries).await;
    for event_id in [
        "evt_1R8pI0LkdIwHu7ixE2eRace1",
        "evt_1R8rK2LkdIwHu7ixE2eRace2",
    ] {
        let rows = stack
            .webhook_events(&format!("organization_id={}", org.id))
            .await
            .into_iter()
            .filter(|row| row["delivery_id"] == event_id)
            .count();
        assert_eq!(rows, 1, "{event_id} stored {rows} times: {answers:?}");
    }
    assert_eq!(
        answers
            .iter()
            .filter(|answer| answer["duplicate"] == false)
            .count(),
        2,
        "{answers:?}"
    );
    e2e::eventually(
        "both deliveries to be applied",
        std::time::Duration::from_secs(30),
        async || {
            let rows = stack
                .webhook_events(&format!("organization_id={}", org.id))
                .await;
            let statuses: Vec<String> = rows.iter().map(|row| text(&row["status"])).collect();
            e2e::poll::holds(statuses == ["applied", "applied"], statuses)
        },
    )
    .await;
    assert_eq!(stack.wallet(&org).await["balance"], "40.00");
    assert_eq!(
        entries_of(&stack, &org, "credit").await,
        owned(&[(
            "40.00",
            "topup:stripe:pi_3R8pH9LkdIwHu7ixE2eRace1",
            "topup:stripe"
        )])
    );
}

/// Awaits every future concurrently, answers in order.
async fn futures_join_all<F: std::future::Future>(futures: [F; 6]) -> Vec<F::Output> {
    let [a, b, c, d, e, f] = futures;
    let (a, b, c, d, e, f) = tokio::join!(a, b, c, d, e, f);
    vec![a, b, c, d, e, f]
}
