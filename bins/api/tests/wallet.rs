//! The wallet endpoints over HTTP, against a real database: money movements, idempotency,
//! holds, freezes, access control, input validation and reconciliation. Every refused request
//! is checked to have changed nothing.

// Marks the helpers in `common` as test code, where unwrap is allowed.
#![cfg(test)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use std::time::Duration;

use common::{ADMIN_TOKEN, BODY_LIMIT, TestApp, assert_problem};
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

/// An organization with a key of its own.
struct Org {
    id: String,
    key_id: String,
    key: String,
}

async fn org_with_key(app: &TestApp, name: &str) -> Org {
    let id = app.create_organization(name).await;
    let (key_id, key) = app.issue_key(&id).await;
    Org { id, key_id, key }
}

fn key() -> String {
    format!("test-{}", uuid::Uuid::now_v7())
}

async fn debit(app: &TestApp, org: &Org, key: Option<&str>, amount: &str) -> Response {
    app.wallet_post(
        &org.id,
        "/debits",
        &org.key,
        key,
        &json!({"amount": amount, "currency": "USD"}),
    )
    .send()
    .await
    .unwrap()
}

async fn hold(app: &TestApp, org: &Org, key: &str, body: Value) -> Response {
    app.wallet_post(&org.id, "/holds", &org.key, Some(key), &body)
        .send()
        .await
        .unwrap()
}

async fn capture(app: &TestApp, org: &Org, hold_id: &str, key: &str, amount: &str) -> Response {
    app.wallet_post(
        &org.id,
        &format!("/holds/{hold_id}/captures"),
        &org.key,
        Some(key),
        &json!({"amount": amount, "currency": "USD"}),
    )
    .send()
    .await
    .unwrap()
}

/// A release with no body at all, the reference in the header.
async fn release(app: &TestApp, org: &Org, hold_id: &str, key: &str) -> Response {
    app.client
        .post(app.wallet_url(&org.id, &format!("/holds/{hold_id}/release")))
        .bearer_auth(&org.key)
        .header("Idempotency-Key", key)
        .send()
        .await
        .unwrap()
}

async fn admin_post(
    app: &TestApp,
    org: &str,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> Response {
    app.wallet_post(org, path, ADMIN_TOKEN, key, &body)
        .send()
        .await
        .unwrap()
}

async fn created(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["replayed"], false, "{body}");
    body
}

async fn ok(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn figures(app: &TestApp, org: &str) -> (String, String, String) {
    let wallet = app.wallet(org).await;
    let figure = |name: &str| wallet[name].as_str().unwrap().to_owned();
    (figure("balance"), figure("held"), figure("available"))
}

fn figures_of(balance: &str, held: &str, available: &str) -> (String, String, String) {
    (balance.to_owned(), held.to_owned(), available.to_owned())
}

#[tokio::test]
async fn a_debit_of_the_exact_balance_succeeds_and_one_cent_more_is_refused() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;

    let funded = app.fund(&org.id, "10.00").await;
    let entry = &funded["entry"];
    assert_eq!(entry["kind"], "credit");
    assert_eq!(entry["amount"], "10.00");
    assert_eq!(entry["balance_change"], "10.00");
    assert_eq!(entry["held_change"], "0.00");
    assert_eq!(entry["balance_after"], "10.00");
    assert_eq!(entry["currency"], "USD");
    assert_eq!(entry["counterparty"], "topup:manual");
    assert_eq!(entry["actor"], "admin");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("10.00", "0.00", "10.00")
    );

    let before = app.books().await;
    let problem = assert_problem(
        debit(&app, &org, Some(&key()), "10.01").await,
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
    assert_eq!(problem["available"], "10.00");
    assert_eq!(problem["requested"], "10.01");
    assert_eq!(problem["currency"], "USD");
    assert_eq!(app.books().await, before);

    let debited = created(debit(&app, &org, Some("order-1"), "10.00").await).await;
    let entry = &debited["entry"];
    assert_eq!(entry["kind"], "debit");
    assert_eq!(entry["amount"], "10.00");
    assert_eq!(entry["balance_change"], "-10.00");
    assert_eq!(entry["balance_after"], "0.00");
    assert_eq!(entry["counterparty"], "revenue:messages");
    assert_eq!(entry["reference"], "order-1");
    assert_eq!(entry["actor"], format!("api_key:{}", org.key_id));
    assert!(entry["hold_id"].is_null());
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("0.00", "0.00", "0.00")
    );

    let before = app.books().await;
    let problem = assert_problem(
        debit(&app, &org, Some(&key()), "0.01").await,
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
    assert_eq!(problem["available"], "0.00");
    assert_eq!(problem["requested"], "0.01");
    assert_eq!(app.books().await, before);
    assert_eq!(app.count_entries(&org.id).await, 2);
}

