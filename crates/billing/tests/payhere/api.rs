//! The Subscription Manager API against wiremock on loopback: method, path, auth, body, token
//! caching and refresh, and the retry policy.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use billing::http::RetryPolicy;
use billing::payhere::{PayHereApiCredentials, PayHereConfig, PayHereProvider};
use billing::{
    BillingProvider, ProviderError, ProviderName, ProviderSubscriptionStatus, RetryOutcome,
};
use primitives::{Currency, ManualClock, Money};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MERCHANT_ID, ORG, SECRET, now};

const APP_ID: &str = "4OVx33RVOPg4DzdZUzq4A94D2";
const APP_SECRET: &str = "8n4VCj25MXp4JLDFyvsE9h4a8qgbPaZUI4JEWK4FCvop";
const TOKEN_PATH: &str = "/merchant/v1/oauth/token";
const LIST_PATH: &str = "/merchant/v1/subscription";
const RETRY_PATH: &str = "/merchant/v1/subscription/retry";
const CANCEL_PATH: &str = "/merchant/v1/subscription/cancel";
const SUB_ID: &str = "420075032251";

fn basic() -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{APP_ID}:{APP_SECRET}"));
    format!("Basic {credentials}")
}

fn provider(server: &MockServer, clock: &ManualClock) -> PayHereProvider {
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(SECRET));
    config.base_url = server.uri();
    config.api = Some(PayHereApiCredentials {
        app_id: APP_ID.into(),
        app_secret: SecretString::from(APP_SECRET),
    });
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    };
    PayHereProvider::new(config, Arc::new(clock.clone())).unwrap()
}

fn token_answer(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token, "token_type": "bearer", "expires_in": 599, "scope": "SANDBOX"
    }))
}

