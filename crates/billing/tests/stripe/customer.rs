//! The customer's self-service calls against wiremock: starting a subscription without a Stripe
//! customer, top-ups through Checkout (and what their completion webhooks then mean), cancelling
//! at the period's end and the billing portal. Exact requests, and what Stripe's failures
//! become.

use std::sync::Arc;
use std::time::Duration;

use billing::stripe::{StripeConfig, StripeProvider};
use billing::{
    BillingEventKind, BillingProvider, CreateSubscription, CreateTopUp, ParsedWebhook, Payer,
    PaymentMethodLink, ProviderError, ProviderName, ProviderSubscriptionStatus, TopUpCheckout,
};
use chrono::DateTime;
use primitives::{Currency, Money};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{
    FAST, WEBHOOK_SECRET, assert_authenticated, clock_at, config, form, header, pairs, parse,
    provider_at,
};

const NOW: i64 = 1_750_000_000;
const ORG: &str = "0195f3a2-7c1e-7b3a-9f1d-2c4e6a8b0d12";

async fn server() -> (MockServer, StripeProvider) {
    let server = MockServer::start().await;
    let (provider, _) = provider_at(&server.uri(), NOW);
    (server, provider)
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

fn stripe_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"type": "invalid_request_error", "code": code, "message": format!("{code} happened")}
    }))
}

// ---------------------------------------------------------------------------------------------
// Starting a subscription

fn new_subscription(customer: Option<&str>) -> CreateSubscription {
    CreateSubscription {
        plan_id: "price_pro".into(),
        organization_ref: ORG.into(),
        return_url: Some("https://app.example.com/billing/done".into()),
        cancel_url: Some("https://app.example.com/billing".into()),
        customer_id: customer.map(str::to_owned),
        payer: None,
        idempotency_key: "start-0195f3a2".into(),
    }
}

fn incomplete_subscription() -> Value {
    json!({
        "id": "sub_new",
        "object": "subscription",
        "status": "incomplete",
        "customer": "cus_new",
        "metadata": {"organization_id": ORG},
        "latest_invoice": {
            "id": "in_first",
            "object": "invoice",
            "status": "open",
            "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_first"
        }
    })
}

fn subscription_form(customer: &str) -> Vec<(String, String)> {
    pairs(&[
        ("customer", customer),
        ("items[0][price]", "price_pro"),
        ("metadata[organization_id]", ORG),
        ("payment_behavior", "default_incomplete"),
        (
            "payment_settings[save_default_payment_method]",
            "on_subscription",
        ),
        ("expand[0]", "latest_invoice"),
    ])
}

#[tokio::test]
async fn without_a_customer_one_is_created_first_under_a_derived_key() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "cus_new", "object": "customer"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(incomplete_subscription()))
        .expect(1)
        .mount(&server)
        .await;
    let mut request = new_subscription(None);
    request.payer = Some(Payer {
        first_name: " Ada ".into(),
        last_name: "Lovelace".into(),
        email: "ada@example.com".into(),
        phone: String::new(),
        address: String::new(),
        city: String::new(),
        country: "GB".into(),
    });
    let created = provider.create_subscription(&request).await.unwrap();
    assert_eq!(created.provider_subscription_id, "sub_new");
    assert_eq!(created.status, ProviderSubscriptionStatus::Pending);
    assert_eq!(
        created.approval_url.as_deref(),
        Some("https://invoice.stripe.com/i/acct_1/test_first")
    );

    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    let (customer, subscription) = (&sent[0], &sent[1]);
    assert_eq!(customer.method.as_str(), "POST");
    assert_eq!(customer.url.path(), "/v1/customers");
    assert_authenticated(customer, Some("start-0195f3a2:customer"));
    assert_eq!(
        form(customer),
        pairs(&[
            ("metadata[organization_id]", ORG),
            ("name", "Ada Lovelace"),
            ("email", "ada@example.com"),
        ])
    );
    assert_eq!(subscription.url.path(), "/v1/subscriptions");
    assert_authenticated(subscription, Some("start-0195f3a2"));
    assert_eq!(form(subscription), subscription_form("cus_new"));
}

#[tokio::test]
async fn an_existing_customer_is_used_as_given() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(incomplete_subscription()))
        .expect(1)
        .mount(&server)
        .await;
    provider
        .create_subscription(&new_subscription(Some("cus_known")))
        .await
        .unwrap();
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(form(&sent[0]), subscription_form("cus_known"));
    // A blank customer id is none: a customer is created, without a payer carrying the
    // organization only.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cus_blank"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(incomplete_subscription()))
        .mount(&server)
        .await;
    provider
        .create_subscription(&new_subscription(Some("  ")))
        .await
        .unwrap();
    let sent = requests(&server).await;
    assert_eq!(form(&sent[0]), pairs(&[("metadata[organization_id]", ORG)]));
    assert_eq!(form(&sent[1]), subscription_form("cus_blank"));
}

