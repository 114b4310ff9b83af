//! A delivery applies at most once, however often and however concurrently it arrives (G3, G9).

use billing::BillingEventKind as K;
use chrono::Duration;
use intake::inbox::InboxStatus;
use primitives::ProviderName;
use subscriptions::SubscriptionStatus as S;

use crate::support::{World, usd, with};

#[tokio::test]
async fn a_repeated_delivery_stores_nothing_and_changes_nothing() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    world.advance(Duration::minutes(1));
    let failed = world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed);
    let first = world.deliver_one(failed.clone()).await;
    let before = world.subscription(org.subscription()).await;
    for _ in 0..3 {
        world.advance(Duration::minutes(1));
        let again = world.deliver_one(failed.clone()).await;
        assert!(again.duplicate);
        assert_eq!(again.inbox_id, first.inbox_id);
        assert_eq!(again.status, InboxStatus::Applied);
    }
    assert_eq!(world.inbox_rows().await, 1);
    assert_eq!(world.subscription(org.subscription()).await, before);
    assert_eq!(world.recorded_events(&org, "stripe").await, 1);
    assert_eq!(
        world.outbox(&org, "campaigns.control", "action").await,
        ["pause"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_copies_of_one_delivery_store_one_row_and_apply_once() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    world.advance(Duration::minutes(1));
    let failed = world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed);
    let copies = (0..12).map(|_| world.deliver_one(failed.clone()));
    let received = futures::future::join_all(copies).await;
    assert_eq!(received.iter().filter(|r| !r.duplicate).count(), 1);
    assert!(received.iter().all(|r| r.inbox_id == received[0].inbox_id));
    assert_eq!(world.inbox_rows().await, 1);
    assert_eq!(world.recorded_events(&org, "stripe").await, 1);
    assert_eq!(world.status(&org).await, S::PastDue);
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_top_up_credits_once_however_many_events_say_so() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let completed = |id: &str, event_type: &str| {
        with(
            world.event(ProviderName::Stripe, K::WalletTopUpCompleted),
            |e| {
                e.provider_event_id = id.into();
                e.provider_event_type = event_type.into();
                e.organization_ref = org.reference();
                e.amount = Some(usd(2500));
                e.payment_reference = Some("pi_1".into());
            },
        )
    };
    // Two event types about one payment, each delivered three times, all at once.
    let deliveries = (0..3).flat_map(|_| {
        [
            completed("evt_session", "checkout.session.completed"),
            completed("evt_async", "checkout.session.async_payment_succeeded"),
        ]
    });
    let received = futures::future::join_all(deliveries.map(|e| world.deliver_one(e))).await;
    assert_eq!(received.iter().filter(|r| !r.duplicate).count(), 2);
    assert_eq!(world.inbox_rows().await, 2);
    assert_eq!(
        world.entries(&org, "credit").await,
        [(2500, "topup:stripe:pi_1".to_owned())]
    );
    assert_eq!(world.balance(&org).await.balance, usd(2500));
    assert!(
        world
            .statuses()
            .await
            .iter()
            .all(|s| *s == InboxStatus::Applied)
    );
}

#[tokio::test]
async fn each_partial_refund_of_one_payment_is_taken_once() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let top_up = with(
        world.event(ProviderName::Stripe, K::WalletTopUpCompleted),
        |e| {
            e.organization_ref = org.reference();
            e.amount = Some(usd(5000));
            e.payment_reference = Some("pi_1".into());
        },
    );
    world.deliver_one(top_up).await;
    let refund = |id: &str, amount: i64| {
        with(world.event(ProviderName::Stripe, K::TopUpRefunded), |e| {
            e.provider_event_id = id.into();
            e.organization_ref = org.reference();
            e.amount = Some(usd(amount));
            e.payment_reference = Some("pi_1".into());
        })
    };
    for _ in 0..2 {
        world.deliver_one(refund("evt_refund_1", 1000)).await;
        world.deliver_one(refund("evt_refund_2", 500)).await;
    }
    assert_eq!(
        world.entries(&org, "reversal").await,
        [
            (1000, "refund:stripe:evt_refund_1".to_owned()),
            (500, "refund:stripe:evt_refund_2".to_owned()),
        ]
    );
    assert_eq!(world.balance(&org).await.balance, usd(3500));
    assert!(world.frozen_by(&org).await.is_empty());
}