#[tokio::test]
async fn a_retried_debit_is_replayed_and_a_changed_one_conflicts() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "50.00").await;

    let first = debit(&app, &org, Some("msg-batch-7"), "12.34").await;
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first = created(first).await;
    let entries = app.count_entries(&org.id).await;

    // Header again, then the same reference in the body: both are the same debit.
    let retried = debit(&app, &org, Some("msg-batch-7"), "12.34").await;
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let retried = ok(retried).await;
    assert_eq!(retried["replayed"], true);
    assert_eq!(retried["entry"], first["entry"]);
    let in_body = app
        .wallet_post(
            &org.id,
            "/debits",
            &org.key,
            None,
            &json!({"amount": "12.34", "currency": "USD", "reference": "msg-batch-7"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(in_body.headers()["idempotent-replayed"], "true");
    assert_eq!(ok(in_body).await["entry"], first["entry"]);
    assert_eq!(app.count_entries(&org.id).await, entries);
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("37.66", "0.00", "37.66")
    );

    // Same reference, different parameters.
    let before = app.books().await;
    let problem = assert_problem(
        debit(&app, &org, Some("msg-batch-7"), "12.35").await,
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    assert_eq!(problem["reference"], "msg-batch-7");
    let other_counterparty = app
        .wallet_post(
            &org.id,
            "/debits",
            &org.key,
            Some("msg-batch-7"),
            &json!({"amount": "12.34", "currency": "USD", "counterparty": "revenue:calls"}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(other_counterparty, 409, "IDEMPOTENCY_CONFLICT").await;
    // A reference is per wallet and per operation: a credit cannot reuse a debit's.
    let as_credit = admin_post(
        &app,
        &org.id,
        "/credits",
        Some("msg-batch-7"),
        json!({"amount": "12.34", "currency": "USD", "counterparty": "topup:manual"}),
    )
    .await;
    assert_problem(as_credit, 409, "IDEMPOTENCY_CONFLICT").await;
    assert_eq!(app.books().await, before);
}

#[tokio::test]
async fn concurrent_debits_and_retries_over_http_never_overdraw_or_double_charge() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "5.00").await;

    let racing = (0..12).map(|_| {
        let key = key();
        let (app, org) = (&app, &org);
        async move { debit(app, org, Some(&key), "1.00").await.status() }
    });
    let statuses = futures::future::join_all(racing).await;
    let applied = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((applied, refused), (5, 7), "{statuses:?}");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("0.00", "0.00", "0.00")
    );

    app.fund(&org.id, "5.00").await;
    let retries = (0..8).map(|_| {
        let (app, org) = (&app, &org);
        async move { debit(app, org, Some("same-retry"), "1.00").await.status() }
    });
    let statuses = futures::future::join_all(retries).await;
    let applied = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let replayed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((applied, replayed), (1, 7), "{statuses:?}");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("4.00", "0.00", "4.00")
    );
}

#[tokio::test]
async fn money_movements_need_one_agreeing_valid_reference() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "50.00").await;
    let hold_id = created(
        hold(
            &app,
            &org,
            "h-1",
            json!({"amount": "5.00", "currency": "USD"}),
        )
        .await,
    )
    .await["hold"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.books().await;

    let amount = json!({"amount": "1.00", "currency": "USD"});
    let cases: Vec<(String, &str, Value)> = vec![
        ("/debits".into(), &org.key, amount.clone()),
        (
            "/credits".into(),
            ADMIN_TOKEN,
            json!({"amount": "1.00", "currency": "USD", "counterparty": "topup:manual"}),
        ),
        ("/holds".into(), &org.key, amount.clone()),
        (
            format!("/holds/{hold_id}/captures"),
            &org.key,
            amount.clone(),
        ),
        (format!("/holds/{hold_id}/release"), &org.key, json!({})),
        (
            "/corrections".into(),
            ADMIN_TOKEN,
            json!({"amount": "1.00", "currency": "USD", "reason": "test"}),
        ),
    ];

    for (path, token, body) in &cases {
        let response = app
            .wallet_post(&org.id, path, token, None, body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "IDEMPOTENCY_KEY_REQUIRED").await;

        let mut with_reference = body.clone();
        with_reference["reference"] = json!("body-ref");
        let response = app
            .wallet_post(&org.id, path, token, Some("header-ref"), &with_reference)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "REFERENCE_MISMATCH").await;

        let response = app
            .wallet_post(&org.id, path, token, Some("has space"), body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "INVALID_IDEMPOTENCY_KEY").await;

        let mut bad_reference = body.clone();
        bad_reference["reference"] = json!("two words");
        let response = app
            .wallet_post(&org.id, path, token, None, &bad_reference)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "INVALID_REFERENCE").await;
        assert_eq!(problem["field"], "reference");
    }
    assert_eq!(app.books().await, before);

    // Header and body may both be sent when they agree.
    let mut agreeing = amount.clone();
    agreeing["reference"] = json!("same-ref");
    let response = app
        .wallet_post(&org.id, "/debits", &org.key, Some("same-ref"), &agreeing)
        .send()
        .await
        .unwrap();
    assert_eq!(created(response).await["entry"]["reference"], "same-ref");
}

