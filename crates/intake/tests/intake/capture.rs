//! A top-up the customer approved is captured through the outbox, once per order, in the
//! delivery's transaction.

use billing::BillingEventKind as K;
use db::schema::outbox_messages;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use intake::inbox::{EventResult, InboxStatus};
use primitives::ProviderName;
use serde_json::json;

use crate::support::{Org, World, usd, with};

fn approved(world: &World, org: &Org, order: Option<&str>) -> billing::BillingEvent {
    with(world.event(ProviderName::Paypal, K::TopUpApproved), |e| {
        e.provider_event_type = "CHECKOUT.ORDER.APPROVED".into();
        e.organization_ref = org.reference();
        e.amount = Some(usd(2500));
        e.payment_reference = order.map(str::to_owned);
    })
}

/// The `billing.provider` messages: (dedupe key, organization, payload).
async fn commands(world: &World) -> Vec<(String, Option<uuid::Uuid>, serde_json::Value)> {
    let mut conn = world.pool.get().await.unwrap();
    outbox_messages::table
        .filter(outbox_messages::topic.eq("billing.provider"))
        .order(outbox_messages::id)
        .select((
            outbox_messages::dedupe_key,
            outbox_messages::organization_id,
            outbox_messages::payload,
        ))
        .load(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_approved_top_up_enqueues_its_capture_once_per_order() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let first = approved(&world, &org, Some("5O190127TN364715T"));
    let received = world.deliver_one(first.clone()).await;
    assert_eq!(received.status, InboxStatus::Applied);
    let delivery = world.delivery(received.inbox_id).await;
    assert_eq!(delivery.organization_id, Some(org.id));
    assert_eq!(delivery.outcomes[0].result, EventResult::Applied);

    let key = "capture:paypal:5O190127TN364715T";
    assert_eq!(
        commands(&world).await,
        [(
            key.to_owned(),
            Some(org.id.as_uuid()),
            json!({
                "organization_id": org.id,
                "provider": "paypal",
                "target": "5O190127TN364715T",
                "action": "capture_top_up",
                "reason": "wallet top-up approved by the customer",
                "idempotency_key": key,
            })
        )]
    );
    // Money moves only when the capture completes, by its own event.
    assert!(world.entries(&org, "credit").await.is_empty());

    // The same delivery again, and another delivery about the same order: one capture.
    assert!(world.deliver_one(first).await.duplicate);
    let again = world
        .deliver_one(approved(&world, &org, Some("5O190127TN364715T")))
        .await;
    assert_eq!(again.status, InboxStatus::Applied);
    let outcome = &world.delivery(again.inbox_id).await.outcomes[0];
    assert_eq!(outcome.result, EventResult::Duplicate, "{outcome:?}");
    assert_eq!(commands(&world).await.len(), 1);

    // Another order is another capture.
    world
        .deliver_one(approved(&world, &org, Some("8AB12345CD678901E")))
        .await;
    assert_eq!(commands(&world).await.len(), 2);
}

#[tokio::test]
async fn an_approval_of_nobody_known_waits_and_one_without_its_order_is_held() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let stranger = Org {
        id: primitives::OrganizationId::new(),
        subscription: None,
    };
    let received = world
        .deliver_one(approved(&world, &stranger, Some("ORDER-1")))
        .await;
    assert_eq!(received.status, InboxStatus::Unmatched);
    let received = world.deliver_one(approved(&world, &org, None)).await;
    assert_eq!(received.status, InboxStatus::Held);
    let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
    assert!(outcome.detail.contains("order id"), "{outcome:?}");
    assert!(commands(&world).await.is_empty());
}