#[tokio::test]
async fn a_refused_customer_creates_no_subscription() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(stripe_error(400, "email_invalid"))
        .mount(&server)
        .await;
    let error = provider
        .create_subscription(&new_subscription(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Api { status: 400, code, .. } if code == "email_invalid"),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1, "no retry, no subscription");
}

#[tokio::test]
async fn a_retried_start_resends_both_calls_under_the_same_keys() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cus_new"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let error = provider
        .create_subscription(&new_subscription(None))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    // The caller tries the whole start again later, with its same key: Stripe answers the
    // customer call from its idempotency cache, so one customer exists whatever happens.
    provider
        .create_subscription(&new_subscription(None))
        .await
        .unwrap_err();
    let keys: Vec<_> = requests(&server)
        .await
        .iter()
        .map(|request| header(request, "idempotency-key").map(str::to_owned))
        .collect();
    let customer = Some("start-0195f3a2:customer".to_owned());
    let subscription = Some("start-0195f3a2".to_owned());
    let attempts = FAST.max_attempts as usize;
    let mut expected = vec![customer.clone()];
    expected.extend(std::iter::repeat_n(subscription.clone(), attempts));
    expected.push(customer);
    expected.extend(std::iter::repeat_n(subscription, attempts));
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn a_key_too_long_for_the_customers_derived_key_sends_nothing() {
    let (server, provider) = server().await;
    let mut request = new_subscription(None);
    request.idempotency_key = "k".repeat(250);
    let error = provider.create_subscription(&request).await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Config { message, .. } if message.contains("246")),
        "{error:?}"
    );
    // With a customer the same key fits Stripe's limit.
    request.customer_id = Some("cus_1".into());
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(incomplete_subscription()))
        .mount(&server)
        .await;
    provider.create_subscription(&request).await.unwrap();
    assert_eq!(requests(&server).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Top-ups through Checkout

fn top_up(amount: Money) -> CreateTopUp {
    CreateTopUp {
        amount,
        organization_ref: ORG.into(),
        return_url: "https://app.example.com/wallet?top_up=done".into(),
        cancel_url: "https://app.example.com/wallet".into(),
        description: "Wallet top-up".into(),
        customer_id: None,
        payer: None,
        idempotency_key: "top-up-0195f3a2-1".into(),
    }
}

fn session_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "cs_test_a1b2c3",
        "object": "checkout.session",
        "mode": "payment",
        "status": "open",
        "payment_status": "unpaid",
        "amount_total": 2500,
        "currency": "usd",
        "client_reference_id": ORG,
        "metadata": {"organization_id": ORG, "purpose": "wallet_topup"},
        "payment_intent": null,
        "url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3",
        "expires_at": 1_750_086_400
    }))
}

async fn mount_session(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(session_answer())
        .mount(server)
        .await;
}

fn top_up_form(currency: &str, unit_amount: &str) -> Vec<(String, String)> {
    pairs(&[
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", currency),
        ("line_items[0][price_data][unit_amount]", unit_amount),
        (
            "line_items[0][price_data][product_data][name]",
            "Wallet top-up",
        ),
        ("line_items[0][quantity]", "1"),
        ("success_url", "https://app.example.com/wallet?top_up=done"),
        ("cancel_url", "https://app.example.com/wallet"),
        ("client_reference_id", ORG),
        ("metadata[organization_id]", ORG),
        ("metadata[purpose]", "wallet_topup"),
        ("payment_intent_data[metadata][organization_id]", ORG),
        (
            "payment_intent_data[metadata][purpose]",
            "wallet_topup_checkout",
        ),
    ])
}

