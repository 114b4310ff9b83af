//! The customer's self-service calls against a loopback PayPal: top-ups as Orders v2 orders
//! (create, capture, the approval and capture webhooks that follow), the subscription page
//! where the customer changes their funding, and cancelling (PayPal has no scheduled cancel).

use std::sync::Arc;
use std::time::Duration;

use billing::paypal::{PayPalConfig, PayPalProvider, StaticCertFetcher};
use billing::{
    BillingEventKind, BillingProvider, CreateTopUp, ParsedWebhook, PaymentMethodLink,
    ProviderError, ProviderName, TopUpCheckout,
};
use primitives::{Currency, ManualClock, Money};
use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{CLIENT_SECRET, Setup, WEBHOOK_ID, config, now, signed};

const ORG: &str = "org_01J9Z3T4";
const ORDER: &str = "5O190127TN364715T";

fn provider_for(config: PayPalConfig) -> PayPalProvider {
    PayPalProvider::with_cert_fetcher(
        config,
        Arc::new(ManualClock::new(now())),
        Arc::new(StaticCertFetcher::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn api() -> (MockServer, PayPalProvider) {
    let server = MockServer::start().await;
    let provider = provider_for(config(&server.uri(), &[WEBHOOK_ID]));
    (server, provider)
}

async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "A21-token", "token_type": "Bearer", "expires_in": 32_400
        })))
        .mount(server)
        .await;
}

/// The requests that reached the API, the token call left out.
async fn api_requests(server: &MockServer) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() != "/v1/oauth2/token")
        .collect()
}

fn top_up(amount: Money) -> CreateTopUp {
    CreateTopUp {
        amount,
        organization_ref: ORG.into(),
        return_url: "https://app.example.com/wallet/paypal/return".into(),
        cancel_url: "https://app.example.com/wallet".into(),
        description: "Wallet top-up".into(),
        customer_id: None,
        payer: None,
        idempotency_key: "top-up-org_01J9Z3T4-7".into(),
    }
}

fn order_body(currency: &str, value: &str) -> Value {
    json!({
        "intent": "CAPTURE",
        "purchase_units": [{
            "custom_id": ORG,
            "description": "Wallet top-up",
            "amount": {"currency_code": currency, "value": value}
        }],
        "payment_source": {"paypal": {"experience_context": {
            "return_url": "https://app.example.com/wallet/paypal/return",
            "cancel_url": "https://app.example.com/wallet",
            "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING"
        }}}
    })
}

fn created_order(link_rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": ORDER,
        "status": "PAYER_ACTION_REQUIRED",
        "payment_source": {"paypal": {}},
        "links": [
            {"href": format!("https://api-m.paypal.com/v2/checkout/orders/{ORDER}"), "rel": "self", "method": "GET"},
            {"href": format!("https://www.paypal.com/checkoutnow?token={ORDER}"), "rel": link_rel, "method": "GET"}
        ]
    }))
}

// ---------------------------------------------------------------------------------------------
// Creating the order

#[tokio::test]
async fn a_top_up_is_a_capture_order_with_the_organization_as_custom_id() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .and(bearer_token("A21-token"))
        .and(header("paypal-request-id", "top-up-org_01J9Z3T4-7"))
        .and(header("content-type", "application/json"))
        .and(body_json(order_body("USD", "25.00")))
        .respond_with(created_order("payer-action"))
        .expect(1)
        .mount(&server)
        .await;
    let checkout = provider
        .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        checkout,
        TopUpCheckout {
            checkout_reference: ORDER.into(),
            approval_url: format!("https://www.paypal.com/checkoutnow?token={ORDER}"),
            approval_form: None,
            expires_at: None,
        }
    );
    assert_eq!(api_requests(&server).await.len(), 1);
}

#[tokio::test]
async fn an_order_created_the_older_way_links_approve() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(created_order("approve"))
        .mount(&server)
        .await;
    let checkout = provider
        .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        checkout.approval_url,
        format!("https://www.paypal.com/checkoutnow?token={ORDER}")
    );
    // Without any approval link the buyer could not pay: a decode error.
    server.reset().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": ORDER, "links": []})))
        .mount(&server)
        .await;
    assert!(matches!(
        provider
            .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
            .await,
        Err(ProviderError::Decode { .. })
    ));
}

