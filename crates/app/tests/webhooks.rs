//! The operator's webhook inbox routes over HTTP, against a real database: deliveries are handed
//! to the app's own intake as the receiver does (verified, parsed), then listed, counted, read
//! and re-applied over HTTP; bad queries and foreign credentials are refused.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use billing::{BillingEvent, BillingEventKind, ParsedWebhook};
use chrono::Utc;
use common::{ADMIN_TOKEN, TestApp, assert_problem, ok, send};
use primitives::{Currency, Money, ProviderName};
use reqwest::Response;
use serde_json::{Value, json};

fn event(kind: BillingEventKind, id: &str) -> BillingEvent {
    BillingEvent {
        provider: ProviderName::Stripe,
        provider_event_id: id.to_owned(),
        occurred_at: Utc::now(),
        kind,
        organization_ref: None,
        provider_subscription_id: None,
        amount: None,
        payment_reference: None,
        period_end: None,
        subscription_status: None,
        trial_end: None,
        failure_reason: None,
        order_reference: None,
        checkout_reference: None,
        provider_event_type: format!("test.{}", kind.as_str()),
    }
}

impl TestApp {
    async fn deliver(&self, event: BillingEvent) -> String {
        let body = serde_json::to_vec(&json!({"id": event.provider_event_id})).unwrap();
        let received = self
            .state
            .intake
            .receive(
                &self.state.pool,
                event.provider,
                &body,
                Ok(ParsedWebhook::Events {
                    events: vec![event],
                }),
            )
            .await
            .unwrap();
        received.inbox_id.to_string()
    }

    async fn admin_get(&self, path: &str) -> Response {
        send(self.client.get(self.url(path)).bearer_auth(ADMIN_TOKEN)).await
    }
}

#[tokio::test]
async fn operators_list_count_read_and_reapply_deliveries() {
    let app = TestApp::spawn().await;
    let acme = app.org_with_key("Acme").await;
    // Held: a top-up in a currency the wallet does not hold.
    let mut euros = event(BillingEventKind::WalletTopUpCompleted, "evt_eur");
    euros.organization_ref = Some(acme.id.clone());
    euros.amount = Some(Money::from_minor(2500, Currency::EUR));
    euros.payment_reference = Some("pi_eur".into());
    let held = app.deliver(euros).await;
    // Unmatched: a cancellation of a subscription nobody created yet.
    let mut canceled = event(BillingEventKind::SubscriptionCanceled, "evt_cancel");
    canceled.provider_subscription_id = Some("sub_later".into());
    let unmatched = app.deliver(canceled).await;

    let page: Value = ok(app.admin_get("/v1/admin/webhook-events").await).await;
    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [unmatched.as_str(), held.as_str()], "newest first");
    assert_eq!(page["next_cursor"], Value::Null);

    let held_only: Value = ok(app
        .admin_get(&format!(
            "/v1/admin/webhook-events?status=held&provider=stripe&organization_id={}",
            acme.id
        ))
        .await)
    .await;
    assert_eq!(held_only["events"].as_array().unwrap().len(), 1);
    let view = &held_only["events"][0];
    assert_eq!(view["status"], "held");
    assert_eq!(view["delivery_id"], "evt_eur");
    assert_eq!(view["outcomes"][0]["result"], "held");
    assert!(
        view["outcomes"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("CURRENCY_MISMATCH")
    );
    assert_eq!(view["body_sha256"].as_str().unwrap().len(), 64);
    assert!(view.get("body").is_none(), "the raw body is never shown");

    let first: Value = ok(app.admin_get("/v1/admin/webhook-events?limit=1").await).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = ok(app
        .admin_get(&format!("/v1/admin/webhook-events?limit=1&cursor={cursor}"))
        .await)
    .await;
    assert_eq!(second["events"][0]["id"], held.as_str());

    let counts: Value = ok(app.admin_get("/v1/admin/webhook-events/counts").await).await;
    assert_eq!(
        counts["counts"],
        json!([
            {"provider": "stripe", "status": "held", "count": 1},
            {"provider": "stripe", "status": "unmatched", "count": 1},
        ])
    );

    // The subscription appears; re-applying the unmatched delivery applies it.
    let create = send(
        app.client
            .post(app.url(&format!(
                "/v1/admin/organizations/{}/subscriptions",
                acme.id
            )))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", "create-sub-later")
            .json(&json!({"plan": "pro", "provider": "stripe", "provider_subscription_id": "sub_later"})),
    )
    .await;
    assert_eq!(create.status(), 201);
    let reapply = |id: String| {
        let app = &app;
        async move {
            send(
                app.client
                    .post(app.url(&format!("/v1/admin/webhook-events/{id}/reapply")))
                    .bearer_auth(ADMIN_TOKEN),
            )
            .await
        }
    };
    let applied: Value = ok(reapply(unmatched.clone()).await).await;
    assert_eq!(applied["status"], "applied");
    assert!(applied["subscription_id"].is_string());
    let again: Value = ok(reapply(unmatched.clone()).await).await;
    assert_eq!(again["status"], "applied");
    assert_eq!(again["outcomes"], applied["outcomes"]);
    // Held stays held while its cause is there; nothing is credited.
    let still: Value = ok(reapply(held.clone()).await).await;
    assert_eq!(still["status"], "held");
    let wallet: Value = ok(app
        .admin_get(&format!("/v1/organizations/{}/wallet", acme.id))
        .await)
    .await;
    assert_eq!(wallet["balance"], "0.00");
}

