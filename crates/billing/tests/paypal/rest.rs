//! Every REST call against a loopback PayPal: method, path, Basic then Bearer auth, body
//! fields and `PayPal-Request-Id`; the token cache and its refresh; the retry policy.

use std::sync::Arc;

use billing::paypal::{PayPalProvider, StaticCertFetcher};
use billing::{
    BillingProvider, CreateSubscription, ProviderError, ProviderName, ProviderSubscriptionStatus,
    RetryOutcome,
};
use chrono::Duration;
use primitives::{Currency, ManualClock, Money};
use serde_json::json;
use wiremock::matchers::{basic_auth, bearer_token, body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{CLIENT_SECRET, WEBHOOK_ID, config, now};

const SUB: &str = "I-BW452GLLEP1G";

struct Api {
    server: MockServer,
    provider: PayPalProvider,
    clock: ManualClock,
}

async fn api() -> Api {
    let server = MockServer::start().await;
    let clock = ManualClock::new(now());
    let provider = PayPalProvider::with_cert_fetcher(
        config(&server.uri(), &[WEBHOOK_ID]),
        Arc::new(clock.clone()),
        Arc::new(StaticCertFetcher::new()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Api {
        server,
        provider,
        clock,
    }
}

fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "scope": "https://uri.paypal.com/services/subscriptions",
        "access_token": token,
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": expires_in,
        "nonce": "2026-01-16T12:00:00Zx"
    }))
}

/// The token endpoint as PayPal wants it called: Basic client_id:secret, form grant type.
fn token_mock(token: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .and(basic_auth("AV-client-id", CLIENT_SECRET))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(token_answer(token, 32_400))
}

fn subscription_json(status: &str, outstanding: &str) -> serde_json::Value {
    json!({
        "id": SUB,
        "plan_id": "P-5ML4271244454362WXNWU5NQ",
        "status": status,
        "custom_id": "org_01J9Z3T4",
        "billing_info": {
            "outstanding_balance": {"currency_code": "USD", "value": outstanding},
            "next_billing_time": "2026-02-15T10:00:00Z",
            "failed_payments_count": 1
        },
        "links": [{"href": format!("https://api-m.paypal.com/v1/billing/subscriptions/{SUB}"), "rel": "self", "method": "GET"}]
    })
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

#[tokio::test]
async fn create_sends_plan_custom_id_urls_and_the_request_id() {
    let api = api().await;
    token_mock("A21-token-1").expect(1).mount(&api.server).await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/subscriptions"))
        .and(bearer_token("A21-token-1"))
        .and(header("paypal-request-id", "create-org_01J9Z3T4-1"))
        .and(body_json(json!({
            "plan_id": "P-5ML4271244454362WXNWU5NQ",
            "custom_id": "org_01J9Z3T4",
            "application_context": {
                "return_url": "https://app.example.com/billing/return",
                "cancel_url": "https://app.example.com/billing/cancel"
            }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": SUB,
            "status": "APPROVAL_PENDING",
            "status_update_time": "2026-01-16T12:00:01Z",
            "create_time": "2026-01-16T12:00:01Z",
            "links": [
                {"href": "https://www.paypal.com/webapps/billing/subscriptions?ba_token=BA-2M539689T3856352J", "rel": "approve", "method": "GET"},
                {"href": format!("https://api-m.paypal.com/v1/billing/subscriptions/{SUB}"), "rel": "edit", "method": "PATCH"},
                {"href": format!("https://api-m.paypal.com/v1/billing/subscriptions/{SUB}"), "rel": "self", "method": "GET"}
            ]
        })))
        .expect(1)
        .mount(&api.server)
        .await;
    let created = api
        .provider
        .create_subscription(&CreateSubscription {
            plan_id: "P-5ML4271244454362WXNWU5NQ".into(),
            organization_ref: "org_01J9Z3T4".into(),
            return_url: Some("https://app.example.com/billing/return".into()),
            cancel_url: Some("https://app.example.com/billing/cancel".into()),
            customer_id: None,
            payer: None,
            idempotency_key: "create-org_01J9Z3T4-1".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.provider_subscription_id, SUB);
    assert_eq!(created.status, ProviderSubscriptionStatus::Pending);
    assert_eq!(
        created.approval_url.as_deref(),
        Some("https://www.paypal.com/webapps/billing/subscriptions?ba_token=BA-2M539689T3856352J")
    );
}

#[tokio::test]
async fn create_without_urls_sends_no_application_context() {
    let api = api().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("POST"))
        .and(path("/v1/billing/subscriptions"))
        .and(body_json(json!({"plan_id": "P-1", "custom_id": "org_2"})))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "I-2", "status": "APPROVAL_PENDING", "links": []})),
        )
        .expect(1)
        .mount(&api.server)
        .await;
    let created = api
        .provider
        .create_subscription(&CreateSubscription {
            plan_id: "P-1".into(),
            organization_ref: "org_2".into(),
            return_url: None,
            cancel_url: None,
            customer_id: None,
            payer: None,
            idempotency_key: "k-2".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.approval_url, None);
}

