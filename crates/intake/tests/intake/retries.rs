//! Whatever could not be applied stays in the inbox and is retried with backoff, then
//! dead-lettered; an operator's re-apply is idempotent; raw bodies are pruned after the
//! retention while the rows stay.

use billing::{BillingEventKind as K, ParsedWebhook};
use chrono::Duration;
use intake::{Attempt, IntakePolicy, inbox::InboxStatus};
use primitives::ProviderName;
use subscriptions::SubscriptionStatus as S;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::{flows::paypal_world, support::World};

async fn paypal_down(server: &MockServer) {
    server.reset().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(503))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_provider_outage_leaves_the_delivery_to_be_retried_until_it_applies() {
    let server = MockServer::start().await;
    let world = paypal_world(&server).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    world.advance(Duration::minutes(1));
    world
        .deliver_one(world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended))
        .await;

    paypal_down(&server).await;
    world.advance(Duration::minutes(1));
    let activated = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionActivated);
    let received = world.deliver_one(activated).await;
    assert_eq!(received.status, InboxStatus::Failed);
    let failed = world.delivery(received.inbox_id).await;
    assert_eq!(failed.attempts, 1);
    assert!(failed.last_error.is_some());
    let next = failed.next_attempt_at.unwrap();
    assert!(next > world.now());
    assert_eq!(world.status(&org).await, S::Suspended);

    // Not before its backoff.
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().claimed,
        0
    );
    // Still down: another failed attempt, a longer wait.
    world.clock.set(next);
    let report = world.intake.run_due(&world.pool, 10).await.unwrap();
    assert_eq!((report.claimed, report.failed), (1, 1));
    assert_eq!(world.delivery(received.inbox_id).await.attempts, 2);

    // Back: the next attempt applies it.
    crate::flows::paypal_says(&server, "ACTIVE", "0.00", "2027-02-01T00:00:00Z").await;
    world.clock.set(
        world
            .delivery(received.inbox_id)
            .await
            .next_attempt_at
            .unwrap(),
    );
    let report = world.intake.run_due(&world.pool, 10).await.unwrap();
    assert_eq!((report.claimed, report.applied), (1, 1));
    assert_eq!(world.status(&org).await, S::Active);
    let applied = world.delivery(received.inbox_id).await;
    assert_eq!(applied.status, InboxStatus::Applied);
    assert_eq!(applied.next_attempt_at, None);
    assert_eq!(applied.last_error, None);
}

#[tokio::test]
async fn retries_end_in_a_dead_letter_that_an_operator_can_reapply() {
    let server = MockServer::start().await;
    let policy = IntakePolicy {
        max_attempts: 2,
        ..IntakePolicy::default()
    };
    let world = crate::flows::paypal_world_with(&server, policy).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    world.advance(Duration::minutes(1));
    world
        .deliver_one(world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended))
        .await;
    paypal_down(&server).await;
    world.advance(Duration::minutes(1));
    let activated = world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionActivated);
    let received = world.deliver_one(activated).await;
    world.clock.set(
        world
            .delivery(received.inbox_id)
            .await
            .next_attempt_at
            .unwrap(),
    );
    let report = world.intake.run_due(&world.pool, 10).await.unwrap();
    assert_eq!(report.dead, 1);
    let dead = world.delivery(received.inbox_id).await;
    assert_eq!(
        (dead.status, dead.attempts, dead.next_attempt_at),
        (InboxStatus::Dead, 2, None)
    );
    world.advance(Duration::days(1));
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().claimed,
        0
    );

    crate::flows::paypal_says(&server, "ACTIVE", "0.00", "2027-02-01T00:00:00Z").await;
    let attempt = world
        .intake
        .reapply(&world.pool, received.inbox_id)
        .await
        .unwrap();
    assert!(matches!(
        attempt,
        Attempt::Settled {
            status: InboxStatus::Applied,
            ..
        }
    ));
    assert_eq!(world.status(&org).await, S::Active);
    // Again: nothing more happens.
    let again = world
        .intake
        .reapply(&world.pool, received.inbox_id)
        .await
        .unwrap();
    assert_eq!(again, Attempt::AlreadySettled(InboxStatus::Applied));
    assert_eq!(world.recorded_events(&org, "paypal").await, 2);
}

