//! Who may do what (G11): the admin and the organization's own key; another organization's key
//! is answered exactly like a missing resource, on every route, and changes nothing; the
//! resolve route is the admin's alone.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    common::{ADMIN_TOKEN, TestApp, created, ok, send},
    support::{numbers, subaccount},
};

/// One request of a route: method, path under `/v1/organizations/{org}`, body.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Call {
    fn new(method: Method, path: impl Into<String>, body: Option<Value>) -> Self {
        Self {
            method,
            path: path.into(),
            body,
        }
    }
}

/// Every organization route of brands and campaigns, with a body it would accept, naming
/// `brand` and `campaign`; and the 404 code another organization's key gets.
fn routes(brand: &str, campaign: &str) -> Vec<(Call, &'static str)> {
    let c = |suffix: &str| format!("/campaigns/{campaign}{suffix}");
    vec![
        (
            Call::new(
                Method::POST,
                "/brands",
                Some(json!({"name": "B", "twilio_subaccount_sid": subaccount(99)})),
            ),
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            Call::new(Method::GET, "/brands", None),
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            Call::new(Method::GET, format!("/brands/{brand}"), None),
            "BRAND_NOT_FOUND",
        ),
        (
            Call::new(
                Method::POST,
                "/campaigns",
                Some(TestApp::campaign_body(&json!(brand))),
            ),
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            Call::new(Method::GET, "/campaigns", None),
            "ORGANIZATION_NOT_FOUND",
        ),
        (
            Call::new(Method::GET, "/send-eligibility", None),
            "ORGANIZATION_NOT_FOUND",
        ),
        (Call::new(Method::GET, c(""), None), "CAMPAIGN_NOT_FOUND"),
        (
            Call::new(
                Method::POST,
                c("/recipients"),
                Some(json!({"numbers": numbers(1)})),
            ),
            "CAMPAIGN_NOT_FOUND",
        ),
        (
            Call::new(Method::GET, c("/recipients"), None),
            "CAMPAIGN_NOT_FOUND",
        ),
        (
            Call::new(Method::POST, c("/start"), None),
            "CAMPAIGN_NOT_FOUND",
        ),
        (
            Call::new(Method::POST, c("/pause"), None),
            "CAMPAIGN_NOT_FOUND",
        ),
        (
            Call::new(Method::POST, c("/resume"), None),
            "CAMPAIGN_NOT_FOUND",
        ),
        (
            Call::new(Method::POST, c("/cancel"), None),
            "CAMPAIGN_NOT_FOUND",
        ),
    ]
}

impl TestApp {
    /// `call` on `/v1/organizations/{organization_id}...` with `token` (none: no credential)
    /// and an `Idempotency-Key`, which only the start route reads.
    async fn call(
        &self,
        token: Option<&str>,
        organization_id: &str,
        call: &Call,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(
                call.method.clone(),
                self.org_url(organization_id, &call.path),
            )
            .header("Idempotency-Key", "access-test");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        send(request).await
    }
}

