//! Dunning through a real adapter: the runner retries via `ProviderRetrier` over a Stripe adapter
//! against a fake Stripe on loopback, and the subscription follows Stripe's answers.

use std::sync::Arc;

use billing::stripe::{StripeConfig, StripeProvider};
use chrono::Duration;
use enforcement::{DunningRunner, ProviderRetrier};
use secrecy::SecretString;
use serde_json::json;
use subscriptions::{LifecyclePolicy, ProviderRef, SubscriptionStatus as S};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use crate::common::{World, start};

async fn stripe_world(server: &MockServer) -> (World, DunningRunner<ProviderRetrier>) {
    let provider = ProviderRef::parse("stripe", "sub_123").unwrap();
    let world = World::billed_by(LifecyclePolicy::default(), Some(provider)).await;
    let mut config = StripeConfig::new(
        SecretString::from("sk_test_123"),
        vec![SecretString::from("whsec_test")],
    );
    config.base_url = server.uri();
    let stripe = StripeProvider::new(config, Arc::new(world.clock.clone())).unwrap();
    let providers = billing::Providers::none().with_stripe(stripe);
    let runner = DunningRunner::new(world.enforcer.clone(), ProviderRetrier::new(providers));
    (world, runner)
}

#[tokio::test]
async fn a_declined_then_paid_invoice_drives_the_subscription() {
    let server = MockServer::start().await;
    let (world, runner) = stripe_world(&server).await;
    world
        .deliver(subscriptions::SubscriptionEvent::PaymentSucceeded {
            amount: crate::common::usd(2_900),
            period_end: start(),
        })
        .await;
    world
        .deliver(subscriptions::SubscriptionEvent::PaymentFailed {
            reason: subscriptions::FailureReason::new("card_declined"),
            at: start(),
        })
        .await;
    assert_eq!(world.status().await, S::PastDue);

    Mock::given(method("GET"))
        .and(path("/v1/invoices"))
        .and(query_param("subscription", "sub_123"))
        .and(query_param("status", "open"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "in_1", "object": "invoice", "status": "open", "currency": "usd",
                      "amount_due": 2900, "amount_paid": 0}]
        })))
        .mount(&server)
        .await;
    // Day 3: the card is declined.
    let declined = Mock::given(method("POST"))
        .and(path("/v1/invoices/in_1/pay"))
        .and(header("authorization", "Bearer sk_test_123"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({
            "error": {"type": "card_error", "code": "card_declined",
                      "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}
        })))
        .up_to_n_times(1)
        .mount_as_scoped(&server)
        .await;
    world.clock.set(start() + Duration::days(3));
    let report = runner.run_once(&world.pool).await.unwrap();
    assert_eq!(report.retries_declined, 1, "{report:?}");
    assert_eq!(world.status().await, S::PastDue);
    assert_eq!(
        world.notifications().await,
        ["payment_failed", "retry_scheduled"]
    );
    drop(declined);

    // Day 5: paid; the new period end comes from the subscription.
    Mock::given(method("POST"))
        .and(path("/v1/invoices/in_1/pay"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "in_1", "object": "invoice", "status": "paid", "currency": "usd",
            "amount_due": 2900, "amount_paid": 2900
        })))
        .mount(&server)
        .await;
    let period_end = start() + Duration::days(35);
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_123", "object": "subscription", "status": "active",
            "metadata": {"organization_id": world.organization.to_string()},
            "items": {"object": "list", "data": [{"current_period_end": period_end.timestamp()}]}
        })))
        .mount(&server)
        .await;
    world.clock.set(start() + Duration::days(5));
    let report = runner.run_once(&world.pool).await.unwrap();
    assert_eq!(report.retries_paid, 1, "{report:?}");
    assert_eq!(world.status().await, S::Active);
    assert!(world.may_send().await);
    assert!(world.wallet_frozen_by().await.is_empty());

    // Every pay call carried the dunning attempt's idempotency key.
    let requests = server.received_requests().await.unwrap();
    let keys: Vec<String> = requests
        .iter()
        .filter(|request| request.url.path() == "/v1/invoices/in_1/pay")
        .map(|request| {
            request.headers["idempotency-key"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(
        keys[0].ends_with("-1") && keys[1].ends_with("-2"),
        "{keys:?}"
    );
}