#[tokio::test]
async fn holds_are_captured_in_parts_and_released() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "100.00").await;

    let receipt = created(
        hold(
            &app,
            &org,
            "campaign-1",
            json!({"amount": "30.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    let held = &receipt["hold"];
    let hold_id = held["id"].as_str().unwrap().to_owned();
    assert_eq!(held["status"], "open");
    assert_eq!(held["amount"], "30.00");
    assert_eq!(held["remaining"], "30.00");
    assert_eq!(held["counterparty"], "revenue:messages");
    let expires_at: chrono::DateTime<chrono::Utc> =
        held["expires_at"].as_str().unwrap().parse().unwrap();
    let now = primitives::Clock::now(&app.clock);
    assert_eq!(expires_at - now, chrono::TimeDelta::seconds(86_400));
    assert_eq!(receipt["entry"]["kind"], "hold");
    assert_eq!(receipt["entry"]["held_change"], "30.00");
    assert_eq!(receipt["entry"]["hold_id"], hold_id.as_str());
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("100.00", "30.00", "70.00")
    );

    // What is held cannot be debited.
    let before = app.books().await;
    let problem = assert_problem(
        debit(&app, &org, Some(&key()), "70.01").await,
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
    assert_eq!(problem["available"], "70.00");
    assert_eq!(app.books().await, before);

    let captured = created(capture(&app, &org, &hold_id, "cap-1", "10.00").await).await;
    assert_eq!(captured["entry"]["kind"], "capture");
    assert_eq!(captured["entry"]["balance_change"], "-10.00");
    assert_eq!(captured["entry"]["held_change"], "-10.00");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("90.00", "20.00", "70.00")
    );
    let replay = capture(&app, &org, &hold_id, "cap-1", "10.00").await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(ok(replay).await["entry"], captured["entry"]);

    let before = app.books().await;
    let problem = assert_problem(
        capture(&app, &org, &hold_id, "cap-2", "25.00").await,
        422,
        "CAPTURE_EXCEEDS_HOLD",
    )
    .await;
    assert_eq!(problem["remaining"], "20.00");
    assert_eq!(problem["requested"], "25.00");
    assert_eq!(problem["hold_id"], hold_id.as_str());
    assert_eq!(app.books().await, before);

    let current = ok(app
        .wallet_get(&org.id, &format!("/holds/{hold_id}"), &org.key)
        .await)
    .await;
    assert_eq!(current["captured"], "10.00");
    assert_eq!(current["remaining"], "20.00");
    assert_eq!(current["status"], "open");

    let released = created(release(&app, &org, &hold_id, "rel-1").await).await;
    assert_eq!(released["entry"]["kind"], "release");
    assert_eq!(released["entry"]["amount"], "20.00");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("90.00", "0.00", "90.00")
    );
    let replay = release(&app, &org, &hold_id, "rel-1").await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(ok(replay).await["entry"], released["entry"]);

    let current = ok(app
        .wallet_get(&org.id, &format!("/holds/{hold_id}"), &org.key)
        .await)
    .await;
    assert_eq!(current["status"], "released");
    assert_eq!(current["released"], "20.00");
    assert_eq!(current["remaining"], "0.00");
    assert!(current["closed_at"].is_string());

    let before = app.books().await;
    let problem = assert_problem(
        release(&app, &org, &hold_id, "rel-2").await,
        409,
        "HOLD_NOT_OPEN",
    )
    .await;
    assert_eq!(problem["hold_status"], "released");
    let problem = assert_problem(
        capture(&app, &org, &hold_id, "cap-3", "1.00").await,
        409,
        "HOLD_NOT_OPEN",
    )
    .await;
    assert_eq!(problem["hold_id"], hold_id.as_str());
    let missing = uuid::Uuid::now_v7();
    assert_problem(
        capture(&app, &org, &missing.to_string(), "cap-4", "1.00").await,
        404,
        "HOLD_NOT_FOUND",
    )
    .await;
    let response = app
        .wallet_get(&org.id, &format!("/holds/{missing}"), &org.key)
        .await;
    assert_problem(response, 404, "HOLD_NOT_FOUND").await;
    assert_eq!(app.books().await, before);

    // A capture that empties a hold closes it; `{}` is an accepted release body too.
    let second = created(
        hold(
            &app,
            &org,
            "campaign-2",
            json!({"amount": "5.00", "currency": "USD",
            "counterparty": "revenue:whatsapp", "expires_in_seconds": 600}),
        )
        .await,
    )
    .await;
    let second_id = second["hold"]["id"].as_str().unwrap().to_owned();
    assert_eq!(second["hold"]["counterparty"], "revenue:whatsapp");
    let captured = created(capture(&app, &org, &second_id, "cap-5", "5.00").await).await;
    assert_eq!(captured["entry"]["counterparty"], "revenue:whatsapp");
    let current = ok(app
        .wallet_get(&org.id, &format!("/holds/{second_id}"), &org.key)
        .await)
    .await;
    assert_eq!(current["status"], "captured");

    let third = created(
        hold(
            &app,
            &org,
            "campaign-3",
            json!({"amount": "1.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    let third_id = third["hold"]["id"].as_str().unwrap();
    let response = app
        .wallet_post(
            &org.id,
            &format!("/holds/{third_id}/release"),
            &org.key,
            Some("rel-3"),
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    created(response).await;
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("85.00", "0.00", "85.00")
    );
}

#[tokio::test]
async fn hold_requests_are_validated_before_anything_is_reserved() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "10.00").await;
    let before = app.books().await;

    for seconds in [json!(0), json!(-5), json!(2_592_001)] {
        let body = json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": seconds});
        let problem =
            assert_problem(hold(&app, &org, &key(), body).await, 422, "INVALID_EXPIRY").await;
        assert_eq!(problem["field"], "expires_in_seconds");
    }
    let body = json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": 1.5});
    assert_problem(
        hold(&app, &org, &key(), body).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let body = json!({"amount": "10.01", "currency": "USD"});
    let problem = assert_problem(
        hold(&app, &org, &key(), body).await,
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
    assert_eq!(problem["available"], "10.00");
    let body = json!({"amount": "1.00", "currency": "USD", "counterparty": "Revenue Messages"});
    let problem = assert_problem(
        hold(&app, &org, &key(), body).await,
        422,
        "INVALID_COUNTERPARTY",
    )
    .await;
    assert_eq!(problem["field"], "counterparty");
    let body = json!({"amount": "1.00", "currency": "EUR"});
    assert_problem(
        hold(&app, &org, &key(), body).await,
        422,
        "CURRENCY_MISMATCH",
    )
    .await;
    assert_eq!(app.books().await, before);

    // The longest allowed hold is accepted.
    let body = json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": 2_592_000});
    created(hold(&app, &org, &key(), body).await).await;
}

#[tokio::test]
async fn holds_past_their_deadline_cannot_be_captured_and_are_expired_by_the_sweep() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "20.00").await;
    let body = json!({"amount": "8.00", "currency": "USD", "expires_in_seconds": 60});
    let receipt = created(hold(&app, &org, "short", body).await).await;
    let hold_id = receipt["hold"]["id"].as_str().unwrap().to_owned();

    // Nothing is due yet.
    let response = app
        .client
        .post(app.url("/v1/admin/holds/expire"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(response).await["expired"], 0);

    app.clock.advance(chrono::TimeDelta::seconds(61));
    let before = app.books().await;
    let problem = assert_problem(
        capture(&app, &org, &hold_id, "late", "1.00").await,
        409,
        "HOLD_NOT_OPEN",
    )
    .await;
    assert_eq!(problem["hold_status"], "expired");
    assert_eq!(app.books().await, before);

    // Organization keys may not run the sweep.
    let response = app
        .client
        .post(app.url("/v1/admin/holds/expire"))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "ADMIN_REQUIRED").await;
    assert_eq!(app.books().await, before);

    let response = app
        .client
        .post(app.url("/v1/admin/holds/expire"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(response).await["expired"], 1);
    let current = ok(app
        .wallet_get(&org.id, &format!("/holds/{hold_id}"), &org.key)
        .await)
    .await;
    assert_eq!(current["status"], "expired");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("20.00", "0.00", "20.00")
    );
    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=expiry", &org.key)
        .await)
    .await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page["entries"][0]["actor"], "system:hold-expiry");
    assert_eq!(page["entries"][0]["held_change"], "-8.00");

    let response = app
        .client
        .post(app.url("/v1/admin/holds/expire"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(response).await["expired"], 0, "a hold expires once");
}

#[tokio::test]
async fn the_background_sweeper_expires_due_holds() {
    let app = TestApp::spawn_with(testkit::TestDb::new().await, |config| {
        config.hold_expiry_interval = Some(Duration::from_secs(1));
    })
    .await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "20.00").await;
    let body = json!({"amount": "8.00", "currency": "USD", "expires_in_seconds": 60});
    let receipt = created(hold(&app, &org, "swept", body).await).await;
    let hold_id = receipt["hold"]["id"].as_str().unwrap().to_owned();
    let status = || async {
        ok(app
            .wallet_get(&org.id, &format!("/holds/{hold_id}"), &org.key)
            .await)
        .await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Several sweeps run before the deadline without touching the hold.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(status().await, "open");

    app.clock.advance(chrono::TimeDelta::seconds(61));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while status().await != "expired" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper never expired the hold"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("20.00", "0.00", "20.00")
    );
}

#[tokio::test]
async fn a_frozen_wallet_refuses_debits_and_holds_but_records_credits() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "50.00").await;
    let earlier = created(
        hold(
            &app,
            &org,
            "before-freeze",
            json!({"amount": "10.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    let earlier_id = earlier["hold"]["id"].as_str().unwrap().to_owned();

    let frozen = ok(admin_post(
        &app,
        &org.id,
        "/freeze",
        None,
        json!({"reason": "chargeback under review", "source": "risk"}),
    )
    .await)
    .await;
    assert_eq!(frozen["changed"], true);
    assert_eq!(frozen["wallet"]["frozen"], true);
    let freezes = frozen["wallet"]["freezes"].as_array().unwrap();
    assert_eq!(freezes.len(), 1);
    assert_eq!(freezes[0]["source"], "risk");
    assert_eq!(freezes[0]["reason"], "chargeback under review");
    assert_eq!(freezes[0]["actor"], "admin");
    assert!(freezes[0]["frozen_at"].is_string());
    let again = ok(admin_post(
        &app,
        &org.id,
        "/freeze",
        None,
        json!({"reason": "another reason", "source": "risk"}),
    )
    .await)
    .await;
    assert_eq!(again["changed"], false);
    assert_eq!(
        again["wallet"]["freezes"][0]["reason"],
        "chargeback under review"
    );

    let before = app.books().await;
    let problem = assert_problem(
        debit(&app, &org, Some(&key()), "1.00").await,
        409,
        "FROZEN_WALLET",
    )
    .await;
    assert_eq!(problem["sources"], json!(["risk"]));
    let problem = assert_problem(
        hold(
            &app,
            &org,
            &key(),
            json!({"amount": "1.00", "currency": "USD"}),
        )
        .await,
        409,
        "FROZEN_WALLET",
    )
    .await;
    assert_eq!(problem["sources"], json!(["risk"]));
    assert_eq!(app.books().await, before);

    // Money received is recorded, and a hold made before the freeze can still be captured.
    let credited = app.fund(&org.id, "5.00").await;
    assert_eq!(credited["entry"]["balance_after"], "55.00");
    created(capture(&app, &org, &earlier_id, "cap-frozen", "4.00").await).await;
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("51.00", "6.00", "45.00")
    );

    // Lifting another source's freeze lifts nothing.
    let lifted =
        ok(admin_post(&app, &org.id, "/unfreeze", None, json!({"reason": "paid"})).await).await;
    assert_eq!(lifted["changed"], false);
    assert_eq!(lifted["wallet"]["frozen"], true);
    assert_problem(
        debit(&app, &org, Some(&key()), "1.00").await,
        409,
        "FROZEN_WALLET",
    )
    .await;

    let lifted = ok(admin_post(
        &app,
        &org.id,
        "/unfreeze",
        None,
        json!({"reason": "review passed", "source": "risk"}),
    )
    .await)
    .await;
    assert_eq!(lifted["changed"], true);
    assert_eq!(lifted["wallet"]["frozen"], false);
    assert_eq!(lifted["wallet"]["freezes"], json!([]));
    created(debit(&app, &org, Some(&key()), "1.00").await).await;

    // Bad freeze requests change nothing.
    let before = app.books().await;
    let response = admin_post(&app, &org.id, "/freeze", None, json!({"reason": "  "})).await;
    assert_problem(response, 422, "INVALID_REASON").await;
    let response = admin_post(
        &app,
        &org.id,
        "/freeze",
        None,
        json!({"reason": "x", "source": "fraud"}),
    )
    .await;
    assert_problem(response, 422, "VALIDATION_FAILED").await;
    let response = admin_post(&app, &org.id, "/freeze", None, json!({})).await;
    assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(app.books().await, before);
    assert_eq!(app.wallet(&org.id).await["frozen"], false);
}

#[tokio::test]
async fn organization_keys_are_refused_admin_wallet_operations() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "10.00").await;
    let before = app.books().await;

    let attempts: [(&str, Value); 4] = [
        (
            "/credits",
            json!({"amount": "1000.00", "currency": "USD", "counterparty": "topup:manual"}),
        ),
        ("/freeze", json!({"reason": "self-freeze"})),
        (
            "/unfreeze",
            json!({"reason": "self-unfreeze", "source": "billing"}),
        ),
        (
            "/corrections",
            json!({"amount": "1000.00", "currency": "USD", "reason": "free money"}),
        ),
    ];
    for (path, body) in attempts {
        let response = app
            .wallet_post(&org.id, path, &org.key, Some(&key()), &body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 403, "ADMIN_REQUIRED").await;
    }
    let response = app.wallet_get(&org.id, "/reconciliation", &org.key).await;
    assert_problem(response, 403, "ADMIN_REQUIRED").await;
    let response = app
        .client
        .get(app.url("/v1/admin/reconciliation"))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "ADMIN_REQUIRED").await;
    // Refused before the body is read: even a malformed one gets the 403.
    let response = app
        .client
        .post(app.wallet_url(&org.id, "/credits"))
        .bearer_auth(&org.key)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "ADMIN_REQUIRED").await;
    assert_eq!(app.books().await, before);
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("10.00", "0.00", "10.00")
    );
}

