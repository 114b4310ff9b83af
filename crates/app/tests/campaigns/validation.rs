//! Bad input on every brand and campaign route gets a clear problem with a stable code and
//! changes nothing (G12): malformed JSON, wrong types, unknown fields, empty strings, oversize
//! bodies, bad amounts and currencies, bad numbers, bad queries, ids that are not UUIDs.

use serde_json::{Value, json};

use crate::{
    common::{BODY_LIMIT, JSON, Org, TestApp, assert_problem, send},
    support::{numbers, subaccount},
};

impl TestApp {
    /// A POST of raw bytes to an organization route with its key.
    async fn raw(
        &self,
        org: &Org,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> reqwest::Response {
        send(self.post_raw(&self.org_url(&org.id, path), &org.key, body, content_type)).await
    }
}

/// `body` with `member` set to `value` (`Value::Null` removes it).
fn with(body: &Value, member: &str, value: Value) -> Value {
    let mut body = body.clone();
    let object = body.as_object_mut().unwrap();
    if value.is_null() {
        object.remove(member);
    } else {
        object.insert(member.to_owned(), value);
    }
    body
}

#[tokio::test]
async fn brand_input_is_validated() {
    let app = TestApp::campaigns_app().await;
    let org = app.org_with_key("Acme").await;
    let good = json!({"name": "Acme Shoes", "twilio_subaccount_sid": subaccount(1)});
    for (body, code, field) in [
        (
            with(&good, "name", json!("")),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "name", json!("   ")),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "name", json!("n".repeat(201))),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "name", json!("bell\u{7}")),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "twilio_subaccount_sid", json!("")),
            "VALIDATION_FAILED",
            Some("twilio_subaccount_sid"),
        ),
        (
            with(
                &good,
                "twilio_subaccount_sid",
                json!(format!("AC{}", "AB".repeat(16))),
            ),
            "VALIDATION_FAILED",
            Some("twilio_subaccount_sid"),
        ),
        (
            with(
                &good,
                "twilio_subaccount_sid",
                json!("AC../../Messages.json"),
            ),
            "VALIDATION_FAILED",
            Some("twilio_subaccount_sid"),
        ),
        (
            with(&good, "name", Value::Null),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "name", json!(42)),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "status", json!("suspended")),
            "VALIDATION_FAILED",
            Some("status"),
        ),
        (json!([good.clone()]), "BODY_NOT_OBJECT", None),
    ] {
        let problem = app
            .refused_campaigns(app.org_post(&org.key, &org.id, "/brands", &body), 422, code)
            .await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}");
        }
    }
    app.refused_campaigns(
        app.raw(&org, "/brands", "{\"name\":", JSON),
        400,
        "MALFORMED_JSON",
    )
    .await;
    app.refused_campaigns(
        app.raw(&org, "/brands", good.to_string(), Some("text/plain")),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let huge = with(&good, "name", json!("n".repeat(BODY_LIMIT)));
    let problem = app
        .refused_campaigns(
            app.org_post(&org.key, &org.id, "/brands", &huge),
            413,
            "BODY_TOO_LARGE",
        )
        .await;
    assert_eq!(problem["limit_bytes"], BODY_LIMIT);

    // One brand per subaccount, across organizations.
    app.create_brand(&org, &subaccount(1)).await;
    let other = app.org_with_key("Other").await;
    for owner in [&org, &other] {
        let problem = app
            .refused_campaigns(
                app.org_post(&owner.key, &owner.id, "/brands", &good),
                409,
                "SUBACCOUNT_TAKEN",
            )
            .await;
        assert_eq!(problem["field"], "twilio_subaccount_sid");
    }
    // Ids that are not UUIDs name nothing; a UUID that is no brand is not found.
    app.refused_campaigns(
        app.org_get(&org.key, &org.id, "/brands/acme"),
        404,
        "NOT_FOUND",
    )
    .await;
    let unknown = uuid::Uuid::now_v7();
    app.refused_campaigns(
        app.org_get(&org.key, &org.id, &format!("/brands/{unknown}")),
        404,
        "BRAND_NOT_FOUND",
    )
    .await;
    app.refused_campaigns(app.org_get(&org.key, "acme", "/brands"), 404, "NOT_FOUND")
        .await;
    // The admin creating a brand for an organization that does not exist.
    app.refused_campaigns(
        app.org_post(
            crate::common::ADMIN_TOKEN,
            &unknown.to_string(),
            "/brands",
            &with(&good, "twilio_subaccount_sid", json!(subaccount(2))),
        ),
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn campaign_input_is_validated() {
    let app = TestApp::campaigns_app().await;
    let org = app.subscribed("Acme").await;
    let brand = app.create_brand(&org, &subaccount(1)).await;
    let good = TestApp::campaign_body(&brand["id"]);
    let service = format!("MG{}", "0".repeat(32));
    // Two segments of GSM-7 (161 characters) at a price whose double overflows 64 bits.
    let overflowing = with(
        &with(&good, "body", json!("x".repeat(161))),
        "price_per_segment",
        json!("50000000000000000.00"),
    );
    for (body, code, field) in [
        (
            with(&good, "brand_id", json!("acme")),
            "VALIDATION_FAILED",
            Some("brand_id"),
        ),
        (
            with(&good, "name", json!(" ")),
            "VALIDATION_FAILED",
            Some("name"),
        ),
        (
            with(&good, "body", json!("")),
            "VALIDATION_FAILED",
            Some("body"),
        ),
        (
            with(&good, "body", json!(" \n ")),
            "VALIDATION_FAILED",
            Some("body"),
        ),
        (
            with(&good, "body", json!("x".repeat(1601))),
            "VALIDATION_FAILED",
            Some("body"),
        ),
        (
            with(&good, "body", json!("nul\u{0}")),
            "VALIDATION_FAILED",
            Some("body"),
        ),
        (
            with(&good, "from", Value::Null),
            "VALIDATION_FAILED",
            Some("from"),
        ),
        (
            with(&good, "messaging_service_sid", json!(service)),
            "VALIDATION_FAILED",
            Some("from"),
        ),
        (
            with(&good, "from", json!("")),
            "VALIDATION_FAILED",
            Some("from"),
        ),
        (
            with(&good, "from", json!("ACME SHOP")),
            "VALIDATION_FAILED",
            Some("from"),
        ),
        (
            with(
                &with(&good, "from", Value::Null),
                "messaging_service_sid",
                json!("MG1"),
            ),
            "VALIDATION_FAILED",
            Some("messaging_service_sid"),
        ),
        (
            with(&good, "price_per_segment", json!("0.055")),
            "INVALID_AMOUNT",
            Some("price_per_segment"),
        ),
        (
            with(&good, "price_per_segment", json!("0")),
            "INVALID_AMOUNT",
            Some("price_per_segment"),
        ),
        (
            with(&good, "price_per_segment", json!("-0.05")),
            "INVALID_AMOUNT",
            Some("price_per_segment"),
        ),
        (
            with(&good, "price_per_segment", json!("")),
            "INVALID_AMOUNT",
            Some("price_per_segment"),
        ),
        (
            with(&good, "price_per_segment", json!("five")),
            "INVALID_AMOUNT",
            Some("price_per_segment"),
        ),
        (
            with(&good, "price_per_segment", json!("92233720368547758.08")),
            "INVALID_AMOUNT",
            Some("price_per_segment"),
        ),
        (overflowing, "INVALID_AMOUNT", Some("price_per_segment")),
        (
            with(&good, "currency", json!("usd")),
            "INVALID_CURRENCY",
            Some("currency"),
        ),
        (
            with(&good, "currency", json!("")),
            "INVALID_CURRENCY",
            Some("currency"),
        ),
        (
            with(&good, "currency", json!("EUR")),
            "CURRENCY_MISMATCH",
            Some("currency"),
        ),
        (
            with(&good, "price_per_segment", json!(0.05)),
            "VALIDATION_FAILED",
            None,
        ),
        (
            with(&good, "currency", Value::Null),
            "VALIDATION_FAILED",
            None,
        ),
        (
            with(&good, "status", json!("running")),
            "VALIDATION_FAILED",
            None,
        ),
    ] {
        let problem = app
            .refused_campaigns(
                app.org_post(&org.key, &org.id, "/campaigns", &body),
                422,
                code,
            )
            .await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}: {problem}");
        }
    }
    app.refused_campaigns(
        app.raw(&org, "/campaigns", "{", JSON),
        400,
        "MALFORMED_JSON",
    )
    .await;
    app.refused_campaigns(
        app.raw(&org, "/campaigns", good.to_string(), None),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let huge = with(&good, "name", json!("n".repeat(BODY_LIMIT)));
    app.refused_campaigns(
        app.org_post(&org.key, &org.id, "/campaigns", &huge),
        413,
        "BODY_TOO_LARGE",
    )
    .await;
    let unknown = with(&good, "brand_id", json!(uuid::Uuid::now_v7()));
    app.refused_campaigns(
        app.org_post(&org.key, &org.id, "/campaigns", &unknown),
        404,
        "BRAND_NOT_FOUND",
    )
    .await;

    // A messaging service instead of a number; a body outside GSM-7 costs UCS-2 segments.
    let by_service = with(
        &with(
            &with(&good, "from", Value::Null),
            "messaging_service_sid",
            json!(service),
        ),
        "body",
        json!("Olá 👋 ".repeat(12)),
    );
    let response = app
        .org_post(&org.key, &org.id, "/campaigns", &by_service)
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let campaign: Value = response.json().await.unwrap();
    assert_eq!(campaign["from"], Value::Null);
    assert_eq!(campaign["messaging_service_sid"], service.as_str());
    assert_eq!(campaign["encoding"], "ucs2");
    assert_eq!(campaign["segments"], 2);
    assert_eq!(campaign["cost_per_message"], "0.10");
}

#[tokio::test]
async fn recipient_input_is_validated() {
    // A body limit that lets 10001 numbers through to the count check.
    let app = TestApp::spawn_with(testkit::TestDb::new().await, |config| {
        config.body_limit_bytes = 1 << 20;
    })
    .await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 1).await;
    let id = campaign["id"].as_str().unwrap();
    let path = format!("/campaigns/{id}/recipients");

    let mut bad = numbers(3);
    bad[1] = "0800 FLOWERS".to_owned();
    bad.push("+1 415 555 0100".to_owned());
    let problem = app
        .refused_campaigns(
            app.add_recipients(&org, id, &bad),
            422,
            "INVALID_PHONE_NUMBER",
        )
        .await;
    assert_eq!(problem["count"], 2);
    assert_eq!(
        problem["invalid"],
        json!([{"index": 1, "value": "0800 FLOWERS"}, {"index": 3, "value": "+1 415 555 0100"}])
    );
    // At most 20 are listed; all are counted; long values are cut.
    let many: Vec<String> = (0..25).map(|i| format!("{i}{}", "9".repeat(40))).collect();
    let problem = app
        .refused_campaigns(
            app.add_recipients(&org, id, &many),
            422,
            "INVALID_PHONE_NUMBER",
        )
        .await;
    assert_eq!(problem["count"], 25);
    assert_eq!(problem["invalid"].as_array().map(Vec::len), Some(20));
    assert_eq!(
        problem["invalid"][0]["value"].as_str().map(str::len),
        Some(32)
    );

    let problem = app
        .refused_campaigns(app.add_recipients(&org, id, &[]), 422, "VALIDATION_FAILED")
        .await;
    assert_eq!(problem["field"], "recipients");
    let too_many = numbers(10_001);
    let problem = app
        .refused_campaigns(
            app.add_recipients(&org, id, &too_many),
            422,
            "TOO_MANY_RECIPIENTS",
        )
        .await;
    assert_eq!(problem["max"], 10_000);
    for body in [
        json!({"numbers": "+14155550100"}),
        json!({"numbers": [14155550100u64]}),
        json!({"numbers": numbers(1), "campaign": "x"}),
        json!({}),
    ] {
        app.refused_campaigns(
            app.org_post(&org.key, &org.id, &path, &body),
            422,
            "VALIDATION_FAILED",
        )
        .await;
    }
    app.refused_campaigns(
        app.raw(&org, &path, "{\"numbers\": [", JSON),
        400,
        "MALFORMED_JSON",
    )
    .await;
    let huge = json!({"numbers": numbers(100_000)});
    app.refused_campaigns(
        app.org_post(&org.key, &org.id, &path, &huge),
        413,
        "BODY_TOO_LARGE",
    )
    .await;

    // The list's query.
    for (query, code, field) in [
        ("status=delivered", "INVALID_STATUS", Some("status")),
        ("after=-1", "INVALID_CURSOR", Some("after")),
        ("after=first", "INVALID_CURSOR", Some("after")),
        ("limit=0", "INVALID_LIMIT", Some("limit")),
        ("limit=1001", "INVALID_LIMIT", Some("limit")),
        ("limit=ten", "INVALID_LIMIT", Some("limit")),
        ("page=2", "VALIDATION_FAILED", None),
    ] {
        let problem = app
            .refused_campaigns(
                app.org_get(&org.key, &org.id, &format!("{path}?{query}")),
                422,
                code,
            )
            .await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{query}");
        }
    }
}

