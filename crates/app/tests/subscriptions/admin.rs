//! Creating subscriptions and reading them, their history and their event log, as the admin.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use subscriptions::SubscriptionEvent;

use crate::common::{ADMIN_TOKEN, BODY_LIMIT, JSON, TestApp, key, ok, send};

#[tokio::test]
async fn creating_answers_replays_and_refuses_a_second_live_subscription() {
    let app = TestApp::spawn().await;
    let acme = app.org_with_key("Acme").await;
    let body = json!({"plan": "pro"});

    let creation = "create-acme-1";
    let response = send(app.create_request(&acme.id, ADMIN_TOKEN, Some(creation), &body)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(!response.headers().contains_key("idempotent-replayed"));
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["replayed"], false);
    let subscription = &created["subscription"];
    assert_eq!(subscription["status"], "pending");
    assert_eq!(subscription["plan"], "pro");
    assert_eq!(subscription["organization_id"], acme.id.as_str());
    assert_eq!(subscription["next_action_at"], json!(null));

    // The retry: the same subscription, marked, and nothing written.
    let before = app.billing_books().await;
    let response = send(app.create_request(&acme.id, ADMIN_TOKEN, Some(creation), &body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let replay: Value = response.json().await.unwrap();
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["subscription"], *subscription);
    assert_eq!(app.billing_books().await, before);

    // The same key with other parameters, or for another organization: a conflict.
    app.refused_billing(
        send(app.create_request(
            &acme.id,
            ADMIN_TOKEN,
            Some(creation),
            &json!({"plan": "max"}),
        )),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    let other = app.org_with_key("Other").await;
    app.refused_billing(
        send(app.create_request(&other.id, ADMIN_TOKEN, Some(creation), &body)),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    app.refused_billing(
        app.get_as(&other.key, "/v1/subscription"),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    .await;

    // A new key while one is live.
    let problem = app
        .refused_billing(
            send(app.create_request(&acme.id, ADMIN_TOKEN, Some(&key()), &body)),
            409,
            "SUBSCRIPTION_EXISTS",
        )
        .await;
    assert_eq!(problem["subscription_id"], subscription["id"]);

    // Once it has ended, a new one may start; the organization then sees the new one.
    app.cancel(&acme.id).await;
    let renewed = app
        .create_subscription(&acme.id, &json!({"plan": "max"}))
        .await;
    assert_ne!(renewed["id"], subscription["id"]);
    assert_eq!(app.own_subscription(&acme).await["id"], renewed["id"]);
}

#[tokio::test]
async fn creating_with_a_provider_and_a_trial() {
    let app = TestApp::spawn().await;
    let acme = app.org_with_key("Acme").await;
    let trial_end = app.clock_now() + TimeDelta::days(14);
    let body = json!({
        "plan": "pro-2027",
        "provider": "paypal",
        "provider_subscription_id": "I-BW452GLLEP1G",
        "trial_end": trial_end,
    });
    let creation = "create-with-trial";
    let response = send(app.create_request(&acme.id, ADMIN_TOKEN, Some(creation), &body)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let subscription = &created["subscription"];
    assert_eq!(subscription["status"], "trialing");
    assert_eq!(subscription["trial_end"], json!(trial_end));
    assert_eq!(
        subscription["provider"],
        json!({"name": "paypal", "subscription_id": "I-BW452GLLEP1G"})
    );
    assert_eq!(
        app.entitlement(&acme, "send_messages").await["allowed"],
        true
    );

    // A retry replays without starting the trial twice.
    let before = app.billing_books().await;
    let response = send(app.create_request(&acme.id, ADMIN_TOKEN, Some(creation), &body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let replay: Value = response.json().await.unwrap();
    assert_eq!(replay["subscription"], *subscription);
    assert_eq!(app.billing_books().await, before);

    // Both steps are in the history and the event log, from the admin.
    let history = ok(app
        .get_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/organizations/{}/subscription/history", acme.id),
        )
        .await)
    .await;
    let events: Vec<_> = history["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["event"].clone(), t["source"].clone(), t["to"].clone()))
        .collect();
    assert_eq!(
        events,
        [
            (json!("trial_started"), json!("admin"), json!("trialing")),
            (json!("created"), json!("admin"), json!("pending")),
        ]
    );
    let log = ok(app
        .get_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/organizations/{}/subscription/events", acme.id),
        )
        .await)
    .await;
    assert_eq!(log["events"][1]["event_id"], creation);
    assert_eq!(log["events"][1]["kind"], "created");
    assert_eq!(log["events"][1]["outcome"], "applied");
    assert_eq!(log["events"][0]["kind"], "trial_started");

    // One provider subscription belongs to one subscription.
    let other = app.org_with_key("Other").await;
    app.refused_billing(
        send(app.create_request(&other.id, ADMIN_TOKEN, Some(&key()), &body)),
        409,
        "PROVIDER_SUBSCRIPTION_TAKEN",
    )
    .await;
}

#[tokio::test]
async fn creating_refuses_bad_input_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.org_with_key("Acme").await;
    let url = app.admin_org_url(&acme.id, "/subscriptions");
    let create = |body: Value| send(app.create_request(&acme.id, ADMIN_TOKEN, Some(&key()), &body));

    app.refused_billing(
        send(app.create_request(&acme.id, ADMIN_TOKEN, None, &json!({"plan": "pro"}))),
        422,
        "IDEMPOTENCY_KEY_REQUIRED",
    )
    .await;
    app.refused_billing(
        send(app.create_request(
            &acme.id,
            ADMIN_TOKEN,
            Some("has space"),
            &json!({"plan": "pro"}),
        )),
        422,
        "INVALID_IDEMPOTENCY_KEY",
    )
    .await;
    let raw = |body: &'static str, content_type| {
        send(
            app.post_raw(&url, ADMIN_TOKEN, body, content_type)
                .header("Idempotency-Key", key()),
        )
    };
    app.refused_billing(raw("", JSON), 400, "MALFORMED_JSON")
        .await;
    app.refused_billing(raw("{not json", JSON), 400, "MALFORMED_JSON")
        .await;
    app.refused_billing(
        raw(r#"{"plan": "pro"}"#, None),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let huge = format!(r#"{{"plan": "{}"}}"#, "p".repeat(BODY_LIMIT));
    app.refused_billing(
        send(
            app.post_raw(&url, ADMIN_TOKEN, huge, JSON)
                .header("Idempotency-Key", key()),
        ),
        413,
        "BODY_TOO_LARGE",
    )
    .await;

    app.refused_billing(create(json!(["pro"])), 422, "BODY_NOT_OBJECT")
        .await;
    for body in [
        json!({}),
        json!({"plan": 5}),
        json!({"plan": "pro", "extra": true}),
        json!({"plan": "pro", "trial_end": "tomorrow"}),
        json!({"plan": "pro", "provider": 1, "provider_subscription_id": "x"}),
    ] {
        app.refused_billing(create(body), 422, "VALIDATION_FAILED")
            .await;
    }
    for (body, field) in [
        (json!({"plan": ""}), "plan"),
        (json!({"plan": "Pro Plan"}), "plan"),
        (json!({"plan": "p".repeat(65)}), "plan"),
        (json!({"plan": "pro", "provider": "paypal"}), "provider"),
        (
            json!({"plan": "pro", "provider_subscription_id": "I-1"}),
            "provider",
        ),
        (
            json!({"plan": "pro", "provider": "Pay Pal", "provider_subscription_id": "I-1"}),
            "provider",
        ),
        // A provider with no adapter could never deliver a webhook for it: refused.
        (
            json!({"plan": "pro", "provider": "foo", "provider_subscription_id": "I-1"}),
            "provider",
        ),
        (
            json!({"plan": "pro", "provider": "paypal", "provider_subscription_id": "has space"}),
            "provider_subscription_id",
        ),
    ] {
        let problem = app
            .refused_billing(create(body.clone()), 422, "VALIDATION_FAILED")
            .await;
        assert_eq!(problem["field"], field, "{body}");
    }
    let now = app.clock_now();
    for trial_end in [now, now - TimeDelta::days(1), now + TimeDelta::days(367)] {
        let problem = app
            .refused_billing(
                create(json!({"plan": "pro", "trial_end": trial_end})),
                422,
                "INVALID_TRIAL_END",
            )
            .await;
        assert_eq!(problem["field"], "trial_end");
    }

    // Who may: the admin only, checked before the body is read; the organization must exist.
    app.refused_billing(
        send(app.create_request(&acme.id, &acme.key, Some(&key()), &json!({"plan": "pro"}))),
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
        send(app.client.post(&url).json(&json!({"plan": "pro"}))),
        401,
        "UNAUTHORIZED",
    )
    .await;
    let missing = uuid::Uuid::now_v7().to_string();
    app.refused_billing(
        send(app.create_request(&missing, ADMIN_TOKEN, Some(&key()), &json!({"plan": "pro"}))),
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
    app.refused_billing(
        send(app.create_request(
            "not-a-uuid",
            ADMIN_TOKEN,
            Some(&key()),
            &json!({"plan": "pro"}),
        )),
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn the_admin_reads_subscription_history_and_event_log() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    let bare = app.org_with_key("Bare").await;
    // An event the state machine ignores is logged with its reason, but is no transition.
    app.apply_event(&acme.id, SubscriptionEvent::Resumed).await;

    let path = |org: &str, tail: &str| format!("/v1/admin/organizations/{org}{tail}");
    let log = ok(app
        .get_as(ADMIN_TOKEN, &path(&acme.id, "/subscription/events"))
        .await)
    .await;
    let events = log["events"].as_array().unwrap();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e["kind"].clone(), e["outcome"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!("resumed"), json!("ignored")),
            (json!("activated"), json!("applied")),
            (json!("created"), json!("applied")),
        ]
    );
    assert_eq!(events[0]["detail"], "not_paused");
    assert_eq!(events[0]["source"], "test");
    for member in ["event_id", "occurred_at", "received_at"] {
        assert!(events[0][member].is_string(), "{member}");
    }
    let limited = ok(app
        .get_as(ADMIN_TOKEN, &path(&acme.id, "/subscription/events?limit=2"))
        .await)
    .await;
    assert_eq!(limited["events"].as_array().unwrap().len(), 2);
    let history = ok(app
        .get_as(ADMIN_TOKEN, &path(&acme.id, "/subscription/history"))
        .await)
    .await;
    assert_eq!(history["transitions"].as_array().unwrap().len(), 2);
    assert_eq!(
        history,
        ok(app.get_as(&acme.key, "/v1/subscription/history").await).await
    );

    for limit in ["0", "201", "-1", "x"] {
        for tail in ["/subscription/events", "/subscription/history"] {
            app.refused_billing(
                app.get_as(
                    ADMIN_TOKEN,
                    &path(&acme.id, &format!("{tail}?limit={limit}")),
                ),
                422,
                "INVALID_LIMIT",
            )
            .await;
        }
    }

    let missing = uuid::Uuid::now_v7().to_string();
    for tail in [
        "/subscription",
        "/subscription/history",
        "/subscription/events",
        "/entitlements",
        "/access-blocks",
    ] {
        app.refused_billing(
            app.get_as(ADMIN_TOKEN, &path(&missing, tail)),
            404,
            "ORGANIZATION_NOT_FOUND",
        )
        .await;
        app.refused_billing(
            app.get_as(&acme.key, &path(&acme.id, tail)),
            403,
            "ADMIN_REQUIRED",
        )
        .await;
        app.refused_billing(
            send(app.client.get(app.url(&path(&acme.id, tail)))),
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
    for tail in [
        "/subscription",
        "/subscription/history",
        "/subscription/events",
    ] {
        app.refused_billing(
            app.get_as(ADMIN_TOKEN, &path(&bare.id, tail)),
            404,
            "SUBSCRIPTION_NOT_FOUND",
        )
        .await;
    }
}
