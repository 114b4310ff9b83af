//! Every REST call against wiremock: method, path, Bearer key, exact form fields and the
//! idempotency key; and how answers (and Stripe's errors) come back.

use std::sync::Arc;

use billing::stripe::{StripeConfig, StripeProvider};
use billing::{
    BillingProvider, CreateSubscription, CreatedSubscription, ProviderError, ProviderName,
    ProviderSubscriptionStatus, RetryOutcome,
};
use primitives::{Currency, Money};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{WEBHOOK_SECRET, assert_authenticated, form, header, pairs, provider_at};

const NOW: i64 = 1_750_000_000;

async fn server() -> (MockServer, StripeProvider) {
    let server = MockServer::start().await;
    let (provider, _) = provider_at(&server.uri(), NOW);
    (server, provider)
}

fn subscription(status: &str) -> Value {
    json!({
        "id": "sub_1",
        "object": "subscription",
        "status": status,
        "customer": "cus_1",
        "metadata": {"organization_id": "org-1"},
        "pause_collection": null,
        "items": {"object": "list", "data": [
            {"id": "si_1", "object": "subscription_item", "current_period_end": 1_752_592_000},
            {"id": "si_2", "object": "subscription_item", "current_period_end": 1_752_678_400}
        ]},
        "latest_invoice": "in_1"
    })
}

fn create_request() -> CreateSubscription {
    CreateSubscription {
        plan_id: "price_pro".into(),
        organization_ref: "0195f3a2-7c1e-7b3a-9f1d-2c4e6a8b0d12".into(),
        return_url: Some("https://app.example.com/done".into()),
        cancel_url: None,
        customer_id: Some("cus_1".into()),
        payer: None,
        idempotency_key: "create-0195f3a2".into(),
    }
}

async fn only_request(server: &MockServer) -> wiremock::Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.remove(0)
}

#[tokio::test]
async fn create_posts_the_form_with_the_callers_idempotency_key() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("active")))
        .mount(&server)
        .await;
    let created = provider
        .create_subscription(&create_request())
        .await
        .unwrap();
    assert_eq!(
        created,
        CreatedSubscription {
            provider_subscription_id: "sub_1".into(),
            approval_url: None,
            approval_form: None,
            status: ProviderSubscriptionStatus::Active,
        }
    );
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/v1/subscriptions");
    assert_eq!(request.url.query(), None);
    assert_authenticated(&request, Some("create-0195f3a2"));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form(&request),
        pairs(&[
            ("customer", "cus_1"),
            ("items[0][price]", "price_pro"),
            (
                "metadata[organization_id]",
                "0195f3a2-7c1e-7b3a-9f1d-2c4e6a8b0d12"
            ),
            ("payment_behavior", "default_incomplete"),
            (
                "payment_settings[save_default_payment_method]",
                "on_subscription"
            ),
            ("expand[0]", "latest_invoice"),
        ])
    );
}

#[tokio::test]
async fn an_incomplete_subscription_returns_its_hosted_invoice() {
    let (server, provider) = server().await;
    let mut body = subscription("incomplete");
    body["latest_invoice"] = json!({
        "id": "in_1",
        "object": "invoice",
        "status": "open",
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_abc"
    });
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let created = provider
        .create_subscription(&create_request())
        .await
        .unwrap();
    assert_eq!(created.status, ProviderSubscriptionStatus::Pending);
    assert_eq!(
        created.approval_url.as_deref(),
        Some("https://invoice.stripe.com/i/acct_1/test_abc")
    );
}