#[tokio::test]
async fn amounts_are_exact_decimal_strings_in_the_currencys_decimals() {
    for (amount, currency, value) in [
        (Money::from_minor(1, Currency::USD), "USD", "0.01"),
        (Money::from_minor(100_000, Currency::EUR), "EUR", "1000.00"),
        (Money::from_minor(1500, Currency::JPY), "JPY", "1500"),
        // PayPal takes HUF and TWD without decimals.
        (Money::from_minor(250_000, Currency::HUF), "HUF", "2500"),
        (Money::from_minor(30_000, Currency::TWD), "TWD", "300"),
    ] {
        let (server, provider) = api().await;
        mount_token(&server).await;
        Mock::given(method("POST"))
            .and(path("/v2/checkout/orders"))
            .and(body_json(order_body(currency, value)))
            .respond_with(created_order("payer-action"))
            .expect(1)
            .mount(&server)
            .await;
        provider
            .create_top_up(&top_up(amount))
            .await
            .unwrap_or_else(|e| panic!("{amount}: {e}"));
    }
}

#[tokio::test]
async fn a_top_up_paypal_cannot_take_sends_nothing() {
    let (server, provider) = api().await;
    let usd = |minor| Money::from_minor(minor, Currency::USD);
    let mut cases = vec![
        top_up(usd(0)),
        top_up(usd(-1)),
        // A fraction of a forint cannot be sent, and is not rounded.
        top_up(Money::from_minor(250_050, Currency::HUF)),
    ];
    for field in 0..6 {
        let mut request = top_up(usd(100));
        match field {
            0 => request.description = " ".into(),
            1 => request.return_url = String::new(),
            2 => request.cancel_url = " ".into(),
            3 => request.organization_ref = String::new(),
            4 => request.organization_ref = "o".repeat(128),
            _ => request.idempotency_key = " ".into(),
        }
        cases.push(request);
    }
    for request in cases {
        let error = provider.create_top_up(&request).await.err();
        assert!(
            matches!(error, Some(ProviderError::Config { .. })),
            "{request:?}: {error:?}"
        );
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn a_long_description_is_cut_to_paypals_limit() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    let mut body = order_body("USD", "25.00");
    body["purchase_units"][0]["description"] = json!("é".repeat(127));
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .and(body_json(body))
        .respond_with(created_order("payer-action"))
        .expect(1)
        .mount(&server)
        .await;
    let mut request = top_up(Money::from_minor(2500, Currency::USD));
    request.description = "é".repeat(300);
    provider
        .create_top_up(&request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn paypals_refusal_keeps_its_issue_and_an_outage_is_retried_with_the_same_id() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "name": "UNPROCESSABLE_ENTITY",
            "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "details": [{"issue": "CURRENCY_NOT_SUPPORTED", "description": "Currency code is not currently supported."}]
        })))
        .mount(&server)
        .await;
    let request = top_up(Money::from_minor(2500, Currency::USD));
    let error = provider.create_top_up(&request).await.err();
    assert!(
        matches!(&error, Some(ProviderError::Api { status: 422, code, .. }) if code == "CURRENCY_NOT_SUPPORTED"),
        "{error:?}"
    );
    assert!(error.is_some_and(|e| !e.is_transient()));
    assert_eq!(api_requests(&server).await.len(), 1, "a 4xx is not resent");

    server.reset().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"name": "INTERNAL_SERVER_ERROR"})),
        )
        .mount(&server)
        .await;
    let error = provider.create_top_up(&request).await.err();
    assert!(
        matches!(&error, Some(ProviderError::Api { status: 500, .. })),
        "{error:?}"
    );
    assert!(error.is_some_and(|e| e.is_transient()));
    let sent = api_requests(&server).await;
    assert_eq!(sent.len(), 3, "the policy's three attempts");
    assert!(sent.iter().all(|r| {
        r.headers
            .get("paypal-request-id")
            .is_some_and(|v| v == "top-up-org_01J9Z3T4-7")
    }));
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let server = MockServer::start().await;
    let mut config = config(&server.uri(), &[WEBHOOK_ID]);
    config.timeout = Duration::from_millis(200);
    let provider = provider_for(config);
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders"))
        .respond_with(created_order("payer-action").set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let error = provider
        .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
        .await
        .err();
    assert!(
        matches!(&error, Some(ProviderError::Transport { .. })),
        "{error:?}"
    );
    assert!(error.is_some_and(|e| e.is_transient()));
}

// ---------------------------------------------------------------------------------------------
// Capturing it

fn capture_path() -> String {
    format!("/v2/checkout/orders/{ORDER}/capture")
}

