//! Unconfirmed recipients: Twilio answered a send with a 500, so the message may have gone out.
//! It is charged and never resent; an operator resolves it once Twilio's log says which.

use campaigns::{Lookup, LookupConfig};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, ResponseTemplate, matchers};

use crate::{
    common::{ADMIN_TOKEN, Org, TestApp, assert_problem, created, ok, send},
    support::{BODY, FROM, FakeTwilio, assert_settled, drain, reconciliation, subaccount},
};

impl TestApp {
    async fn resolve(
        &self,
        org: &Org,
        campaign: &str,
        recipient: &Value,
        body: &Value,
    ) -> reqwest::Response {
        let path = format!(
            "/v1/admin/organizations/{}/campaigns/{campaign}/recipients/{recipient}/resolve",
            org.id
        );
        send(
            self.client
                .post(self.url(&path))
                .bearer_auth(ADMIN_TOKEN)
                .json(body),
        )
        .await
    }
}

#[tokio::test]
async fn an_unconfirmed_recipient_is_charged_never_resent_and_resolved_by_an_operator() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    let (org, brand, campaign) = app.ready_campaign("Acme", "10.00", 1, 2).await;
    let id = campaign["id"].as_str().unwrap();
    created(app.start(&org, id, "start-1").await).await;

    // The first send gets a 500: unconfirmed, charged; the batch stops there.
    twilio.fail_next_sends(1).await;
    let dispatcher = twilio.dispatcher(&app, 1);
    let reports = drain(&dispatcher).await;
    assert_eq!(
        reports.iter().map(|r| r.unconfirmed).sum::<usize>(),
        1,
        "{reports:?}"
    );
    let recipients = app.recipients(&org, id).await;
    assert_eq!(recipients[0]["status"], "unconfirmed");
    assert_eq!(recipients[0]["charged"], "0.05");
    assert_eq!(recipients[0]["attempts"], 1);
    assert!(recipients[0]["error"].is_string());
    assert_eq!(recipients[1]["status"], "pending");
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["recipients"]["unconfirmed"], 1);
    assert_eq!(summary["money"]["captured"], "0.05");

    // The operator learns from Twilio's log that it never went out: refunded, failed.
    let unconfirmed = &recipients[0]["id"];
    let resolved = ok(app
        .resolve(&org, id, unconfirmed, &json!({"outcome": "not_sent"}))
        .await)
    .await;
    assert_eq!(resolved["status"], "failed");
    assert_eq!(resolved["charged"], "0.00");
    assert_eq!(resolved["id"], *unconfirmed);
    app.assert_figures(&org.id, "10.00", "0.05", "9.95").await;
    // Resolving again is refused and changes nothing.
    let problem = app
        .refused_campaigns(
            app.resolve(&org, id, unconfirmed, &json!({"outcome": "sent"})),
            409,
            "RECIPIENT_NOT_UNCONFIRMED",
        )
        .await;
    assert_eq!(problem["recipient_status"], "failed");
    app.refused_campaigns(
        app.resolve(&org, id, &json!(999_999), &json!({"outcome": "sent"})),
        404,
        "RECIPIENT_NOT_FOUND",
    )
    .await;
    app.refused_campaigns(
        app.resolve(&org, id, &json!("first"), &json!({"outcome": "sent"})),
        404,
        "NOT_FOUND",
    )
    .await;

    // After the backoff the rest is sent; the unconfirmed one never again.
    app.clock.advance(TimeDelta::seconds(31));
    drain(&dispatcher).await;
    let sends = twilio.sends().await;
    assert_eq!(sends.len(), 2, "{sends:#?}");
    assert_ne!(sends[0].form["To"], sends[1].form["To"]);
    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["status"], "completed");
    assert_eq!(
        (
            &summary["recipients"]["sent"],
            &summary["recipients"]["failed"]
        ),
        (&json!(1), &json!(1))
    );
    assert_settled(&summary);

    // Another campaign whose only message is unconfirmed, which Twilio did send.
    let second = app.create_campaign(&org, &brand).await;
    let second = second["id"].as_str().unwrap();
    ok(app
        .add_recipients(&org, second, &["+442071838750".to_owned()])
        .await)
    .await;
    created(app.start(&org, second, "start-2").await).await;
    twilio.fail_next_sends(1).await;
    drain(&dispatcher).await;
    let recipient = app.recipients(&org, second).await[0].clone();
    assert_eq!(recipient["status"], "unconfirmed");
    let sid = format!("SM{}", "ab".repeat(16));
    let resolved = ok(app
        .resolve(
            &org,
            second,
            &recipient["id"],
            &json!({"outcome": "sent", "twilio_sid": sid}),
        )
        .await)
    .await;
    assert_eq!(resolved["status"], "sent");
    assert_eq!(resolved["twilio_sid"], sid.as_str());
    assert_eq!(resolved["charged"], "0.05");
    assert!(resolved["sent_at"].is_string());

    // 10.00 - 0.05 (sent) - 0.05 (the one Twilio sent after all); the refund balanced the rest.
    app.assert_figures(&org.id, "9.90", "0.00", "9.90").await;
    assert_eq!(reconciliation(&app, &org.id).await["clean"], true);
    assert_eq!(twilio.sends().await.len(), 3);
}

/// One message of Twilio's list: sent to `to` by the campaign's number with its text.
fn listed(n: u32, to: &str, status: &str, error_code: Option<u32>, at: DateTime<Utc>) -> Value {
    json!({
        "sid": format!("SM{n:032x}"), "account_sid": subaccount(1), "to": to, "from": FROM,
        "body": BODY, "status": status, "direction": "outbound-api",
        "messaging_service_sid": null, "error_code": error_code,
        "date_created": at.to_rfc2822(), "date_sent": at.to_rfc2822(),
        "price": null, "price_unit": "USD"
    })
}