#[tokio::test]
async fn create_without_a_key_sends_nothing() {
    let (server, provider) = server().await;
    let mut no_key = create_request();
    no_key.idempotency_key = String::new();
    let mut long_key = create_request();
    long_key.idempotency_key = "k".repeat(256);
    let mut no_customer_no_key = create_request();
    no_customer_no_key.customer_id = None;
    no_customer_no_key.idempotency_key = String::new();
    for request in [no_key, long_key, no_customer_no_key] {
        assert!(matches!(
            provider.create_subscription(&request).await,
            Err(ProviderError::Config { .. })
        ));
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn get_reads_status_period_end_and_organization() {
    let (server, provider) = server().await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("past_due")))
        .mount(&server)
        .await;
    let sub = provider.subscription("sub_1").await.unwrap();
    assert_eq!(sub.provider_subscription_id, "sub_1");
    assert_eq!(sub.status, ProviderSubscriptionStatus::PastDue);
    assert_eq!(sub.provider_status, "past_due");
    // The latest of the items' ends.
    assert_eq!(
        sub.current_period_end.map(|t| t.timestamp()),
        Some(1_752_678_400)
    );
    assert_eq!(sub.organization_ref.as_deref(), Some("org-1"));
    // Stripe keeps no balance on a subscription: its status says whether it is paid up.
    assert_eq!(sub.outstanding, None);
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/v1/subscriptions/sub_1");
    assert_eq!(request.url.query(), None);
    assert_authenticated(&request, None);
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn get_maps_every_stripe_status() {
    for (status, pause, expected) in [
        ("incomplete", false, ProviderSubscriptionStatus::Pending),
        ("trialing", false, ProviderSubscriptionStatus::Trialing),
        ("trialing", true, ProviderSubscriptionStatus::Paused),
        ("active", false, ProviderSubscriptionStatus::Active),
        ("active", true, ProviderSubscriptionStatus::Paused),
        ("past_due", false, ProviderSubscriptionStatus::PastDue),
        ("past_due", true, ProviderSubscriptionStatus::PastDue),
        ("unpaid", false, ProviderSubscriptionStatus::Suspended),
        ("paused", false, ProviderSubscriptionStatus::Paused),
        ("canceled", false, ProviderSubscriptionStatus::Canceled),
        (
            "incomplete_expired",
            false,
            ProviderSubscriptionStatus::Expired,
        ),
    ] {
        let (server, provider) = server().await;
        let mut body = subscription(status);
        // Legacy shape too: the period on the subscription, no items.
        body.as_object_mut().unwrap().remove("items");
        body["current_period_end"] = json!(1_752_000_000);
        if pause {
            body["pause_collection"] = json!({"behavior": "void", "resumes_at": null});
        }
        Mock::given(method("GET"))
            .and(path("/v1/subscriptions/sub_1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        let sub = provider.subscription("sub_1").await.unwrap();
        assert_eq!(sub.status, expected, "{status} paused={pause}");
        assert_eq!(
            sub.current_period_end.map(|t| t.timestamp()),
            Some(1_752_000_000)
        );
    }
}

#[tokio::test]
async fn an_unknown_status_is_a_decode_error() {
    let (server, provider) = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("dormant")))
        .mount(&server)
        .await;
    assert!(matches!(
        provider.subscription("sub_1").await,
        Err(ProviderError::Decode { .. })
    ));
}

#[tokio::test]
async fn ids_that_would_change_the_path_are_refused_before_any_request() {
    let (server, provider) = server().await;
    for id in [
        "",
        "sub_1/../../v1/charges",
        "sub_1?expand=x",
        "sub 1",
        "sub_1#",
        "ü",
    ] {
        assert!(
            matches!(
                provider.subscription(id).await,
                Err(ProviderError::Config { .. })
            ),
            "{id:?}"
        );
        assert!(matches!(
            provider.cancel(id, "r", "k").await,
            Err(ProviderError::Config { .. })
        ));
        assert!(matches!(
            provider.retry_payment(id, "k").await,
            Err(ProviderError::Config { .. })
        ));
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn cancel_deletes_with_the_reason_as_comment_and_the_key() {
    let (server, provider) = server().await;
    Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("canceled")))
        .mount(&server)
        .await;
    provider
        .cancel("sub_1", "customer asked & left", "cancel-1")
        .await
        .unwrap();
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "DELETE");
    assert_eq!(request.url.path(), "/v1/subscriptions/sub_1");
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        pairs(&[("cancellation_details[comment]", "customer asked & left")])
    );
    assert!(request.body.is_empty());
    assert_authenticated(&request, Some("cancel-1"));
}

