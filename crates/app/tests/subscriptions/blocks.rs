//! Access blocks by hand: the admin sets and lifts its own block, and never another source's.

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN_TOKEN, JSON, TestApp, ok, send};

#[tokio::test]
async fn the_admin_block_is_idempotent_and_listed() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    assert_eq!(
        ok(app
            .get_as(
                ADMIN_TOKEN,
                &format!("/v1/admin/organizations/{}/access-blocks", acme.id)
            )
            .await)
        .await,
        json!({"blocks": []})
    );

    let first = ok(app.block(&acme.id, "chargeback dispute").await).await;
    assert_eq!(first["changed"], true);
    // Blocking again changes nothing: the first reason stays, no audit record is added.
    let before = app.billing_books().await;
    let again = ok(app.block(&acme.id, "another reason").await).await;
    assert_eq!(again["changed"], false);
    assert_eq!(again["blocks"], first["blocks"]);
    assert_eq!(app.billing_books().await, before);
    let listed = ok(app
        .get_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/organizations/{}/access-blocks", acme.id),
        )
        .await)
    .await;
    assert_eq!(listed["blocks"], first["blocks"]);
    assert_eq!(listed["blocks"][0]["reason"], "chargeback dispute");
    assert!(listed["blocks"][0]["since"].is_string());

    ok(app.lift(&acme.id, "admin", "resolved").await).await;
    // Lifting what is not there changes nothing.
    let before = app.billing_books().await;
    let none = ok(app.lift(&acme.id, "admin", "resolved again").await).await;
    assert_eq!(none, json!({"changed": false, "blocks": []}));
    assert_eq!(app.billing_books().await, before);
}

/// Billing's block is lifted by a payment, the customer's by resuming: an operator lifting
/// either by hand would give access to someone who has not paid.
#[tokio::test]
async fn billing_and_customer_blocks_cannot_be_lifted_by_hand() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    app.fail_payment(&acme.id).await;
    app.block(&acme.id, "also under review").await;

    for source in ["billing", "customer"] {
        let problem = app
            .refused_billing(
                app.lift(&acme.id, source, "customer called"),
                409,
                "BLOCK_SOURCE_NOT_ADMIN",
            )
            .await;
        assert_eq!(problem["source"], source);
    }
    app.refused_billing(app.lift(&acme.id, "nobody", "x"), 404, "NOT_FOUND")
        .await;
    app.refused_billing(app.lift(&acme.id, "Admin", "x"), 404, "NOT_FOUND")
        .await;

    // Lifting the admin block leaves billing's in force.
    let lifted = ok(app.lift(&acme.id, "admin", "review cleared").await).await;
    assert_eq!(lifted["changed"], true);
    let sources: Vec<_> = lifted["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].clone())
        .collect();
    assert_eq!(sources, [json!("billing")]);
    let entitlement = app.entitlement(&acme, "send_messages").await;
    assert_eq!(entitlement["allowed"], false);
    assert_eq!(entitlement["reasons"][1]["source"], "billing");
}

#[tokio::test]
async fn blocks_refuse_bad_input_and_the_wrong_callers() {
    let app = TestApp::spawn().await;
    let acme = app.subscribed("Acme").await;
    let url = app.admin_org_url(&acme.id, "/access-blocks");
    let request = |method: Method, path: &str, token: &str, body: serde_json::Value| {
        send(app.admin_org_request(method, &acme.id, path, token, None, &body))
    };

    for (method, path) in [
        (Method::POST, "/access-blocks"),
        (Method::DELETE, "/access-blocks/admin"),
    ] {
        for reason in [
            json!(""),
            json!("   "),
            json!("x".repeat(501)),
            json!("a\u{7}b"),
        ] {
            let problem = app
                .refused_billing(
                    request(method.clone(), path, ADMIN_TOKEN, json!({"reason": reason})),
                    422,
                    "VALIDATION_FAILED",
                )
                .await;
            assert_eq!(problem["field"], "reason");
        }
        for body in [
            json!({}),
            json!({"reason": 5}),
            json!({"reason": "x", "by": "me"}),
        ] {
            app.refused_billing(
                request(method.clone(), path, ADMIN_TOKEN, body),
                422,
                "VALIDATION_FAILED",
            )
            .await;
        }
        let raw = |body: &'static str| {
            send(
                app.client
                    .request(method.clone(), app.admin_org_url(&acme.id, path))
                    .bearer_auth(ADMIN_TOKEN)
                    .header("content-type", "application/json")
                    .body(body),
            )
        };
        app.refused_billing(raw("{not json"), 400, "MALFORMED_JSON")
            .await;
        app.refused_billing(raw(""), 400, "MALFORMED_JSON").await;
        app.refused_billing(
            request(
                method.clone(),
                path,
                &acme.key,
                json!({"reason": "self-unblock"}),
            ),
            403,
            "ADMIN_REQUIRED",
        )
        .await;
        app.refused_billing(
            send(
                app.client
                    .request(method.clone(), app.admin_org_url(&acme.id, path))
                    .json(&json!({"reason": "x"})),
            ),
            401,
            "UNAUTHORIZED",
        )
        .await;
        let missing = uuid::Uuid::now_v7().to_string();
        app.refused_billing(
            send(app.admin_org_request(
                method.clone(),
                &missing,
                path,
                ADMIN_TOKEN,
                None,
                &json!({"reason": "x"}),
            )),
            404,
            "ORGANIZATION_NOT_FOUND",
        )
        .await;
    }
    let huge = format!(
        r#"{{"reason": "{}"}}"#,
        "x".repeat(crate::common::BODY_LIMIT)
    );
    app.refused_billing(
        send(app.post_raw(&url, ADMIN_TOKEN, huge, JSON)),
        413,
        "BODY_TOO_LARGE",
    )
    .await;
}
