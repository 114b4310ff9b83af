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
        config.dunning_interval = Some(Duration::from_millis(100));
        config.notification_interval = Some(Duration::from_millis(100));
        config.notifier = NotifierConfig::Smtp(SmtpConfig {
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