#[tokio::test]
async fn another_organizations_brands_and_campaigns_answer_404_and_change_nothing() {
    let app = TestApp::campaigns_app().await;
    let (acme, brand, campaign) = app.ready_campaign("Acme", "10.00", 1, 3).await;
    let (brand_id, campaign_id) = (
        brand["id"].as_str().unwrap(),
        campaign["id"].as_str().unwrap(),
    );
    created(app.start(&acme, campaign_id, "start-acme").await).await;
    // A subscribed, funded organization with a campaign of its own, so its feature gate and
    // its own ids are not what refuses it.
    let (other, _, _) = app.ready_campaign("Other", "10.00", 2, 1).await;

    for (call, code) in routes(brand_id, campaign_id) {
        // Acme's path with the other organization's key.
        let problem = app
            .refused_campaigns(app.call(Some(&other.key), &acme.id, &call), 404, code)
            .await;
        assert!(
            !problem.to_string().contains(campaign_id) && !problem.to_string().contains(brand_id),
            "{} {}: {problem}",
            call.method,
            call.path
        );
        // Its own path with Acme's ids: the brand or campaign is not found there either. (The
        // collection routes are its own and would succeed, so they are skipped.)
        if code != "ORGANIZATION_NOT_FOUND" {
            app.refused_campaigns(app.call(Some(&other.key), &other.id, &call), 404, code)
                .await;
        }
        // No credential at all.
        app.refused_campaigns(app.call(None, &acme.id, &call), 401, "UNAUTHORIZED")
            .await;
        let wrong = app.call(Some("bsk_not_a_key"), &acme.id, &call);
        app.refused_campaigns(wrong, 401, "UNAUTHORIZED").await;
    }

    // Acme's brand in the other organization's campaign or eligibility check.
    app.refused_campaigns(
        app.org_post(
            &other.key,
            &other.id,
            "/campaigns",
            &TestApp::campaign_body(&brand["id"]),
        ),
        404,
        "BRAND_NOT_FOUND",
    )
    .await;
    app.refused_campaigns(
        app.org_get(
            &other.key,
            &other.id,
            &format!("/send-eligibility?brand_id={brand_id}"),
        ),
        404,
        "BRAND_NOT_FOUND",
    )
    .await;
    // Lists show only one's own.
    let page = ok(app.org_get(&other.key, &other.id, "/campaigns").await).await;
    assert_eq!(page["campaigns"].as_array().map(Vec::len), Some(1));
    assert_ne!(page["campaigns"][0]["id"], campaign["id"]);
    let brands = ok(app.org_get(&other.key, &other.id, "/brands").await).await;
    assert_ne!(brands["brands"][0]["id"], brand["id"]);

    // Acme and the admin still see it all, running.
    let summary = app.summary(&acme, campaign_id).await;
    assert_eq!(summary["campaign"]["status"], "running");
    let admin = ok(app
        .org_get(ADMIN_TOKEN, &acme.id, &format!("/campaigns/{campaign_id}"))
        .await)
    .await;
    assert_eq!(admin, summary);
}

#[tokio::test]
async fn only_the_admin_resolves_recipients() {
    let app = TestApp::campaigns_app().await;
    let (acme, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 1).await;
    let campaign_id = campaign["id"].as_str().unwrap();
    let recipient = app.recipients(&acme, campaign_id).await[0]["id"].clone();
    let other = app.org_with_key("Other").await;
    let path = format!(
        "/v1/admin/organizations/{}/campaigns/{campaign_id}/recipients/{recipient}/resolve",
        acme.id
    );
    let body = json!({"outcome": "not_sent"});
    for token in [acme.key.as_str(), other.key.as_str()] {
        app.refused_campaigns(
            send(
                app.client
                    .post(app.url(&path))
                    .bearer_auth(token)
                    .json(&body),
            ),
            403,
            "ADMIN_REQUIRED",
        )
        .await;
    }
    app.refused_campaigns(
        send(app.client.post(app.url(&path)).json(&body)),
        401,
        "UNAUTHORIZED",
    )
    .await;
    // The admin naming another organization finds no such campaign there.
    let elsewhere = format!(
        "/v1/admin/organizations/{}/campaigns/{campaign_id}/recipients/{recipient}/resolve",
        other.id
    );
    app.refused_campaigns(
        send(
            app.client
                .post(app.url(&elsewhere))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body),
        ),
        404,
        "CAMPAIGN_NOT_FOUND",
    )
    .await;
    // The admin on the right organization reaches the domain: a pending recipient is not
    // unconfirmed.
    let problem = app
        .refused_campaigns(
            send(
                app.client
                    .post(app.url(&path))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&body),
            ),
            409,
            "RECIPIENT_NOT_UNCONFIRMED",
        )
        .await;
    assert_eq!(problem["recipient_status"], "pending");
}
