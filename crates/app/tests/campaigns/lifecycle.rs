//! A campaign's life over HTTP: start (its key required, replays, conflicts), pause, resume and
//! cancel, each idempotent as the domain defines, with the hold following; and the pages of
//! campaigns and recipients.

use serde_json::{Value, json};

use crate::{
    common::{TestApp, created, ok},
    support::{FakeTwilio, assert_settled, drain, numbers},
};

impl TestApp {
    async fn life(&self, org: &crate::common::Org, id: &str, action: &str) -> reqwest::Response {
        self.org_action(
            &org.key,
            &org.id,
            &format!("/campaigns/{id}/{action}"),
            None,
        )
        .await
    }
}

#[tokio::test]
async fn start_pause_resume_cancel_move_the_campaign_and_its_hold() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 4).await;
    let id = campaign["id"].as_str().unwrap();

    // A draft can be neither paused nor resumed; the start needs its key.
    for action in ["pause", "resume"] {
        let problem = app
            .refused_campaigns(app.life(&org, id, action), 409, "CAMPAIGN_STATE_CONFLICT")
            .await;
        assert_eq!(problem["campaign_status"], "draft");
    }
    app.refused_campaigns(
        app.org_action(&org.key, &org.id, &format!("/campaigns/{id}/start"), None),
        422,
        "IDEMPOTENCY_KEY_REQUIRED",
    )
    .await;
    app.refused_campaigns(
        app.start(&org, id, "has space"),
        422,
        "INVALID_IDEMPOTENCY_KEY",
    )
    .await;

    let started = created(app.start(&org, id, "start-1").await).await;
    assert_eq!(started["campaign"]["status"], "running");
    app.assert_figures(&org.id, "10.00", "0.20", "9.80").await;
    // Another key for a started campaign is a conflict; recipients can no longer be added.
    let problem = app
        .refused_campaigns(
            app.start(&org, id, "start-2"),
            409,
            "CAMPAIGN_STATE_CONFLICT",
        )
        .await;
    assert_eq!(problem["campaign_status"], "running");
    let problem = app
        .refused_campaigns(
            app.add_recipients(&org, id, &["+14155550999".to_owned()]),
            409,
            "CAMPAIGN_STATE_CONFLICT",
        )
        .await;
    assert_eq!(problem["campaign_status"], "running");

    // Pause by hand: the hold goes back; pausing again changes nothing.
    let paused = ok(app.life(&org, id, "pause").await).await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["pause_reason"], "manual");
    assert_eq!(paused["hold_id"], Value::Null);
    app.assert_figures(&org.id, "10.00", "0.00", "10.00").await;
    let before = app.campaign_books().await;
    let again = ok(app.life(&org, id, "pause").await).await;
    assert_eq!(again, paused);
    assert_eq!(app.campaign_books().await, before);
    // A paused campaign is not sent.
    let dispatcher = twilio.dispatcher(&app, 2);
    assert!(drain(&dispatcher).await.is_empty());
    assert!(twilio.sends().await.is_empty());

    // Resume: a new hold for what is pending; resuming a running campaign changes nothing.
    let resumed = ok(app.life(&org, id, "resume").await).await;
    assert_eq!(resumed["status"], "running");
    assert_eq!(resumed["pause_reason"], Value::Null);
    assert_ne!(resumed["hold_id"], Value::Null);
    assert_ne!(resumed["hold_id"], started["campaign"]["hold_id"]);
    app.assert_figures(&org.id, "10.00", "0.20", "9.80").await;
    let again = ok(app.life(&org, id, "resume").await).await;
    assert_eq!(again["hold_id"], resumed["hold_id"]);

    // Cancel: nothing left is sent and the hold goes back; canceling again changes nothing.
    let canceled = ok(app.life(&org, id, "cancel").await).await;
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["finished_at"].is_string());
    let before = app.campaign_books().await;
    assert_eq!(ok(app.life(&org, id, "cancel").await).await, canceled);
    assert_eq!(app.campaign_books().await, before);
    for action in ["pause", "resume"] {
        let problem = app
            .refused_campaigns(app.life(&org, id, action), 409, "CAMPAIGN_STATE_CONFLICT")
            .await;
        assert_eq!(problem["campaign_status"], "canceled");
    }
    assert!(drain(&dispatcher).await.is_empty());
    assert!(twilio.sends().await.is_empty());
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["recipients"]["canceled"], 4);
    assert_eq!(summary["money"]["held"], "0.40");
    assert_eq!(summary["money"]["captured"], "0.00");
    assert_settled(&summary);
    app.assert_figures(&org.id, "10.00", "0.00", "10.00").await;
    // The start's key still answers the replay, whatever happened since.
    let replay = app.start(&org, id, "start-1").await;
    assert_eq!(replay.status().as_u16(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_completed_campaign_cannot_be_canceled_and_an_empty_one_cannot_start() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    let (org, brand, campaign) = app.ready_campaign("Acme", "10.00", 1, 2).await;
    let id = campaign["id"].as_str().unwrap();
    created(app.start(&org, id, "start-1").await).await;
    drain(&twilio.dispatcher(&app, 2)).await;
    assert_eq!(
        app.summary(&org, id).await["campaign"]["status"],
        "completed"
    );
    let problem = app
        .refused_campaigns(app.life(&org, id, "cancel"), 409, "CAMPAIGN_STATE_CONFLICT")
        .await;
    assert_eq!(problem["campaign_status"], "completed");

    let empty = app.create_campaign(&org, &brand).await;
    let empty = empty["id"].as_str().unwrap();
    app.refused_campaigns(app.start(&org, empty, "start-empty"), 422, "NO_RECIPIENTS")
        .await;
    // A draft can be canceled (it never started, so it has no start time).
    let canceled = ok(app.life(&org, empty, "cancel").await).await;
    assert_eq!(canceled["status"], "canceled");
    assert!(canceled["started_at"].is_null());
    app.refused_campaigns(
        app.start(&org, empty, "start-late"),
        409,
        "CAMPAIGN_STATE_CONFLICT",
    )
    .await;
}

#[tokio::test]
async fn campaigns_and_recipients_come_in_pages() {
    let app = TestApp::campaigns_app().await;
    let (org, brand, first) = app.ready_campaign("Acme", "10.00", 1, 5).await;
    let mut ids = vec![first["id"].clone()];
    for _ in 0..2 {
        ids.push(app.create_campaign(&org, &brand).await["id"].clone());
    }
    // Newest first, two at a time.
    let page = ok(app.org_get(&org.key, &org.id, "/campaigns?limit=2").await).await;
    let listed: Vec<&Value> = page["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(listed, [&ids[2], &ids[1]]);
    assert_eq!(page["next_cursor"], ids[1]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page = ok(app
        .org_get(
            &org.key,
            &org.id,
            &format!("/campaigns?limit=2&cursor={cursor}"),
        )
        .await)
    .await;
    assert_eq!(page["campaigns"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["campaigns"][0]["id"], ids[0]);
    assert_eq!(page["next_cursor"], Value::Null);

    // Recipients in list order, two at a time; a full last page has no `next_after`.
    let id = first["id"].as_str().unwrap();
    let mut seen = Vec::new();
    let mut path = format!("/campaigns/{id}/recipients?limit=2");
    loop {
        let page = ok(app.org_get(&org.key, &org.id, &path).await).await;
        for recipient in page["recipients"].as_array().unwrap() {
            assert_eq!(recipient["status"], "pending");
            assert_eq!(recipient["charged"], "0.00");
            assert_eq!(recipient["attempts"], 0);
            seen.push(recipient["phone"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_i64() {
            Some(after) => path = format!("/campaigns/{id}/recipients?limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen, numbers(5));
    let exact = ok(app
        .org_get(
            &org.key,
            &org.id,
            &format!("/campaigns/{id}/recipients?limit=5"),
        )
        .await)
    .await;
    assert_eq!(exact["recipients"].as_array().map(Vec::len), Some(5));
    assert_eq!(exact["next_after"], Value::Null);
    // A status filter.
    let none = ok(app
        .org_get(
            &org.key,
            &org.id,
            &format!("/campaigns/{id}/recipients?status=sent"),
        )
        .await)
    .await;
    assert_eq!(none, json!({"recipients": [], "next_after": null}));
}
