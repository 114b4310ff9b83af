//! Self-service top-ups: a provider checkout for an amount within the limits; the wallet is
//! credited only by the signed completion webhook, once, never by the customer's return.

use primitives::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{body_json, method, path},
};

use crate::common::{ADMIN_TOKEN, assert_problem, key};
use crate::support::{CANCEL_URL, RETURN_URL, STRIPE_SECRET, World, form, idempotency_key};

fn top_up(amount: &str, currency: &str, provider: &str) -> Value {
    json!({"amount": amount, "currency": currency, "provider": provider,
           "return_url": RETURN_URL, "cancel_url": CANCEL_URL})
}

fn top_ups_path(org: &str) -> String {
    format!("/v1/organizations/{org}/wallet/top-ups")
}

async fn stripe_checkout_mock(world: &World, org: &str, session: &str, expires_at: i64) {
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {STRIPE_SECRET}").as_str(),
        ))
        .and(form(&[
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "2500"),
            (
                "line_items[0][price_data][product_data][name]",
                "Wallet top-up, 25.00 USD",
            ),
            ("line_items[0][quantity]", "1"),
            ("success_url", RETURN_URL),
            ("cancel_url", CANCEL_URL),
            ("client_reference_id", org),
            ("metadata[organization_id]", org),
            ("metadata[purpose]", "wallet_topup"),
            ("payment_intent_data[metadata][organization_id]", org),
            (
                "payment_intent_data[metadata][purpose]",
                "wallet_topup_checkout",
            ),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": session, "object": "checkout.session", "mode": "payment",
            "payment_status": "unpaid", "amount_total": 2500, "currency": "usd",
            "url": format!("https://checkout.stripe.com/c/pay/{session}"),
            "expires_at": expires_at
        })))
        .up_to_n_times(1)
        .mount(&world.stripe)
        .await;
}

fn checkout_completed(org: &str, session: &str, event_id: &str, created: i64) -> Value {
    json!({"id": event_id, "object": "event", "type": "checkout.session.completed",
        "created": created, "data": {"object": {
            "id": session, "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "status": "complete", "amount_total": 2500,
            "currency": "usd", "client_reference_id": org, "payment_intent": "pi_topup_1",
            "metadata": {"organization_id": org, "purpose": "wallet_topup"}}}})
}