#[tokio::test]
async fn show_maps_status_period_end_and_reference() {
    let api = api().await;
    token_mock("tok").mount(&api.server).await;
    for (paypal, ours) in [
        ("APPROVAL_PENDING", ProviderSubscriptionStatus::Pending),
        ("APPROVED", ProviderSubscriptionStatus::Pending),
        ("ACTIVE", ProviderSubscriptionStatus::Active),
        ("SUSPENDED", ProviderSubscriptionStatus::Suspended),
        ("CANCELLED", ProviderSubscriptionStatus::Canceled),
        ("EXPIRED", ProviderSubscriptionStatus::Expired),
    ] {
        api.server.reset().await;
        token_mock("tok").mount(&api.server).await;
        Mock::given(method("GET"))
            .and(path(format!("/v1/billing/subscriptions/{SUB}")))
            .and(bearer_token("tok"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(subscription_json(paypal, "0.00")),
            )
            .expect(1)
            .mount(&api.server)
            .await;
        let sub = api
            .provider
            .subscription(SUB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sub.status, ours);
        assert_eq!(sub.provider_status, paypal);
        assert_eq!(sub.provider_subscription_id, SUB);
        assert_eq!(sub.organization_ref.as_deref(), Some("org_01J9Z3T4"));
        assert_eq!(
            sub.current_period_end,
            Some(crate::support::time("2026-02-15T10:00:00Z"))
        );
        assert_eq!(sub.outstanding, Some(usd(0)));
        api.server.verify().await;
    }
}

#[tokio::test]
async fn show_reports_the_outstanding_balance_paypal_states() {
    let api = api().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(subscription_json("SUSPENDED", "29.00")),
        )
        .mount(&api.server)
        .await;
    let sub = api
        .provider
        .subscription(SUB)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sub.outstanding, Some(usd(2_900)));

    // A subscription PayPal sends without billing_info states no figure.
    api.server.reset().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": SUB, "status": "APPROVAL_PENDING"})),
        )
        .mount(&api.server)
        .await;
    let sub = api
        .provider
        .subscription(SUB)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sub.outstanding, None);
}

#[tokio::test]
async fn suspend_cancel_and_activate_post_the_reason_with_the_request_id() {
    let api = api().await;
    token_mock("tok").expect(1).mount(&api.server).await;
    for action in ["suspend", "cancel", "activate"] {
        Mock::given(method("POST"))
            .and(path(format!("/v1/billing/subscriptions/{SUB}/{action}")))
            .and(bearer_token("tok"))
            .and(header(
                "paypal-request-id",
                format!("{action}-key").as_str(),
            ))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({"reason": format!("{action} reason")})))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&api.server)
            .await;
    }
    let p = &api.provider;
    p.pause(SUB, "suspend reason", "suspend-key")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    p.cancel(SUB, "cancel reason", "cancel-key")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    p.reactivate(SUB, "activate reason", "activate-key")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn retry_payment_captures_the_outstanding_balance_fetched_first() {
    let api = api().await;
    token_mock("tok").expect(1).mount(&api.server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(subscription_json("SUSPENDED", "29.00")),
        )
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/capture")))
        .and(bearer_token("tok"))
        .and(header(
            "paypal-request-id",
            "dunning-I-BW452GLLEP1G-attempt-2",
        ))
        .and(body_json(json!({
            "note": "Outstanding balance collected after a failed payment",
            "capture_type": "OUTSTANDING_BALANCE",
            "amount": {"currency_code": "USD", "value": "29.00"}
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "id": "2YA84512BR3563419",
            "status": "COMPLETED",
            "amount_with_breakdown": {"gross_amount": {"currency_code": "USD", "value": "29.00"}},
            "time": "2026-01-16T12:00:05Z"
        })))
        .expect(1)
        .mount(&api.server)
        .await;
    let outcome = api
        .provider
        .retry_payment(SUB, "dunning-I-BW452GLLEP1G-attempt-2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        outcome,
        RetryOutcome::Paid {
            amount: Some(usd(2900))
        }
    );
}

