//! `GET /v1/entitlements[/{feature}]`, and the feature gate over the app's own check.

use app::entitlement::{EntitlementCheck, require_feature};
use primitives::OrganizationId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use subscriptions::Feature;

use crate::common::{ADMIN_TOKEN, TestApp, ok, send};

const PAID: [&str; 7] = [
    "send_messages",
    "send_ai_messages",
    "broadcast_campaigns",
    "add_contacts",
    "add_devices",
    "manage_leads",
    "use_ai_features",
];
const ALWAYS: [&str; 4] = [
    "view_data",
    "update_payment_method",
    "view_invoices",
    "manage_account_settings",
];

/// `feature -> (allowed, reasons)` of a `GET /v1/entitlements` body.
fn by_feature(body: &Value) -> Vec<(String, bool, Value)> {
    body["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["feature"].as_str().unwrap().to_owned(),
                e["allowed"].as_bool().unwrap(),
                e["reasons"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_feature_is_listed_with_every_reason() {
    let app = TestApp::spawn().await;
    let acme = app.org_with_key("Acme").await;

    // Never subscribed: paid features denied for that reason alone, the rest allowed (G6).
    let body = ok(app.get_as(&acme.key, "/v1/entitlements").await).await;
    assert_eq!(body["subscription_status"], json!(null));
    let features = by_feature(&body);
    assert_eq!(features.len(), PAID.len() + ALWAYS.len());
    for (feature, allowed, reasons) in &features {
        if PAID.contains(&feature.as_str()) {
            assert!(!allowed, "{feature}");
            assert_eq!(reasons, &json!([{"code": "NO_SUBSCRIPTION"}]), "{feature}");
        } else {
            assert!(ALWAYS.contains(&feature.as_str()), "{feature}");
            assert!(allowed, "{feature}");
            assert_eq!(reasons, &json!([]), "{feature}");
        }
    }
    assert!(
        body["entitlements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["subscription_status"] == json!(null))
    );

    // Pending until paid: a subscription that is not trialing or active allows no paid feature.
    app.create_subscription(&acme.id, &json!({"plan": "pro"}))
        .await;
    let pending = app.entitlement(&acme, "send_messages").await;
    assert_eq!(
        pending,
        json!({
            "feature": "send_messages",
            "allowed": false,
            "subscription_status": "pending",
            "reasons": [{"code": "SUBSCRIPTION_INACTIVE"}],
        })
    );

    // Past due: the status and billing's block, both listed.
    let other = app.subscribed("Other").await;
    app.fail_payment(&other.id).await;
    let body = ok(app.get_as(&other.key, "/v1/entitlements").await).await;
    assert_eq!(body["subscription_status"], "past_due");
    for (feature, allowed, reasons) in by_feature(&body) {
        if PAID.contains(&feature.as_str()) {
            assert!(!allowed);
            let codes: Vec<_> = reasons
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["code"].clone(), r["source"].clone()))
                .collect();
            assert_eq!(
                codes,
                [
                    (json!("SUBSCRIPTION_INACTIVE"), json!(null)),
                    (json!("ACCESS_BLOCKED"), json!("billing")),
                ],
                "{feature}"
            );
        } else {
            assert!(allowed, "{feature}: reading and paying stay possible");
        }
    }
    // The admin sees the same through its own route.
    let admin_view = ok(app
        .get_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/organizations/{}/entitlements", other.id),
        )
        .await)
    .await;
    assert_eq!(admin_view, body);
}

#[tokio::test]
async fn one_feature_by_name_and_unknown_names() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    let allowed = app.entitlement(&acme, "send_messages").await;
    assert_eq!(
        allowed,
        json!({
            "feature": "send_messages",
            "allowed": true,
            "subscription_status": "active",
            "reasons": [],
        })
    );
    for name in ["nope", "SEND_MESSAGES", "send-messages", "send_messages%20"] {
        let problem = app
            .refused_billing(
                app.get_as(&acme.key, &format!("/v1/entitlements/{name}")),
                404,
                "UNKNOWN_FEATURE",
            )
            .await;
        assert_eq!(
            problem["known_features"].as_array().unwrap().len(),
            PAID.len() + ALWAYS.len()
        );
    }
    app.refused_billing(
        app.get_as(ADMIN_TOKEN, "/v1/entitlements/send_messages"),
        403,
        "ORGANIZATION_KEY_REQUIRED",
    )
    .await;
    app.refused_billing(
        app.get_as(ADMIN_TOKEN, "/v1/entitlements"),
        403,
        "ORGANIZATION_KEY_REQUIRED",
    )
    .await;
    let response = send(app.client.get(app.url("/v1/entitlements/send_messages"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // An organization key on the admin view of entitlements.
    app.refused_billing(
        app.get_as(
            &acme.key,
            &format!("/v1/admin/organizations/{}/entitlements", acme.id),
        ),
        403,
        "ADMIN_REQUIRED",
    )
    .await;
}

/// The admin block scenario: during `active`, an admin block denies sending (ACCESS_BLOCKED)
/// but not reading, through the API and through the feature gate alike; lifting it restores
/// both, and another organization is never affected.
#[tokio::test]
async fn an_admin_block_denies_paid_features_until_it_is_lifted() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    let other = app.subscribed("Other").await;
    let acme_id: OrganizationId = acme.id.parse().unwrap();

    let blocked = ok(app.block(&acme.id, "suspected fraud: under review").await).await;
    assert_eq!(blocked["changed"], true);
    assert_eq!(blocked["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(blocked["blocks"][0]["source"], "admin");
    assert_eq!(blocked["blocks"][0]["actor"], "admin");

    assert_eq!(
        app.entitlement(&acme, "send_messages").await,
        json!({
            "feature": "send_messages",
            "allowed": false,
            "subscription_status": "active",
            "reasons": [{
                "code": "ACCESS_BLOCKED",
                "source": "admin",
                "reason": "suspected fraud: under review",
            }],
        })
    );
    assert_eq!(app.entitlement(&acme, "view_data").await["allowed"], true);
    assert_eq!(
        app.entitlement(&other, "send_messages").await["allowed"],
        true
    );
    // The subscription itself is untouched: the block is a separate source.
    assert_eq!(app.own_subscription(&acme).await["status"], "active");

    // The feature gate asks the same question of the running app's state.
    let decision = app
        .state
        .check(acme_id, Feature::SendMessages)
        .await
        .unwrap();
    assert!(!decision.allowed());
    let refusal = require_feature(&app.state, acme_id, Feature::SendMessages)
        .await
        .unwrap_err();
    assert_eq!(refusal.status().as_u16(), 402);
    assert_eq!(refusal.code(), "FEATURE_NOT_ALLOWED");
    assert_eq!(
        refusal.member("subscription_status"),
        Some(&json!("active"))
    );
    assert_eq!(
        refusal.member("reasons"),
        Some(&json!([{
            "code": "ACCESS_BLOCKED",
            "source": "admin",
            "reason": "suspected fraud: under review",
        }]))
    );
    assert!(
        require_feature(&app.state, acme_id, Feature::ViewData)
            .await
            .is_ok()
    );

    let lifted = ok(app.lift(&acme.id, "admin", "review cleared").await).await;
    assert_eq!(lifted, json!({"changed": true, "blocks": []}));
    assert_eq!(
        app.entitlement(&acme, "send_messages").await["allowed"],
        true
    );
    assert!(
        require_feature(&app.state, acme_id, Feature::SendMessages)
            .await
            .is_ok()
    );
}