#[tokio::test]
async fn a_top_up_is_a_checkout_session_in_payment_mode() {
    let (server, provider) = server().await;
    mount_session(&server).await;
    let checkout = provider
        .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
        .await
        .unwrap();
    assert_eq!(
        checkout,
        TopUpCheckout {
            checkout_reference: "cs_test_a1b2c3".into(),
            approval_url: "https://checkout.stripe.com/c/pay/cs_test_a1b2c3".into(),
            approval_form: None,
            expires_at: DateTime::from_timestamp(1_750_086_400, 0),
        }
    );
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method.as_str(), "POST");
    assert_eq!(sent[0].url.path(), "/v1/checkout/sessions");
    assert_eq!(sent[0].url.query(), None);
    assert_authenticated(&sent[0], Some("top-up-0195f3a2-1"));
    assert_eq!(
        header(&sent[0], "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(form(&sent[0]), top_up_form("usd", "2500"));
}

#[tokio::test]
async fn amounts_go_in_stripes_minor_units_and_a_customer_when_known() {
    for (amount, currency, unit_amount) in [
        (Money::from_minor(1, Currency::USD), "usd", "1"),
        (Money::from_minor(5000, Currency::JPY), "jpy", "5000"),
        (Money::from_minor(12_345, Currency::KWD), "kwd", "12345"),
        // Stripe writes ISK with two zero decimals: 500 ISK is 50000.
        (Money::from_minor(500, Currency::ISK), "isk", "50000"),
    ] {
        let (server, provider) = server().await;
        mount_session(&server).await;
        provider.create_top_up(&top_up(amount)).await.unwrap();
        assert_eq!(
            form(&requests(&server).await[0]),
            top_up_form(currency, unit_amount),
            "{amount}"
        );
    }
    let (server, provider) = server().await;
    mount_session(&server).await;
    let mut request = top_up(Money::from_minor(2500, Currency::USD));
    request.customer_id = Some("cus_known".into());
    provider.create_top_up(&request).await.unwrap();
    let sent = form(&requests(&server).await[0]);
    let customer = sent
        .iter()
        .position(|(name, _)| name == "customer")
        .unwrap();
    assert_eq!(sent[customer].1, "cus_known");
    assert_eq!(sent[customer - 1].0, "client_reference_id");
}

#[tokio::test]
async fn a_top_up_that_cannot_be_a_checkout_sends_nothing() {
    let (server, provider) = server().await;
    let usd = |minor| Money::from_minor(minor, Currency::USD);
    let mut cases = Vec::new();
    cases.push(top_up(usd(0)));
    cases.push(top_up(usd(-100)));
    for field in 0..5 {
        let mut request = top_up(usd(100));
        match field {
            0 => request.description = " ".into(),
            1 => request.return_url = String::new(),
            2 => request.cancel_url = "\t".into(),
            3 => request.organization_ref = String::new(),
            _ => request.idempotency_key = String::new(),
        }
        cases.push(request);
    }
    for request in cases {
        let error = provider.create_top_up(&request).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::Config { .. }),
            "{request:?}: {error:?}"
        );
    }
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn stripes_refusal_is_an_api_error_and_an_outage_transient() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .respond_with(stripe_error(400, "amount_too_small"))
        .mount(&server)
        .await;
    let request = top_up(Money::from_minor(10, Currency::USD));
    let error = provider.create_top_up(&request).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Api {
            provider: ProviderName::Stripe,
            status: 400,
            code: "amount_too_small".into(),
            message: "amount_too_small happened".into(),
        }
    );
    assert!(!error.is_transient());
    assert_eq!(requests(&server).await.len(), 1);

    // 5xx: resent with the same key until the policy gives up, then transient.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let error = provider.create_top_up(&request).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Api { status: 502, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    let sent = requests(&server).await;
    assert_eq!(sent.len(), FAST.max_attempts as usize);
    assert!(
        sent.iter()
            .all(|r| header(r, "idempotency-key") == Some("top-up-0195f3a2-1"))
    );
    assert!(sent.iter().all(|r| r.body == sent[0].body));

    // A session answered without its page cannot be paid: a decode error, not a success.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "cs_1", "mode": "payment", "payment_status": "unpaid", "url": null}),
        ))
        .mount(&server)
        .await;
    assert!(matches!(
        provider.create_top_up(&request).await,
        Err(ProviderError::Decode { .. })
    ));
}

#[tokio::test]
async fn a_timeout_is_transient_and_resent_with_the_same_key() {
    let server = MockServer::start().await;
    let mut config = config(&server.uri());
    config.timeout = Duration::from_millis(200);
    let provider = StripeProvider::new(config, Arc::new(clock_at(NOW))).unwrap();
    Mock::given(method("POST"))
        .respond_with(session_answer().set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let error = provider
        .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Transport { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    let sent = requests(&server).await;
    assert_eq!(sent.len(), FAST.max_attempts as usize);
    assert!(
        sent.iter()
            .all(|r| header(r, "idempotency-key") == Some("top-up-0195f3a2-1"))
    );
}

/// A Stripe event of `event_type` about `object`, created at `NOW`.
fn event(id: &str, event_type: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "object": "event",
        "type": event_type,
        "created": NOW,
        "data": {"object": object}
    }))
    .unwrap()
}

