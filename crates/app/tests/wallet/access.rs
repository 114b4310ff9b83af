//! Who may do what: 401 without a valid credential, 403 for organization keys on admin routes,
//! and another organization's wallet answering exactly like a missing one (404). Access is
//! checked before a body is read.

use reqwest::header;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, JSON, TestApp, assert_problem, key, ok, send};

#[tokio::test]
async fn organization_keys_are_refused_admin_wallet_operations() {
    let (app, org) = TestApp::funded("10.00").await;
    let hold_id = app.open_hold(&org, "h", "1.00").await;
    // Past the deadline: a sweep run by the key would change the books.
    app.clock.advance(chrono::TimeDelta::days(2));

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
        let request = app.wallet_post(&org.id, path, &org.key, Some(&key()), &body);
        app.refused(send(request), 403, "ADMIN_REQUIRED").await;
    }
    app.refused(
        app.wallet_get(&org.id, "/reconciliation", &org.key),
        403,
        "ADMIN_REQUIRED",
    )
    .await;
    let all = app
        .client
        .get(app.url("/v1/admin/reconciliation"))
        .bearer_auth(&org.key);
    app.refused(send(all), 403, "ADMIN_REQUIRED").await;
    app.refused(app.expire_holds(&org.key), 403, "ADMIN_REQUIRED")
        .await;
    // Refused before the body is read: even a malformed one gets the 403.
    let malformed = app.post_raw(
        &app.wallet_url(&org.id, "/credits"),
        &org.key,
        "{not json",
        JSON,
    );
    app.refused(send(malformed), 403, "ADMIN_REQUIRED").await;
    app.assert_figures(&org.id, "10.00", "1.00", "9.00").await;
    assert_eq!(app.hold_details(&org, &hold_id).await["status"], "open");
}