#[tokio::test]
async fn missing_and_bad_credentials_get_401_and_change_nothing() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "10.00").await;
    let before = app.books().await;
    let body = json!({"amount": "1.00", "currency": "USD"});

    let unauthenticated = [
        app.client.post(app.wallet_url(&org.id, "/debits")),
        app.client
            .post(app.wallet_url(&org.id, "/debits"))
            .bearer_auth("bsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        app.client
            .post(app.wallet_url(&org.id, "/debits"))
            .bearer_auth(&org.key[..org.key.len() - 1]),
        app.client
            .post(app.wallet_url(&org.id, "/credits"))
            .bearer_auth(&ADMIN_TOKEN[1..]),
        app.client
            .post(app.wallet_url(&org.id, "/holds"))
            .header(header::AUTHORIZATION, format!("Basic {}", org.key)),
    ];
    for request in unauthenticated {
        let response = request
            .header("Idempotency-Key", key())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "UNAUTHORIZED").await;
    }
    for path in ["", "/entries", "/reconciliation"] {
        let response = app
            .client
            .get(app.wallet_url(&org.id, path))
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "UNAUTHORIZED").await;
    }
    let response = app
        .client
        .get(app.url("/v1/admin/reconciliation"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "UNAUTHORIZED").await;
    let response = app
        .client
        .post(app.url("/v1/admin/holds/expire"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "UNAUTHORIZED").await;
    assert_eq!(app.books().await, before);
}

#[tokio::test]
async fn another_organizations_wallet_holds_and_entries_are_not_found() {
    let app = TestApp::spawn().await;
    let own = org_with_key(&app, "Own").await;
    let other = org_with_key(&app, "Other").await;
    app.fund(&own.id, "10.00").await;
    app.fund(&other.id, "10.00").await;
    let other_hold = created(
        hold(
            &app,
            &other,
            "theirs",
            json!({"amount": "5.00", "currency": "USD"}),
        )
        .await,
    )
    .await["hold"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.books().await;

    // Another organization's wallet answers exactly like one that does not exist.
    let missing = uuid::Uuid::now_v7().to_string();
    for path in ["", "/entries", &format!("/holds/{other_hold}")] {
        let foreign = assert_problem(
            app.wallet_get(&other.id, path, &own.key).await,
            404,
            "WALLET_NOT_FOUND",
        )
        .await;
        let absent = assert_problem(
            app.wallet_get(&missing, path, &own.key).await,
            404,
            "WALLET_NOT_FOUND",
        )
        .await;
        assert_eq!(foreign, absent);
    }
    let hold_paths = [
        format!("/holds/{other_hold}/captures"),
        format!("/holds/{other_hold}/release"),
    ];
    for path in ["/debits", "/holds", &hold_paths[0], &hold_paths[1]] {
        let response = app
            .wallet_post(
                &other.id,
                path,
                &own.key,
                Some(&key()),
                &json!({"amount": "1.00", "currency": "USD"}),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "WALLET_NOT_FOUND").await;
        // Refused before the body is read.
        let response = app
            .client
            .post(app.wallet_url(&other.id, path))
            .bearer_auth(&own.key)
            .header(header::CONTENT_TYPE, "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "WALLET_NOT_FOUND").await;
    }

    // Their hold through our own wallet: no such hold on this wallet.
    let response = app
        .wallet_get(&own.id, &format!("/holds/{other_hold}"), &own.key)
        .await;
    assert_problem(response, 404, "HOLD_NOT_FOUND").await;
    assert_problem(
        capture(&app, &own, &other_hold, &key(), "1.00").await,
        404,
        "HOLD_NOT_FOUND",
    )
    .await;
    assert_problem(
        release(&app, &own, &other_hold, &key()).await,
        404,
        "HOLD_NOT_FOUND",
    )
    .await;

    // Ids that are not UUIDs name nothing either.
    let response = app.wallet_get("not-a-uuid", "", &own.key).await;
    assert_problem(response, 404, "NOT_FOUND").await;
    let response = app.wallet_get(&own.id, "/holds/not-a-uuid", &own.key).await;
    assert_problem(response, 404, "NOT_FOUND").await;

    assert_eq!(app.books().await, before);
    let page = ok(app.wallet_get(&own.id, "/entries", &own.key).await).await;
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        1,
        "only our own entries: {page}"
    );
}

#[tokio::test]
async fn bad_bodies_and_amounts_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "100.00").await;
    let before = app.books().await;
    let raw = |body: String, content_type: &'static str| {
        app.client
            .post(app.wallet_url(&org.id, "/debits"))
            .bearer_auth(&org.key)
            .header("Idempotency-Key", key())
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let json_type = "application/json";

    let response = raw(r#"{"amount": "1.00", "currency": "#.to_owned(), json_type)
        .await
        .unwrap();
    assert_problem(response, 400, "MALFORMED_JSON").await;
    let response = raw(
        r#"{"amount": 12.34, "currency": "USD"}"#.to_owned(),
        json_type,
    )
    .await
    .unwrap();
    let problem = assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("string"),
        "{problem}"
    );
    let response = raw(
        r#"{"amount": "12.34", "currency": 123}"#.to_owned(),
        json_type,
    )
    .await
    .unwrap();
    assert_problem(response, 422, "VALIDATION_FAILED").await;
    let response = raw(r#"{"currency": "USD"}"#.to_owned(), json_type)
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("amount"),
        "{problem}"
    );
    let response = raw(
        r#"{"amount": "1.00", "currency": "USD", "balance": "0"}"#.to_owned(),
        json_type,
    )
    .await
    .unwrap();
    assert_problem(response, 422, "VALIDATION_FAILED").await;
    let response = raw(
        r#"{"amount": "1.00", "currency": "USD"}"#.to_owned(),
        "text/plain",
    )
    .await
    .unwrap();
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let oversized =
        json!({"amount": "1.00", "currency": "USD", "reference": "x".repeat(BODY_LIMIT)});
    let response = raw(oversized.to_string(), json_type).await.unwrap();
    assert_problem(response, 413, "BODY_TOO_LARGE").await;

    for amount in [
        "12.345",
        "1,000.00",
        "",
        "abc",
        "-1",
        "0",
        "0.00",
        "1e3",
        "+1",
        " 1.00",
        "99999999999999999999",
    ] {
        let response = debit(&app, &org, Some(&key()), amount).await;
        let problem = assert_problem(response, 422, "INVALID_AMOUNT").await;
        assert_eq!(problem["field"], "amount", "{amount:?}");
    }
    for currency in ["XYZ", "usd", "US", "XAU", ""] {
        let response = app
            .wallet_post(
                &org.id,
                "/debits",
                &org.key,
                Some(&key()),
                &json!({"amount": "1.00", "currency": currency}),
            )
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "INVALID_CURRENCY").await;
        assert_eq!(problem["field"], "currency");
    }
    let response = app
        .wallet_post(
            &org.id,
            "/debits",
            &org.key,
            Some(&key()),
            &json!({"amount": "1.00", "currency": "EUR"}),
        )
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "CURRENCY_MISMATCH").await;
    assert_eq!(problem["wallet_currency"], "USD");
    assert_eq!(problem["requested_currency"], "EUR");
    // JPY has no decimals: "1.5" is malformed for it before the currency is compared.
    let response = app
        .wallet_post(
            &org.id,
            "/debits",
            &org.key,
            Some(&key()),
            &json!({"amount": "1.5", "currency": "JPY"}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "INVALID_AMOUNT").await;

    // The same rules for credits and captures.
    for amount in ["12.345", "-1", "99999999999999999999"] {
        let response = admin_post(
            &app,
            &org.id,
            "/credits",
            Some(&key()),
            json!({"amount": amount, "currency": "USD", "counterparty": "topup:manual"}),
        )
        .await;
        assert_problem(response, 422, "INVALID_AMOUNT").await;
    }
    let response = admin_post(
        &app,
        &org.id,
        "/credits",
        Some(&key()),
        json!({"amount": "1.00", "currency": "USD"}),
    )
    .await;
    let problem = assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("counterparty"),
        "{problem}"
    );
    let response = admin_post(
        &app,
        &org.id,
        "/credits",
        Some(&key()),
        json!({"amount": "1.00", "currency": "USD", "counterparty": "TOPUP"}),
    )
    .await;
    assert_problem(response, 422, "INVALID_COUNTERPARTY").await;

    assert_eq!(app.books().await, before);
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("100.00", "0.00", "100.00")
    );
}

