//! A campaign's hold is its dispatcher's alone: the wallet's hold routes refuse to capture or
//! release it (409 `HOLD_OWNED_BY_CAMPAIGN`) before the ledger changes anything, for the
//! organization and the admin alike, while every other hold works as before.

use serde_json::json;

use crate::{
    common::{ADMIN_TOKEN, TestApp, created, key, ok, send},
    support::{FakeTwilio, assert_settled, drain},
};

#[tokio::test]
async fn the_hold_routes_refuse_a_campaigns_hold_and_the_campaign_still_pays_its_messages() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 4).await;
    let id = campaign["id"].as_str().unwrap();
    let started = created(app.start(&org, id, "start-1").await).await;
    let hold_id = started["campaign"]["hold_id"].as_str().unwrap().to_owned();
    app.assert_figures(&org.id, "10.00", "0.20", "9.80").await;
    // The hold is the organization's to look at.
    let hold = app.hold_details(&org, &hold_id).await;
    assert_eq!(hold["status"], "open", "{hold}");

    for token in [org.key.as_str(), ADMIN_TOKEN] {
        let capture = app.wallet_post(
            &org.id,
            &format!("/holds/{hold_id}/captures"),
            token,
            Some(&key()),
            &json!({"amount": "0.20", "currency": "USD"}),
        );
        let problem = app
            .refused_campaigns(send(capture), 409, "HOLD_OWNED_BY_CAMPAIGN")
            .await;
        assert_eq!(problem["hold_id"], hold_id.as_str());
        let release = app
            .client
            .post(app.wallet_url(&org.id, &format!("/holds/{hold_id}/release")))
            .bearer_auth(token)
            .header("Idempotency-Key", key());
        app.refused_campaigns(send(release), 409, "HOLD_OWNED_BY_CAMPAIGN")
            .await;
    }

    // Another organization naming it on its own wallet learns nothing: the hold is not there.
    let other = app.org_with_key("Other").await;
    app.fund(&other.id, "1.00").await;
    let release = app
        .client
        .post(app.wallet_url(&other.id, &format!("/holds/{hold_id}/release")))
        .bearer_auth(&other.key)
        .header("Idempotency-Key", key());
    app.refused_campaigns(send(release), 404, "HOLD_NOT_FOUND")
        .await;
    let reference = key();
    let capture = app.capture(&other, &hold_id, &reference, "0.05");
    app.refused_campaigns(capture, 404, "HOLD_NOT_FOUND").await;

    // A hold of the organization's own still captures and releases.
    let own = app.open_hold(&org, &key(), "1.00").await;
    let captured = app.capture(&org, &own, &key(), "0.40").await;
    assert_eq!(captured.status().as_u16(), 201);
    let released = app.release(&org, &own, &key()).await;
    assert_eq!(released.status().as_u16(), 201);

    // The dispatcher pays the sent messages from the campaign's hold.
    drain(&twilio.dispatcher(&app, 2)).await;
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["status"], "completed");
    assert_eq!(summary["money"]["captured"], "0.20");
    // Twilio answered each send `queued`: the delivery counts say so until callbacks come.
    assert_eq!(
        summary["deliveries"]["queued"],
        summary["recipients"]["sent"]
    );
    assert_eq!(
        summary["deliveries"]["total"],
        summary["recipients"]["sent"]
    );
    assert_settled(&summary);
    let hold = app.hold_details(&org, &hold_id).await;
    assert_eq!(hold["status"], "captured", "{hold}");
    app.assert_figures(&org.id, "9.40", "0.00", "9.40").await;
    let entries = ok(app
        .wallet_get(&org.id, "/entries?kinds=capture", &org.key)
        .await)
    .await;
    assert_eq!(
        entries["entries"].as_array().map(Vec::len),
        Some(2),
        "{entries}"
    );
}