#[tokio::test]
async fn cancel_without_a_reason_sends_no_query() {
    let (server, provider) = server().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("canceled")))
        .mount(&server)
        .await;
    provider.cancel("sub_1", "  ", "cancel-2").await.unwrap();
    assert_eq!(only_request(&server).await.url.query(), None);
}

#[tokio::test]
async fn pause_voids_collection() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("active")))
        .mount(&server)
        .await;
    provider
        .pause("sub_1", "wallet frozen", "pause-1")
        .await
        .unwrap();
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/v1/subscriptions/sub_1");
    assert_authenticated(&request, Some("pause-1"));
    assert_eq!(
        form(&request),
        pairs(&[("pause_collection[behavior]", "void")])
    );
}

#[tokio::test]
async fn reactivate_clears_the_collection_pause() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("active")))
        .mount(&server)
        .await;
    provider
        .reactivate("sub_1", "paid", "resume-1")
        .await
        .unwrap();
    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/v1/subscriptions/sub_1");
    assert_authenticated(&request, Some("resume-1"));
    assert_eq!(form(&request), pairs(&[("pause_collection", "")]));
    assert_eq!(request.body, b"pause_collection=");
}

fn open_invoices(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "object": "list",
        "data": data,
        "has_more": false,
        "url": "/v1/invoices"
    }))
}

fn invoice(status: &str, amount_paid: i64) -> Value {
    json!({
        "id": "in_42",
        "object": "invoice",
        "status": status,
        "currency": "usd",
        "amount_due": 4900,
        "amount_paid": amount_paid,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1", "metadata": {}}}
    })
}

async fn mount_open_invoice(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/invoices"))
        .and(query_param("subscription", "sub_1"))
        .and(query_param("status", "open"))
        .and(query_param("limit", "1"))
        .respond_with(open_invoices(json!([invoice("open", 0)])))
        .mount(server)
        .await;
}

#[tokio::test]
async fn retry_pays_the_latest_open_invoice() {
    let (server, provider) = server().await;
    mount_open_invoice(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/invoices/in_42/pay"))
        .respond_with(ResponseTemplate::new(200).set_body_json(invoice("paid", 4900)))
        .mount(&server)
        .await;
    let outcome = provider
        .retry_payment("sub_1", "dunning-sub_1-2")
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RetryOutcome::Paid {
            amount: Some(Money::from_minor(4900, Currency::USD))
        }
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let (list, pay) = (&requests[0], &requests[1]);
    assert_eq!(list.method.as_str(), "GET");
    assert_eq!(list.url.path(), "/v1/invoices");
    let query: Vec<(String, String)> = list.url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        pairs(&[
            ("subscription", "sub_1"),
            ("status", "open"),
            ("limit", "1")
        ])
    );
    assert_authenticated(list, None);
    assert_eq!(pay.method.as_str(), "POST");
    assert_authenticated(pay, Some("dunning-sub_1-2"));
    assert!(form(pay).is_empty());
}