/// `prefix[key]=value` of the sent form, as a metadata object.
fn metadata_sent(sent: &[(String, String)], prefix: &str) -> Value {
    let mut metadata = serde_json::Map::new();
    for (name, value) in sent {
        if let Some(key) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('['))
            .and_then(|rest| rest.strip_suffix(']'))
        {
            metadata.insert(key.to_owned(), Value::from(value.as_str()));
        }
    }
    Value::Object(metadata)
}

#[tokio::test]
async fn the_checkouts_completion_credits_the_organization_once() {
    let (server, provider) = server().await;
    mount_session(&server).await;
    provider
        .create_top_up(&top_up(Money::from_minor(2500, Currency::USD)))
        .await
        .unwrap();
    let sent = form(&requests(&server).await[0]);
    // Stripe echoes what we set: the session's metadata, and the PaymentIntent's (which it
    // copies onto the charge).
    let session_metadata = metadata_sent(&sent, "metadata");
    let intent_metadata = metadata_sent(&sent, "payment_intent_data[metadata]");

    let completed = event(
        "evt_completed",
        "checkout.session.completed",
        json!({
            "id": "cs_test_a1b2c3", "object": "checkout.session", "mode": "payment",
            "status": "complete", "payment_status": "paid", "amount_total": 2500,
            "currency": "usd", "client_reference_id": ORG, "metadata": session_metadata,
            "payment_intent": "pi_3Top"
        }),
    );
    let ParsedWebhook::Events { events } = parse(&completed).await.unwrap() else {
        panic!("the completion was ignored");
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(events[0].organization_ref.as_deref(), Some(ORG));
    assert_eq!(
        events[0].amount,
        Some(Money::from_minor(2500, Currency::USD))
    );
    assert_eq!(events[0].payment_reference.as_deref(), Some("pi_3Top"));

    // Its PaymentIntent's success is the same money: not credited again.
    let succeeded = event(
        "evt_pi",
        "payment_intent.succeeded",
        json!({
            "id": "pi_3Top", "object": "payment_intent", "amount": 2500,
            "amount_received": 2500, "currency": "usd", "metadata": intent_metadata.clone()
        }),
    );
    assert!(matches!(
        parse(&succeeded).await.unwrap(),
        ParsedWebhook::Ignored { .. }
    ));

    // A refund of its charge is the organization's top-up refunded.
    let refunded = event(
        "evt_refund",
        "charge.refunded",
        json!({
            "id": "ch_3Top", "object": "charge", "amount": 2500, "amount_refunded": 500,
            "currency": "usd", "metadata": intent_metadata, "payment_intent": "pi_3Top"
        }),
    );
    let ParsedWebhook::Events { events } = parse(&refunded).await.unwrap() else {
        panic!("the refund was ignored");
    };
    assert_eq!(events[0].kind, BillingEventKind::TopUpRefunded);
    assert_eq!(events[0].organization_ref.as_deref(), Some(ORG));
    assert_eq!(events[0].payment_reference.as_deref(), Some("pi_3Top"));
}

// ---------------------------------------------------------------------------------------------
// Cancelling at the period's end

#[tokio::test]
async fn cancel_at_period_end_sets_the_flag_with_the_reason_and_the_key() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_1", "object": "subscription", "status": "active",
            "cancel_at_period_end": true
        })))
        .mount(&server)
        .await;
    provider
        .cancel_at_period_end("sub_1", " moving to annual ", "cancel-later-1")
        .await
        .unwrap();
    provider
        .cancel_at_period_end("sub_1", "  ", "cancel-later-2")
        .await
        .unwrap();
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].method.as_str(), "POST");
    assert_eq!(sent[0].url.path(), "/v1/subscriptions/sub_1");
    assert_authenticated(&sent[0], Some("cancel-later-1"));
    assert_eq!(
        form(&sent[0]),
        pairs(&[
            ("cancel_at_period_end", "true"),
            ("cancellation_details[comment]", "moving to annual"),
        ])
    );
    assert_authenticated(&sent[1], Some("cancel-later-2"));
    assert_eq!(form(&sent[1]), pairs(&[("cancel_at_period_end", "true")]));
}

