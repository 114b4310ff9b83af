//! The inbox across the two binaries: what the receiver stored but could not apply at once is
//! applied later by the api's inbox job (a delivery ahead of its subscription, a provider that
//! could not be asked).

use std::time::Duration;

use chrono::Utc;
use e2e::{
    Stack, StackOptions,
    events::{paypal, stripe::Invoice},
    eventually,
    fakes::paypal::PayPalSubscriptionView,
    poll::holds,
    stack::text,
};

use crate::{time, whole_seconds};

/// The api's inbox job runs every second; a failed attempt is retried after a backoff of at
/// most five seconds.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_ahead_of_its_subscription_is_applied_once_the_subscription_exists() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Early", "USD").await;
    let subscription_id = "sub_E2eEarlyInvoice01";
    let now = Utc::now().timestamp();
    let invoice = Invoice {
        id: "in_E2eEarlyInvoice01".to_owned(),
        subscription: subscription_id.to_owned(),
        organization: org.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: now,
        period_end: now + 30 * 86_400,
        attempt_count: 1,
    };
    // Stripe is faster than the request that records the subscription with us.
    let early = stack
        .stripe(&invoice.paid("evt_E2eEarlyInvoicePaid1", now + 5))
        .await;
    assert_eq!(early["status"], "unmatched", "{early}");
    let inbox_id = text(&early["inbox_id"]);

    stack
        .create_subscription(&org, "stripe", subscription_id)
        .await;
    eventually(
        "the api's inbox job to apply the waiting payment",
        DEADLINE,
        async || {
            let subscription = stack.subscription(&org).await;
            holds(subscription["status"] == "active", subscription)
        },
    )
    .await;
    let subscription = stack.subscription(&org).await;
    assert_eq!(
        time(&subscription["current_period_end"]).timestamp(),
        invoice.period_end
    );
    let delivery = stack.webhook_event(&inbox_id).await;
    assert_eq!(delivery["status"], "applied", "{delivery}");
    assert_eq!(
        delivery["subscription_id"], subscription["id"],
        "{delivery}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_the_receiver_could_not_apply_is_applied_by_the_api_once_paypal_answers() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Outage", "USD").await;
    let subscription_id = "I-E2EOUTAGE000001";
    stack
        .create_subscription(&org, "paypal", subscription_id)
        .await;
    let start = whole_seconds(Utc::now());
    let at = |secs: i64| start + chrono::Duration::seconds(secs);
    let mut view = PayPalSubscriptionView {
        id: subscription_id.to_owned(),
        status: "ACTIVE".to_owned(),
        custom_id: org.id.clone(),
        outstanding: "0.00".to_owned(),
        currency: "USD".to_owned(),
        next_billing_time: Some(at(30 * 86_400)),
        failed_payments_count: 0,
        updated_at: at(1),
    };
    for (event_id, kind, secs) in [
        ("WH-E2E4ACTIVATED00001", "ACTIVATED", 1),
        ("WH-E2E4SUSPENDED00001", "SUSPENDED", 2),
    ] {
        view.status = if kind == "ACTIVATED" {
            "ACTIVE"
        } else {
            "SUSPENDED"
        }
        .to_owned();
        view.updated_at = at(secs);
        let answer = stack
            .paypal(&paypal::subscription_event(event_id, kind, at(secs), &view))
            .await;
        assert_eq!(answer["status"], "applied", "{answer}");
    }

    // The sale needs PayPal's view of the period it pays for, and PayPal is down: the delivery
    // is stored (PayPal must not send it again) and waits.
    stack.paypal.set_down(true);
    let sale = stack
        .paypal(&paypal::sale_completed(
            "WH-E2E4SALECOMPLETED1",
            at(3),
            "5O190127TN364E2E4",
            subscription_id,
            &org.id,
            "29.00",
            "USD",
        ))
        .await;
    assert_eq!(sale["status"], "failed", "{sale}");
    let inbox_id = text(&sale["inbox_id"]);
    let delivery = stack.webhook_event(&inbox_id).await;
    assert_eq!(delivery["status"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    assert!(!delivery["last_error"].is_null(), "{delivery}");
    assert_eq!(stack.subscription(&org).await["status"], "suspended");
    assert_eq!(stack.wallet(&org).await["frozen"], true);

    // PayPal is back: the api's inbox job applies it.
    let paid_until = at(60 * 86_400);
    view.status = "ACTIVE".to_owned();
    view.next_billing_time = Some(paid_until);
    view.updated_at = at(3);
    stack.paypal.set_subscription(&view);
    stack.paypal.set_down(false);
    eventually("the api to apply the stored sale", DEADLINE, async || {
        let delivery = stack.webhook_event(&inbox_id).await;
        holds(delivery["status"] == "applied", delivery)
    })
    .await;
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(time(&subscription["current_period_end"]), paid_until);
    assert_eq!(stack.wallet(&org).await["frozen"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_that_still_waits_is_answered_with_its_status() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Waiting", "USD").await;
    let now = Utc::now().timestamp();
    // A refund of a top-up whose completion has not arrived: it waits for the credit.
    let refund = e2e::events::stripe::charge_refunded(
        "evt_E2eWaitingRefund01",
        now,
        e2e::events::stripe::top_up_charge(
            "ch_E2eWaitingCharge01",
            &org.id,
            "pi_E2eWaitingTopUp01",
            2500,
            400,
            "usd",
        ),
        0,
    );
    let first = stack.stripe(&refund).await;
    assert_eq!(first["status"], "unmatched", "{first}");
    let again = stack.stripe(&refund).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let stored = stack.webhook_event(&text(&first["inbox_id"])).await;
    assert_eq!(stored["status"], "unmatched", "{stored}");
    assert_eq!(
        again["status"], stored["status"],
        "the answer to the repeat names a status the delivery is not in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_of_a_waiting_refund_applies_it_once_its_top_up_is_credited() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Refund First", "USD").await;
    let now = Utc::now().timestamp();
    let payment_intent = "pi_E2eRefundFirstTopUp1";
    let refund = e2e::events::stripe::charge_refunded(
        "evt_E2eRefundFirstRefund1",
        now + 1,
        e2e::events::stripe::top_up_charge(
            "ch_E2eRefundFirstCharge1",
            &org.id,
            payment_intent,
            2500,
            400,
            "usd",
        ),
        0,
    );
    let completed = e2e::events::stripe::checkout(
        "evt_E2eRefundFirstTopUp1",
        "checkout.session.completed",
        now,
        e2e::events::stripe::top_up_session(
            "cs_test_E2eRefundFirstSession1",
            &org.id,
            payment_intent,
            2500,
            "usd",
        ),
    );
    // The refund overtakes the top-up: it waits for the credit.
    let early = stack.stripe(&refund).await;
    assert_eq!(early["status"], "unmatched", "{early}");
    let credited = stack.stripe(&completed).await;
    assert_eq!(credited["status"], "applied", "{credited}");
    assert_eq!(stack.wallet(&org).await["balance"], "25.00");
    // The refund is sent again (a provider retry, a resend from the dashboard): the waiting row
    // can be applied now, and docs/webhooks.md says the repeat applies it.
    let again = stack.stripe(&refund).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let row = stack.webhook_event(&text(&early["inbox_id"])).await;
    assert_eq!(row["status"], "applied", "{row}");
    assert_eq!(again["status"], "applied", "{again}");
    assert_eq!(stack.wallet(&org).await["balance"], "21.00");
}