#[tokio::test]
async fn retry_payment_reports_declines_pending_and_nothing_due() {
    for (answer, expected) in [
        (
            ResponseTemplate::new(202).set_body_json(json!({"status": "DECLINED"})),
            RetryOutcome::Declined {
                reason: "DECLINED".into(),
            },
        ),
        (
            ResponseTemplate::new(202).set_body_json(json!({"status": "PENDING"})),
            RetryOutcome::Pending,
        ),
        (ResponseTemplate::new(202), RetryOutcome::Pending),
    ] {
        let api = api().await;
        token_mock("tok").mount(&api.server).await;
        Mock::given(method("GET"))
            .and(path(format!("/v1/billing/subscriptions/{SUB}")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(subscription_json("ACTIVE", "10.00")),
            )
            .mount(&api.server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/v1/billing/subscriptions/{SUB}/capture")))
            .respond_with(answer)
            .expect(1)
            .mount(&api.server)
            .await;
        let outcome = api
            .provider
            .retry_payment(SUB, "k")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome, expected);
    }
    // Nothing outstanding: no capture is attempted at all.
    let api = api().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription_json("ACTIVE", "0.00")))
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/capture")))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&api.server)
        .await;
    assert_eq!(
        api.provider.retry_payment(SUB, "k").await.ok(),
        Some(RetryOutcome::NothingDue)
    );
}