#[tokio::test]
async fn bad_queries_unknown_deliveries_and_foreign_credentials_are_refused() {
    let app = TestApp::spawn().await;
    let acme = app.org_with_key("Acme").await;
    for (query, code, field) in [
        ("provider=adyen", "INVALID_PROVIDER", Some("provider")),
        ("status=lost", "INVALID_STATUS", Some("status")),
        (
            "organization_id=42",
            "INVALID_ORGANIZATION_ID",
            Some("organization_id"),
        ),
        ("cursor=page-2", "INVALID_CURSOR", Some("cursor")),
        ("limit=0", "INVALID_LIMIT", Some("limit")),
        ("limit=201", "INVALID_LIMIT", Some("limit")),
        ("limit=", "INVALID_LIMIT", Some("limit")),
        ("state=dead", "VALIDATION_FAILED", Some("state")),
        // Given empty, a parameter is refused like any bad value (absent, it is no filter).
        ("provider=", "INVALID_PROVIDER", Some("provider")),
        ("status=", "INVALID_STATUS", Some("status")),
        (
            "organization_id=",
            "INVALID_ORGANIZATION_ID",
            Some("organization_id"),
        ),
        ("cursor=", "INVALID_CURSOR", Some("cursor")),
    ] {
        let problem = assert_problem(
            app.admin_get(&format!("/v1/admin/webhook-events?{query}"))
                .await,
            422,
            code,
        )
        .await;
        match field {
            Some(field) => assert_eq!(problem["field"], field, "{query}"),
            None => assert_eq!(problem["field"], Value::Null, "{query}"),
        }
    }
    // Absent filters are no filters.
    ok(app.admin_get("/v1/admin/webhook-events").await).await;

    let unknown = uuid::Uuid::now_v7();
    assert_problem(
        app.admin_get(&format!("/v1/admin/webhook-events/{unknown}"))
            .await,
        404,
        "WEBHOOK_EVENT_NOT_FOUND",
    )
    .await;
    assert_problem(
        send(
            app.client
                .post(app.url(&format!("/v1/admin/webhook-events/{unknown}/reapply")))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await,
        404,
        "WEBHOOK_EVENT_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.admin_get("/v1/admin/webhook-events/not-a-uuid").await,
        404,
        "NOT_FOUND",
    )
    .await;

    for path in [
        "/v1/admin/webhook-events",
        "/v1/admin/webhook-events/counts",
    ] {
        assert_problem(
            send(app.client.get(app.url(path)).bearer_auth(&acme.key)).await,
            403,
            "ADMIN_REQUIRED",
        )
        .await;
        assert_problem(
            send(app.client.get(app.url(path))).await,
            401,
            "UNAUTHORIZED",
        )
        .await;
    }
}

#[tokio::test]
async fn outside_the_development_mode_the_api_serves_no_webhook_route() {
    let app = TestApp::spawn().await;
    let response = send(
        app.client
            .post(app.url("/webhooks/stripe"))
            .header("stripe-signature", "t=1,v1=00")
            .body("{}"),
    )
    .await;
    assert_problem(response, 404, "NOT_FOUND").await;
}