#[tokio::test]
async fn a_stripe_top_up_is_credited_once_by_its_signed_completion_and_never_by_the_return() {
    let world = World::new().await;
    let acme = &world.acme;
    let expires_at = world.app.clock.now().timestamp() + 86_400;
    stripe_checkout_mock(&world, &acme.id, "cs_test_1", expires_at).await;

    let response = world
        .post(
            acme,
            &top_ups_path(&acme.id),
            "topup-1",
            Some(&top_up("25.00", "USD", "stripe")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let top_up_view = &created["top_up"];
    assert_eq!(top_up_view["status"], "open", "{created}");
    assert_eq!(
        (
            &top_up_view["amount"],
            &top_up_view["currency"],
            &top_up_view["provider"]
        ),
        (&json!("25.00"), &json!("USD"), &json!("stripe"))
    );
    assert_eq!(top_up_view["checkout_reference"], "cs_test_1");
    assert_eq!(
        top_up_view["approval"],
        json!({"url": "https://checkout.stripe.com/c/pay/cs_test_1", "form": null})
    );
    let sent = World::received(&world.stripe, "POST", "/v1/checkout/sessions").await;
    assert_eq!(sent.len(), 1);
    assert!(idempotency_key(&sent[0]).starts_with(&format!("topup:{}:", acme.id)));

    // The customer comes back to the return URL (the app reads the top-up): nothing credited.
    let id = top_up_view["id"].as_str().unwrap();
    let path = format!("{}/{id}", top_ups_path(&acme.id));
    let read: Value = world.get(acme, &path).await.json().await.unwrap();
    assert_eq!(read, *top_up_view);
    world
        .app
        .assert_figures(&acme.id, "0.00", "0.00", "0.00")
        .await;
    assert_eq!(world.app.count_entries(&acme.id).await, 0);

    // A retry: the same checkout, Stripe not asked again.
    let again = world
        .post(
            acme,
            &top_ups_path(&acme.id),
            "topup-1",
            Some(&top_up("25.00", "USD", "stripe")),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["top_up"], *top_up_view);
    assert_eq!(again["replayed"], true);
    assert_eq!(
        World::received(&world.stripe, "POST", "/v1/checkout/sessions")
            .await
            .len(),
        1
    );

    // Stripe's signed completion credits it, once.
    let now = world.app.clock.now().timestamp();
    let completed = checkout_completed(&acme.id, "cs_test_1", "evt_checkout_1", now);
    assert_eq!(world.stripe_webhook(&completed).await.status(), 200);
    world
        .app
        .assert_figures(&acme.id, "25.00", "0.00", "25.00")
        .await;
    let entries: Value = world
        .get(
            acme,
            &format!("/v1/organizations/{}/wallet/entries", acme.id),
        )
        .await
        .json()
        .await
        .unwrap();
    let entries = entries["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["kind"], "credit");
    assert_eq!(entries[0]["counterparty"], "topup:stripe");
    // The same delivery again, and the session's other completion event: nothing more.
    assert_eq!(world.stripe_webhook(&completed).await.status(), 200);
    let mut async_paid = checkout_completed(&acme.id, "cs_test_1", "evt_checkout_2", now);
    async_paid["type"] = json!("checkout.session.async_payment_succeeded");
    assert_eq!(world.stripe_webhook(&async_paid).await.status(), 200);
    world
        .app
        .assert_figures(&acme.id, "25.00", "0.00", "25.00")
        .await;
    assert_eq!(world.app.count_entries(&acme.id).await, 1);

    // An unsigned (forged) completion is refused and credits nothing.
    let forged = checkout_completed(&acme.id, "cs_test_1", "evt_forged", now);
    let response = world
        .app
        .client
        .post(format!("{}/webhooks/stripe", world.webhooks()))
        .header("Stripe-Signature", format!("t={now},v1={}", "0".repeat(64)))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(world.app.count_entries(&acme.id).await, 1);
}

#[tokio::test]
async fn a_provider_failure_writes_nothing_and_the_retry_uses_the_same_key() {
    let world = World::new().await;
    let acme = &world.acme;
    let before = world.written().await;
    for (status, expected, code) in [
        (500, 503, "PROVIDER_UNAVAILABLE"),
        (400, 502, "PROVIDER_REFUSED"),
    ] {
        let mock = Mock::given(method("POST"))
            .and(path("/v1/checkout/sessions"))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({"error": {
                "type": "invalid_request_error", "code": "amount_too_small"}})),
            )
            .expect(1)
            .mount_as_scoped(&world.stripe)
            .await;
        assert_problem(
            world
                .post(
                    acme,
                    &top_ups_path(&acme.id),
                    "topup-x",
                    Some(&top_up("25.00", "USD", "stripe")),
                )
                .await,
            expected,
            code,
        )
        .await;
        assert_eq!(world.written().await, before, "{code} wrote");
        drop(mock);
    }
    let expires_at = world.app.clock.now().timestamp() + 3600;
    stripe_checkout_mock(&world, &acme.id, "cs_test_2", expires_at).await;
    let response = world
        .post(
            acme,
            &top_ups_path(&acme.id),
            "topup-x",
            Some(&top_up("25.00", "USD", "stripe")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let keys: Vec<String> = World::received(&world.stripe, "POST", "/v1/checkout/sessions")
        .await
        .iter()
        .map(idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|key| key == &keys[0]), "{keys:?}");
}

#[tokio::test]
async fn a_paypal_top_up_is_an_order_to_approve() {
    let world = World::new().await;
    let acme = &world.acme;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .and(body_json(json!({
            "intent": "CAPTURE",
            "purchase_units": [{"custom_id": acme.id, "description": "Wallet top-up, 25.00 USD",
                                "amount": {"currency_code": "USD", "value": "25.00"}}],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": RETURN_URL, "cancel_url": CANCEL_URL,
                "user_action": "PAY_NOW", "shipping_preference": "NO_SHIPPING"}}}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED",
            "links": [{"href": "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T",
                       "rel": "payer-action", "method": "GET"}]
        })))
        .expect(1)
        .mount(&world.paypal)
        .await;
    let response = world
        .post(
            acme,
            &top_ups_path(&acme.id),
            "pp-topup",
            Some(&top_up("25.00", "USD", "paypal")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["top_up"]["checkout_reference"], "5O190127TN364715T");
    assert_eq!(
        created["top_up"]["approval"]["url"],
        "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T"
    );
    let sent = World::received(&world.paypal, "POST", "/v2/checkout/orders").await;
    assert!(idempotency_key(&sent[0]).starts_with(&format!("topup:{}:", acme.id)));
    world
        .app
        .assert_figures(&acme.id, "0.00", "0.00", "0.00")
        .await;
}

