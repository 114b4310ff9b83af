//! Finding what a delivery is about: by the provider's id, else the organization it names in
//! signed fields; unmatched deliveries are kept and applied once their subscription exists;
//! contradictions are held for a person.

use billing::BillingEventKind as K;
use chrono::Duration;
use intake::inbox::{self, InboxStatus};
use primitives::ProviderName;
use subscriptions::SubscriptionStatus as S;

use crate::support::{World, usd, with};

#[tokio::test]
async fn a_delivery_before_its_subscription_is_kept_then_applied_once_it_exists() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let activated = with(
        world.about(&org, ProviderName::Paypal, "I-7", K::SubscriptionActivated),
        |e| e.period_end = Some(world.now() + Duration::days(30)),
    );
    let received = world.deliver_one(activated).await;
    assert_eq!(received.status, InboxStatus::Unmatched);
    let kept = world.delivery(received.inbox_id).await;
    assert_eq!(kept.organization_id, Some(org.id));
    assert!(kept.next_attempt_at.is_some());

    // The operator binds the subscription; the api wakes the unmatched deliveries.
    let subscription = world
        .create_subscription(&org, Some((ProviderName::Paypal, "I-7")))
        .await;
    let mut conn = world.pool.get().await.unwrap();
    inbox::wake_unmatched(&mut conn, ProviderName::Paypal, world.now())
        .await
        .unwrap();
    drop(conn);
    let report = world.intake.run_due(&world.pool, 10).await.unwrap();
    assert_eq!((report.claimed, report.applied), (1, 1));
    assert_eq!(
        world.subscription(subscription).await.state.status,
        S::Active
    );
    assert_eq!(
        world.delivery(received.inbox_id).await.status,
        InboxStatus::Applied
    );
}

#[tokio::test]
async fn unmatched_deliveries_are_looked_at_again_by_themselves() {
    let world = World::new().await;
    let stray = world.event(ProviderName::Stripe, K::SubscriptionCanceled);
    let stray = with(stray, |e| {
        e.provider_subscription_id = Some("sub_unknown".into())
    });
    let received = world.deliver_one(stray).await;
    assert_eq!(received.status, InboxStatus::Unmatched);
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().claimed,
        0
    );
    world.advance(Duration::minutes(2));
    let report = world.intake.run_due(&world.pool, 10).await.unwrap();
    assert_eq!((report.claimed, report.unmatched), (1, 1));
}

#[tokio::test]
async fn a_delivery_naming_another_organization_than_its_subscriptions_is_held() {
    let world = World::new().await;
    let owner = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    let other = world.organization(0).await;
    let forged = world.about(
        &other,
        ProviderName::Stripe,
        "sub_1",
        K::SubscriptionCanceled,
    );
    let received = world.deliver_one(forged).await;
    assert_eq!(received.status, InboxStatus::Held);
    assert_eq!(world.status(&owner).await, S::Active);
}

#[tokio::test]
async fn payhere_binds_its_own_subscription_id_to_the_order_it_was_created_with() {
    let world = World::new().await;
    let mut org = world.organization(0).await;
    let order = format!("SUB-{}.n1", org.id);
    let subscription = world
        .create_subscription(&org, Some((ProviderName::Payhere, &order)))
        .await;
    org.subscription = Some(subscription);
    let period_end = world.now() + Duration::days(30);
    let authorized = |kind| {
        with(
            world.about(&org, ProviderName::Payhere, "420001", kind),
            |e| {
                e.provider_event_id = format!("{order}/420001/9001/2#{}", kind.as_str());
                e.order_reference = Some(order.clone());
                e.period_end = Some(period_end);
                e.payment_reference = Some("9001".into());
            },
        )
    };
    let paid = with(authorized(K::PaymentSucceeded), |e| {
        e.amount = Some(usd(1500))
    });
    let received = world
        .deliver(
            ProviderName::Payhere,
            vec![authorized(K::SubscriptionActivated), paid],
        )
        .await;
    assert_eq!(received.status, InboxStatus::Applied);
    let bound = world.subscription(subscription).await;
    assert_eq!(
        bound.provider.map(|p| p.subscription_id),
        Some("420001".to_owned())
    );
    assert_eq!(bound.state.status, S::Active);

    // A later installment is found by PayHere's id alone.
    world.advance(Duration::days(1));
    let failed = with(
        world.about(&org, ProviderName::Payhere, "420001", K::PaymentFailed),
        |e| e.order_reference = Some(order.clone()),
    );
    world.deliver_one(failed).await;
    assert_eq!(world.status(&org).await, S::PastDue);

    // A genuine notification replayed as another organization's (its unsigned
    // subscription_id pointing at ours) changes nothing.
    let other = world.organization(0).await;
    let replayed = world.about(&other, ProviderName::Payhere, "420001", K::PaymentSucceeded);
    let replayed = with(replayed, |e| {
        e.amount = Some(usd(1500));
        e.period_end = Some(period_end + Duration::days(30));
    });
    assert_eq!(world.deliver_one(replayed).await.status, InboxStatus::Held);
    assert_eq!(world.status(&org).await, S::PastDue);
}

#[tokio::test]
async fn an_order_that_is_not_the_subscriptions_does_not_bind() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let order = format!("SUB-{}.n1", org.id);
    let subscription = world
        .create_subscription(&org, Some((ProviderName::Payhere, &order)))
        .await;
    let activated = with(
        world.about(
            &org,
            ProviderName::Payhere,
            "420001",
            K::SubscriptionActivated,
        ),
        |e| {
            e.order_reference = Some(format!("SUB-{}.other", org.id));
            e.period_end = Some(world.now() + Duration::days(30));
        },
    );
    assert_eq!(
        world.deliver_one(activated).await.status,
        InboxStatus::Unmatched
    );
    let unchanged = world.subscription(subscription).await;
    assert_eq!(unchanged.provider.map(|p| p.subscription_id), Some(order));
    assert_eq!(unchanged.state.status, S::Pending);
}
