//! A top-up started through the api (a `top_ups` row, open) is marked completed by the
//! verified completion that credits its money, in the credit's transaction: exactly once, only
//! by its own provider's completion of its own checkout.

use std::sync::Arc;

use billing::{
    BillingEvent, BillingEventKind as K, Payer, Providers,
    payhere::{PayHereApiCredentials, PayHereConfig, PayHereProvider},
};
use chrono::Duration;
use enforcement::customer::{CustomerActions, CustomerConfig, StartTopUp, TopUp, TopUpStatus};
use intake::inbox::{EventResult, InboxStatus};
use primitives::{Currency, Money, ProviderName};
use secrecy::SecretString;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

use crate::support::{Org, World, usd, with};

/// The world's customer actions over a PayHere adapter with API credentials, whose server
/// must see no request at all (checked when it drops): PayHere's top-up checkout is a signed
/// form, made without any call.
async fn actions(world: &World) -> (MockServer, CustomerActions) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mut config = PayHereConfig::new("1299001", SecretString::from("generated-secret-7c1d"));
    config.base_url = server.uri();
    config.notify_url = Some("https://hooks.example.com/payhere".into());
    config.api = Some(PayHereApiCredentials {
        app_id: "app".into(),
        app_secret: SecretString::from("app-secret"),
    });
    let payhere = PayHereProvider::new(config, Arc::new(world.clock.clone())).unwrap();
    let actions = CustomerActions::new(
        world.enforcer.clone(),
        world.ledger.clone(),
        Providers::none().with_payhere(payhere),
        CustomerConfig::default(),
    );
    (server, actions)
}

/// A PayHere top-up of 25.00 USD started by `org` through the customer actions, as the api
/// starts it: an open `top_ups` row named by its signed `TOPUP-...` order id.
async fn start_top_up(world: &World, actions: &CustomerActions, org: &Org, key: &str) -> TopUp {
    let request = StartTopUp {
        amount: usd(2500),
        provider: ProviderName::Payhere,
        return_url: "https://app.example.com/wallet/return".into(),
        cancel_url: "https://app.example.com/wallet".into(),
        customer_id: None,
        payer: Some(Payer {
            first_name: "Saman".into(),
            last_name: "Perera".into(),
            email: "saman@example.com".into(),
            phone: "0771234567".into(),
            address: "No.1, Galle Road".into(),
            city: "Colombo".into(),
            country: "Sri Lanka".into(),
        }),
    };
    let started = actions
        .top_up(&world.pool, org.id, key, request)
        .await
        .unwrap();
    let top_up = started.top_up;
    assert_eq!(top_up.status, TopUpStatus::Open);
    assert_eq!(top_up.completed_at, None);
    assert!(
        top_up
            .checkout_reference
            .starts_with(&format!("TOPUP-{}.", org.id)),
        "{top_up:?}"
    );
    top_up
}

async fn reread(world: &World, actions: &CustomerActions, top_up: &TopUp) -> TopUp {
    let mut conn = world.pool.get().await.unwrap();
    actions
        .top_up_details(&mut conn, top_up.organization_id, top_up.id)
        .await
        .unwrap()
}

/// A completed top-up at `provider`: `amount` paid as `payment`, completing `checkout`.
fn completion(
    world: &World,
    org: &Org,
    provider: ProviderName,
    amount: Money,
    payment: &str,
    checkout: Option<&str>,
) -> BillingEvent {
    with(world.event(provider, K::WalletTopUpCompleted), |e| {
        e.organization_ref = org.reference();
        e.amount = Some(amount);
        e.payment_reference = Some(payment.into());
        e.checkout_reference = checkout.map(str::to_owned);
    })
}