#[tokio::test]
async fn a_release_body_is_optional_but_checked_when_sent() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "10.00").await;
    let receipt = created(
        hold(
            &app,
            &org,
            "h",
            json!({"amount": "5.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    let hold_id = receipt["hold"]["id"].as_str().unwrap().to_owned();
    let url = app.wallet_url(&org.id, &format!("/holds/{hold_id}/release"));
    let before = app.books().await;

    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app
            .client
            .post(&url)
            .bearer_auth(&org.key)
            .header("Idempotency-Key", "rel")
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.send()
    };
    assert_problem(
        send("{", Some("application/json")).await.unwrap(),
        400,
        "MALFORMED_JSON",
    )
    .await;
    assert_problem(
        send(r#"{"amount": "1.00"}"#, Some("application/json"))
            .await
            .unwrap(),
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_problem(
        send(r#"{"reference": "other"}"#, Some("application/json"))
            .await
            .unwrap(),
        422,
        "REFERENCE_MISMATCH",
    )
    .await;
    assert_problem(
        send("{}", Some("text/plain")).await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_eq!(app.books().await, before);

    let released = created(
        send(r#"{"reference": "rel"}"#, Some("application/json"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(released["entry"]["reference"], "rel");
    let replay = send("", None).await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(ok(replay).await["entry"], released["entry"]);
}

#[tokio::test]
async fn history_is_paginated_newest_first_and_filtered_by_kind() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    for _ in 0..4 {
        app.fund(&org.id, "10.00").await;
    }
    for cents in ["1.00", "2.00", "3.00"] {
        created(debit(&app, &org, Some(&key()), cents).await).await;
    }
    let receipt = created(
        hold(
            &app,
            &org,
            "h",
            json!({"amount": "5.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    let hold_id = receipt["hold"]["id"].as_str().unwrap().to_owned();
    created(release(&app, &org, &hold_id, "r").await).await;

    // All nine entries, three at a time, newest first, each exactly once.
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/entries?limit=3&cursor={cursor}"),
            None => "/entries?limit=3".to_owned(),
        };
        let page = ok(app.wallet_get(&org.id, &path, &org.key).await).await;
        pages += 1;
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 3);
        seen.extend(entries.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen.len(), 9);
    let kinds: Vec<&str> = seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "release", "hold", "debit", "debit", "debit", "credit", "credit", "credit", "credit"
        ]
    );
    let mut ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9);
    assert_eq!(seen[0]["balance_after"], "34.00");
    assert_eq!(seen[0]["hold_id"], hold_id.as_str());

    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=debit", &org.key)
        .await)
    .await;
    let amounts: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["3.00", "2.00", "1.00"]);
    assert!(page["next_cursor"].is_null());
    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=hold,release&limit=1", &org.key)
        .await)
    .await;
    assert_eq!(page["entries"][0]["kind"], "release");
    assert!(page["next_cursor"].is_string());
    let page = ok(app.wallet_get(&org.id, "/entries", &org.key).await).await;
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        9,
        "default limit is 50"
    );

    let bad = [
        ("/entries?limit=0", "INVALID_LIMIT"),
        ("/entries?limit=201", "INVALID_LIMIT"),
        ("/entries?limit=abc", "INVALID_LIMIT"),
        ("/entries?cursor=zzz", "INVALID_CURSOR"),
        ("/entries?cursor=e-5", "INVALID_CURSOR"),
        ("/entries?kinds=debit,refund", "INVALID_KIND"),
        ("/entries?kinds=debit,,credit", "INVALID_KIND"),
        ("/entries?page=2", "VALIDATION_FAILED"),
    ];
    for (path, code) in bad {
        let problem =
            assert_problem(app.wallet_get(&org.id, path, &org.key).await, 422, code).await;
        if code != "VALIDATION_FAILED" {
            assert!(problem["field"].is_string(), "{path}: {problem}");
        }
    }
}

#[tokio::test]
async fn corrections_are_signed_audited_and_cannot_take_reserved_money() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "10.00").await;
    created(
        hold(
            &app,
            &org,
            "h",
            json!({"amount": "8.00", "currency": "USD"}),
        )
        .await,
    )
    .await;

    let correction = |amount: &'static str, reason: &'static str| {
        let (app, org) = (&app, &org);
        async move {
            let body = json!({"amount": amount, "currency": "USD", "reason": reason});
            admin_post(app, &org.id, "/corrections", Some(&key()), body).await
        }
    };
    let added = created(correction("5.00", "goodwill credit, ticket #12").await).await;
    assert_eq!(added["entry"]["kind"], "correction");
    assert_eq!(added["entry"]["balance_change"], "5.00");
    assert_eq!(added["entry"]["reason"], "goodwill credit, ticket #12");
    assert_eq!(added["entry"]["counterparty"], "correction");
    assert_eq!(added["entry"]["actor"], "admin");
    let taken = created(correction("-5.00", "duplicate top-up").await).await;
    assert_eq!(taken["entry"]["balance_change"], "-5.00");
    assert_eq!(taken["entry"]["amount"], "5.00");
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("10.00", "8.00", "2.00")
    );

    let before = app.books().await;
    let problem = assert_problem(
        correction("-2.01", "too much").await,
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
    assert_eq!(problem["available"], "2.00");
    assert_eq!(problem["requested"], "2.01");
    assert_problem(correction("0.00", "nothing").await, 422, "INVALID_AMOUNT").await;
    assert_problem(
        correction("-0.001", "too precise").await,
        422,
        "INVALID_AMOUNT",
    )
    .await;
    let problem = assert_problem(correction("1.00", " ").await, 422, "INVALID_REASON").await;
    assert_eq!(problem["field"], "reason");
    let response = admin_post(
        &app,
        &org.id,
        "/corrections",
        Some(&key()),
        json!({"amount": "1.00", "currency": "USD"}),
    )
    .await;
    assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert_eq!(app.books().await, before);

    created(correction("-2.00", "exactly what is available").await).await;
    assert_eq!(
        figures(&app, &org.id).await,
        figures_of("8.00", "8.00", "0.00")
    );
}