#[tokio::test]
async fn the_token_is_cached_until_shortly_before_it_expires() {
    let api = api().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(token_answer("first", 3_600))
        .up_to_n_times(1)
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(token_answer("second", 3_600))
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("first"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription_json("ACTIVE", "0.00")))
        .expect(3)
        .mount(&api.server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("second"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription_json("ACTIVE", "0.00")))
        .expect(1)
        .mount(&api.server)
        .await;
    for _ in 0..2 {
        api.provider
            .subscription(SUB)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // 3600 s token, 300 s margin: still used at 3299 s, renewed at 3300 s.
    api.clock.advance(Duration::seconds(3_299));
    api.provider
        .subscription(SUB)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    api.clock.advance(Duration::seconds(1));
    api.provider
        .subscription(SUB)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_resends() {
    let api = api().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(token_answer("revoked", 32_400))
        .up_to_n_times(1)
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(token_answer("fresh", 32_400))
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/cancel")))
        .and(bearer_token("revoked"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token", "error_description": "Token signature verification failed"})))
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/cancel")))
        .and(bearer_token("fresh"))
        .and(header("paypal-request-id", "cancel-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&api.server)
        .await;
    api.provider
        .cancel(SUB, "customer asked", "cancel-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The fresh token is cached from now on.
    Mock::given(method("GET"))
        .and(bearer_token("fresh"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(subscription_json("CANCELLED", "0.00")),
        )
        .expect(1)
        .mount(&api.server)
        .await;
    api.provider
        .subscription(SUB)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_second_401_is_an_error_not_a_loop() {
    let api = api().await;
    token_mock("tok").expect(2).mount(&api.server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token", "error_description": "Access Token not found in cache"})))
        .expect(2)
        .mount(&api.server)
        .await;
    let error = api.provider.subscription(SUB).await.err();
    assert_eq!(
        error,
        Some(ProviderError::Api {
            provider: ProviderName::Paypal,
            status: 401,
            code: "invalid_token".into(),
            message: "Access Token not found in cache".into(),
        })
    );
}

#[tokio::test]
async fn a_400_is_not_retried_and_keeps_paypals_name_and_issue() {
    let api = api().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/suspend")))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "name": "UNPROCESSABLE_ENTITY",
            "message": "The requested action could not be performed, semantically incorrect, or failed business validation.",
            "debug_id": "f2ab1e3b1d2f5",
            "details": [{"issue": "SUBSCRIPTION_STATUS_INVALID", "description": "Invalid subscription status for suspend action; subscription status should be active."}],
            "links": [{"href": "https://developer.paypal.com/docs/api/v1/billing/subscriptions#UNPROCESSABLE_ENTITY", "rel": "information_link", "method": "GET"}]
        })))
        .expect(1)
        .mount(&api.server)
        .await;
    let error = api.provider.pause(SUB, "dunning", "k-422").await.err();
    let Some(ProviderError::Api {
        status,
        code,
        message,
        ..
    }) = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        (*status, code.as_str()),
        (422, "SUBSCRIPTION_STATUS_INVALID")
    );
    assert!(
        message.starts_with("UNPROCESSABLE_ENTITY: The requested action"),
        "{message}"
    );
    assert!(
        message.ends_with("subscription status should be active."),
        "{message}"
    );
    assert!(error.is_some_and(|e| !e.is_transient()));

    api.server.reset().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/activate")))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"name": "INVALID_REQUEST", "message": "Request is not well-formed."}),
        ))
        .expect(1)
        .mount(&api.server)
        .await;
    let error = api.provider.reactivate(SUB, "paid", "k-400").await.err();
    assert!(
        matches!(&error, Some(ProviderError::Api { status: 400, code, .. }) if code == "INVALID_REQUEST"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_503_is_retried_with_the_same_request_id() {
    let api = api().await;
    token_mock("tok").expect(1).mount(&api.server).await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/cancel")))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"name": "SERVICE_UNAVAILABLE", "message": "try later"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/cancel")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&api.server)
        .await;
    api.provider
        .cancel(SUB, "r", "cancel-503")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sent = api.server.received_requests().await.unwrap_or_default();
    let ids: Vec<_> = sent
        .iter()
        .filter(|r| r.url.path().ends_with("/cancel"))
        .map(|r| r.headers.get("paypal-request-id").cloned())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter()
            .all(|id| id.as_ref().is_some_and(|v| v == "cancel-503")),
        "{ids:?}"
    );
}

#[tokio::test]
async fn an_invalid_client_is_an_api_error_without_the_secret() {
    let api = api().await;
    Mock::given(method("POST"))
        .and(path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
        ))
        .expect(1)
        .mount(&api.server)
        .await;
    let error = api.provider.subscription(SUB).await.err();
    let Some(error) = error else {
        panic!("succeeded")
    };
    assert!(
        matches!(&error, ProviderError::Api { status: 401, code, .. } if code == "invalid_client"),
        "{error:?}"
    );
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    }
}

#[tokio::test]
async fn ids_that_could_change_the_path_are_refused_without_a_call() {
    let api = api().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&api.server)
        .await;
    for id in ["", "../v1/oauth2/token", "I-1/cancel", "I-1?x=1", "I 1"] {
        assert!(
            matches!(
                api.provider.subscription(id).await,
                Err(ProviderError::Config { .. })
            ),
            "{id}"
        );
        assert!(
            matches!(
                api.provider.cancel(id, "r", "k").await,
                Err(ProviderError::Config { .. })
            ),
            "{id}"
        );
    }
    // An empty idempotency key would make a POST unsafe to retry.
    assert!(matches!(
        api.provider.cancel(SUB, "r", " ").await,
        Err(ProviderError::Config { .. })
    ));
}

#[tokio::test]
async fn an_amount_with_too_many_decimals_from_the_api_is_a_decode_error() {
    let api = api().await;
    token_mock("tok").mount(&api.server).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(subscription_json("ACTIVE", "10.001")),
        )
        .mount(&api.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/{SUB}/capture")))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&api.server)
        .await;
    assert!(matches!(
        api.provider.retry_payment(SUB, "k").await,
        Err(ProviderError::Decode { .. })
    ));
}
