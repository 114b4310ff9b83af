//! `POST .../subscription/manual-payment`: a payment made outside the provider restores access
//! with every effect (G8), once per `Idempotency-Key`.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, BODY_LIMIT, JSON, TestApp, key, ok, send};

#[tokio::test]
async fn a_manual_payment_restores_a_suspended_subscription_once() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    app.fund(&acme.id, "10.00").await;
    app.suspend(&acme.id).await;

    // Where dunning left it: suspended, billing's freeze and block in force.
    assert_eq!(app.own_subscription(&acme).await["status"], "suspended");
    let wallet = app.wallet(&acme.id).await;
    assert_eq!(wallet["frozen"], true, "{wallet}");
    assert_eq!(wallet["freezes"][0]["source"], "billing", "{wallet}");
    assert_eq!(
        app.entitlement(&acme, "send_messages").await["allowed"],
        false
    );
    let refused = app.debit(&acme, Some(&key()), "1.00").await;
    assert_eq!(
        refused.status(),
        StatusCode::CONFLICT,
        "a frozen wallet refuses debits"
    );

    let payment = "bank-transfer-2027-001";
    let body = app.payment_body(30);
    let period_end: DateTime<Utc> = serde_json::from_value(body["period_end"].clone()).unwrap();
    let response =
        send(app.manual_payment_request(&acme.id, ADMIN_TOKEN, Some(payment), &body)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(!response.headers().contains_key("idempotent-replayed"));
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["outcome"], "applied", "{outcome}");
    assert_eq!(outcome["replayed"], false);
    assert_eq!(outcome["reason"], json!(null));
    assert_eq!(outcome["transition"]["from"], "suspended");
    assert_eq!(outcome["transition"]["to"], "active");
    let effects: Vec<String> = outcome["transition"]["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|effect| effect["effect"].as_str().unwrap().to_owned())
        .collect();
    for effect in [
        "unblock",
        "unfreeze_wallet",
        "resume_campaigns",
        "reactivate_messaging",
        "extend_period",
        "notify",
    ] {
        assert!(effects.iter().any(|e| e == effect), "{effect}: {effects:?}");
    }
    assert_eq!(outcome["subscription"]["status"], "active");
    assert_eq!(
        outcome["subscription"]["current_period_end"],
        json!(period_end)
    );
    assert_eq!(outcome["subscription"]["dunning"], json!(null));

    // Restored at once, everywhere.
    let subscription = app.own_subscription(&acme).await;
    assert_eq!(subscription, outcome["subscription"]);
    let wallet = app.wallet(&acme.id).await;
    assert_eq!(wallet["frozen"], false, "{wallet}");
    assert_eq!(
        app.entitlement(&acme, "send_messages").await["allowed"],
        true
    );
    let blocks = ok(app
        .get_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/organizations/{}/access-blocks", acme.id),
        )
        .await)
    .await;
    assert_eq!(blocks, json!({"blocks": []}));
    let debit = app.debit(&acme, Some(&key()), "1.00").await;
    assert_eq!(debit.status(), StatusCode::CREATED);

    // The event log shows the payment under its key, from the admin.
    let log = ok(app
        .get_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/organizations/{}/subscription/events", acme.id),
        )
        .await)
    .await;
    assert_eq!(log["events"][0]["event_id"], payment);
    assert_eq!(log["events"][0]["source"], "admin");
    assert_eq!(log["events"][0]["kind"], "manual_payment_received");

    // The retry with the same figures: a duplicate that changes nothing at all.
    let before = app.billing_books().await;
    let response =
        send(app.manual_payment_request(&acme.id, ADMIN_TOKEN, Some(payment), &body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let replay: Value = response.json().await.unwrap();
    assert_eq!(replay["outcome"], "duplicate", "{replay}");
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["transition"], json!(null));
    assert_eq!(replay["subscription"], subscription);
    assert_eq!(app.billing_books().await, before);

    // The same key with other figures is a conflict, not a silent duplicate.
    let other = app.payment_body(60);
    let response =
        send(app.manual_payment_request(&acme.id, ADMIN_TOKEN, Some(payment), &other)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "IDEMPOTENCY_CONFLICT");
    assert_eq!(app.billing_books().await, before);

    // Counted for Prometheus.
    let metrics = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"billing_manual_payments_total{outcome="applied"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"billing_manual_payments_total{outcome="duplicate"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_payment_on_a_past_due_or_pending_subscription_activates_it() {
    let app = TestApp::spawn().await;
    let late = app.subscribed("Late").await;
    app.fail_payment(&late.id).await;
    assert_eq!(app.wallet(&late.id).await["frozen"], true);
    let outcome = ok_created(app.manual_payment_request(
        &late.id,
        ADMIN_TOKEN,
        Some(&key()),
        &app.payment_body(30),
    ))
    .await;
    assert_eq!(outcome["transition"]["from"], "past_due");
    assert_eq!(outcome["subscription"]["status"], "active");
    assert_eq!(app.wallet(&late.id).await["frozen"], false);

    let fresh = app.org_with_key("Fresh").await;
    app.create_subscription(&fresh.id, &json!({"plan": "pro"}))
        .await;
    let outcome = ok_created(app.manual_payment_request(
        &fresh.id,
        ADMIN_TOKEN,
        Some(&key()),
        &app.payment_body(365),
    ))
    .await;
    assert_eq!(outcome["transition"]["from"], "pending");
    assert_eq!(
        app.entitlement(&fresh, "send_messages").await["allowed"],
        true
    );
}

#[tokio::test]
async fn a_canceled_subscription_takes_no_payment_and_says_why() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    app.cancel(&acme.id).await;
    let outcome = ok_created(app.manual_payment_request(
        &acme.id,
        ADMIN_TOKEN,
        Some(&key()),
        &app.payment_body(30),
    ))
    .await;
    assert_eq!(outcome["outcome"], "ignored");
    assert_eq!(outcome["reason"], "terminal");
    assert!(outcome["detail"].as_str().unwrap().contains("final"));
    assert_eq!(outcome["subscription"]["status"], "canceled");
    assert_eq!(
        app.entitlement(&acme, "send_messages").await["allowed"],
        false
    );
}

/// Event ids are unique per source across all subscriptions: a key that named another event
/// must not be answered as this payment's duplicate, or an operator would believe a payment
/// recorded that never was.
#[tokio::test]
async fn a_key_of_another_event_is_a_conflict() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    let other = app.subscribed("Other").await;
    app.fail_payment(&other.id).await;

    let shared = "invoice-42";
    ok_created(app.manual_payment_request(
        &acme.id,
        ADMIN_TOKEN,
        Some(shared),
        &app.payment_body(30),
    ))
    .await;
    app.refused_billing(
        send(app.manual_payment_request(
            &other.id,
            ADMIN_TOKEN,
            Some(shared),
            &app.payment_body(30),
        )),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    assert_eq!(app.own_subscription(&other).await["status"], "past_due");

    // A creation's key is not a payment's either.
    let creation = "create-third";
    let third = app.org_with_key("Third").await;
    let response = send(app.create_request(
        &third.id,
        ADMIN_TOKEN,
        Some(creation),
        &json!({"plan": "pro"}),
    ))
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.refused_billing(
        send(app.manual_payment_request(
            &third.id,
            ADMIN_TOKEN,
            Some(creation),
            &app.payment_body(30),
        )),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;

    // Nor is a payment's key a creation's: it must not hand back the paying organization's
    // subscription.
    let fourth = app.org_with_key("Fourth").await;
    app.refused_billing(
        send(app.create_request(
            &fourth.id,
            ADMIN_TOKEN,
            Some(shared),
            &json!({"plan": "pro"}),
        )),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
}

#[tokio::test]
async fn manual_payments_refuse_bad_input_and_the_wrong_callers() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    app.suspend(&acme.id).await;
    let url = app.admin_org_url(&acme.id, "/subscription/manual-payment");
    let pay =
        |body: Value| send(app.manual_payment_request(&acme.id, ADMIN_TOKEN, Some(&key()), &body));
    let good = app.payment_body(30);
    let with = |member: &str, value: Value| {
        let mut body = good.clone();
        body[member] = value;
        body
    };
    let without = |member: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(member);
        body
    };

    app.refused_billing(
        send(app.manual_payment_request(&acme.id, ADMIN_TOKEN, None, &good)),
        422,
        "IDEMPOTENCY_KEY_REQUIRED",
    )
    .await;
    app.refused_billing(
        send(app.manual_payment_request(&acme.id, ADMIN_TOKEN, Some(&"k".repeat(201)), &good)),
        422,
        "INVALID_IDEMPOTENCY_KEY",
    )
    .await;
    for amount in [
        "0",
        "0.00",
        "-49.00",
        "49.001",
        "49,00",
        "",
        "1e3",
        "99999999999999999999",
    ] {
        app.refused_billing(pay(with("amount", json!(amount))), 422, "INVALID_AMOUNT")
            .await;
    }
    for currency in ["usd", "XYZ", "", "DOLLARS"] {
        app.refused_billing(
            pay(with("currency", json!(currency))),
            422,
            "INVALID_CURRENCY",
        )
        .await;
    }
    let now = app.clock_now();
    for period_end in [
        now,
        now - TimeDelta::days(1),
        now + TimeDelta::days(5 * 366 + 1),
    ] {
        let problem = app
            .refused_billing(
                pay(with("period_end", json!(period_end))),
                422,
                "INVALID_PERIOD_END",
            )
            .await;
        assert_eq!(problem["field"], "period_end");
    }
    for body in [
        with("amount", json!(49.0)),
        with("currency", json!(840)),
        with("period_end", json!("next month")),
        with("extra", json!(1)),
        without("amount"),
        without("currency"),
        without("period_end"),
    ] {
        app.refused_billing(pay(body), 422, "VALIDATION_FAILED")
            .await;
    }
    app.refused_billing(pay(json!(["49.00", "USD"])), 422, "BODY_NOT_OBJECT")
        .await;
    let raw = |body: String, content_type| {
        send(
            app.post_raw(&url, ADMIN_TOKEN, body, content_type)
                .header("Idempotency-Key", key()),
        )
    };
    app.refused_billing(raw(String::new(), JSON), 400, "MALFORMED_JSON")
        .await;
    app.refused_billing(raw("{not json".into(), JSON), 400, "MALFORMED_JSON")
        .await;
    app.refused_billing(raw(good.to_string(), None), 415, "UNSUPPORTED_MEDIA_TYPE")
        .await;
    let huge = with("amount", json!("9".repeat(BODY_LIMIT))).to_string();
    app.refused_billing(raw(huge, JSON), 413, "BODY_TOO_LARGE")
        .await;

    // The organization cannot pay itself back into service, even with a body that would fail.
    app.refused_billing(
        send(app.manual_payment_request(&acme.id, &acme.key, Some(&key()), &good)),
        403,
        "ADMIN_REQUIRED",
    )
    .await;
    app.refused_billing(
        send(app.post_raw(&url, &acme.key, "{not json", JSON)),
        403,
        "ADMIN_REQUIRED",
    )
    .await;
    app.refused_billing(
        send(
            app.client
                .post(&url)
                .header("Idempotency-Key", key())
                .json(&good),
        ),
        401,
        "UNAUTHORIZED",
    )
    .await;
    let missing = uuid::Uuid::now_v7().to_string();
    app.refused_billing(
        send(app.manual_payment_request(&missing, ADMIN_TOKEN, Some(&key()), &good)),
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
    let bare = app.org_with_key("Bare").await;
    app.refused_billing(
        send(app.manual_payment_request(&bare.id, ADMIN_TOKEN, Some(&key()), &good)),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    .await;
    assert_eq!(app.own_subscription(&acme).await["status"], "suspended");
}

/// Asserts a 201 (a recorded payment event); returns the body.
async fn ok_created(request: reqwest::RequestBuilder) -> Value {
    let response = send(request).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["replayed"], false, "{body}");
    body
}