#[tokio::test]
async fn a_payhere_top_up_is_a_signed_form_in_the_wallets_currency() {
    let world = World::new().await;
    let lanka = world.app.create_organization_in("Lanka Ltd", "LKR").await;
    let lanka_id = lanka["id"].as_str().unwrap().to_owned();
    let mut body = top_up("2500.00", "LKR", "payhere");
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
        .post_as(ADMIN_TOKEN, &top_ups_path(&lanka_id), &key(), Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let view = &created["top_up"];
    assert_eq!(
        view["approval"]["url"],
        "https://sandbox.payhere.lk/pay/checkout"
    );
    let reference = view["checkout_reference"].as_str().unwrap();
    assert!(
        reference.starts_with(&format!("TOPUP-{lanka_id}.")),
        "{reference}"
    );
    let form = view["approval"]["form"].as_array().unwrap();
    let field = |name: &str| {
        form.iter()
            .find(|field| field["name"] == name)
            .map(|field| field["value"].clone())
    };
    assert_eq!(field("order_id"), Some(json!(reference)));
    assert_eq!(field("amount"), Some(json!("2500.00")));
    assert_eq!(field("currency"), Some(json!("LKR")));
    assert_eq!(field("return_url"), Some(json!(RETURN_URL)));
}

#[tokio::test]
async fn bad_top_ups_are_refused_before_any_provider_call() {
    let world = World::new().await;
    let acme = &world.acme;
    let globex = world.app.org_with_key("Globex").await;
    let path = top_ups_path(&acme.id);
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(acme, &path, &key(), Some(&top_up("4.99", "USD", "stripe")))
            .await,
        422,
        "TOP_UP_AMOUNT_OUT_OF_RANGE",
    )
    .await;
    assert_eq!(
        (&problem["min"], &problem["max"], &problem["currency"]),
        (&json!("5.00"), &json!("500.00"), &json!("USD"))
    );
    assert_problem(
        world
            .post(
                acme,
                &path,
                &key(),
                Some(&top_up("500.01", "USD", "stripe")),
            )
            .await,
        422,
        "TOP_UP_AMOUNT_OUT_OF_RANGE",
    )
    .await;
    let problem = assert_problem(
        world
            .post(acme, &path, &key(), Some(&top_up("25.00", "EUR", "stripe")))
            .await,
        422,
        "TOP_UP_CURRENCY_NOT_OFFERED",
    )
    .await;
    assert_eq!(problem["offered"], json!(["LKR", "USD"]));
    assert_problem(
        world
            .post(
                acme,
                &path,
                &key(),
                Some(&top_up("2500.00", "LKR", "stripe")),
            )
            .await,
        422,
        "CURRENCY_MISMATCH",
    )
    .await;
    assert_problem(
        world
            .post(
                acme,
                &path,
                &key(),
                Some(&top_up("25.001", "USD", "stripe")),
            )
            .await,
        422,
        "INVALID_AMOUNT",
    )
    .await;
    assert_problem(
        world
            .post(acme, &path, &key(), Some(&top_up("25.00", "USD", "square")))
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    let no_payer = top_up("25.00", "USD", "payhere");
    assert_problem(
        world.post(acme, &path, &key(), Some(&no_payer)).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    // Another organization's key: the wallet is not found.
    assert_problem(
        world
            .post(
                &globex,
                &path,
                &key(),
                Some(&top_up("25.00", "USD", "stripe")),
            )
            .await,
        404,
        "WALLET_NOT_FOUND",
    )
    .await;
    assert_eq!(world.written().await, before);
    assert!(world.stripe.received_requests().await.unwrap().is_empty());

    // Another organization's top-up reads as missing.
    let expires_at = world.app.clock.now().timestamp() + 3600;
    stripe_checkout_mock(&world, &acme.id, "cs_test_3", expires_at).await;
    let created: Value = world
        .post(acme, &path, &key(), Some(&top_up("25.00", "USD", "stripe")))
        .await
        .json()
        .await
        .unwrap();
    let id = created["top_up"]["id"].as_str().unwrap();
    let globex_path = format!("{}/{id}", top_ups_path(&globex.id));
    assert_problem(
        world.get(&globex, &globex_path).await,
        404,
        "TOP_UP_NOT_FOUND",
    )
    .await;
    assert_problem(
        world.get(&globex, &format!("{path}/{id}")).await,
        404,
        "WALLET_NOT_FOUND",
    )
    .await;
    // The admin reads it.
    let read = world.admin_get(&format!("{path}/{id}")).await;
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_blocked_organization_can_still_top_up() {
    let world = World::new().await;
    let acme = &world.acme;
    let block = format!("/v1/admin/organizations/{}/access-blocks", acme.id);
    let response = world
        .post_as(
            ADMIN_TOKEN,
            &block,
            &key(),
            Some(&json!({"reason": "unpaid invoices"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let expires_at = world.app.clock.now().timestamp() + 3600;
    stripe_checkout_mock(&world, &acme.id, "cs_test_blocked", expires_at).await;
    let response = world
        .post(
            acme,
            &top_ups_path(&acme.id),
            &key(),
            Some(&top_up("25.00", "USD", "stripe")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