/// The token call exactly as PayHere documents it.
fn token_mock(token: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("authorization", basic().as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials"))
        .respond_with(token_answer(token))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn list_body(status: &str) -> serde_json::Value {
    json!({
        "status": 1,
        "msg": "Found 1 subscriptions",
        "data": [{
            "subscription_id": 420075032251u64,
            "order_id": format!("SUB-{ORG}.s1"),
            "date": "2018-10-04 20:24:52",
            "description": "Book reading Subscription",
            "recurring": "Charged every month for 3 years",
            "status": status,
            "amount": 100,
            "currency": "LKR",
            "customer": {"fist_name": "Saman", "last_name": "Kumara"},
            "amount_detail": {"currency": "LKR", "gross": 200, "fee": 36.6, "net": 163.4},
            "items": []
        }]
    })
}

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn setup() -> (MockServer, ManualClock) {
    (MockServer::start().await, ManualClock::new(now()))
}

#[tokio::test]
async fn two_calls_share_one_token_and_read_exact_amounts() {
    let (server, clock) = setup().await;
    token_mock("tok-1").expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .and(header("authorization", bearer("tok-1").as_str()))
        .respond_with(ok(list_body("ACTIVE")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{LIST_PATH}/{SUB_ID}/payments")))
        .and(header("authorization", bearer("tok-1").as_str()))
        .respond_with(ok(json!({
            "status": 1,
            "msg": "Found 2 payments",
            "data": [
                {"payment_id": 320025023469u64, "order_id": "Order0003", "date": "2018-10-04 20:24:52",
                 "description": "Book reading Subscription", "status": "RECEIVED", "currency": "LKR", "amount": 200},
                {"payment_id": "320025023470", "order_id": "Order0003", "status": "RECEIVED",
                 "currency": "LKR", "amount": 36.6}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let provider = provider(&server, &clock);
    let subscriptions = provider.list_subscriptions().await.unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].subscription_id, SUB_ID);
    assert_eq!(
        subscriptions[0].amount,
        Some(Money::from_minor(10_000, Currency::LKR))
    );
    let payments = provider.subscription_payments(SUB_ID).await.unwrap();
    assert_eq!(payments[0].payment_id, "320025023469");
    assert_eq!(payments[0].amount, Money::from_minor(20_000, Currency::LKR));
    assert_eq!(payments[1].payment_id, "320025023470");
    assert_eq!(payments[1].amount, Money::from_minor(3_660, Currency::LKR));
    server.verify().await;
}

#[tokio::test]
async fn the_token_is_replaced_shortly_before_it_expires() {
    let (server, clock) = setup().await;
    token_mock("tok-1")
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock("tok-2").expect(1).mount(&server).await;
    for token in ["tok-1", "tok-2"] {
        Mock::given(method("GET"))
            .and(path(LIST_PATH))
            .and(header("authorization", bearer(token).as_str()))
            .respond_with(ok(list_body("ACTIVE")))
            .expect(2)
            .mount(&server)
            .await;
    }
    let provider = provider(&server, &clock);
    provider.list_subscriptions().await.unwrap();
    // 599 s lifetime, 60 s margin: still tok-1 at 538 s, replaced at 539 s.
    clock.advance(chrono::Duration::seconds(538));
    provider.list_subscriptions().await.unwrap();
    clock.advance(chrono::Duration::seconds(1));
    provider.list_subscriptions().await.unwrap();
    provider.list_subscriptions().await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_401_fetches_a_new_token_and_tries_exactly_once_more() {
    let (server, clock) = setup().await;
    token_mock("tok-1")
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_mock("tok-2").expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .and(header("authorization", bearer("tok-1").as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_token", "error_description": "Invalid access token: tok-1"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .and(header("authorization", bearer("tok-2").as_str()))
        .respond_with(ok(list_body("ACTIVE")))
        .expect(1)
        .mount(&server)
        .await;
    provider(&server, &clock)
        .list_subscriptions()
        .await
        .unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_second_401_is_the_answer() {
    let (server, clock) = setup().await;
    token_mock("tok").expect(2).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_token", "error_description": "Invalid access token"
        })))
        .expect(2)
        .mount(&server)
        .await;
    let error = provider(&server, &clock)
        .list_subscriptions()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProviderError::Api {
            provider: ProviderName::Payhere,
            status: 401,
            code: "invalid_token".into(),
            message: "Invalid access token".into(),
        }
    );
    server.verify().await;
}

#[tokio::test]
async fn retry_posts_the_subscription_id_as_json() {
    let (server, clock) = setup().await;
    token_mock("tok-1").expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(RETRY_PATH))
        .and(header("authorization", bearer("tok-1").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"subscription_id": 420075032251u64})))
        .respond_with(ok(
            json!({"status": 1, "msg": "Recurring payment charged successfully", "data": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = provider(&server, &clock)
        .retry_payment(SUB_ID, "dunning-1")
        .await
        .unwrap();
    assert_eq!(outcome, RetryOutcome::Paid { amount: None });
    // PayHere has no idempotency header: none is sent.
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| !r.headers.contains_key("idempotency-key"))
    );
    server.verify().await;
}

#[tokio::test]
async fn a_refused_retry_is_declined_with_payhere_s_message() {
    let (server, clock) = setup().await;
    token_mock("tok-1").mount(&server).await;
    Mock::given(method("POST"))
        .and(path(RETRY_PATH))
        .respond_with(ok(
            json!({"status": -1, "msg": "Card declined by the issuer", "data": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = provider(&server, &clock)
        .retry_payment(SUB_ID, "k")
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RetryOutcome::Declined {
            reason: "Card declined by the issuer".into()
        }
    );
    server.verify().await;
}

#[tokio::test]
async fn a_503_on_retry_is_not_resent_since_it_may_have_charged() {
    let (server, clock) = setup().await;
    token_mock("tok-1").mount(&server).await;
    Mock::given(method("POST"))
        .and(path(RETRY_PATH))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let error = provider(&server, &clock)
        .retry_payment(SUB_ID, "k")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Api { status: 503, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    server.verify().await;
}

#[tokio::test]
async fn a_429_with_retry_after_is_resent_even_on_retry() {
    let (server, clock) = setup().await;
    token_mock("tok-1").mount(&server).await;
    Mock::given(method("POST"))
        .and(path(RETRY_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(RETRY_PATH))
        .and(body_json(json!({"subscription_id": 420075032251u64})))
        .respond_with(ok(
            json!({"status": 1, "msg": "Recurring payment charged successfully", "data": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = provider(&server, &clock)
        .retry_payment(SUB_ID, "k")
        .await
        .unwrap();
    assert_eq!(outcome, RetryOutcome::Paid { amount: None });
    server.verify().await;
}

#[tokio::test]
async fn a_400_is_not_retried_and_keeps_payhere_s_code_and_message() {
    let (server, clock) = setup().await;
    token_mock("tok-1").mount(&server).await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"status": -1, "msg": "Invalid request"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = provider(&server, &clock)
        .list_subscriptions()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ProviderError::Api {
            provider: ProviderName::Payhere,
            status: 400,
            code: "-1".into(),
            message: "Invalid request".into(),
        }
    );
    server.verify().await;
}

#[tokio::test]
async fn reads_are_resent_after_a_503() {
    let (server, clock) = setup().await;
    token_mock("tok-1").expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .respond_with(ok(list_body("ACTIVE")))
        .expect(1)
        .mount(&server)
        .await;
    provider(&server, &clock)
        .list_subscriptions()
        .await
        .unwrap();
    server.verify().await;
}

#[tokio::test]
async fn cancel_posts_the_subscription_id() {
    let (server, clock) = setup().await;
    token_mock("tok-1").expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(CANCEL_PATH))
        .and(header("authorization", bearer("tok-1").as_str()))
        .and(body_json(json!({"subscription_id": 420075032251u64})))
        .respond_with(ok(
            json!({"status": 1, "msg": "Successfully cancelled the subscription", "data": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    provider(&server, &clock)
        .cancel(SUB_ID, "customer asked", "c-1")
        .await
        .unwrap();
    server.verify().await;
}

/// PayHere schedules no cancellation: cancelling at the period's end cancels at PayHere now
/// (nothing more is charged) and leaves the paid period to our side.
#[tokio::test]
async fn cancel_at_period_end_cancels_now() {
    let (server, clock) = setup().await;
    token_mock("tok-1").expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path(CANCEL_PATH))
        .and(header("authorization", bearer("tok-1").as_str()))
        .and(body_json(json!({"subscription_id": 420075032251u64})))
        .respond_with(ok(
            json!({"status": 1, "msg": "Successfully cancelled the subscription", "data": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    provider(&server, &clock)
        .cancel_at_period_end(SUB_ID, "customer asked", "c-1")
        .await
        .unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_refused_cancel_succeeds_when_the_subscription_is_already_canceled() {
    for (listed, succeeds) in [("CANCELLED", true), ("ACTIVE", false)] {
        let (server, clock) = setup().await;
        token_mock("tok-1").mount(&server).await;
        Mock::given(method("POST"))
            .and(path(CANCEL_PATH))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(json!({"status": -1, "msg": "Subscription is not active"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(LIST_PATH))
            .respond_with(ok(list_body(listed)))
            .expect(1)
            .mount(&server)
            .await;
        let outcome = provider(&server, &clock).cancel(SUB_ID, "r", "c-1").await;
        if succeeds {
            outcome.unwrap();
        } else {
            assert!(
                matches!(outcome, Err(ProviderError::Api { status: 400, .. })),
                "{outcome:?}"
            );
        }
        server.verify().await;
    }
}

#[tokio::test]
async fn a_503_on_cancel_is_not_resent() {
    let (server, clock) = setup().await;
    token_mock("tok-1").mount(&server).await;
    Mock::given(method("POST"))
        .and(path(CANCEL_PATH))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(LIST_PATH))
        .respond_with(ok(list_body("CANCELLED")))
        .expect(0)
        .mount(&server)
        .await;
    let error = provider(&server, &clock)
        .cancel(SUB_ID, "r", "c-1")
        .await
        .unwrap_err();
    assert!(error.is_transient());
    server.verify().await;
}

#[tokio::test]
async fn subscription_is_looked_up_in_the_list() {
    let statuses = [
        ("ACTIVE", ProviderSubscriptionStatus::Active),
        ("PENDING", ProviderSubscriptionStatus::Pending),
        ("FAILED", ProviderSubscriptionStatus::PastDue),
        ("CANCELLED", ProviderSubscriptionStatus::Canceled),
        ("COMPLETED", ProviderSubscriptionStatus::Expired),
    ];
    for (listed, expected) in statuses {
        let (server, clock) = setup().await;
        token_mock("tok-1").mount(&server).await;
        Mock::given(method("GET"))
            .and(path(LIST_PATH))
            .respond_with(ok(list_body(listed)))
            .mount(&server)
            .await;
        let provider = provider(&server, &clock);
        let sub = provider.subscription(SUB_ID).await.unwrap();
        assert_eq!(sub.status, expected, "{listed}");
        assert_eq!(sub.provider_status, listed);
        assert_eq!(sub.organization_ref.as_deref(), Some(ORG));
        // PayHere keeps no balance: its status says whether the subscription is paid up.
        assert_eq!(sub.outstanding, None);
        let missing = provider.subscription("1").await.unwrap_err();
        assert!(
            matches!(missing, ProviderError::Api { status: 404, .. }),
            "{missing:?}"
        );
    }
}

#[tokio::test]
async fn ids_that_are_not_digits_never_reach_payhere() {
    let (server, clock) = setup().await;
    let provider = provider(&server, &clock);
    for id in ["../oauth/token", "1?x=1", "", "42a"] {
        assert!(matches!(
            provider.subscription_payments(id).await,
            Err(ProviderError::Config { .. })
        ));
        assert!(matches!(
            provider.retry_payment(id, "k").await,
            Err(ProviderError::Config { .. })
        ));
        assert!(matches!(
            provider.cancel(id, "r", "k").await,
            Err(ProviderError::Config { .. })
        ));
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_api_credentials_calls_fail_without_a_request() {
    let (server, clock) = setup().await;
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(SECRET));
    config.base_url = server.uri();
    let provider = PayHereProvider::new(config, Arc::new(clock.clone())).unwrap();
    assert!(!provider.has_api());
    let calls = [
        provider.list_subscriptions().await.map(drop),
        provider.subscription(SUB_ID).await.map(drop),
        provider.subscription_payments(SUB_ID).await.map(drop),
        provider.retry_payment(SUB_ID, "k").await.map(drop),
        provider.cancel(SUB_ID, "r", "k").await,
    ];
    for result in calls {
        let Err(ProviderError::Config { message, .. }) = result else {
            panic!("{result:?}")
        };
        assert_eq!(
            message,
            "PAYHERE_APP_ID and PAYHERE_APP_SECRET are not set (webhook verification only)"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(self::provider(&server, &clock).has_api());
}

/// PayHere's API has no pause or resume, only cancel: both say so and point to cancel.
#[tokio::test]
async fn pause_and_reactivate_are_unsupported_and_point_to_cancel() {
    let (server, clock) = setup().await;
    let provider = provider(&server, &clock);
    for result in [
        provider.pause(SUB_ID, "r", "k").await,
        provider.reactivate(SUB_ID, "r", "k").await,
    ] {
        let Err(ProviderError::Unsupported {
            provider: ProviderName::Payhere,
            operation,
        }) = result
        else {
            panic!("{result:?}")
        };
        assert!(
            operation.contains("no pause or resume, only cancel"),
            "{operation}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