#[tokio::test]
async fn capture_posts_to_the_order_with_the_request_id() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path(capture_path()))
        .and(bearer_token("A21-token"))
        .and(header("paypal-request-id", "capture-5O19-1"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": ORDER,
            "status": "COMPLETED",
            "purchase_units": [{"payments": {"captures": [{
                "id": "3C679366HH908993F", "status": "COMPLETED",
                "amount": {"currency_code": "USD", "value": "25.00"}, "custom_id": ORG
            }]}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    provider
        .capture_top_up(ORDER, "capture-5O19-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn unprocessable(issue: &str) -> ResponseTemplate {
    ResponseTemplate::new(422).set_body_json(json!({
        "name": "UNPROCESSABLE_ENTITY",
        "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
        "details": [{"issue": issue, "description": format!("{issue} described")}]
    }))
}

#[tokio::test]
async fn an_order_captured_already_counts_as_captured() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path(capture_path()))
        .respond_with(unprocessable("ORDER_ALREADY_CAPTURED"))
        .expect(1)
        .mount(&server)
        .await;
    provider
        .capture_top_up(ORDER, "capture-again")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn other_capture_refusals_are_errors_and_outages_retried() {
    for issue in ["ORDER_NOT_APPROVED", "INSTRUMENT_DECLINED"] {
        let (server, provider) = api().await;
        mount_token(&server).await;
        Mock::given(method("POST"))
            .and(path(capture_path()))
            .respond_with(unprocessable(issue))
            .expect(1)
            .mount(&server)
            .await;
        let error = provider.capture_top_up(ORDER, "k").await.err();
        assert!(
            matches!(&error, Some(ProviderError::Api { status: 422, code, .. }) if code == issue),
            "{error:?}"
        );
        assert!(error.is_some_and(|e| !e.is_transient()));
    }
    // A 404 of an unknown order is an error too, never success.
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path(capture_path()))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "name": "RESOURCE_NOT_FOUND",
            "details": [{"issue": "INVALID_RESOURCE_ID"}]
        })))
        .mount(&server)
        .await;
    assert!(matches!(
        provider.capture_top_up(ORDER, "k").await,
        Err(ProviderError::Api { status: 404, code, .. }) if code == "INVALID_RESOURCE_ID"
    ));
    // A 503 is resent with the same request id: PayPal captures once.
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path(capture_path()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(capture_path()))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": ORDER, "status": "COMPLETED"})),
        )
        .mount(&server)
        .await;
    provider
        .capture_top_up(ORDER, "capture-503")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sent = api_requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|r| {
        r.headers
            .get("paypal-request-id")
            .is_some_and(|v| v == "capture-503")
    }));
}

