//! Holds: reserving, capturing in parts, releasing, and the rules of a hold request.

use serde_json::json;

use crate::common::{ADMIN_TOKEN, BODY_LIMIT, JSON, TestApp, created, key, ok, send};

#[tokio::test]
async fn holds_are_captured_in_parts_and_released() {
    let (app, org) = TestApp::funded("100.00").await;

    let body = json!({"amount": "30.00", "currency": "USD"});
    let receipt = created(app.hold(&org, "campaign-1", &body).await).await;
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
    app.assert_figures(&org.id, "100.00", "30.00", "70.00")
        .await;

    // What is held cannot be debited.
    let problem = app
        .refused(
            app.debit(&org, Some(&key()), "70.01"),
            422,
            "INSUFFICIENT_FUNDS",
        )
        .await;
    assert_eq!(problem["available"], "70.00");

    let captured = created(app.capture(&org, &hold_id, "cap-1", "10.00").await).await;
    assert_eq!(captured["entry"]["kind"], "capture");
    assert_eq!(captured["entry"]["balance_change"], "-10.00");
    assert_eq!(captured["entry"]["held_change"], "-10.00");
    app.assert_figures(&org.id, "90.00", "20.00", "70.00").await;
    app.replayed(app.capture(&org, &hold_id, "cap-1", "10.00"), &captured)
        .await;

    let problem = app
        .refused(
            app.capture(&org, &hold_id, "cap-2", "25.00"),
            422,
            "CAPTURE_EXCEEDS_HOLD",
        )
        .await;
    assert_eq!(problem["remaining"], "20.00");
    assert_eq!(problem["requested"], "25.00");
    assert_eq!(problem["hold_id"], hold_id.as_str());

    let current = app.hold_details(&org, &hold_id).await;
    assert_eq!(current["captured"], "10.00");
    assert_eq!(current["remaining"], "20.00");
    assert_eq!(current["status"], "open");
    assert!(current["closed_at"].is_null());

    let released = created(app.release(&org, &hold_id, "rel-1").await).await;
    assert_eq!(released["entry"]["kind"], "release");
    assert_eq!(released["entry"]["amount"], "20.00");
    app.assert_figures(&org.id, "90.00", "0.00", "90.00").await;
    app.replayed(app.release(&org, &hold_id, "rel-1"), &released)
        .await;

    let current = app.hold_details(&org, &hold_id).await;
    assert_eq!(current["status"], "released");
    assert_eq!(current["released"], "20.00");
    assert_eq!(current["remaining"], "0.00");
    assert!(current["closed_at"].is_string());

    let problem = app
        .refused(app.release(&org, &hold_id, "rel-2"), 409, "HOLD_NOT_OPEN")
        .await;
    assert_eq!(problem["hold_status"], "released");
    let problem = app
        .refused(
            app.capture(&org, &hold_id, "cap-3", "1.00"),
            409,
            "HOLD_NOT_OPEN",
        )
        .await;
    assert_eq!(problem["hold_id"], hold_id.as_str());
    let missing = uuid::Uuid::now_v7().to_string();
    app.refused(
        app.capture(&org, &missing, "cap-4", "1.00"),
        404,
        "HOLD_NOT_FOUND",
    )
    .await;
    app.refused(app.release(&org, &missing, "rel-4"), 404, "HOLD_NOT_FOUND")
        .await;
    app.refused(
        app.wallet_get(&org.id, &format!("/holds/{missing}"), &org.key),
        404,
        "HOLD_NOT_FOUND",
    )
    .await;

    // A capture that empties a hold closes it; `{}` is an accepted release body too.
    let body = json!({"amount": "5.00", "currency": "USD",
        "counterparty": "revenue:whatsapp", "expires_in_seconds": 600});
    let second = created(app.hold(&org, "campaign-2", &body).await).await;
    let second_id = second["hold"]["id"].as_str().unwrap().to_owned();
    assert_eq!(second["hold"]["counterparty"], "revenue:whatsapp");
    let captured = created(app.capture(&org, &second_id, "cap-5", "5.00").await).await;
    assert_eq!(captured["entry"]["counterparty"], "revenue:whatsapp");
    let current = app.hold_details(&org, &second_id).await;
    assert_eq!(current["status"], "captured");
    assert!(current["closed_at"].is_string());
    app.refused(app.release(&org, &second_id, "rel-5"), 409, "HOLD_NOT_OPEN")
        .await;

    let third_id = app.open_hold(&org, "campaign-3", "1.00").await;
    let path = format!("/holds/{third_id}/release");
    let response = send(app.wallet_post(&org.id, &path, &org.key, Some("rel-3"), &json!({})));
    created(response.await).await;
    app.assert_figures(&org.id, "85.00", "0.00", "85.00").await;
}

