//! Starting a subscription: the provider is asked first with a key derived from the caller's,
//! the subscription is recorded `pending` only once it answered, and the provider's webhook
//! makes it active.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

use crate::common::{ADMIN_TOKEN, assert_problem, key};
use crate::support::{
    CANCEL_URL, PAYPAL_PLAN, RETURN_URL, STRIPE_SECRET, World, form, idempotency_key,
};

fn stripe_start() -> Value {
    json!({"plan": "pro", "provider": "stripe", "return_url": RETURN_URL,
           "cancel_url": CANCEL_URL, "customer_id": "cus_acme"})
}

fn replayed(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|value| value == "true")
}

#[tokio::test]
async fn a_stripe_start_asks_stripe_once_and_stays_pending_until_its_webhook() {
    let world = World::new().await;
    let acme = &world.acme;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .and(header("authorization", format!("Bearer {STRIPE_SECRET}").as_str()))
        .and(form(&[
            ("customer", "cus_acme"),
            ("items[0][price]", "price_pro"),
            ("metadata[organization_id]", &acme.id),
            ("payment_behavior", "default_incomplete"),
            ("payment_settings[save_default_payment_method]", "on_subscription"),
            ("expand[0]", "latest_invoice"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_1", "object": "subscription", "status": "incomplete",
            "customer": "cus_acme",
            "latest_invoice": {"id": "in_1", "hosted_invoice_url": "https://invoice.stripe.com/i/in_1"}
        })))
        .expect(1)
        .mount(&world.stripe)
        .await;

    let response = world
        .post(acme, "/v1/subscription", "start-1", Some(&stripe_start()))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(!replayed(&response));
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["subscription"]["status"], "pending", "{started}");
    assert_eq!(started["subscription"]["plan"], "pro");
    assert_eq!(
        started["subscription"]["provider"],
        json!({"name": "stripe", "subscription_id": "sub_1"})
    );
    assert_eq!(
        started["approval"],
        json!({"url": "https://invoice.stripe.com/i/in_1", "form": null})
    );
    let sent = World::received(&world.stripe, "POST", "/v1/subscriptions").await;
    let stripe_key = idempotency_key(&sent[0]);
    assert!(
        stripe_key.starts_with(&format!("sub:{}:", acme.id)),
        "{stripe_key}"
    );

    // The same key again: the same answer, nothing asked or written again.
    let before = world.written().await;
    let again = world
        .post(acme, "/v1/subscription", "start-1", Some(&stripe_start()))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(replayed(&again));
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["approval"], started["approval"]);
    assert_eq!(again["subscription"]["id"], started["subscription"]["id"]);
    assert_eq!(world.written().await, before);

    // The same key for other parameters: refused, nothing asked.
    let mut other = stripe_start();
    other["plan"] = json!("starter");
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription", "start-1", Some(&other))
            .await,
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("starting a subscription"),
        "{problem}"
    );
    assert_eq!(world.written().await, before);

    // Stripe confirms: the signed `invoice.paid` makes it active.
    let paid = world.invoice_paid(acme, "sub_1", "evt_paid_1", 30);
    assert_eq!(world.stripe_webhook(&paid).await.status(), 200);
    assert_eq!(world.status(acme).await, "active");
}

