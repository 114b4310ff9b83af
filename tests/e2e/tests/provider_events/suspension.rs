//! PayPal suspends a subscription, then is paid again: scenario 1 (everything stops) and 2
//! (everything comes back), and an activation that restores only when PayPal's own view says
//! nothing is owed.

use std::time::Duration;

use chrono::Utc;
use e2e::{
    Stack, StackOptions,
    events::paypal,
    eventually,
    fakes::{
        paypal::{ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, PayPalSubscriptionView},
        twilio,
    },
    poll::holds,
    stack::{numbers, reason_codes, text},
};
use serde_json::Value;

use crate::{freeze_sources, time, whole_seconds};

/// Background effects (outbox ticks of one second, the dispatcher) arrive well within this.
const DEADLINE: Duration = Duration::from_secs(30);

fn view(id: &str, organization: &str) -> PayPalSubscriptionView {
    PayPalSubscriptionView {
        id: id.to_owned(),
        status: "ACTIVE".to_owned(),
        custom_id: organization.to_owned(),
        outstanding: "0.00".to_owned(),
        currency: "USD".to_owned(),
        next_billing_time: None,
        failed_payments_count: 0,
        updated_at: Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_suspension_stops_everything_and_a_sale_restores_it() {
    // Twilio takes a while per message and the dispatcher sends one at a time, so the campaign
    // is still running when the suspension arrives.
    let stack = Stack::start(StackOptions {
        message_delay: Duration::from_millis(250),
        ..StackOptions::default()
    })
    .await;
    let org = stack.create_org("Acme PayPal", "USD").await;
    let subscription_id = "I-E2ESUSPEND0001";
    stack
        .create_subscription(&org, "paypal", subscription_id)
        .await;
    let start = whole_seconds(Utc::now());
    let at = |secs: i64| start + chrono::Duration::seconds(secs);

    // Active from pending by a signed BILLING.SUBSCRIPTION.ACTIVATED.
    let first_period = at(30 * 86_400);
    let mut paypal_view = PayPalSubscriptionView {
        next_billing_time: Some(first_period),
        updated_at: at(1),
        ..view(subscription_id, &org.id)
    };
    stack.paypal.set_subscription(&paypal_view);
    let activated = stack
        .paypal(&paypal::subscription_event(
            "WH-E2E1ACTIVATED00001",
            "ACTIVATED",
            at(1),
            &paypal_view,
        ))
        .await;
    assert_eq!(activated["status"], "applied", "{activated}");
    assert_eq!(activated["duplicate"], false);
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(time(&subscription["current_period_end"]), first_period);

    // A funded wallet, a brand on its Twilio subaccount, a running campaign and one a person
    // paused.
    stack.credit(&org, "100.00", "USD").await;
    let subaccount = twilio::subaccount(0xE2E1);
    let brand = stack.create_brand(&org, &subaccount).await;
    let brand_id = text(&brand["id"]);
    assert_eq!(brand["messaging_status"], "active");
    let running_numbers = numbers(1000, 100);
    let manual_numbers = numbers(2000, 5);
    let running = stack
        .start_campaign(&org, &brand_id, "Spring sale", &running_numbers)
        .await;
    let manual = stack
        .start_campaign(&org, &brand_id, "Autumn sale", &manual_numbers)
        .await;
    let paused = stack.pause_campaign(&org, &manual).await;
    assert_eq!(
        (&paused["status"], &paused["pause_reason"]),
        (&Value::from("paused"), &Value::from("manual"))
    );
    eventually("the running campaign to send", DEADLINE, async || {
        let sent = stack.twilio.sends_to(&subaccount, &running_numbers).await;
        holds(sent >= 2, sent)
    })
    .await;
    let sends = stack.twilio.sends(&subaccount).await;
    assert_eq!(
        sends[0].authorization.as_deref(),
        Some(twilio::parent_auth().as_str())
    );
    assert_eq!(
        sends[0].form.get("From").map(String::as_str),
        Some("+14155550199")
    );
    assert!(stack.twilio.statuses(&subaccount).await.is_empty());

    // PayPal suspends it.
    paypal_view.status = "SUSPENDED".to_owned();
    paypal_view.outstanding = "29.00".to_owned();
    paypal_view.failed_payments_count = 3;
    paypal_view.updated_at = at(2);
    stack.paypal.set_subscription(&paypal_view);
    let suspended = stack
        .paypal(&paypal::subscription_event(
            "WH-E2E1SUSPENDED00001",
            "SUSPENDED",
            at(2),
            &paypal_view,
        ))
        .await;
    assert_eq!(suspended["status"], "applied", "{suspended}");

    // Committed before the 2xx: the subscription, the freeze and what eligibility says.
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "suspended", "{subscription}");
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["frozen"], true, "{wallet}");
    assert_eq!(freeze_sources(&wallet), ["billing"]);
    let eligibility = stack.eligibility(&org).await;
    assert_eq!(eligibility["eligible"], false, "{eligibility}");
    assert_eq!(eligibility["subscription_status"], "suspended");
    assert_eq!(
        eligibility["wallet"]["freeze_sources"],
        serde_json::json!(["billing"])
    );
    let codes = reason_codes(&eligibility);
    assert_eq!(
        codes[..2],
        ["SUBSCRIPTION_INACTIVE", "FROZEN_WALLET"],
        "{eligibility}"
    );
    // Messaging may already be suspending if the outbox ticked meanwhile; nothing else blocks.
    assert!(
        codes[2..].iter().all(|code| code == "MESSAGING_SUSPENDED"),
        "{eligibility}"
    );

    // Then the outbox: the running campaign pauses for billing, Twilio suspends the subaccount.
    eventually(
        "the running campaign to pause for billing",
        DEADLINE,
        async || {
            let campaign = stack.campaign(&org, &running).await;
            holds(
                campaign["status"] == "paused"
                    && campaign["pause_reason"] == "subscription_inactive",
                campaign,
            )
        },
    )
    .await;
    eventually("Twilio to suspend the subaccount", DEADLINE, async || {
        let statuses = stack.twilio.statuses(&subaccount).await;
        holds(statuses == ["suspended"], statuses)
    })
    .await;
    let change = &stack.twilio.status_changes(&subaccount).await[0];
    assert_eq!(change.method, "POST");
    assert_eq!(
        change.authorization.as_deref(),
        Some(twilio::parent_auth().as_str())
    );
    eventually("the brand to be suspended", DEADLINE, async || {
        let brand = stack.brand(&org, &brand_id).await;
        holds(brand["messaging_status"] == "suspended", brand)
    })
    .await;
    let eligibility = stack.eligibility(&org).await;
    assert_eq!(
        reason_codes(&eligibility),
        [
            "SUBSCRIPTION_INACTIVE",
            "FROZEN_WALLET",
            "MESSAGING_SUSPENDED"
        ],
        "{eligibility}"
    );
    let sent_before_payment = stack.twilio.sends_to(&subaccount, &running_numbers).await;
    let manual_sent = stack.twilio.sends_to(&subaccount, &manual_numbers).await;
    assert!(
        sent_before_payment < running_numbers.len(),
        "the campaign finished before the test could pause it"
    );

    // A sale pays the subscription; the sale names no period, so the receiver asks PayPal,
    // which now reports the subscription active until the next period's end.
    let second_period = at(60 * 86_400);
    paypal_view.status = "ACTIVE".to_owned();
    paypal_view.outstanding = "0.00".to_owned();
    paypal_view.failed_payments_count = 0;
    paypal_view.next_billing_time = Some(second_period);
    paypal_view.updated_at = at(3);
    stack.paypal.set_subscription(&paypal_view);
    let sale = stack
        .paypal(&paypal::sale_completed(
            "WH-E2E1SALECOMPLETED1",
            at(3),
            "5O190127TN364E2E1",
            subscription_id,
            &org.id,
            "29.00",
            "USD",
        ))
        .await;
    assert_eq!(sale["status"], "applied", "{sale}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(time(&subscription["current_period_end"]), second_period);
    let wallet = stack.wallet(&org).await;
    assert_eq!(wallet["frozen"], false, "{wallet}");
    // The fake PayPal was asked exactly as PayPal must be: a token by client credentials, then
    // the subscription with it.
    let requests = stack.paypal.requests().await;
    let token = requests
        .iter()
        .find(|request| request.path == "/v1/oauth2/token")
        .unwrap_or_else(|| panic!("no token request: {requests:?}"));
    assert_eq!(token.method, "POST");
    assert_eq!(
        token.authorization.as_deref(),
        Some(e2e::fakes::basic_auth(CLIENT_ID, CLIENT_SECRET).as_str())
    );
    assert_eq!(
        token.form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    let fetches = stack.paypal.subscription_fetches(subscription_id).await;
    assert_eq!(fetches.len(), 1, "{requests:?}");
    assert_eq!(
        fetches[0].authorization.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );

    // Twilio reactivates the subaccount; the billing-paused campaign resumes and sends again;
    // the one a person paused stays paused.
    eventually(
        "Twilio to reactivate the subaccount",
        DEADLINE,
        async || {
            let statuses = stack.twilio.statuses(&subaccount).await;
            holds(statuses == ["suspended", "active"], statuses)
        },
    )
    .await;
    for change in stack.twilio.status_changes(&subaccount).await {
        assert_eq!(
            change.authorization.as_deref(),
            Some(twilio::parent_auth().as_str())
        );
    }
    eventually(
        "the campaign to resume and send again",
        DEADLINE,
        async || {
            let campaign = stack.campaign(&org, &running).await;
            let sent = stack.twilio.sends_to(&subaccount, &running_numbers).await;
            holds(
                campaign["status"] == "running" && sent > sent_before_payment,
                (campaign, sent, sent_before_payment),
            )
        },
    )
    .await;
    let manual_campaign = stack.campaign(&org, &manual).await;
    assert_eq!(manual_campaign["status"], "paused", "{manual_campaign}");
    assert_eq!(manual_campaign["pause_reason"], "manual");
    assert_eq!(
        stack.twilio.sends_to(&subaccount, &manual_numbers).await,
        manual_sent
    );
    let eligibility = stack.eligibility(&org).await;
    assert_eq!(eligibility["eligible"], true, "{eligibility}");

    // Nothing was sent through the subaccount while Twilio had it suspended.
    let requests = stack.twilio.requests().await;
    let status_at = |status: &str| {
        requests
            .iter()
            .position(|request| request.form.get("Status").map(String::as_str) == Some(status))
            .unwrap_or_else(|| panic!("no Status={status}"))
    };
    let while_suspended = requests[status_at("suspended")..status_at("active")]
        .iter()
        .filter(|request| request.path.ends_with("/Messages.json"))
        .count();
    assert_eq!(while_suspended, 0, "messages sent while suspended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_activation_restores_a_suspended_subscription_only_when_paypal_says_it_is_paid_up() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Reactivated", "USD").await;
    let subscription_id = "I-E2EREACTIVATE01";
    stack
        .create_subscription(&org, "paypal", subscription_id)
        .await;
    let start = whole_seconds(Utc::now());
    let at = |secs: i64| start + chrono::Duration::seconds(secs);

    let mut paypal_view = PayPalSubscriptionView {
        next_billing_time: Some(at(30 * 86_400)),
        updated_at: at(1),
        ..view(subscription_id, &org.id)
    };
    stack.paypal.set_subscription(&paypal_view);
    let activated = stack
        .paypal(&paypal::subscription_event(
            "WH-E2E2ACTIVATED00001",
            "ACTIVATED",
            at(1),
            &paypal_view,
        ))
        .await;
    assert_eq!(activated["status"], "applied", "{activated}");
    // From pending, the delivery's own period suffices: PayPal is not asked.
    assert!(
        stack
            .paypal
            .subscription_fetches(subscription_id)
            .await
            .is_empty()
    );

    paypal_view.status = "SUSPENDED".to_owned();
    paypal_view.outstanding = "29.00".to_owned();
    paypal_view.updated_at = at(2);
    stack.paypal.set_subscription(&paypal_view);
    let suspended = stack
        .paypal(&paypal::subscription_event(
            "WH-E2E2SUSPENDED00001",
            "SUSPENDED",
            at(2),
            &paypal_view,
        ))
        .await;
    assert_eq!(suspended["status"], "applied", "{suspended}");
    assert_eq!(stack.subscription(&org).await["status"], "suspended");

    // Re-activated at PayPal, but PayPal still reports money outstanding: nothing changes.
    paypal_view.status = "ACTIVE".to_owned();
    paypal_view.next_billing_time = Some(at(31 * 86_400));
    paypal_view.updated_at = at(3);
    stack.paypal.set_subscription(&paypal_view);
    let owed = stack
        .paypal(&paypal::subscription_event(
            "WH-E2E2REACTIVATED001",
            "ACTIVATED",
            at(3),
            &paypal_view,
        ))
        .await;
    assert_eq!(owed["status"], "ignored", "{owed}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "suspended", "{subscription}");
    assert_eq!(stack.wallet(&org).await["frozen"], true);
    assert_eq!(
        stack
            .paypal
            .subscription_fetches(subscription_id)
            .await
            .len(),
        1
    );
    let delivery = stack.webhook_event(&text(&owed["inbox_id"])).await;
    assert_eq!(delivery["outcomes"][0]["result"], "ignored", "{delivery}");
    assert!(
        text(&delivery["outcomes"][0]["detail"]).contains("outstanding"),
        "{delivery}"
    );

    // Paid up at PayPal: the next activation restores, until the period PayPal reports now
    // (the delivery's own snapshot of the subscription is older).
    let paid_until = at(32 * 86_400);
    paypal_view.outstanding = "0.00".to_owned();
    paypal_view.next_billing_time = Some(paid_until);
    paypal_view.updated_at = at(4);
    stack.paypal.set_subscription(&paypal_view);
    let stale_snapshot = PayPalSubscriptionView {
        next_billing_time: Some(at(31 * 86_400)),
        ..paypal_view.clone()
    };
    let restored = stack
        .paypal(&paypal::subscription_event(
            "WH-E2E2REACTIVATED002",
            "ACTIVATED",
            at(4),
            &stale_snapshot,
        ))
        .await;
    assert_eq!(restored["status"], "applied", "{restored}");
    let subscription = stack.subscription(&org).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(time(&subscription["current_period_end"]), paid_until);
    assert_eq!(stack.wallet(&org).await["frozen"], false);
    assert_eq!(
        stack
            .paypal
            .subscription_fetches(subscription_id)
            .await
            .len(),
        2
    );
}