#[tokio::test]
async fn order_ids_that_could_change_the_path_are_refused_without_a_call() {
    let (server, provider) = api().await;
    for id in [
        "",
        "../v1/oauth2/token",
        "5O19/capture",
        "5O19?x=1",
        "5O 19",
    ] {
        assert!(
            matches!(
                provider.capture_top_up(id, "k").await,
                Err(ProviderError::Config { .. })
            ),
            "{id}"
        );
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// The webhooks that follow

async fn parsed(body: &Value) -> ParsedWebhook {
    let setup = Setup::generated_valid();
    let body = body.to_string();
    let verified = setup
        .verify(&signed(body.as_bytes(), now()), body.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    setup
        .provider
        .parse_webhook(&verified)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn delivery(event_type: &str, resource: Value) -> Value {
    json!({
        "id": format!("WH-{event_type}"),
        "event_version": "1.0",
        "create_time": "2026-01-16T11:00:00.000Z",
        "event_type": event_type,
        "resource": resource
    })
}

#[tokio::test]
async fn the_approval_and_the_capture_of_our_order_name_the_organization() {
    // What the order was created with is what PayPal sends back: the purchase unit as sent.
    let sent = order_body("USD", "25.00");
    let mut unit = sent["purchase_units"][0].clone();
    unit["reference_id"] = json!("default");

    let approved = delivery(
        "CHECKOUT.ORDER.APPROVED",
        json!({"id": ORDER, "intent": "CAPTURE", "status": "APPROVED", "purchase_units": [unit]}),
    );
    let ParsedWebhook::Events { events } = parsed(&approved).await else {
        panic!("the approval was ignored");
    };
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.kind, BillingEventKind::TopUpApproved);
    assert_eq!(event.organization_ref.as_deref(), Some(ORG));
    assert_eq!(event.payment_reference.as_deref(), Some(ORDER));
    assert_eq!(event.amount, Some(Money::from_minor(2500, Currency::USD)));
    assert_eq!(event.provider_subscription_id, None);

    // PayPal copies the purchase unit's custom_id onto the capture.
    let completed = delivery(
        "PAYMENT.CAPTURE.COMPLETED",
        json!({
            "id": "3C679366HH908993F",
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "25.00"},
            "final_capture": true,
            "custom_id": unit["custom_id"],
            "create_time": "2026-01-16T10:59:58Z",
            "links": [{"href": format!("https://api.paypal.com/v2/checkout/orders/{ORDER}"), "rel": "up", "method": "GET"}]
        }),
    );
    let ParsedWebhook::Events { events } = parsed(&completed).await else {
        panic!("the capture was ignored");
    };
    assert_eq!(events[0].kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(events[0].organization_ref.as_deref(), Some(ORG));
    assert_eq!(
        events[0].payment_reference.as_deref(),
        Some("3C679366HH908993F")
    );
    assert_eq!(
        events[0].amount,
        Some(Money::from_minor(2500, Currency::USD))
    );
}

#[tokio::test]
async fn an_approved_order_that_is_not_ours_to_capture_or_cannot_be_read() {
    // An authorization is not an order this platform creates.
    let authorize = delivery(
        "CHECKOUT.ORDER.APPROVED",
        json!({"id": ORDER, "intent": "AUTHORIZE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.00"}}]}),
    );
    assert!(matches!(
        parsed(&authorize).await,
        ParsedWebhook::Ignored { .. }
    ));
    // Without a custom_id there is no organization (the intake decides what that means).
    let anonymous = delivery(
        "CHECKOUT.ORDER.APPROVED",
        json!({"id": ORDER, "intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.00"}}]}),
    );
    let ParsedWebhook::Events { events } = parsed(&anonymous).await else {
        panic!("ignored");
    };
    assert_eq!(events[0].organization_ref, None);

    let setup = Setup::generated_valid();
    for resource in [
        json!({"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.00"}}]}),
        json!({"id": ORDER, "intent": "CAPTURE", "purchase_units": []}),
        json!({"id": ORDER, "intent": "CAPTURE", "purchase_units": [{"custom_id": ORG}]}),
        json!({"id": ORDER, "intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "1.001"}}]}),
        json!({"id": ORDER, "intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": "0.00"}}]}),
    ] {
        let body = delivery("CHECKOUT.ORDER.APPROVED", resource.clone()).to_string();
        let verified = setup
            .verify(&signed(body.as_bytes(), now()), body.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(
                setup.provider.parse_webhook(&verified),
                Err(ProviderError::Decode { .. })
            ),
            "{resource}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Changing the funding, cancelling

fn link(id: &str) -> PaymentMethodLink {
    PaymentMethodLink {
        provider_subscription_id: id.into(),
        return_url: "https://app.example.com/billing".into(),
    }
}

#[tokio::test]
async fn the_payment_method_link_is_the_subscriptions_page_on_the_matching_site() {
    for (api, page) in [
        (
            "https://api-m.paypal.com",
            "https://www.paypal.com/myaccount/autopay/connect/I-BW452GLLEP1G",
        ),
        (
            "https://api-m.sandbox.paypal.com",
            "https://www.sandbox.paypal.com/myaccount/autopay/connect/I-BW452GLLEP1G",
        ),
    ] {
        // Verification only: no credentials are needed for a link.
        let mut config = PayPalConfig::verification_only(vec![WEBHOOK_ID.into()]);
        config.api_base_url = api.into();
        let provider = provider_for(config);
        assert_eq!(
            provider
                .payment_method_link(&link("I-BW452GLLEP1G"))
                .await
                .ok()
                .as_deref(),
            Some(page)
        );
    }
    // No call is made to build it.
    let (server, provider) = api().await;
    for id in ["", "I-1/../../signin", "I-1?redirect=x", "I 1"] {
        assert!(
            matches!(
                provider.payment_method_link(&link(id)).await,
                Err(ProviderError::Config { .. })
            ),
            "{id}"
        );
    }
    assert!(provider.payment_method_link(&link("I-1")).await.is_ok());
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn cancel_at_period_end_cancels_now_since_paypal_schedules_none() {
    let (server, provider) = api().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/subscriptions/I-BW452GLLEP1G/cancel"))
        .and(header("paypal-request-id", "cancel-at-end-1"))
        .and(body_json(json!({"reason": "Customer cancelled"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    provider
        .cancel_at_period_end("I-BW452GLLEP1G", "Customer cancelled", "cancel-at-end-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn without_credentials_the_order_calls_name_the_variables() {
    let provider = provider_for(PayPalConfig::verification_only(vec![WEBHOOK_ID.into()]));
    let errors = [
        provider
            .create_top_up(&top_up(Money::from_minor(100, Currency::USD)))
            .await
            .err(),
        provider.capture_top_up(ORDER, "k").await.err(),
    ];
    for error in errors {
        assert!(
            matches!(&error, Some(ProviderError::Config { provider: ProviderName::Paypal, message }) if message.contains("PAYPAL_CLIENT_ID")),
            "{error:?}"
        );
        assert!(!format!("{error:?}").contains(CLIENT_SECRET));
    }
}
