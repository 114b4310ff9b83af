//! The payment-method link: Stripe's billing portal, PayPal's subscription page; allowed to an
//! organization that has not paid (G6); nothing written when the provider fails.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::common::{ADMIN_TOKEN, assert_problem, key};
use crate::support::{RETURN_URL, World, form};

fn link_body() -> Value {
    json!({"return_url": RETURN_URL})
}

#[tokio::test]
async fn a_stripe_portal_session_for_a_customer_who_has_not_paid() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    // The renewal fails: past due, every paid feature blocked, but the card can be changed.
    let now = primitives::Clock::now(&world.app.clock).timestamp();
    let failed = json!({"id": "evt_failed", "object": "event", "type": "invoice.payment_failed",
        "created": now, "data": {"object": {"id": "in_failed", "object": "invoice",
            "status": "open", "currency": "usd", "amount_due": 4900, "amount_paid": 0,
            "parent": {"subscription_details": {"subscription": "sub_1",
                "metadata": {"organization_id": acme.id}}}}}});
    assert_eq!(world.stripe_webhook(&failed).await.status(), 200);
    assert_eq!(world.status(acme).await, "past_due");

    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_1", "object": "subscription", "status": "past_due", "customer": "cus_acme"
        })))
        .expect(1)
        .mount(&world.stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .and(form(&[
            ("customer", "cus_acme"),
            ("return_url", RETURN_URL),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "bps_1", "object": "billing_portal.session",
            "url": "https://billing.stripe.com/p/session/test_1"
        })))
        .expect(1)
        .mount(&world.stripe)
        .await;
    let response = world
        .post(
            acme,
            "/v1/subscription/payment-method",
            "pm-1",
            Some(&link_body()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let link: Value = response.json().await.unwrap();
    assert_eq!(
        link,
        json!({"provider": "stripe", "url": "https://billing.stripe.com/p/session/test_1",
               "replayed": false})
    );
    // A retry answers the same link without asking Stripe again.
    let before = world.written().await;
    let again = world
        .post(
            acme,
            "/v1/subscription/payment-method",
            "pm-1",
            Some(&link_body()),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (&again["url"], &again["replayed"]),
        (&link["url"], &json!(true))
    );
    assert_eq!(world.written().await, before);
}

#[tokio::test]
async fn paypal_has_a_subscription_page_and_payhere_none() {
    let world = World::new().await;
    let acme = &world.acme;
    world
        .admin_subscribed(acme, Some(("paypal", "I-BW452GLLEP1G")))
        .await;
    let response = world
        .post(
            acme,
            "/v1/subscription/payment-method",
            &key(),
            Some(&link_body()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let link: Value = response.json().await.unwrap();
    assert_eq!(link["provider"], "paypal");
    assert!(
        link["url"].as_str().unwrap().ends_with("/I-BW452GLLEP1G"),
        "{link}"
    );

    let globex = world.app.org_with_key("Globex").await;
    world
        .admin_subscribed(&globex, Some(("payhere", "420075032251")))
        .await;
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(
                &globex,
                "/v1/subscription/payment-method",
                &key(),
                Some(&link_body()),
            )
            .await,
        422,
        "PROVIDER_OPERATION_UNSUPPORTED",
    )
    .await;
    assert_eq!(problem["provider"], "payhere");
    assert_eq!(world.written().await, before);

    // Billed by hand: no provider, no page.
    let initech = world.app.org_with_key("Initech").await;
    world.admin_subscribed(&initech, None).await;
    assert_problem(
        world
            .post(
                &initech,
                "/v1/subscription/payment-method",
                &key(),
                Some(&link_body()),
            )
            .await,
        409,
        "NO_PROVIDER_SUBSCRIPTION",
    )
    .await;
    // The admin asks for any organization.
    let path = format!(
        "/v1/admin/organizations/{}/subscription/payment-method",
        acme.id
    );
    let response = world
        .post_as(ADMIN_TOKEN, &path, &key(), Some(&link_body()))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_stripe_outage_writes_nothing() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&world.stripe)
        .await;
    let before = world.written().await;
    let response = world
        .post(
            acme,
            "/v1/subscription/payment-method",
            "pm-down",
            Some(&link_body()),
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "5");
    assert_problem(response, 503, "PROVIDER_UNAVAILABLE").await;
    assert_eq!(world.written().await, before);
    assert_problem(
        world
            .post(
                acme,
                "/v1/subscription/payment-method",
                &key(),
                Some(&json!({"return_url": "not a url"})),
            )
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
}