#[tokio::test]
async fn credits_beyond_the_largest_amount_overflow_cleanly() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    app.fund(&org.id, "92233720368547758.07").await;
    let before = app.books().await;
    let response = admin_post(
        &app,
        &org.id,
        "/credits",
        Some(&key()),
        json!({"amount": "0.01", "currency": "USD", "counterparty": "topup:manual"}),
    )
    .await;
    let problem = assert_problem(response, 422, "BALANCE_OVERFLOW").await;
    assert_eq!(problem["balance"], "92233720368547758.07");
    assert_eq!(problem["requested"], "0.01");
    assert_eq!(app.books().await, before);
}

#[tokio::test]
async fn reconciliation_is_clean_after_every_kind_of_movement() {
    let app = TestApp::spawn().await;
    let org = org_with_key(&app, "Acme").await;
    let other = org_with_key(&app, "Other").await;
    app.fund(&org.id, "100.00").await;
    app.fund(&other.id, "1.00").await;
    created(debit(&app, &org, Some("d"), "10.00").await).await;
    let receipt = created(
        hold(
            &app,
            &org,
            "h",
            json!({"amount": "20.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    let hold_id = receipt["hold"]["id"].as_str().unwrap().to_owned();
    created(capture(&app, &org, &hold_id, "c", "5.00").await).await;
    let open = created(
        hold(
            &app,
            &org,
            "h2",
            json!({"amount": "7.00", "currency": "USD"}),
        )
        .await,
    )
    .await;
    assert_eq!(open["hold"]["status"], "open");
    created(release(&app, &org, &hold_id, "r").await).await;
    created(
        admin_post(
            &app,
            &org.id,
            "/corrections",
            Some("k"),
            json!({"amount": "-1.50", "currency": "USD", "reason": "fee reversal"}),
        )
        .await,
    )
    .await;

    let reconciliation = ok(app
        .wallet_get(&org.id, "/reconciliation", ADMIN_TOKEN)
        .await)
    .await;
    assert_eq!(reconciliation["clean"], true, "{reconciliation}");
    assert_eq!(reconciliation["currency"], "USD");
    assert_eq!(reconciliation["stored_balance"], "83.50");
    assert_eq!(reconciliation["entries_balance"], "83.50");
    assert_eq!(reconciliation["stored_held"], "7.00");
    assert_eq!(reconciliation["entries_held"], "7.00");
    assert_eq!(reconciliation["open_holds_held"], "7.00");
    assert_eq!(reconciliation["chain_breaks"], 0);
    assert_eq!(
        reconciliation["wallet_id"],
        app.wallet(&org.id).await["wallet_id"]
    );

    let all = ok(app
        .client
        .get(app.url("/v1/admin/reconciliation"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(all, json!({"drifts": []}));

    let missing = uuid::Uuid::now_v7().to_string();
    let response = app
        .wallet_get(&missing, "/reconciliation", ADMIN_TOKEN)
        .await;
    assert_problem(response, 404, "WALLET_NOT_FOUND").await;
}

#[tokio::test]
async fn the_sweeper_stops_promptly_when_asked() {
    let db = testkit::TestDb::new().await;
    let ledger = ledger::Ledger::new(std::sync::Arc::new(primitives::SystemClock));
    // A long interval: the sweeper is waiting for its next tick when told to stop.
    let sweeper = api::sweeper::Sweeper::spawn(db.pool(), ledger, Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(10), sweeper.stop())
        .await
        .unwrap();
}