#[tokio::test]
async fn a_release_body_is_optional_but_checked_when_sent() {
    let (app, org) = TestApp::funded("10.00").await;
    let hold_id = app.open_hold(&org, "h", "5.00").await;
    let url = app.wallet_url(&org.id, &format!("/holds/{hold_id}/release"));

    let release = |body: &'static str, content_type: Option<&'static str>| {
        send(
            app.post_raw(&url, &org.key, body, content_type)
                .header("Idempotency-Key", "rel"),
        )
    };
    for (body, content_type, status, code) in [
        ("{", JSON, 400, "MALFORMED_JSON"),
        ("null", JSON, 422, "BODY_NOT_OBJECT"),
        ("[]", JSON, 422, "BODY_NOT_OBJECT"),
        (r#"["ref-1"]"#, JSON, 422, "BODY_NOT_OBJECT"),
        (r#"{"amount": "1.00"}"#, JSON, 422, "VALIDATION_FAILED"),
        (r#"{"reference": 7}"#, JSON, 422, "VALIDATION_FAILED"),
        (r#"{"reference": "other"}"#, JSON, 422, "REFERENCE_MISMATCH"),
        (
            r#"{"reference": "rel"}"#,
            Some("text/plain"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            r#"{"reference": "rel"}"#,
            None,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ] {
        app.refused(release(body, content_type), status, code).await;
    }
    let oversized = json!({"reference": "x".repeat(BODY_LIMIT)}).to_string();
    let request = app
        .post_raw(&url, &org.key, oversized, JSON)
        .header("Idempotency-Key", "rel");
    app.refused(send(request), 413, "BODY_TOO_LARGE").await;

    let released = created(
        release(
            r#"{"reference": "rel"}"#,
            Some("application/json; charset=utf-8"),
        )
        .await,
    )
    .await;
    assert_eq!(released["entry"]["reference"], "rel");
    app.replayed(release("", None), &released).await;
    app.replayed(release("  \n", Some("text/plain")), &released)
        .await;
}

#[tokio::test]
async fn hold_requests_are_validated_before_anything_is_reserved() {
    let (app, org) = TestApp::funded("10.00").await;

    for seconds in [
        json!(0),
        json!(-5),
        json!(2_592_001),
        json!(i64::MAX),
        json!(i64::MIN),
    ] {
        let body = json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": seconds});
        let problem = app
            .refused(app.hold(&org, &key(), &body), 422, "INVALID_EXPIRY")
            .await;
        assert_eq!(problem["field"], "expires_in_seconds");
    }
    // Not whole seconds, or not a number that fits.
    for seconds in [
        json!(1.5),
        json!("60"),
        json!(1e30),
        json!(u64::MAX),
        json!([60]),
    ] {
        let body = json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": seconds});
        app.refused(app.hold(&org, &key(), &body), 422, "VALIDATION_FAILED")
            .await;
    }
    let body = json!({"amount": "10.01", "currency": "USD"});
    let problem = app
        .refused(app.hold(&org, &key(), &body), 422, "INSUFFICIENT_FUNDS")
        .await;
    assert_eq!(problem["available"], "10.00");
    let body = json!({"amount": "1.00", "currency": "USD", "counterparty": "Revenue Messages"});
    let problem = app
        .refused(app.hold(&org, &key(), &body), 422, "INVALID_COUNTERPARTY")
        .await;
    assert_eq!(problem["field"], "counterparty");
    let body = json!({"amount": "1.00", "currency": "EUR"});
    app.refused(app.hold(&org, &key(), &body), 422, "CURRENCY_MISMATCH")
        .await;

    // The shortest and the longest allowed holds are accepted; null means the default.
    let now = primitives::Clock::now(&app.clock);
    for (seconds, expected) in [
        (json!(1), 1),
        (json!(2_592_000), 2_592_000),
        (json!(null), 86_400),
    ] {
        let body = json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": seconds});
        let receipt = created(app.hold(&org, &key(), &body).await).await;
        let expires_at: chrono::DateTime<chrono::Utc> = receipt["hold"]["expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(expires_at - now, chrono::TimeDelta::seconds(expected));
    }
    app.assert_figures(&org.id, "10.00", "3.00", "7.00").await;
}

#[tokio::test]
async fn the_admin_and_the_owner_see_the_same_hold() {
    let (app, org) = TestApp::funded("10.00").await;
    let hold_id = app.open_hold(&org, "h", "4.00").await;
    let path = format!("/holds/{hold_id}");
    let as_admin = ok(app.wallet_get(&org.id, &path, ADMIN_TOKEN).await).await;
    let as_owner = app.hold_details(&org, &hold_id).await;
    assert_eq!(as_admin, as_owner);
    assert_eq!(as_owner["id"], hold_id.as_str());
    assert_eq!(
        as_owner["wallet_id"],
        app.wallet(&org.id).await["wallet_id"]
    );
    assert_eq!(as_owner["currency"], "USD");
    assert_eq!(as_owner["remaining"], "4.00");
}