#[tokio::test]
async fn cancel_at_period_end_errors_and_bad_ids() {
    let (server, provider) = server().await;
    for id in ["", "sub_1/../../v1/charges", "sub_1?x=1"] {
        assert!(matches!(
            provider.cancel_at_period_end(id, "r", "k").await,
            Err(ProviderError::Config { .. })
        ));
    }
    assert!(requests(&server).await.is_empty());
    Mock::given(method("POST"))
        .respond_with(stripe_error(404, "resource_missing"))
        .mount(&server)
        .await;
    let error = provider
        .cancel_at_period_end("sub_gone", "r", "k")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Api { status: 404, code, .. } if code == "resource_missing")
    );
    assert!(!error.is_transient());
}

// ---------------------------------------------------------------------------------------------
// The billing portal

fn link(id: &str) -> PaymentMethodLink {
    PaymentMethodLink {
        provider_subscription_id: id.into(),
        return_url: "https://app.example.com/billing".into(),
    }
}

async fn mount_portal(server: &MockServer, customer: Value) {
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_1", "object": "subscription", "status": "past_due", "customer": customer
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/billing_portal/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "bps_1", "object": "billing_portal.session", "customer": "cus_9",
            "return_url": "https://app.example.com/billing",
            "url": "https://billing.stripe.com/p/session/test_bps_1"
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_payment_method_link_is_a_portal_session_for_the_subscriptions_customer() {
    for customer in [json!("cus_9"), json!({"id": "cus_9", "object": "customer"})] {
        let (server, provider) = server().await;
        mount_portal(&server, customer).await;
        let url = provider.payment_method_link(&link("sub_1")).await.unwrap();
        assert_eq!(url, "https://billing.stripe.com/p/session/test_bps_1");
        let sent = requests(&server).await;
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].method.as_str(), "GET");
        assert_eq!(sent[0].url.path(), "/v1/subscriptions/sub_1");
        assert_authenticated(&sent[0], None);
        assert_eq!(sent[1].method.as_str(), "POST");
        assert_eq!(sent[1].url.path(), "/v1/billing_portal/sessions");
        // No key: a portal session moves no money, and a cached one would be stale.
        assert_authenticated(&sent[1], None);
        assert_eq!(
            form(&sent[1]),
            pairs(&[
                ("customer", "cus_9"),
                ("return_url", "https://app.example.com/billing"),
            ])
        );
    }
}

#[tokio::test]
async fn no_portal_without_a_customer_a_valid_id_or_a_return_url() {
    let (server, provider) = server().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"id": "sub_1", "object": "subscription", "status": "active"}),
            ),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        provider.payment_method_link(&link("sub_1")).await,
        Err(ProviderError::Decode { .. })
    ));
    assert_eq!(requests(&server).await.len(), 1, "no portal session");
    server.reset().await;
    let mut blank = link("sub_1");
    blank.return_url = " ".into();
    for request in [link(""), link("sub_1/../x"), blank] {
        assert!(matches!(
            provider.payment_method_link(&request).await,
            Err(ProviderError::Config { .. })
        ));
    }
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn portal_failures_keep_stripes_code_and_outages_are_retried() {
    let (server, provider) = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_1", "object": "subscription", "status": "active", "customer": "cus_9"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(stripe_error(400, "portal_configuration_missing"))
        .mount(&server)
        .await;
    let error = provider
        .payment_method_link(&link("sub_1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Api { status: 400, code, .. } if code == "portal_configuration_missing"),
        "{error:?}"
    );
    // The 503 was resent (no money can move), the 400 was not.
    let posts = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 2);
}

// ---------------------------------------------------------------------------------------------
// Without a secret key

#[tokio::test]
async fn a_verification_only_adapter_answers_the_customer_calls_with_config() {
    let provider = StripeProvider::new(
        StripeConfig::verification_only(vec![SecretString::from(WEBHOOK_SECRET)]),
        Arc::new(clock_at(NOW)),
    )
    .unwrap();
    let errors = [
        provider
            .create_top_up(&top_up(Money::from_minor(100, Currency::USD)))
            .await
            .unwrap_err(),
        provider
            .cancel_at_period_end("sub_1", "r", "k")
            .await
            .unwrap_err(),
        provider
            .payment_method_link(&link("sub_1"))
            .await
            .unwrap_err(),
    ];
    for error in errors {
        assert!(
            matches!(&error, ProviderError::Config { message, .. } if message.contains("STRIPE_SECRET_KEY")),
            "{error:?}"
        );
    }
    // Stripe captures Checkout payments itself: there is nothing to capture.
    assert!(matches!(
        provider.capture_top_up("cs_1", "k").await,
        Err(ProviderError::Unsupported { .. })
    ));
}