#[tokio::test]
async fn a_delivery_its_receiver_never_applied_is_applied_by_the_job() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    world.advance(Duration::minutes(1));
    let failed = world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed);
    // Stored as the receiver stores it, then the receiver "crashed" before applying.
    let mut conn = world.pool.get().await.unwrap();
    let new = intake::inbox::NewDelivery {
        provider: ProviderName::Stripe,
        delivery_id: failed.provider_event_id.clone(),
        event_type: "invoice.payment_failed".into(),
        body: b"{}".to_vec(),
        body_sha256: [0; 32],
        events: vec![intake::event::StoredEvent::from(&failed)],
        status: InboxStatus::Received,
        last_error: None,
        received_at: world.now(),
        next_attempt_at: Some(world.now()),
        leased_until: Some(world.now() + Duration::seconds(30)),
    };
    intake::inbox::insert(&mut conn, &new).await.unwrap();
    drop(conn);
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().claimed,
        0
    );
    world.advance(Duration::seconds(30));
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().applied,
        1
    );
    assert_eq!(world.status(&org).await, S::PastDue);
    // The provider's redelivery finds it applied.
    let again = world.deliver_one(failed).await;
    assert!(again.duplicate);
    assert_eq!(again.status, InboxStatus::Applied);
}

#[tokio::test]
async fn a_verified_body_the_adapter_cannot_read_is_held_and_an_ignored_type_recorded() {
    let world = World::new().await;
    let unreadable = world
        .intake
        .receive(
            &world.pool,
            ProviderName::Stripe,
            b"{\"type\":\"invoice.paid\"}",
            Err(billing::ProviderError::Decode {
                provider: ProviderName::Stripe,
                message: "invoice lacks an id".into(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(unreadable.status, InboxStatus::Held);
    let held = world.delivery(unreadable.inbox_id).await;
    assert!(held.last_error.unwrap().contains("invoice lacks an id"));
    let ignored = world
        .intake
        .receive(
            &world.pool,
            ProviderName::Stripe,
            b"{\"id\":\"evt_9\",\"type\":\"customer.created\"}",
            Ok(ParsedWebhook::Ignored {
                provider_event_type: "customer.created".into(),
                provider_event_id: Some("evt_9".into()),
            }),
        )
        .await
        .unwrap();
    assert_eq!(ignored.status, InboxStatus::Ignored);
    assert_eq!(world.delivery(ignored.inbox_id).await.delivery_id, "evt_9");
}

#[tokio::test]
async fn raw_bodies_are_pruned_after_the_retention_and_the_rows_stay() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    let event = world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed);
    let received = world.deliver_one(event).await;
    assert_eq!(world.intake.prune(&world.pool, 100).await.unwrap(), 0);
    world.advance(Duration::days(91));
    assert_eq!(world.intake.prune(&world.pool, 100).await.unwrap(), 1);
    let pruned = world.delivery(received.inbox_id).await;
    assert!(pruned.body_pruned_at.is_some());
    assert_eq!(pruned.status, InboxStatus::Applied);
    assert_eq!(pruned.events.len(), 1);
    assert_eq!(pruned.outcomes.len(), 1);
    assert_eq!(world.intake.prune(&world.pool, 100).await.unwrap(), 0);
}

#[tokio::test]
async fn deliveries_without_an_id_are_told_apart_by_their_bytes() {
    let world = World::new().await;
    let unreadable = |body: &'static [u8]| {
        world.intake.receive(
            &world.pool,
            ProviderName::Stripe,
            body,
            Err(billing::ProviderError::Decode {
                provider: ProviderName::Stripe,
                message: "not JSON".into(),
            }),
        )
    };
    // Two bodies that are not UTF-8 and differ only in their invalid bytes.
    let first = unreadable(b"\xff\xfe").await.unwrap();
    let second = unreadable(b"\xfe\xff").await.unwrap();
    assert!(!second.duplicate);
    assert_ne!(first.inbox_id, second.inbox_id);
    assert!(unreadable(b"\xff\xfe").await.unwrap().duplicate);
    assert_eq!(world.inbox_rows().await, 2);
}
