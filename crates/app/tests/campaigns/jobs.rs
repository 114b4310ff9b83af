//! The api's campaign jobs, wired end to end: a failed payment pauses running campaigns and
//! suspends the brands' subaccounts at Twilio (G7); the payment that follows reactivates them
//! and resumes the campaigns (G8); and the resume sweep resumes campaigns whose billing reason
//! cleared without an event (an operator lifting a freeze).

use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;

use crate::{
    common::{ADMIN_TOKEN, TestApp, created, key, ok, send},
    support::{FakeTwilio, drain, eventually, subaccount},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_pauses_and_suspends_and_the_payment_restores_both() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |config| {
        crate::common::jobs(config).intervals.messaging_outbox = Some(Duration::from_millis(50));
    })
    .await;
    let (org, brand, campaign) = app.ready_campaign("Acme", "10.00", 4, 3).await;
    let id = campaign["id"].as_str().unwrap();
    let brand_path = format!("/brands/{}", brand["id"].as_str().unwrap());
    created(app.start(&org, id, "start-1").await).await;
    app.assert_figures(&org.id, "10.00", "0.15", "9.85").await;

    app.fail_payment(&org.id).await;
    eventually("the billing pause", || async {
        let summary = app.summary(&org, id).await;
        summary["campaign"]["status"] == "paused"
    })
    .await;
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["pause_reason"], "subscription_inactive");
    assert_eq!(summary["money"]["reserved"], "0.00");
    eventually("the subaccount suspension", || async {
        let brand = ok(app.org_get(&org.key, &org.id, &brand_path).await).await;
        brand["messaging_status"] == "suspended"
    })
    .await;
    // A person's resume is refused while the organization may not send.
    let problem = crate::common::assert_problem(
        app.org_action(&org.key, &org.id, &format!("/campaigns/{id}/resume"), None)
            .await,
        402,
        "SUBSCRIPTION_INACTIVE",
    )
    .await;
    assert_eq!(
        problem["reasons"].as_array().map(Vec::len),
        Some(3),
        "{problem}"
    );

    // The customer pays by bank transfer; the operator records it.
    let payment = send(
        app.client
            .post(app.url(&format!(
                "/v1/admin/organizations/{}/subscription/manual-payment",
                org.id
            )))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", key())
            .json(&json!({
                "amount": "49.00",
                "currency": "USD",
                "period_end": app.state.subscriptions.now() + TimeDelta::days(30),
            })),
    )
    .await;
    assert_eq!(payment.status().as_u16(), 201);
    eventually("the campaign to resume", || async {
        let summary = app.summary(&org, id).await;
        summary["campaign"]["status"] == "running"
    })
    .await;
    let brand = ok(app.org_get(&org.key, &org.id, &brand_path).await).await;
    assert_eq!(brand["messaging_status"], "active");
    app.assert_figures(&org.id, "10.00", "0.15", "9.85").await;
    let statuses: Vec<(String, String)> = twilio
        .status_changes()
        .await
        .into_iter()
        .map(|change| (change.path, change.form["Status"].clone()))
        .collect();
    let path = format!("/2010-04-01/Accounts/{}.json", subaccount(4));
    assert_eq!(
        statuses,
        [
            (path.clone(), "suspended".to_owned()),
            (path, "active".to_owned())
        ]
    );
    assert!(twilio.sends().await.is_empty(), "no dispatcher runs here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resume_sweep_resumes_a_campaign_once_its_wallet_is_unfrozen() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |config| {
        crate::common::jobs(config).intervals.campaign_resume = Some(Duration::from_millis(50));
    })
    .await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 3).await;
    let id = campaign["id"].as_str().unwrap();
    created(app.start(&org, id, "start-1").await).await;

    let freeze = json!({"source": "risk", "reason": "chargeback investigation CB-88"});
    ok(app.admin_post(&org.id, "/freeze", None, &freeze).await).await;
    // The dispatcher's next claim sees the freeze and pauses instead of sending.
    let dispatcher = twilio.dispatcher(&app, 2);
    let reports = drain(&dispatcher).await;
    assert_eq!(
        reports.iter().map(|r| r.paused).sum::<usize>(),
        1,
        "{reports:?}"
    );
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["status"], "paused");
    assert_eq!(summary["campaign"]["pause_reason"], "wallet_frozen");
    assert!(twilio.sends().await.is_empty());

    let unfreeze = json!({"source": "risk", "reason": "CB-88 closed"});
    ok(app.admin_post(&org.id, "/unfreeze", None, &unfreeze).await).await;
    eventually("the sweep to resume the campaign", || async {
        app.summary(&org, id).await["campaign"]["status"] == "running"
    })
    .await;
    drain(&dispatcher).await;
    assert_eq!(twilio.sends().await.len(), 3);
    assert_eq!(
        app.summary(&org, id).await["campaign"]["status"],
        "completed"
    );
}