#[tokio::test]
async fn the_completion_that_credits_a_top_up_marks_it_completed_once() {
    let world = World::new().await;
    let (_server, actions) = actions(&world).await;
    let org = world.organization(0).await;
    let top_up = start_top_up(&world, &actions, &org, "top-up-1").await;
    let checkout = top_up.checkout_reference.as_str();

    world.advance(Duration::minutes(3));
    let paid_at = world.now();
    let paid = completion(
        &world,
        &org,
        ProviderName::Payhere,
        usd(2500),
        "320025071278",
        Some(checkout),
    );
    let received = world.deliver_one(paid.clone()).await;
    assert_eq!(received.status, InboxStatus::Applied);
    assert_eq!(world.balance(&org).await.balance, usd(2500));
    let completed = reread(&world, &actions, &top_up).await;
    assert_eq!(completed.status, TopUpStatus::Completed);
    assert_eq!(completed.completed_at, Some(paid_at));
    assert_eq!(
        TopUp {
            status: TopUpStatus::Open,
            completed_at: None,
            ..completed.clone()
        },
        top_up,
        "only the status and its time change"
    );

    // The same delivery again is the provider's duplicate: nothing changes.
    world.advance(Duration::minutes(5));
    let again = world.deliver_one(paid).await;
    assert!(again.duplicate);
    // Another delivery about the same payment (a new event id) finds it credited: nothing is
    // credited or marked again.
    let redelivered = completion(
        &world,
        &org,
        ProviderName::Payhere,
        usd(2500),
        "320025071278",
        Some(checkout),
    );
    let received = world.deliver_one(redelivered).await;
    assert_eq!(received.status, InboxStatus::Applied);
    let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
    assert_eq!(outcome.result, EventResult::Duplicate, "{outcome:?}");
    assert_eq!(world.entries(&org, "credit").await.len(), 1);
    assert_eq!(world.balance(&org).await.balance, usd(2500));
    assert_eq!(reread(&world, &actions, &top_up).await, completed);
}

#[tokio::test]
async fn only_its_own_providers_completion_of_its_own_checkout_marks_a_top_up() {
    let world = World::new().await;
    let (_server, actions) = actions(&world).await;
    let org = world.organization(0).await;
    let top_up = start_top_up(&world, &actions, &org, "top-up-1").await;
    let other = start_top_up(&world, &actions, &org, "top-up-2").await;
    let checkout = top_up.checkout_reference.as_str();

    // Another provider's completion naming the same reference is another provider's checkout:
    // its money is credited, the PayHere top-up stays open.
    let stripe = completion(
        &world,
        &org,
        ProviderName::Stripe,
        usd(2500),
        "pi_1",
        Some(checkout),
    );
    assert_eq!(world.deliver_one(stripe).await.status, InboxStatus::Applied);
    assert_eq!(world.balance(&org).await.balance, usd(2500));
    assert_eq!(reread(&world, &actions, &top_up).await, top_up);

    // A PayHere completion that names no checkout, or one started outside the api (no row),
    // is credited and marks nothing.
    for (payment, named) in [("320025000001", None), ("320025000002", Some("TOPUP-x.y"))] {
        let event = completion(
            &world,
            &org,
            ProviderName::Payhere,
            usd(1000),
            payment,
            named,
        );
        let received = world.deliver_one(event).await;
        assert_eq!(received.status, InboxStatus::Applied, "{named:?}");
        let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
        assert_eq!(outcome.result, EventResult::Applied, "{outcome:?}");
    }
    assert_eq!(world.balance(&org).await.balance, usd(4500));
    assert_eq!(reread(&world, &actions, &top_up).await, top_up);

    // A completion the wallet cannot take (another currency) is held: the top-up stays open.
    let held = completion(
        &world,
        &org,
        ProviderName::Payhere,
        Money::from_minor(250_000, Currency::LKR),
        "320025000003",
        Some(checkout),
    );
    assert_eq!(world.deliver_one(held).await.status, InboxStatus::Held);
    assert_eq!(reread(&world, &actions, &top_up).await, top_up);

    // Its own completion marks it, and only it.
    let paid = completion(
        &world,
        &org,
        ProviderName::Payhere,
        usd(2500),
        "320025000004",
        Some(checkout),
    );
    assert_eq!(world.deliver_one(paid).await.status, InboxStatus::Applied);
    assert_eq!(
        reread(&world, &actions, &top_up).await.status,
        TopUpStatus::Completed
    );
    assert_eq!(reread(&world, &actions, &other).await, other);
}
