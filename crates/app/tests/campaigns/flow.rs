//! The whole way over HTTP: an organization is created, funded and subscribed; it creates a
//! brand and a campaign, adds recipients and starts it; the api's own dispatcher jobs send
//! every recipient exactly once through (fake) Twilio, and the money settles: what was held is
//! captured for the sent messages, the rest released, and the wallet reconciles.

use std::{collections::BTreeSet, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    common::{ADMIN_TOKEN, TestApp, created, ok},
    support::{
        BODY, FROM, FakeTwilio, assert_settled, drain, eventually, numbers, parent_basic_auth,
        reconciliation, subaccount,
    },
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_is_sent_once_to_every_recipient_and_its_money_settles() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |config| {
        // Two loops racing over small batches: claims must never overlap.
        crate::common::jobs(config).dispatch.workers = 2;
        crate::common::jobs(config).dispatch.batch_size = 2;
        crate::common::jobs(config).dispatch.concurrency = 2;
        crate::common::jobs(config).dispatch.interval = Duration::from_millis(20);
    })
    .await;

    let org = app.subscribed("Acme").await;
    app.fund(&org.id, "10.00").await;

    // A brand with its subaccount.
    let sid = subaccount(7);
    let response = app
        .org_post(
            &org.key,
            &org.id,
            "/brands",
            &json!({"name": " Acme Shoes ", "twilio_subaccount_sid": sid}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let brand: Value = response.json().await.unwrap();
    assert_eq!(brand["name"], "Acme Shoes");
    assert_eq!(brand["twilio_subaccount_sid"], sid);
    assert_eq!(brand["organization_id"], org.id);
    assert_eq!(brand["messaging_status"], "active");
    assert_eq!(brand["messaging_wish"], "active");
    assert_eq!(brand["last_error"], Value::Null);
    let brand_id = brand["id"].as_str().unwrap();
    let listed = ok(app.org_get(&org.key, &org.id, "/brands").await).await;
    assert_eq!(listed["brands"], json!([brand.clone()]));
    let fetched = ok(app
        .org_get(&org.key, &org.id, &format!("/brands/{brand_id}"))
        .await)
    .await;
    assert_eq!(fetched, brand);

    // A draft: one GSM-7 segment at 0.05 USD.
    let response = app
        .org_post(
            &org.key,
            &org.id,
            "/campaigns",
            &TestApp::campaign_body(&brand["id"]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let campaign: Value = response.json().await.unwrap();
    assert_eq!(campaign["status"], "draft");
    assert_eq!(campaign["brand_id"], brand["id"]);
    assert_eq!(campaign["from"], FROM);
    assert_eq!(campaign["messaging_service_sid"], Value::Null);
    assert_eq!(campaign["encoding"], "gsm7");
    assert_eq!(campaign["segments"], 1);
    assert_eq!(campaign["price_per_segment"], "0.05");
    assert_eq!(campaign["cost_per_message"], "0.05");
    assert_eq!(campaign["currency"], "USD");
    assert_eq!(campaign["pause_reason"], Value::Null);
    assert_eq!(campaign["hold_id"], Value::Null);
    assert_eq!(campaign["started_at"], Value::Null);
    let id = campaign["id"].as_str().unwrap().to_owned();

    // Five numbers, one of them twice, the last with surrounding spaces.
    let mut list = numbers(5);
    list.push(list[0].clone());
    list[4] = format!(" {} ", list[4]);
    let added = ok(app.add_recipients(&org, &id, &list).await).await;
    assert_eq!(added, json!({"added": 5, "duplicates": 1}));
    let again = ok(app.add_recipients(&org, &id, &numbers(2)).await).await;
    assert_eq!(again, json!({"added": 0, "duplicates": 2}));
    assert!(twilio.sends().await.is_empty(), "a draft is never sent");

    // Start; the same key again is a replay that does nothing.
    let started = created(app.start(&org, &id, "start-spring-sale").await).await;
    assert_eq!(started["campaign"]["id"], id.as_str());
    assert!(started["campaign"]["started_at"].is_string(), "{started}");
    let replay = app.start(&org, &id, "start-spring-sale").await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["campaign"]["id"], id.as_str());
    assert_eq!(
        replay["campaign"]["started_at"],
        started["campaign"]["started_at"]
    );

    // The dispatcher jobs send it.
    eventually("the campaign to complete", || async {
        app.summary(&org, &id).await["campaign"]["status"] == "completed"
    })
    .await;

    // Exactly once per recipient, through the brand's subaccount, as the parent account.
    let sends = twilio.sends().await;
    assert_eq!(sends.len(), 5, "{sends:#?}");
    let mut to = BTreeSet::new();
    for send in &sends {
        assert_eq!(send.method, "POST");
        assert_eq!(
            send.path,
            format!("/2010-04-01/Accounts/{sid}/Messages.json")
        );
        assert_eq!(
            send.authorization.as_deref(),
            Some(parent_basic_auth().as_str())
        );
        let fields: Vec<&str> = send.form.keys().map(String::as_str).collect();
        assert_eq!(fields, ["Body", "From", "To"], "{send:?}");
        assert_eq!(send.form["From"], FROM);
        assert_eq!(send.form["Body"], BODY);
        assert!(to.insert(send.form["To"].clone()), "sent twice: {send:?}");
    }
    assert_eq!(to, numbers(5).into_iter().collect::<BTreeSet<_>>());

    // The summary: every recipient sent, held = captured + released.
    let summary = app.summary(&org, &id).await;
    assert_eq!(
        summary["recipients"],
        json!({"pending": 0, "sending": 0, "sent": 5, "failed": 0, "unconfirmed": 0,
               "canceled": 0, "total": 5})
    );
    assert_eq!(summary["money"]["currency"], "USD");
    assert_eq!(summary["money"]["held"], "0.25");
    assert_eq!(summary["money"]["captured"], "0.25");
    assert_eq!(summary["money"]["released"], "0.00");
    assert_settled(&summary);
    assert!(summary["campaign"]["finished_at"].is_string(), "{summary}");
    assert_eq!(summary["campaign"]["hold_id"], Value::Null);

    // Each recipient charged once, with the SID Twilio gave it.
    let recipients = app.recipients(&org, &id).await;
    assert_eq!(recipients.len(), 5);
    let mut sids = BTreeSet::new();
    for recipient in &recipients {
        assert_eq!(recipient["status"], "sent", "{recipient}");
        assert_eq!(recipient["charged"], "0.05");
        assert_eq!(recipient["currency"], "USD");
        assert_eq!(recipient["attempts"], 1);
        assert_eq!(recipient["twilio_status"], "queued");
        assert!(recipient["sent_at"].is_string());
        assert!(sids.insert(recipient["twilio_sid"].as_str().unwrap().to_owned()));
    }

    // The wallet paid 5 x 0.05 and holds nothing; its books reconcile.
    app.assert_figures(&org.id, "9.75", "0.00", "9.75").await;
    let books = reconciliation(&app, &org.id).await;
    assert_eq!(books["clean"], true, "{books}");

    // Another pass finds nothing to send.
    let dispatcher = twilio.dispatcher(&app, 4);
    assert!(drain(&dispatcher).await.is_empty());
    assert_eq!(twilio.sends().await.len(), 5);

    // The list shows it, newest first; the admin sees the same.
    let page = ok(app.org_get(&org.key, &org.id, "/campaigns").await).await;
    assert_eq!(page["campaigns"][0]["id"], id.as_str());
    assert_eq!(page["next_cursor"], Value::Null);
    let admin = ok(app
        .org_get(ADMIN_TOKEN, &org.id, &format!("/campaigns/{id}"))
        .await)
    .await;
    assert_eq!(admin, summary);
}