/// Twilio's list of the messages to `to`.
async fn answer_list(twilio: &FakeTwilio, to: &Value, messages: Vec<Value>) {
    Mock::given(matchers::method("GET"))
        .and(matchers::path_regex(r"/Messages\.json$"))
        .and(matchers::query_param("To", to.as_str().unwrap()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": messages, "next_page_uri": null, "page": 0, "page_size": 100
        })))
        .mount(&twilio.server)
        .await;
}

#[tokio::test]
async fn the_recipient_list_shows_what_twilio_reported_and_why_the_lookup_left_one() {
    let twilio = FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 2).await;
    let id = campaign["id"].as_str().unwrap();
    created(app.start(&org, id, "start-1").await).await;
    twilio.fail_next_sends(2).await;
    let dispatcher = twilio.dispatcher(&app, 1);
    drain(&dispatcher).await;
    app.clock.advance(TimeDelta::seconds(31));
    drain(&dispatcher).await;
    let recipients = app.recipients(&org, id).await;
    for recipient in &recipients {
        assert_eq!(recipient["status"], "unconfirmed", "{recipient}");
        assert!(recipient["unconfirmed_at"].is_string(), "{recipient}");
        for field in [
            "delivery_status",
            "delivery_error_code",
            "delivery_updated_at",
            "lookup_note",
        ] {
            assert_eq!(recipient[field], json!(null), "{field}: {recipient}");
        }
    }

    // Twilio's list has the first one's message (undelivered), and two candidates for the
    // second: the lookup resolves the first and leaves the second to a person.
    let now = app.state.campaigns.now();
    answer_list(
        &twilio,
        &recipients[0]["phone"],
        vec![listed(
            1,
            recipients[0]["phone"].as_str().unwrap(),
            "undelivered",
            Some(30003),
            now,
        )],
    )
    .await;
    let second = recipients[1]["phone"].as_str().unwrap();
    answer_list(
        &twilio,
        &recipients[1]["phone"],
        vec![
            listed(2, second, "delivered", None, now),
            listed(3, second, "delivered", None, now),
        ],
    )
    .await;
    let config = LookupConfig::default();
    app.clock.advance(config.after + TimeDelta::seconds(1));
    let client = twilio::TwilioClient::new(twilio.settings()).unwrap();
    let lookup = Lookup::new(
        app.state.pool.clone(),
        app.state.campaigns.clone(),
        client,
        config,
    );
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.sent, report.ambiguous), (1, 1), "{report:?}");

    let after = app.recipients(&org, id).await;
    let resolved = &after[0];
    assert_eq!(resolved["status"], "sent", "{resolved}");
    assert_eq!(resolved["charged"], "0.05");
    assert_eq!(resolved["delivery_status"], "undelivered");
    assert_eq!(resolved["delivery_error_code"], 30003);
    assert!(resolved["delivery_updated_at"].is_string(), "{resolved}");
    assert_eq!(resolved["unconfirmed_at"], recipients[0]["unconfirmed_at"]);
    let sid = format!("SM{:032x}", 1);
    assert_eq!(resolved["twilio_sid"], sid.as_str());
    assert!(
        resolved["lookup_note"]
            .as_str()
            .is_some_and(|note| note.contains(&sid)),
        "{resolved}"
    );
    let left = &after[1];
    assert_eq!(left["status"], "unconfirmed", "{left}");
    assert_eq!(left["delivery_status"], json!(null));
    assert_eq!(left["unconfirmed_at"], recipients[1]["unconfirmed_at"]);
    assert!(
        left["lookup_note"]
            .as_str()
            .is_some_and(|note| note.starts_with("left to a person: 2 candidate messages")),
        "{left}"
    );
}

#[tokio::test]
async fn resolve_refuses_bad_input_before_anything_is_looked_up() {
    let app = TestApp::campaigns_app().await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 1).await;
    let id = campaign["id"].as_str().unwrap();
    let recipient = app.recipients(&org, id).await[0]["id"].clone();
    let sid = format!("SM{}", "ab".repeat(16));
    for (body, field) in [
        (
            json!({"outcome": "not_sent", "twilio_sid": sid}),
            Some("twilio_sid"),
        ),
        (
            json!({"outcome": "sent", "twilio_sid": "SM123"}),
            Some("twilio_sid"),
        ),
        (json!({"outcome": "maybe"}), Some("outcome")),
        (json!({"outcome": "NOT_SENT"}), Some("outcome")),
        (json!({}), None),
        (json!({"outcome": "sent", "extra": 1}), None),
        (json!({"outcome": 1}), None),
    ] {
        let problem = app
            .refused_campaigns(
                app.resolve(&org, id, &recipient, &body),
                422,
                "VALIDATION_FAILED",
            )
            .await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}");
        }
    }
    let path = format!(
        "/v1/admin/organizations/{}/campaigns/{id}/recipients/{recipient}/resolve",
        org.id
    );
    let malformed = app.post_raw(
        &app.url(&path),
        ADMIN_TOKEN,
        "{\"outcome\":",
        crate::common::JSON,
    );
    assert_problem(send(malformed).await, 400, "MALFORMED_JSON").await;
    let plain = app.post_raw(&app.url(&path), ADMIN_TOKEN, "{}", Some("text/plain"));
    assert_problem(send(plain).await, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}
