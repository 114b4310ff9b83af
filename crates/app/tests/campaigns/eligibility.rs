//! Refusals to send, with every reason: too little money, and an unpaid subscription (whose
//! effects reach Twilio through the api's outbox jobs). A refused start changes nothing and
//! sends nothing.

use std::time::Duration;

use serde_json::json;

use crate::{
    common::{ADMIN_TOKEN, TestApp, assert_problem, ok},
    support::{FakeTwilio, drain, eventually, numbers, parent_basic_auth, subaccount},
};

#[tokio::test]
async fn starting_without_the_money_is_refused_and_nothing_is_sent() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    // Five recipients at 0.05 cost 0.25; the wallet holds 0.10.
    let (org, _, campaign) = app.ready_campaign("Acme", "0.10", 1, 5).await;
    let id = campaign["id"].as_str().unwrap();

    let problem = app
        .refused_campaigns(app.start(&org, id, "start-1"), 422, "INSUFFICIENT_FUNDS")
        .await;
    assert_eq!(
        problem["reasons"],
        json!([{"code": "INSUFFICIENT_FUNDS", "reason": "insufficient_funds",
                "available": "0.10", "required": "0.25", "currency": "USD"}])
    );
    assert_eq!(problem["available"], "0.10");
    assert_eq!(problem["required"], "0.25");

    // Still a draft: a dispatcher pass has nothing to do and Twilio hears nothing.
    let dispatcher = twilio.dispatcher(&app, 4);
    assert!(drain(&dispatcher).await.is_empty());
    assert!(twilio.requests().await.is_empty());
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["status"], "draft");
    assert_eq!(summary["money"]["held"], "0.00");
    app.assert_figures(&org.id, "0.10", "0.00", "0.10").await;

    // The same key works once the money is there: nothing was recorded under it.
    app.fund(&org.id, "0.15").await;
    let started = app.start(&org, id, "start-1").await;
    assert_eq!(started.status().as_u16(), 201);
    drain(&dispatcher).await;
    assert_eq!(twilio.sends().await.len(), 5);
    app.assert_figures(&org.id, "0.00", "0.00", "0.00").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_subscription_blocks_with_every_reason_and_suspends_the_subaccount() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |config| {
        crate::common::jobs(config).intervals.messaging_outbox = Some(Duration::from_millis(50));
    })
    .await;
    let (org, brand, campaign) = app.ready_campaign("Acme", "10.00", 3, 2).await;
    let id = campaign["id"].as_str().unwrap();
    let brand_id = brand["id"].as_str().unwrap();
    let sid = subaccount(3);

    let eligibility = ok(app.org_get(&org.key, &org.id, "/send-eligibility").await).await;
    assert_eq!(
        eligibility,
        json!({"eligible": true, "reasons": [], "subscription_status": "active",
               "wallet": {"frozen": false, "freeze_sources": [], "available": "10.00",
                          "currency": "USD"},
               "brands": [{"brand_id": brand_id, "messaging_status": "active"}]})
    );

    app.fail_payment(&org.id).await;
    // messaging.control, then twilio.subaccount: the brand's subaccount is suspended at Twilio.
    eventually("the subaccount suspension", || async {
        let brand = ok(app
            .org_get(&org.key, &org.id, &format!("/brands/{brand_id}"))
            .await)
        .await;
        brand["messaging_status"] == "suspended"
    })
    .await;
    let changes = twilio.status_changes().await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].method, "POST");
    assert_eq!(changes[0].path, format!("/2010-04-01/Accounts/{sid}.json"));
    assert_eq!(
        changes[0].authorization.as_deref(),
        Some(parent_basic_auth().as_str())
    );
    assert_eq!(
        changes[0].form,
        [("Status".to_owned(), "suspended".to_owned())].into()
    );

    // Every reason, in order; the status and code are the first one's.
    let problem = app
        .refused_campaigns(app.start(&org, id, "start-1"), 402, "SUBSCRIPTION_INACTIVE")
        .await;
    let expected_reasons = json!([
        {"code": "SUBSCRIPTION_INACTIVE", "reason": "subscription_inactive",
         "subscription_status": "past_due",
         "denied_because": [
             {"code": "SUBSCRIPTION_INACTIVE"},
             {"code": "ACCESS_BLOCKED", "source": "billing",
              "reason": problem["reasons"][0]["denied_because"][1]["reason"]},
         ]},
        {"code": "FROZEN_WALLET", "reason": "wallet_frozen", "sources": ["billing"]},
        {"code": "MESSAGING_SUSPENDED", "reason": "messaging_suspended",
         "brands": [{"brand_id": brand_id, "messaging_status": "suspended"}]},
    ]);
    assert_eq!(problem["reasons"], expected_reasons, "{problem}");
    assert!(problem["reasons"][0]["denied_because"][1]["reason"].is_string());
    assert_eq!(problem["subscription_status"], "past_due");

    // The same reasons from the eligibility check, for the org and for the admin.
    for token in [org.key.as_str(), ADMIN_TOKEN] {
        let eligibility = ok(app
            .org_get(
                token,
                &org.id,
                &format!("/send-eligibility?brand_id={brand_id}"),
            )
            .await)
        .await;
        assert_eq!(eligibility["eligible"], false);
        assert_eq!(eligibility["reasons"], expected_reasons);
        assert_eq!(eligibility["subscription_status"], "past_due");
        assert_eq!(
            eligibility["wallet"],
            json!({"frozen": true, "freeze_sources": ["billing"], "available": "10.00",
                   "currency": "USD"})
        );
        assert_eq!(
            eligibility["brands"],
            json!([{"brand_id": brand_id, "messaging_status": "suspended"}])
        );
    }

    // The gated routes answer the feature gate's 402; reading, pausing and canceling stay open.
    let problem = app
        .refused_campaigns(
            app.org_post(
                &org.key,
                &org.id,
                "/campaigns",
                &TestApp::campaign_body(&brand["id"]),
            ),
            402,
            "FEATURE_NOT_ALLOWED",
        )
        .await;
    assert_eq!(problem["feature"], "broadcast_campaigns");
    app.refused_campaigns(
        app.add_recipients(&org, id, &numbers(1)),
        402,
        "FEATURE_NOT_ALLOWED",
    )
    .await;
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["status"], "draft");
    assert!(twilio.sends().await.is_empty());
}