#[tokio::test]
async fn missing_and_bad_credentials_get_401_and_change_nothing() {
    let (app, org) = TestApp::funded("10.00").await;
    let hold_id = app.open_hold(&org, "h", "1.00").await;
    app.clock.advance(chrono::TimeDelta::days(2));
    let body = json!({"amount": "1.00", "currency": "USD", "counterparty": "topup:manual"});

    let unauthenticated = [
        app.client.post(app.wallet_url(&org.id, "/debits")),
        app.client
            .post(app.wallet_url(&org.id, "/debits"))
            .bearer_auth("bsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        app.client
            .post(app.wallet_url(&org.id, "/debits"))
            .bearer_auth(&org.key[..org.key.len() - 1]),
        app.client
            .post(app.wallet_url(&org.id, "/debits"))
            .bearer_auth(format!("{}x", org.key)),
        app.client
            .post(app.wallet_url(&org.id, "/credits"))
            .bearer_auth(&ADMIN_TOKEN[1..]),
        app.client
            .post(app.wallet_url(&org.id, "/credits"))
            .header(header::AUTHORIZATION, ADMIN_TOKEN),
        app.client
            .post(app.wallet_url(&org.id, "/holds"))
            .header(header::AUTHORIZATION, format!("Basic {}", org.key)),
        app.client
            .post(app.wallet_url(&org.id, &format!("/holds/{hold_id}/release")))
            .bearer_auth(""),
    ];
    for request in unauthenticated {
        let request = request.header("Idempotency-Key", key()).json(&body);
        app.refused(send(request), 401, "UNAUTHORIZED").await;
    }
    for path in [
        "",
        "/entries",
        "/reconciliation",
        &format!("/holds/{hold_id}"),
    ] {
        let request = app.client.get(app.wallet_url(&org.id, path));
        app.refused(send(request), 401, "UNAUTHORIZED").await;
    }
    let all = app.client.get(app.url("/v1/admin/reconciliation"));
    app.refused(send(all), 401, "UNAUTHORIZED").await;
    let sweep = app.client.post(app.url("/v1/admin/holds/expire"));
    app.refused(send(sweep), 401, "UNAUTHORIZED").await;
    app.refused(app.expire_holds("not-the-admin-token"), 401, "UNAUTHORIZED")
        .await;
    assert_eq!(app.hold_details(&org, &hold_id).await["status"], "open");
}

#[tokio::test]
async fn a_revoked_key_loses_its_wallet() {
    let (app, org) = TestApp::funded("10.00").await;
    let revoke = app
        .client
        .delete(app.url(&format!(
            "/v1/organizations/{}/api-keys/{}",
            org.id, org.key_id
        )))
        .bearer_auth(ADMIN_TOKEN);
    assert_eq!(send(revoke).await.status(), 204);
    app.refused(app.debit(&org, Some(&key()), "1.00"), 401, "UNAUTHORIZED")
        .await;
    app.refused(app.wallet_get(&org.id, "", &org.key), 401, "UNAUTHORIZED")
        .await;
}

#[tokio::test]
async fn another_organizations_wallet_holds_and_entries_are_not_found() {
    let app = TestApp::spawn().await;
    let own = app.org_with_key("Own").await;
    let other = app.org_with_key("Other").await;
    app.fund(&own.id, "10.00").await;
    app.fund(&other.id, "10.00").await;
    let other_hold = app.open_hold(&other, "theirs", "5.00").await;

    // Another organization's wallet answers exactly like one that does not exist.
    let missing = uuid::Uuid::now_v7().to_string();
    for path in ["", "/entries", &format!("/holds/{other_hold}")] {
        let foreign = app
            .refused(
                app.wallet_get(&other.id, path, &own.key),
                404,
                "WALLET_NOT_FOUND",
            )
            .await;
        let absent = app
            .refused(
                app.wallet_get(&missing, path, &own.key),
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
        let body = json!({"amount": "1.00", "currency": "USD"});
        let request = app.wallet_post(&other.id, path, &own.key, Some(&key()), &body);
        let foreign = app.refused(send(request), 404, "WALLET_NOT_FOUND").await;
        let request = app.wallet_post(&missing, path, &own.key, Some(&key()), &body);
        let absent = app.refused(send(request), 404, "WALLET_NOT_FOUND").await;
        assert_eq!(foreign, absent);
        // Refused before the body is read.
        let malformed = app.post_raw(
            &app.wallet_url(&other.id, path),
            &own.key,
            "{not json",
            JSON,
        );
        app.refused(send(malformed), 404, "WALLET_NOT_FOUND").await;
    }

    // Their hold through our own wallet: no such hold on this wallet.
    app.refused(
        app.wallet_get(&own.id, &format!("/holds/{other_hold}"), &own.key),
        404,
        "HOLD_NOT_FOUND",
    )
    .await;
    app.refused(
        app.capture(&own, &other_hold, &key(), "1.00"),
        404,
        "HOLD_NOT_FOUND",
    )
    .await;
    app.refused(
        app.release(&own, &other_hold, &key()),
        404,
        "HOLD_NOT_FOUND",
    )
    .await;

    // The admin reaches every wallet, but only wallets that exist.
    let body = json!({"amount": "1.00", "currency": "USD", "counterparty": "topup:manual"});
    app.refused(
        app.admin_post(&missing, "/credits", Some(&key()), &body),
        404,
        "WALLET_NOT_FOUND",
    )
    .await;
    app.refused(
        app.admin_post(&missing, "/freeze", None, &json!({"reason": "x"})),
        404,
        "WALLET_NOT_FOUND",
    )
    .await;
    app.refused(
        app.wallet_get(&missing, "/reconciliation", ADMIN_TOKEN),
        404,
        "WALLET_NOT_FOUND",
    )
    .await;

    let page = ok(app.wallet_get(&own.id, "/entries", &own.key).await).await;
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        1,
        "only our own entries: {page}"
    );
    app.assert_figures(&other.id, "10.00", "5.00", "5.00").await;
}

#[tokio::test]
async fn ids_that_are_not_uuids_name_nothing() {
    let (app, org) = TestApp::funded("10.00").await;
    let hold_id = app.open_hold(&org, "h", "1.00").await;
    let amount = json!({"amount": "1.00", "currency": "USD"});

    for bad in ["not-a-uuid", "123", &format!("{hold_id}x"), &hold_id[..35]] {
        app.refused(app.wallet_get(bad, "", &org.key), 404, "NOT_FOUND")
            .await;
        app.refused(
            send(app.wallet_post(bad, "/debits", &org.key, Some(&key()), &amount)),
            404,
            "NOT_FOUND",
        )
        .await;
        app.refused(
            app.wallet_get(&org.id, &format!("/holds/{bad}"), &org.key),
            404,
            "NOT_FOUND",
        )
        .await;
        app.refused(app.capture(&org, bad, &key(), "1.00"), 404, "NOT_FOUND")
            .await;
        app.refused(app.release(&org, bad, &key()), 404, "NOT_FOUND")
            .await;
    }
    // Also before the body and the key are looked at.
    let malformed = app
        .post_raw(
            &app.wallet_url(&org.id, "/holds/not-a-uuid/captures"),
            &org.key,
            "{",
            JSON,
        )
        .header("Idempotency-Key", "has space");
    app.refused(send(malformed), 404, "NOT_FOUND").await;
    assert_eq!(app.hold_details(&org, &hold_id).await["status"], "open");
}

#[tokio::test]
async fn wallet_routes_answer_other_methods_with_405() {
    let (app, org) = TestApp::funded("10.00").await;
    for (path, allow) in [
        ("/debits", "POST"),
        ("/entries", "GET,HEAD"),
        ("/freeze", "POST"),
    ] {
        let before = app.books().await;
        let response = send(
            app.client
                .delete(app.wallet_url(&org.id, path))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(response.headers()[header::ALLOW], allow, "{path}");
        assert_problem(response, 405, "METHOD_NOT_ALLOWED").await;
        assert_eq!(app.books().await, before);
    }
}
