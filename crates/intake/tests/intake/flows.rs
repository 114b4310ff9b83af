//! The two flows the product exists for, from the provider's events: a failed payment suspends
//! access, wallet, campaigns and messaging; a payment restores all of it at once.

use billing::{
    BillingEventKind as K, Providers,
    paypal::{PayPalConfig, PayPalProvider},
};
use chrono::Duration;
use intake::{IntakePolicy, inbox::InboxStatus};
use ledger::FreezeSource;
use primitives::ProviderName;
use secrecy::SecretString;
use serde_json::json;
use subscriptions::SubscriptionStatus as S;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::support::{World, usd, with};

#[tokio::test]
async fn a_failed_payment_suspends_everything_and_a_payment_restores_it_at_once() {
    let world = World::new().await;
    let org = world
        .subscribed(ProviderName::Stripe, "sub_1", 10_000)
        .await;

    world.advance(Duration::hours(1));
    let failed = with(
        world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed),
        |e| e.failure_reason = Some("card_declined".into()),
    );
    let received = world.deliver_one(failed).await;
    assert_eq!(received.status, InboxStatus::Applied);
    assert!(!received.duplicate);
    assert_eq!(world.status(&org).await, S::PastDue);
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Billing]);
    assert_eq!(
        world.outbox(&org, "campaigns.control", "action").await,
        ["pause"]
    );
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend"]
    );
    let delivery = world.delivery(received.inbox_id).await;
    assert_eq!(delivery.organization_id, Some(org.id));
    assert_eq!(delivery.subscription_id, org.subscription);

    world.advance(Duration::hours(1));
    let period_end = world.now() + Duration::days(30);
    let paid = with(
        world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentSucceeded),
        |e| {
            e.amount = Some(usd(2900));
            e.period_end = Some(period_end);
            e.payment_reference = Some("in_2".into());
        },
    );
    assert_eq!(world.deliver_one(paid).await.status, InboxStatus::Applied);
    let restored = world.subscription(org.subscription()).await;
    assert_eq!(restored.state.status, S::Active);
    assert_eq!(restored.state.current_period_end, Some(period_end));
    assert_eq!(restored.state.dunning, None);
    assert!(world.frozen_by(&org).await.is_empty());
    assert_eq!(
        world.outbox(&org, "campaigns.control", "action").await,
        ["pause", "resume"]
    );
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend", "reactivate"]
    );
}

#[tokio::test]
async fn a_provider_suspension_and_cancellation_are_their_transitions() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    world.advance(Duration::minutes(1));
    let suspended = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended);
    world.deliver_one(suspended).await;
    assert_eq!(world.status(&org).await, S::Suspended);
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Billing]);
    world.advance(Duration::minutes(1));
    let canceled = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionCanceled);
    world.deliver_one(canceled).await;
    assert_eq!(world.status(&org).await, S::Canceled);
}

/// A world whose PayPal adapter's REST API is `server`.
pub async fn paypal_world(server: &MockServer) -> World {
    paypal_world_with(server, IntakePolicy::default()).await
}

/// [`paypal_world`] with the intake's policy.
pub async fn paypal_world_with(server: &MockServer, policy: IntakePolicy) -> World {
    let uri = server.uri();
    World::with(
        move |clock| {
            let config = PayPalConfig::new(
                uri,
                "client-1",
                SecretString::from("secret-1".to_owned()),
                vec!["WH-1".into()],
            );
            Providers::none().with_paypal(PayPalProvider::new(config, clock).unwrap())
        },
        policy,
    )
    .await
}

/// Answers PayPal's OAuth, and a lookup of subscription `I-1` as given.
pub async fn paypal_says(server: &MockServer, status: &str, outstanding: &str, next_billing: &str) {
    server.reset().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "token-1", "token_type": "Bearer", "expires_in": 32400,
        })))
        .mount(server)
        .await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/billing/subscriptions/I-1"))
        .and(matchers::header("authorization", "Bearer token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "I-1",
            "status": status,
            "plan_id": "P-1",
            "custom_id": null,
            "billing_info": {
                "outstanding_balance": {"currency_code": "USD", "value": outstanding},
                "next_billing_time": next_billing,
            },
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_activation_while_suspended_restores_only_when_the_provider_confirms_it_is_paid() {
    let server = MockServer::start().await;
    let world = paypal_world(&server).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    world.advance(Duration::minutes(1));
    world
        .deliver_one(world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended))
        .await;
    assert_eq!(world.status(&org).await, S::Suspended);

    // PayPal still owes: the activation is recorded, and changes nothing.
    paypal_says(&server, "ACTIVE", "29.00", "2027-02-01T10:00:00Z").await;
    world.advance(Duration::minutes(1));
    let activated = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionActivated);
    let received = world.deliver_one(activated).await;
    assert_eq!(received.status, InboxStatus::Ignored);
    assert_eq!(world.status(&org).await, S::Suspended);
    let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
    assert!(outcome.detail.contains("outstanding"), "{outcome:?}");

    // Paid up: restored to the period PayPal reports.
    paypal_says(&server, "ACTIVE", "0.00", "2027-02-01T10:00:00Z").await;
    world.advance(Duration::minutes(1));
    let activated = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionActivated);
    assert_eq!(
        world.deliver_one(activated).await.status,
        InboxStatus::Applied
    );
    let restored = world.subscription(org.subscription()).await;
    assert_eq!(restored.state.status, S::Active);
    assert_eq!(
        restored.state.current_period_end.map(|at| at.to_rfc3339()),
        Some("2027-02-01T10:00:00+00:00".to_owned())
    );
    assert!(world.frozen_by(&org).await.is_empty());
    let asked = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/billing/subscriptions/I-1")
        .count();
    assert_eq!(asked, 1, "the provider is asked once per activation");
}

#[tokio::test]
async fn a_sale_without_its_period_asks_the_provider_for_it() {
    let server = MockServer::start().await;
    let world = paypal_world(&server).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    world.advance(Duration::minutes(1));
    world
        .deliver_one(world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended))
        .await;
    paypal_says(&server, "ACTIVE", "0.00", "2027-03-01T00:00:00Z").await;
    world.advance(Duration::minutes(1));
    let sale = with(
        world.about(&org, ProviderName::Paypal, "I-1", K::PaymentSucceeded),
        |e| {
            e.amount = Some(usd(2900));
            e.payment_reference = Some("SALE-1".into());
        },
    );
    assert_eq!(world.deliver_one(sale).await.status, InboxStatus::Applied);
    let restored = world.subscription(org.subscription()).await;
    assert_eq!(restored.state.status, S::Active);
    assert_eq!(
        restored.state.current_period_end.map(|at| at.to_rfc3339()),
        Some("2027-03-01T00:00:00+00:00".to_owned())
    );
}

#[tokio::test]
async fn without_the_providers_api_an_ambiguous_event_is_held_for_an_operator() {
    let world = World::with(
        |clock| {
            let verification_only = PayPalConfig::verification_only(vec!["WH-1".into()]);
            Providers::none().with_paypal(PayPalProvider::new(verification_only, clock).unwrap())
        },
        IntakePolicy::default(),
    )
    .await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    world.advance(Duration::minutes(1));
    world
        .deliver_one(world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended))
        .await;
    world.advance(Duration::minutes(1));
    let activated = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionActivated);
    let received = world.deliver_one(activated).await;
    assert_eq!(received.status, InboxStatus::Held);
    let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
    assert!(
        outcome.detail.starts_with("PROVIDER_API_NOT_CONFIGURED"),
        "{outcome:?}"
    );
    assert_eq!(world.status(&org).await, S::Suspended);
}
