//! The organization and API-key endpoints over HTTP, against a real database.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use common::{ADMIN_TOKEN, BODY_LIMIT, TestApp, assert_problem};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::TestDb;

#[tokio::test]
async fn admin_creates_and_reads_an_organization() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/v1/organizations"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "  Acme Ltd ", "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().contains_key("x-request-id"));
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "Acme Ltd");
    let id = created["id"].as_str().unwrap();
    assert!(created["created_at"].is_string());

    let response = app
        .client
        .get(app.url(&format!("/v1/organizations/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value = response.json().await.unwrap();
    for member in ["id", "name", "created_at"] {
        assert_eq!(read[member], created[member], "{member}");
    }
    assert_eq!(app.count_organizations().await, 1);

    // The wallet was opened with the organization, empty, in the requested currency.
    assert_eq!(created["currency"], "EUR");
    let wallet = app.wallet(id).await;
    assert_eq!(wallet["wallet_id"], created["wallet_id"]);
    assert_eq!(wallet["organization_id"], id);
    assert_eq!(wallet["currency"], "EUR");
    for figure in ["balance", "held", "available"] {
        assert_eq!(wallet[figure], "0.00", "{figure}");
    }
    assert_eq!(wallet["frozen"], false);
    assert_eq!(app.books().await.wallets.len(), 1);
}

#[tokio::test]
async fn wallets_open_in_the_currency_exponent_of_the_organization() {
    let app = TestApp::spawn().await;
    let created = app.create_organization_in("Tokyo KK", "JPY").await;
    let wallet = app.wallet(created["id"].as_str().unwrap()).await;
    assert_eq!(wallet["currency"], "JPY");
    assert_eq!(wallet["balance"], "0");
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_get_401_and_write_nothing() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Acme", "currency": "USD"});
    let attempts = [
        app.client.post(app.url("/v1/organizations")),
        app.client
            .post(app.url("/v1/organizations"))
            .header(header::AUTHORIZATION, "Basic YWRtaW46YWRtaW4="),
        app.client
            .post(app.url("/v1/organizations"))
            .bearer_auth("bsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        app.client
            .post(app.url("/v1/organizations"))
            .bearer_auth(&ADMIN_TOKEN[1..]),
    ];
    for attempt in attempts {
        let response = attempt.json(&body).send().await.unwrap();
        let www_authenticate = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(www_authenticate.starts_with("Bearer"), "{www_authenticate}");
        let problem = assert_problem(response, 401, "UNAUTHORIZED").await;
        assert!(!problem.to_string().contains(ADMIN_TOKEN));
    }
    let response = app
        .client
        .get(app.url(&format!("/v1/organizations/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "UNAUTHORIZED").await;
    assert_eq!(app.count_organizations().await, 0);
}

#[tokio::test]
async fn organization_keys_are_refused_admin_operations_with_403() {
    let app = TestApp::spawn().await;
    let org = app.create_organization("Acme").await;
    let (key_id, key) = app.issue_key(&org).await;
    assert_eq!(app.count_organizations().await, 1);
    assert_eq!(app.count_api_keys().await, 1);

    let attempts = [
        app.client
            .post(app.url("/v1/organizations"))
            .json(&json!({"name": "Sneaky", "currency": "USD"})),
        app.client
            .post(app.url(&format!("/v1/organizations/{org}/api-keys")))
            .json(&json!({"name": "another"})),
        app.client
            .delete(app.url(&format!("/v1/organizations/{org}/api-keys/{key_id}"))),
    ];
    for attempt in attempts {
        let response = attempt.bearer_auth(&key).send().await.unwrap();
        assert_problem(response, 403, "ADMIN_REQUIRED").await;
    }

    assert_eq!(app.count_organizations().await, 1);
    assert_eq!(app.count_api_keys().await, 1);
    // The key still works: the refused revocation changed nothing.
    let response = app
        .client
        .get(app.url(&format!("/v1/organizations/{org}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn another_organization_is_indistinguishable_from_a_missing_one() {
    let app = TestApp::spawn().await;
    let own = app.create_organization("Own").await;
    let other = app.create_organization("Other").await;
    let (_, key) = app.issue_key(&own).await;

    let get = |id: String| {
        app.client
            .get(app.url(&format!("/v1/organizations/{id}")))
            .bearer_auth(&key)
            .send()
    };
    let response = get(own.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "Own");

    let foreign = assert_problem(get(other).await.unwrap(), 404, "ORGANIZATION_NOT_FOUND").await;
    let missing = assert_problem(
        get(uuid::Uuid::now_v7().to_string()).await.unwrap(),
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
    assert_eq!(foreign, missing);
    assert!(!foreign.to_string().contains("Other"));

    let response = get("not-a-uuid".to_owned()).await.unwrap();
    assert_problem(response, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn bad_bodies_are_refused_with_problems_and_write_nothing() {
    let app = TestApp::spawn().await;
    let url = app.url("/v1/organizations");
    let post = |body: String, content_type: &'static str| {
        app.post_raw(&url, ADMIN_TOKEN, body, Some(content_type))
            .send()
    };
    let json = "application/json";

    let response = post(r#"{"name": "Acme", "currency": "#.to_owned(), json)
        .await
        .unwrap();
    assert_problem(response, 400, "MALFORMED_JSON").await;

    let response = post(r#"{"name": 42, "currency": "USD"}"#.to_owned(), json)
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("name"),
        "{problem}"
    );

    let response = post(r#"{"name": "Acme"}"#.to_owned(), json).await.unwrap();
    let problem = assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("currency"),
        "{problem}"
    );

    let response = post(
        r#"{"name": "Acme", "currency": "USD", "balance": 1000000}"#.to_owned(),
        json,
    )
    .await
    .unwrap();
    let problem = assert_problem(response, 422, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("balance"),
        "{problem}"
    );

    let response = post(
        r#"{"name": "Acme", "currency": "USD"}"#.to_owned(),
        "text/plain",
    )
    .await
    .unwrap();
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;

    let oversized = json!({"name": "x".repeat(BODY_LIMIT), "currency": "USD"}).to_string();
    let response = post(oversized, json).await.unwrap();
    let problem = assert_problem(response, 413, "BODY_TOO_LARGE").await;
    assert_eq!(problem["limit_bytes"], BODY_LIMIT);

    // A body that is needed but empty.
    let response = post(String::new(), json).await.unwrap();
    assert_problem(response, 400, "MALFORMED_JSON").await;
    let response = app
        .post_raw(&url, ADMIN_TOKEN, "", None)
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    for (body, code) in [
        ("null", "BODY_NOT_OBJECT"),
        ("[]", "BODY_NOT_OBJECT"),
        (r#"["Org","USD"]"#, "BODY_NOT_OBJECT"),
        (r#"{"name": null, "currency": "USD"}"#, "VALIDATION_FAILED"),
    ] {
        let response = post(body.to_owned(), json).await.unwrap();
        let problem = assert_problem(response, 422, code).await;
        if code == "VALIDATION_FAILED" {
            assert_eq!(problem["field"], "name", "{problem}");
        }
    }

    for currency in ["XYZ", "usd", "US", "USDD", "XAU", ""] {
        let body = json!({"name": "Acme", "currency": currency}).to_string();
        let response = post(body, json).await.unwrap();
        assert_problem(response, 422, "INVALID_CURRENCY").await;
    }

    for name in ["", "   ", &"x".repeat(201)] {
        let body = json!({"name": name, "currency": "USD"}).to_string();
        let response = post(body, json).await.unwrap();
        assert_problem(response, 422, "INVALID_NAME").await;
    }

    assert_eq!(app.count_organizations().await, 0);
    assert!(app.books().await.wallets.is_empty());
}

#[tokio::test]
async fn api_key_lifecycle_issue_use_revoke() {
    let app = TestApp::spawn().await;
    let org = app.create_organization("Acme").await;

    let response = app
        .client
        .post(app.url(&format!("/v1/organizations/{org}/api-keys")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "dispatcher"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let issued: Value = response.json().await.unwrap();
    let key = issued["key"].as_str().unwrap().to_owned();
    let key_id = issued["id"].as_str().unwrap().to_owned();
    assert_eq!(issued["organization_id"], org.as_str());
    assert_eq!(issued["name"], "dispatcher");
    assert!(key.starts_with(issued["prefix"].as_str().unwrap()));

    let read_own = || {
        app.client
            .get(app.url(&format!("/v1/organizations/{org}")))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(read_own().await.unwrap().status(), StatusCode::OK);

    let revoke = |key_id: String| {
        app.client
            .delete(app.url(&format!("/v1/organizations/{org}/api-keys/{key_id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let response = revoke(key_id.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // At once, although the key was just used: revoking through this process drops the key
    // from its cache (other processes refuse it within their cache's TTL).
    assert_problem(read_own().await.unwrap(), 401, "UNAUTHORIZED").await;
    assert_eq!(
        revoke(key_id).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "revoking twice is fine"
    );
    let response = revoke(uuid::Uuid::now_v7().to_string()).await.unwrap();
    assert_problem(response, 404, "API_KEY_NOT_FOUND").await;
}

/// The bound of the API-key cache: a key revoked by another api process (or straight in the
/// database), whose revocation this process's cache does not hear of, is refused here within
/// `AUTH_CACHE_TTL_MS` (1000 by default) of the revocation's commit.
#[tokio::test]
async fn a_key_revoked_elsewhere_is_refused_within_the_cache_ttl() {
    const TTL: Duration = Duration::from_millis(1000);
    /// Scheduling and one request's round trip on a busy test machine.
    const MARGIN: Duration = Duration::from_millis(400);

    let app = TestApp::spawn().await;
    let org = app.create_organization("Acme").await;
    let (key_id, key) = app.issue_key(&org).await;
    let read_own = || async {
        app.client
            .get(app.url(&format!("/v1/organizations/{org}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
    };
    // The read this request makes begins after `cached`, so its entry lasts until at least
    // `cached + TTL`.
    let cached = Instant::now();
    assert_eq!(read_own().await, StatusCode::OK);

    let organization_id = org
        .parse()
        .map(primitives::OrganizationId::from_uuid)
        .unwrap();
    let key_id = key_id.parse().map(primitives::ApiKeyId::from_uuid).unwrap();
    tenancy::revoke_api_key(&mut app.conn().await, organization_id, key_id)
        .await
        .unwrap();
    let revoked = Instant::now();

    // Still served from the cache while the entry is young: the request asked no database.
    let status = read_own().await;
    if cached.elapsed() < TTL {
        assert_eq!(status, StatusCode::OK, "the cache was not used");
    }
    let refused_after = loop {
        if read_own().await == StatusCode::UNAUTHORIZED {
            break revoked.elapsed();
        }
        assert!(
            revoked.elapsed() <= TTL + MARGIN,
            "a key revoked {:?} ago still works",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refused_after <= TTL + MARGIN, "{refused_after:?}");
    // And from then on, every time.
    for _ in 0..3 {
        assert_eq!(read_own().await, StatusCode::UNAUTHORIZED);
    }
}

/// `AUTH_CACHE_TTL_MS=0`: every request asks the database, so a revocation made anywhere is
/// refused at once.
#[tokio::test]
async fn without_the_cache_a_revoked_key_is_refused_at_once() {
    let app = TestApp::spawn_with(TestDb::new().await, |config| {
        config.auth_cache_ttl = Duration::ZERO;
    })
    .await;
    let org = app.create_organization("Acme").await;
    let (key_id, key) = app.issue_key(&org).await;
    let read_own = || {
        app.client
            .get(app.url(&format!("/v1/organizations/{org}")))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(read_own().await.unwrap().status(), StatusCode::OK);
    let organization_id = org
        .parse()
        .map(primitives::OrganizationId::from_uuid)
        .unwrap();
    let key_id = key_id.parse().map(primitives::ApiKeyId::from_uuid).unwrap();
    tenancy::revoke_api_key(&mut app.conn().await, organization_id, key_id)
        .await
        .unwrap();
    assert_problem(read_own().await.unwrap(), 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn keys_for_missing_organizations_and_bad_key_names_are_refused() {
    let app = TestApp::spawn().await;
    let org = app.create_organization("Acme").await;
    let issue = |org: String, name: &str| {
        app.client
            .post(app.url(&format!("/v1/organizations/{org}/api-keys")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": name}))
            .send()
    };
    let response = issue(uuid::Uuid::now_v7().to_string(), "k").await.unwrap();
    assert_problem(response, 404, "ORGANIZATION_NOT_FOUND").await;
    let response = issue(org.clone(), " ").await.unwrap();
    assert_problem(response, 422, "INVALID_NAME").await;
    let response = issue(org, &"k".repeat(101)).await.unwrap();
    assert_problem(response, 422, "INVALID_NAME").await;
    assert_eq!(app.count_api_keys().await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/v1/nothing")).send().await.unwrap();
    assert_problem(response, 404, "NOT_FOUND").await;
    let response = app
        .client
        .delete(app.url("/v1/organizations"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::ALLOW], "POST");
    assert_problem(response, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn billing_emails_are_validated_and_only_the_owner_or_admin_changes_them() {
    let app = TestApp::spawn().await;
    let create = |body: Value| {
        app.client
            .post(app.url("/v1/organizations"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let created: Value = create(json!({
        "name": "Acme", "currency": "USD", "billing_email": " billing@acme.example "
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(created["billing_email"], "billing@acme.example");
    let acme = created["id"].as_str().unwrap().to_owned();

    // A bad address creates nothing.
    for bad in [json!("acme"), json!(""), json!(42), json!("a b@c.example")] {
        let response = create(json!({"name": "Bad", "currency": "USD", "billing_email": bad}))
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(status == 422 || status == 400, "{bad}: {status}");
    }
    assert_eq!(app.count_organizations().await, 1);

    let put = |token: String, organization: String, body: Value| {
        app.client
            .put(app.url(&format!("/v1/organizations/{organization}/billing-email")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let (_, acme_key) = app.issue_key(&acme).await;
    let changed: Value = put(
        acme_key.clone(),
        acme.clone(),
        json!({"billing_email": "finance@acme.example"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(changed["billing_email"], "finance@acme.example");

    let response = put(
        acme_key.clone(),
        acme.clone(),
        json!({"billing_email": "nope"}),
    )
    .await
    .unwrap();
    assert_problem(response, 422, "INVALID_EMAIL").await;

    // Another organization's key cannot see or change it.
    let other = app.create_organization("Other").await;
    let (_, other_key) = app.issue_key(&other).await;
    let response = put(
        other_key,
        acme.clone(),
        json!({"billing_email": "evil@x.example"}),
    )
    .await
    .unwrap();
    assert_problem(response, 404, "ORGANIZATION_NOT_FOUND").await;

    // The admin may clear it.
    let cleared: Value = put(
        ADMIN_TOKEN.to_owned(),
        acme.clone(),
        json!({"billing_email": null}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(cleared["billing_email"], Value::Null);
    let read: Value = app
        .client
        .get(app.url(&format!("/v1/organizations/{acme}")))
        .bearer_auth(&acme_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["billing_email"], Value::Null);
}
