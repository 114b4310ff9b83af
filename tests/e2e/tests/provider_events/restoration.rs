//! A failed payment blocks, the next payment restores, with Stripe (`invoice.payment_failed`
//! then `invoice.paid`) and with PayHere (installment status -2 then 2, after the authorization
//! that binds PayHere's subscription id to our checkout order).

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use e2e::{
    Org, Stack, StackOptions,
    events::{
        payhere::{self, Recurring},
        stripe::Invoice,
    },
    eventually,
    fakes::twilio,
    poll::holds,
    stack::reason_codes,
};

use crate::{freeze_sources, time};

const DEADLINE: Duration = Duration::from_secs(30);

/// Blocked by billing: the subscription in `status`, the wallet frozen by billing, sending
/// refused for both.
async fn assert_blocked(stack: &Stack, org: &Org, status: &str) {
    let subscription = stack.subscription(org).await;
    assert_eq!(subscription["status"], status, "{subscription}");
    let wallet = stack.wallet(org).await;
    assert_eq!(wallet["frozen"], true, "{wallet}");
    assert_eq!(freeze_sources(&wallet), ["billing"]);
    let eligibility = stack.eligibility(org).await;
    assert_eq!(
        reason_codes(&eligibility)[..2],
        ["SUBSCRIPTION_INACTIVE", "FROZEN_WALLET"],
        "{eligibility}"
    );
}

/// Twilio's subaccount went through exactly `statuses`, each call with the parent account's
/// credentials.
async fn await_twilio(stack: &Stack, subaccount: &str, statuses: &[&str]) {
    eventually("Twilio's subaccount status calls", DEADLINE, async || {
        let seen = stack.twilio.statuses(subaccount).await;
        holds(seen == statuses, seen)
    })
    .await;
    for change in stack.twilio.status_changes(subaccount).await {
        assert_eq!(
            change.authorization.as_deref(),
            Some(twilio::parent_auth().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_failed_invoice_blocks_and_the_paid_invoice_restores() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Stripe", "USD").await;
    let subscription_id = "sub_E2eRestoreStripe01";
    stack
        .create_subscription(&org, "stripe", subscription_id)
        .await;
    let now = Utc::now().timestamp();
    let first = Invoice {
        id: "in_E2eRestoreInv0001".to_owned(),
        subscription: subscription_id.to_owned(),
        organization: org.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: now,
        period_end: now + 30 * 86_400,
        attempt_count: 1,
    };
    let paid = stack
        .stripe(&first.paid("evt_E2eRestorePaid01", now + 1))
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(
        time(&subscription["current_period_end"]).timestamp(),
        first.period_end
    );
    let subaccount = twilio::subaccount(0xE2E3);
    stack.create_brand(&org, &subaccount).await;

    let renewal = Invoice {
        id: "in_E2eRestoreInv0002".to_owned(),
        period_start: first.period_end,
        period_end: first.period_end + 30 * 86_400,
        ..first.clone()
    };
    let failed = stack
        .stripe(&renewal.payment_failed("evt_E2eRestoreFail01", now + 2))
        .await;
    assert_eq!(failed["status"], "applied", "{failed}");
    assert_blocked(&stack, &org, "past_due").await;
    await_twilio(&stack, &subaccount, &["suspended"]).await;

    let retried = Invoice {
        attempt_count: 2,
        ..renewal.clone()
    };
    let paid = stack
        .stripe(&retried.paid("evt_E2eRestorePaid02", now + 3))
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(
        time(&subscription["current_period_end"]).timestamp(),
        renewal.period_end
    );
    assert!(subscription["dunning"].is_null(), "{subscription}");
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["frozen"], false, "{wallet}");
    await_twilio(&stack, &subaccount, &["suspended", "active"]).await;
    // Invoices carry their period: Stripe's API was never asked.
    assert!(stack.stripe.requests().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payhere_failed_installment_blocks_and_the_next_installment_restores() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme PayHere", "USD").await;
    let order = payhere::subscription_order(&org.id, "e2e1");
    // Until PayHere's own id arrives, the subscription is known by its checkout order.
    stack.create_subscription(&org, "payhere", &order).await;
    let merchant = &stack.keys.payhere;
    let today = Utc::now().date_naive();
    let first_due = today + chrono::Duration::days(30);
    let second_due = first_due + chrono::Duration::days(30);
    let date = |day: NaiveDate| day.format("%Y-%m-%d").to_string();
    let first_date = date(first_due);
    let second_date = date(second_due);
    let payhere_subscription = "420075032951";
    let payment = |payment_id, status_code, message_type, next_date| Recurring {
        order_id: &order,
        subscription_id: payhere_subscription,
        payment_id,
        amount: "15.00",
        currency: "USD",
        status_code,
        message_type,
        next_date,
        installments_paid: 1,
    };

    let authorized = stack
        .payhere(
            &payment(
                "320025071278",
                "2",
                "AUTHORIZATION_SUCCESS",
                Some(first_date.as_str()),
            )
            .notification(merchant),
        )
        .await;
    assert_eq!(authorized["status"], "applied", "{authorized}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(
        subscription["provider"]["subscription_id"], payhere_subscription,
        "{subscription}"
    );
    // The next payment date is a Sri Lankan day: paid until it starts in Colombo (UTC+05:30).
    assert_eq!(
        time(&subscription["current_period_end"]),
        colombo_midnight(first_due)
    );
    let subaccount = twilio::subaccount(0xE2E4);
    stack.create_brand(&org, &subaccount).await;

    let failed = stack
        .payhere(
            &payment(
                "320025071279",
                "-2",
                "RECURRING_INSTALLMENT_FAILED",
                Some(first_date.as_str()),
            )
            .notification(merchant),
        )
        .await;
    assert_eq!(failed["status"], "applied", "{failed}");
    assert_blocked(&stack, &org, "past_due").await;
    await_twilio(&stack, &subaccount, &["suspended"]).await;

    let paid = stack
        .payhere(
            &Recurring {
                installments_paid: 2,
                ..payment(
                    "320025071280",
                    "2",
                    "RECURRING_INSTALLMENT_SUCCESS",
                    Some(second_date.as_str()),
                )
            }
            .notification(merchant),
        )
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(
        time(&subscription["current_period_end"]),
        colombo_midnight(second_due)
    );
    assert_eq!(stack.wallet(&org).await["frozen"], false);
    await_twilio(&stack, &subaccount, &["suspended", "active"]).await;
}

/// The start of `day` in Sri Lanka, in UTC.
fn colombo_midnight(day: NaiveDate) -> chrono::DateTime<Utc> {
    let colombo =
        chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap_or_else(|| panic!("UTC+05:30"));
    colombo
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .unwrap_or_else(|| panic!("{day} in Colombo"))
        .with_timezone(&Utc)
}