#[tokio::test]
async fn eligibility_of_one_brand_or_all_and_of_an_organization_without_anything() {
    let app = TestApp::campaigns_app().await;
    let org = app.org_with_key("Acme").await;
    // No subscription, an empty wallet, no brand: the subscription and the funds block.
    let eligibility = ok(app.org_get(&org.key, &org.id, "/send-eligibility").await).await;
    assert_eq!(
        eligibility,
        json!({"eligible": false,
               "reasons": [
                   {"code": "SUBSCRIPTION_INACTIVE", "reason": "subscription_inactive",
                    "subscription_status": null,
                    "denied_because": [{"code": "NO_SUBSCRIPTION"}]},
                   {"code": "INSUFFICIENT_FUNDS", "reason": "insufficient_funds",
                    "available": "0.00", "required": "0.01", "currency": "USD"},
               ],
               "subscription_status": null,
               "wallet": {"frozen": false, "freeze_sources": [], "available": "0.00",
                          "currency": "USD"},
               "brands": []})
    );

    // A brand that is not the organization's is not found, whoever asks.
    let other = app.org_with_key("Other").await;
    let brand = app.create_brand(&other, &subaccount(9)).await;
    let path = format!(
        "/send-eligibility?brand_id={}",
        brand["id"].as_str().unwrap()
    );
    assert_problem(
        app.org_get(&org.key, &org.id, &path).await,
        404,
        "BRAND_NOT_FOUND",
    )
    .await;
    let mine = ok(app.org_get(&other.key, &other.id, &path).await).await;
    assert_eq!(mine["brands"][0]["messaging_status"], "active");
    // An admin asking about an organization that does not exist.
    let unknown = uuid::Uuid::now_v7();
    assert_problem(
        app.org_get(ADMIN_TOKEN, &unknown.to_string(), "/send-eligibility")
            .await,
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
}