#[tokio::test]
async fn retry_with_nothing_open_is_nothing_due_and_pays_nothing() {
    let (server, provider) = server().await;
    Mock::given(method("GET"))
        .and(path("/v1/invoices"))
        .respond_with(open_invoices(json!([])))
        .mount(&server)
        .await;
    assert_eq!(
        provider.retry_payment("sub_1", "k").await.unwrap(),
        RetryOutcome::NothingDue
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_declined_card_is_declined_with_stripes_codes_and_not_retried() {
    let (server, provider) = server().await;
    mount_open_invoice(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/invoices/in_42/pay"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({
            "error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "request_log_url": "https://dashboard.stripe.com/test/logs/req_1"
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        provider.retry_payment("sub_1", "k").await.unwrap(),
        RetryOutcome::Declined {
            reason: "card_declined: insufficient_funds".into()
        }
    );
}

#[tokio::test]
async fn a_pay_still_processing_is_pending() {
    let (server, provider) = server().await;
    mount_open_invoice(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/invoices/in_42/pay"))
        .respond_with(ResponseTemplate::new(200).set_body_json(invoice("open", 0)))
        .mount(&server)
        .await;
    assert_eq!(
        provider.retry_payment("sub_1", "k").await.unwrap(),
        RetryOutcome::Pending
    );
}

#[tokio::test]
async fn stripe_errors_keep_their_code_and_message() {
    let (server, provider) = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "param": "id",
                "message": "No such subscription: 'sub_1'"
            }
        })))
        .mount(&server)
        .await;
    assert_eq!(
        provider.subscription("sub_1").await,
        Err(ProviderError::Api {
            provider: ProviderName::Stripe,
            status: 404,
            code: "resource_missing".into(),
            message: "No such subscription: 'sub_1'".into(),
        })
    );
}

#[tokio::test]
async fn an_error_without_a_code_keeps_its_type_and_one_without_a_body_its_status() {
    let (server, provider) = server().await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****gged"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(409).set_body_string("<html>conflict</html>"))
        .mount(&server)
        .await;
    assert!(matches!(
        provider.pause("sub_1", "r", "k").await,
        Err(ProviderError::Api { status: 401, code, .. }) if code == "invalid_request_error"
    ));
    assert!(matches!(
        provider.cancel("sub_1", "r", "k").await,
        Err(ProviderError::Api { status: 409, code, .. }) if code == "http_409"
    ));
}

#[tokio::test]
async fn a_pinned_api_version_is_sent_on_every_call() {
    let server = MockServer::start().await;
    let mut config = crate::common::config(&server.uri());
    config.api_version = Some("2025-03-31.basil".into());
    let provider =
        StripeProvider::new(config, std::sync::Arc::new(crate::common::clock_at(NOW))).unwrap();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription("active")))
        .mount(&server)
        .await;
    provider.subscription("sub_1").await.unwrap();
    assert_eq!(
        header(&only_request(&server).await, "stripe-version"),
        Some("2025-03-31.basil")
    );
}

#[tokio::test]
async fn a_verification_only_adapter_verifies_but_makes_no_call() {
    let server = MockServer::start().await;
    let mut config = StripeConfig::verification_only(vec![SecretString::from(WEBHOOK_SECRET)]);
    config.base_url = server.uri();
    let clock = crate::common::clock_at(1_750_000_000);
    let provider = StripeProvider::new(config, Arc::new(clock)).unwrap();
    assert!(!provider.has_api());
    let results = [
        provider
            .create_subscription(&create_request())
            .await
            .map(drop),
        provider.subscription("sub_1").await.map(drop),
        provider.cancel("sub_1", "r", "k").await,
        provider.pause("sub_1", "r", "k").await,
        provider.reactivate("sub_1", "r", "k").await,
        provider.retry_payment("sub_1", "k").await.map(drop),
    ];
    for result in results {
        let Err(ProviderError::Config { message, .. }) = result else {
            panic!("{result:?}");
        };
        assert_eq!(
            message,
            "STRIPE_SECRET_KEY is not set (webhook verification only)"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    let body = br#"{"id":"evt_1","object":"event","created":1750000000,"type":"customer.created","data":{"object":{"id":"cus_1"}}}"#;
    let headers = crate::common::signed(WEBHOOK_SECRET, 1_750_000_000, body);
    assert!(
        provider
            .verify_webhook(billing::WebhookRequest {
                headers: &headers,
                body
            })
            .await
            .is_ok()
    );
    let (with_key, _) = crate::common::provider_at(&server.uri(), 1_750_000_000);
    assert!(with_key.has_api());
}