#[tokio::test]
async fn queries_and_path_ids_are_validated() {
    let app = TestApp::campaigns_app().await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 1).await;
    let id = campaign["id"].as_str().unwrap();
    for (path, code, field) in [
        ("/campaigns?cursor=newest", "INVALID_CURSOR", Some("cursor")),
        ("/campaigns?limit=201", "INVALID_LIMIT", Some("limit")),
        ("/campaigns?limit=-5", "INVALID_LIMIT", Some("limit")),
        ("/campaigns?status=running", "VALIDATION_FAILED", None),
        (
            "/send-eligibility?brand_id=acme",
            "INVALID_BRAND_ID",
            Some("brand_id"),
        ),
        ("/send-eligibility?brand=1", "VALIDATION_FAILED", None),
    ] {
        let problem = app
            .refused_campaigns(app.org_get(&org.key, &org.id, path), 422, code)
            .await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{path}");
        }
    }
    // Every campaign route with an id that is not a UUID, and with one that is no campaign.
    let unknown = uuid::Uuid::now_v7().to_string();
    for campaign_id in ["spring-sale", unknown.as_str()] {
        let code = if campaign_id == unknown {
            "CAMPAIGN_NOT_FOUND"
        } else {
            "NOT_FOUND"
        };
        let c = |suffix: &str| format!("/campaigns/{campaign_id}{suffix}");
        app.refused_campaigns(app.org_get(&org.key, &org.id, &c("")), 404, code)
            .await;
        app.refused_campaigns(app.org_get(&org.key, &org.id, &c("/recipients")), 404, code)
            .await;
        app.refused_campaigns(
            app.org_post(
                &org.key,
                &org.id,
                &c("/recipients"),
                &json!({"numbers": numbers(1)}),
            ),
            404,
            code,
        )
        .await;
        for action in ["start", "pause", "resume", "cancel"] {
            app.refused_campaigns(
                app.org_action(&org.key, &org.id, &c(&format!("/{action}")), Some("k-1")),
                404,
                code,
            )
            .await;
        }
    }
    // A campaign id where an organization id belongs.
    app.refused_campaigns(
        app.org_get(&org.key, id, "/campaigns"),
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.org_get(&org.key, &org.id, "/campaigns/").await,
        404,
        "NOT_FOUND",
    )
    .await;
    // Methods a route does not have.
    let wrong = send(
        app.client
            .delete(app.org_url(&org.id, &format!("/campaigns/{id}")))
            .bearer_auth(&org.key),
    )
    .await;
    assert_problem(wrong, 405, "METHOD_NOT_ALLOWED").await;
}