#[tokio::test]
async fn a_paypal_start_answers_its_approval_link() {
    let world = World::new().await;
    let acme = &world.acme;
    Mock::given(method("POST"))
        .and(path("/v1/billing/subscriptions"))
        .and(header("authorization", "Bearer A21AAFakeToken"))
        .and(body_json(json!({
            "plan_id": PAYPAL_PLAN,
            "custom_id": acme.id,
            "application_context": {"return_url": RETURN_URL, "cancel_url": CANCEL_URL}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "I-BW452GLLEP1G", "status": "APPROVAL_PENDING",
            "links": [{"href": "https://www.sandbox.paypal.com/webapps/billing/subscriptions?ba_token=BA-1",
                       "rel": "approve", "method": "GET"}]
        })))
        .expect(1)
        .mount(&world.paypal)
        .await;
    let body = json!({"plan": "pro", "provider": "paypal", "return_url": RETURN_URL,
                      "cancel_url": CANCEL_URL});
    let response = world
        .post(acme, "/v1/subscription", "pp-1", Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(started["subscription"]["status"], "pending");
    assert_eq!(
        started["approval"]["url"],
        "https://www.sandbox.paypal.com/webapps/billing/subscriptions?ba_token=BA-1"
    );
    let sent = World::received(&world.paypal, "POST", "/v1/billing/subscriptions").await;
    assert!(idempotency_key(&sent[0]).starts_with(&format!("sub:{}:", acme.id)));
}

#[tokio::test]
async fn a_payhere_start_answers_the_signed_checkout_form_and_needs_the_payer() {
    let world = World::new().await;
    let acme = &world.acme;
    let mut body = json!({"plan": "pro", "provider": "payhere", "return_url": RETURN_URL,
                          "cancel_url": CANCEL_URL});
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription", "ph-1", Some(&body))
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["field"], "payer_first_name");
    assert_eq!(world.written().await, before);

    for (member, value) in [
        ("payer_first_name", "Saman"),
        ("payer_last_name", "Perera"),
        ("payer_email", "saman@example.lk"),
        ("payer_phone", "0771234567"),
        ("payer_address", "No. 1, Galle Road"),
        ("payer_city", "Colombo"),
        ("payer_country", "Sri Lanka"),
    ] {
        body[member] = json!(value);
    }
    let response = world
        .post(acme, "/v1/subscription", "ph-1", Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(
        started["approval"]["url"],
        "https://sandbox.payhere.lk/pay/checkout"
    );
    let fields: Vec<(String, String)> = started["approval"]["form"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| {
            (
                field["name"].as_str().unwrap().to_owned(),
                field["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let order = field("order_id").unwrap();
    assert!(order.starts_with(&format!("SUB-{}.", acme.id)), "{order}");
    assert_eq!(field("return_url"), Some(RETURN_URL));
    assert_eq!(field("cancel_url"), Some(CANCEL_URL));
    assert_eq!(field("amount"), Some("2500.00"));
    assert_eq!(field("email"), Some("saman@example.lk"));
    assert_eq!(
        started["subscription"]["provider"]["subscription_id"],
        order
    );
}

#[tokio::test]
async fn a_provider_failure_writes_nothing_and_the_retry_makes_the_same_provider_object() {
    let world = World::new().await;
    let acme = &world.acme;
    let answers = [
        (
            ResponseTemplate::new(503).set_body_json(json!({"error": {"type": "api_error",
                "message": "Stripe is down"}})),
            503,
            "PROVIDER_UNAVAILABLE",
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"error": {"type":
                "invalid_request_error", "code": "resource_missing",
                "message": "No such price: 'price_pro'"}})),
            502,
            "PROVIDER_REFUSED",
        ),
    ];
    let before = world.written().await;
    for (answer, status, code) in answers {
        let mock = Mock::given(method("POST"))
            .and(path("/v1/subscriptions"))
            .respond_with(answer)
            .expect(1)
            .mount_as_scoped(&world.stripe)
            .await;
        let response = world
            .post(
                acme,
                "/v1/subscription",
                "start-after-outage",
                Some(&stripe_start()),
            )
            .await;
        let retry_after = response.headers().get("retry-after").cloned();
        let problem = assert_problem(response, status, code).await;
        assert_eq!(problem["provider"], "stripe", "{problem}");
        if status == 503 {
            assert_eq!(retry_after.unwrap(), "5");
        } else {
            assert_eq!(problem["provider_status"], 400);
            assert_eq!(problem["provider_code"], "resource_missing");
            // The provider's message is logged, not told.
            assert!(!problem.to_string().contains("No such price"), "{problem}");
        }
        assert_eq!(world.written().await, before, "{code} wrote");
        drop(mock);
    }
    world
        .started_with_stripe_key(acme, "start-after-outage")
        .await;
    let keys: Vec<String> = World::received(&world.stripe, "POST", "/v1/subscriptions")
        .await
        .iter()
        .map(idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|key| key == &keys[0]), "{keys:?}");
}

impl World {
    async fn started_with_stripe_key(&self, org: &crate::common::Org, key: &str) {
        Mock::given(method("POST"))
            .and(path("/v1/subscriptions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "sub_late", "object": "subscription", "status": "incomplete",
                "latest_invoice": {"id": "in_1", "hosted_invoice_url": "https://invoice.stripe.com/i/1"}
            })))
            .up_to_n_times(1)
            .mount(&self.stripe)
            .await;
        let response = self
            .post(org, "/v1/subscription", key, Some(&stripe_start()))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

#[tokio::test]
async fn bad_starts_are_refused_before_any_provider_call() {
    let world = World::new().await;
    let acme = &world.acme;
    let with = |member: &str, value: Value| {
        let mut body = stripe_start();
        body[member] = value;
        body
    };
    let before = world.written().await;
    let cases = [
        (
            with("plan", json!("gold")),
            422,
            "PLAN_NOT_OFFERED",
            Some("plan"),
        ),
        (
            with("provider", json!("square")),
            422,
            "VALIDATION_FAILED",
            Some("provider"),
        ),
        (
            with("plan", json!("Pro!")),
            422,
            "VALIDATION_FAILED",
            Some("plan"),
        ),
        (
            with("customer_id", json!("cus 1")),
            422,
            "VALIDATION_FAILED",
            Some("customer_id"),
        ),
        (
            with("return_url", json!("/relative")),
            422,
            "VALIDATION_FAILED",
            Some("return_url"),
        ),
        (
            with("cancel_url", json!("ftp://x.example")),
            422,
            "VALIDATION_FAILED",
            Some("cancel_url"),
        ),
        (with("colour", json!("red")), 422, "VALIDATION_FAILED", None),
    ];
    for (body, status, code, field) in cases {
        let problem = assert_problem(
            world
                .post(acme, "/v1/subscription", &key(), Some(&body))
                .await,
            status,
            code,
        )
        .await;
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
    // `starter` is offered with Stripe only: the plans offered with PayPal are listed.
    let mut starter = stripe_start();
    starter["plan"] = json!("starter");
    starter["provider"] = json!("paypal");
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription", &key(), Some(&starter))
            .await,
        422,
        "PLAN_NOT_OFFERED",
    )
    .await;
    assert_eq!(problem["offered"], json!(["pro"]));
    // No key, a bad key, the admin on the organization's own route.
    let no_key = world
        .app
        .client
        .post(world.app.url("/v1/subscription"))
        .bearer_auth(&acme.key)
        .json(&stripe_start())
        .send()
        .await
        .unwrap();
    assert_problem(no_key, 422, "IDEMPOTENCY_KEY_REQUIRED").await;
    assert_problem(
        world
            .post(acme, "/v1/subscription", "has space", Some(&stripe_start()))
            .await,
        422,
        "INVALID_IDEMPOTENCY_KEY",
    )
    .await;
    assert_problem(
        world
            .post_as(
                ADMIN_TOKEN,
                "/v1/subscription",
                &key(),
                Some(&stripe_start()),
            )
            .await,
        403,
        "ORGANIZATION_KEY_REQUIRED",
    )
    .await;
    assert_eq!(world.written().await, before);
    assert!(
        world.stripe.received_requests().await.unwrap().is_empty(),
        "a refused start reached Stripe"
    );

    // A live subscription already there: refused before Stripe is asked.
    world.started_with_stripe(acme, "sub_first").await;
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription", &key(), Some(&stripe_start()))
            .await,
        409,
        "SUBSCRIPTION_EXISTS",
    )
    .await;
    assert!(problem["subscription_id"].is_string(), "{problem}");
    assert_eq!(world.written().await, before);
    assert_eq!(
        World::received(&world.stripe, "POST", "/v1/subscriptions")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_admin_starts_for_any_organization_and_keys_are_per_organization() {
    let world = World::new().await;
    let acme = &world.acme;
    let globex = world.app.org_with_key("Globex").await;
    for id in ["sub_globex", "sub_acme"] {
        Mock::given(method("POST"))
            .and(path("/v1/subscriptions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "object": "subscription", "status": "incomplete",
                "latest_invoice": {"id": "in_1", "hosted_invoice_url": "https://invoice.stripe.com/i/1"}
            })))
            .up_to_n_times(1)
            .mount(&world.stripe)
            .await;
    }
    let path = format!("/v1/admin/organizations/{}/subscription", globex.id);
    assert_problem(
        world
            .post(acme, &path, "same-key", Some(&stripe_start()))
            .await,
        403,
        "ADMIN_REQUIRED",
    )
    .await;
    let unknown = format!(
        "/v1/admin/organizations/{}/subscription",
        uuid::Uuid::now_v7()
    );
    assert_problem(
        world
            .post_as(ADMIN_TOKEN, &unknown, "same-key", Some(&stripe_start()))
            .await,
        404,
        "ORGANIZATION_NOT_FOUND",
    )
    .await;
    let response = world
        .post_as(ADMIN_TOKEN, &path, "same-key", Some(&stripe_start()))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let started: Value = response.json().await.unwrap();
    assert_eq!(
        started["subscription"]["organization_id"],
        globex.id.as_str()
    );
    // The admin's GET of the same path reads it.
    let read: Value = world.admin_get(&path).await.json().await.unwrap();
    assert_eq!(read["id"], started["subscription"]["id"]);

    // Acme's own "same-key" is its own: a new subscription, not Globex's replay. Stripe is
    // asked with another key (it names the organization).
    let response = world
        .post(acme, "/v1/subscription", "same-key", Some(&stripe_start()))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let keys: Vec<String> = World::received(&world.stripe, "POST", "/v1/subscriptions")
        .await
        .iter()
        .map(idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
}
