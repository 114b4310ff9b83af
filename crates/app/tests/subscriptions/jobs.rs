//! The api's background jobs, wired end to end: dunning moves a subscription on schedule with
//! the app's clock, and notification delivery emails the customer through SMTP.

use std::time::Duration;

use chrono::TimeDelta;
use notifications::{NotifierConfig, SmtpConfig, TlsMode};
use serde_json::{Value, json};
use testkit::{SmtpSink, TestDb};

use crate::common::{ADMIN_TOKEN, TestApp, ok};

/// Polls until `check` holds: background jobs run on their own tick, so a test waits for their
/// effect rather than sleeping a fixed time. Not a timing assertion: the deadline is generous.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dunning_and_notification_jobs_suspend_on_schedule_and_email_the_customer() {
    let sink = SmtpSink::start().await;
    let (host, port) = (sink.host(), sink.port());
    let app = TestApp::spawn_with(TestDb::new().await, move |config| {
        crate::common::jobs(config).intervals.dunning = Some(Duration::from_millis(100));
        crate::common::jobs(config).intervals.notifications = Some(Duration::from_millis(100));
        crate::common::jobs(config).notifier = NotifierConfig::Smtp(SmtpConfig {
            host,
            port,
            tls: TlsMode::None,
            credentials: None,
            from: "billing@service.example".into(),
            timeout: Duration::from_secs(5),
        });
    })
    .await;
    let acme = app.subscribed("Acme").await;
    let response = app
        .client
        .put(app.url(&format!("/v1/organizations/{}/billing-email", acme.id)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"billing_email": "billing@acme.example"}))
        .send()
        .await
        .unwrap();
    ok(response).await;

    app.fail_payment(&acme.id).await;
    // Counted for the operators' dashboards.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"payment_failures_total{attempt="0"}"#),
        "{metrics}"
    );
    eventually("the payment-failed email", || async {
        sink.messages().len() == 1
    })
    .await;
    let mail = &sink.messages()[0];
    assert_eq!(mail.recipients, ["billing@acme.example"]);
    assert!(
        mail.header("Subject")
            .unwrap_or_default()
            .to_lowercase()
            .contains("payment")
    );

    // Day 10: no provider adapter can retry yet, but suspension comes on its day.
    app.clock.advance(TimeDelta::days(10));
    eventually("suspension", || async {
        let own: Value = ok(app.get_as(&acme.key, "/v1/subscription").await).await;
        own["status"] == "suspended"
    })
    .await;
    eventually("the suspended email", || async {
        sink.messages().len() == 2
    })
    .await;
    let suspended = &sink.messages()[1];
    let subject = suspended.header("Subject").unwrap_or_default();
    assert!(
        subject.to_lowercase().contains("suspend"),
        "{subject}\n{}",
        suspended.body()
    );
}

/// A fake Stripe declining every retry of `sub_1`'s open invoice, recording the requests.
async fn declining_stripe() -> wiremock::MockServer {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers};
    let server = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/invoices"))
        .and(matchers::query_param("subscription", "sub_1"))
        .and(matchers::query_param("status", "open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "in_1", "object": "invoice", "status": "open", "currency": "usd",
                      "amount_due": 2900, "amount_paid": 0}],
        })))
        .mount(&server)
        .await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/invoices/in_1/pay"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({
            "error": {"type": "card_error", "code": "card_declined",
                      "decline_code": "insufficient_funds",
                      "message": "Your card has insufficient funds."},
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dunning_retries_through_the_subscriptions_own_provider_then_suspends() {
    let stripe = declining_stripe().await;
    let base_url = stripe.uri();
    let app = TestApp::spawn_with(TestDb::new().await, move |config| {
        crate::common::jobs(config).intervals.dunning = Some(Duration::from_millis(100));
        let mut stripe = billing::stripe::StripeConfig::new(
            secrecy::SecretString::from("sk_test_dunning".to_owned()),
            vec![secrecy::SecretString::from("whsec_dunning".to_owned())],
        );
        stripe.base_url = base_url;
        config.services.providers.stripe = Some(stripe);
    })
    .await;
    let acme = app.org_with_key("Acme").await;
    app.create_subscription(
        &acme.id,
        &json!({"plan": "pro", "provider": "stripe", "provider_subscription_id": "sub_1"}),
    )
    .await;
    let period_end = app.clock_now() + TimeDelta::days(30);
    app.apply_event(
        &acme.id,
        subscriptions::SubscriptionEvent::Activated { period_end },
    )
    .await;
    app.fail_payment(&acme.id).await;

    let pays = || async {
        stripe
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request| request.url.path() == "/v1/invoices/in_1/pay")
            .map(|request| {
                request
                    .headers
                    .get("idempotency-key")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<Vec<String>>()
    };
    let retries_failed = || async {
        let own: Value = ok(app.get_as(&acme.key, "/v1/subscription").await).await;
        own["dunning"]["retries_failed"].as_u64().unwrap_or(0)
    };
    // Days 3, 5 and 7: a retry each, declined by Stripe, under a key of its own.
    for (day, expected) in [(3, 1), (5, 2), (7, 3)] {
        app.clock
            .advance(TimeDelta::days(if day == 3 { 3 } else { 2 }));
        eventually(&format!("the day {day} retry"), || async {
            retries_failed().await == expected
        })
        .await;
    }
    let keys = pays().await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(
        keys.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "each attempt has its own idempotency key: {keys:?}"
    );
    let notices = app.outbox_kinds(&acme.id).await;
    for notice in ["payment_failed", "payment_warning", "final_warning"] {
        assert!(notices.iter().any(|n| n == notice), "{notice}: {notices:?}");
    }
    // Day 10: suspended, and no retry after it.
    app.clock.advance(TimeDelta::days(3));
    eventually("suspension", || async {
        let own: Value = ok(app.get_as(&acme.key, "/v1/subscription").await).await;
        own["status"] == "suspended"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pays().await.len(), 3);
}
