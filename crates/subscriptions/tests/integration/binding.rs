//! Binding a subscription to the provider's own id in place of a provisional one.

use diesel_async::AsyncConnection;
use primitives::{OrganizationId, SubscriptionId};
use subscriptions::{
    NewSubscription, PlanCode, ProviderRef, SubscriptionError, SubscriptionEvent, history, lookup,
};

use crate::common::{Fixture, envelope, organization, start};

fn payhere(id: &str) -> ProviderRef {
    ProviderRef::parse("payhere", id).unwrap()
}

async fn billed_by(fixture: &Fixture, provider: ProviderRef) -> (OrganizationId, SubscriptionId) {
    let mut conn = fixture.pool.get().await.unwrap();
    let organization = organization(&mut conn).await;
    let created = envelope(
        "test",
        &format!("create-{organization}"),
        start(),
        SubscriptionEvent::Created,
    );
    let new = NewSubscription {
        organization_id: organization,
        plan: PlanCode::parse("pro").unwrap(),
        provider: Some(provider),
    };
    let subscription = fixture
        .subscriptions
        .create(&mut conn, new, &created)
        .await
        .unwrap();
    (organization, subscription.id)
}

#[tokio::test]
async fn a_provisional_id_is_replaced_and_the_change_recorded() {
    let fixture = Fixture::new().await;
    let (_, id) = billed_by(&fixture, payhere("SUB-1001")).await;
    let mut conn = fixture.pool.get().await.unwrap();
    let bound = fixture
        .subscriptions
        .bind_provider_id(&mut conn, id, &payhere("SUB-1001"), "420000123")
        .await
        .unwrap();
    assert_eq!(bound.provider, Some(payhere("420000123")));
    assert_eq!(
        bound.state.status,
        subscriptions::SubscriptionStatus::Pending
    );
    // Found by the new id, no longer by the old one.
    let found = lookup::find_by_provider(&mut conn, &payhere("420000123"))
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.id), Some(id));
    assert!(
        lookup::find_by_provider(&mut conn, &payhere("SUB-1001"))
            .await
            .unwrap()
            .is_none()
    );

    // In the event log and the history, like an event that keeps the status.
    let events = history::events(&mut conn, id, 10).await.unwrap();
    assert_eq!(events[0].kind, "provider_id_bound");
    assert_eq!(events[0].source, "binding");
    assert_eq!(events[0].outcome, "applied");
    assert_eq!(
        events[0].detail.as_deref(),
        Some("payhere SUB-1001 -> 420000123")
    );
    let transitions = history::transitions(&mut conn, id, 10).await.unwrap();
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[0].event, "provider_id_bound");
    assert_eq!(transitions[0].from.as_deref(), Some("pending"));
    assert_eq!(transitions[0].to, "pending");
    assert_eq!(transitions[0].effects, serde_json::json!([]));

    // The same call again (a retried delivery) changes and records nothing.
    let again = fixture
        .subscriptions
        .bind_provider_id(&mut conn, id, &payhere("SUB-1001"), "420000123")
        .await
        .unwrap();
    assert_eq!(again, bound);
    assert_eq!(history::events(&mut conn, id, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_binding_from_another_id_is_refused_and_changes_nothing() {
    let fixture = Fixture::new().await;
    let (_, id) = billed_by(&fixture, payhere("SUB-1")).await;
    let (_, unbilled) = fixture.subscription().await;
    let mut conn = fixture.pool.get().await.unwrap();
    let subscriptions = &fixture.subscriptions;
    for (subscription, expected) in [
        (id, payhere("SUB-2")),
        (id, ProviderRef::parse("stripe", "SUB-1").unwrap()),
        (unbilled, payhere("SUB-1")),
    ] {
        let error = subscriptions
            .bind_provider_id(&mut conn, subscription, &expected, "420000123")
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                SubscriptionError::Invalid {
                    field: "expected_current",
                    ..
                }
            ),
            "{error:?}"
        );
    }
    let error = subscriptions
        .bind_provider_id(&mut conn, id, &payhere("SUB-1"), "bad id")
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        SubscriptionError::Invalid {
            field: "provider_subscription_id",
            ..
        }
    ));
    let error = subscriptions
        .bind_provider_id(&mut conn, SubscriptionId::new(), &payhere("SUB-1"), "4200")
        .await
        .unwrap_err();
    assert!(matches!(error, SubscriptionError::NotFound));
    let stored = lookup::get(&mut conn, id).await.unwrap();
    assert_eq!(stored.provider, Some(payhere("SUB-1")));
    assert_eq!(history::events(&mut conn, id, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_id_another_subscription_holds_is_refused() {
    let fixture = Fixture::new().await;
    let (_, holder) = billed_by(&fixture, payhere("420000123")).await;
    let (_, id) = billed_by(&fixture, payhere("SUB-1")).await;
    let mut conn = fixture.pool.get().await.unwrap();
    let error = fixture
        .subscriptions
        .bind_provider_id(&mut conn, id, &payhere("SUB-1"), "420000123")
        .await
        .unwrap_err();
    assert!(matches!(error, SubscriptionError::ProviderIdTaken));
    assert_eq!(
        lookup::get(&mut conn, id).await.unwrap().provider,
        Some(payhere("SUB-1"))
    );
    assert_eq!(
        lookup::get(&mut conn, holder).await.unwrap().provider,
        Some(payhere("420000123"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bindings_racing_for_one_id_bind_one_and_keep_the_callers_transaction() {
    let fixture = std::sync::Arc::new(Fixture::new().await);
    let (_, first) = billed_by(&fixture, payhere("SUB-1")).await;
    let (_, second) = billed_by(&fixture, payhere("SUB-2")).await;
    // The first binding is made but not yet committed: the second cannot see it, passes the
    // lookup and meets the unique index, where it waits for the first to commit.
    let (bound, bound_seen) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = {
        let fixture = fixture.clone();
        tokio::spawn(async move {
            let mut conn = fixture.pool.get().await.unwrap();
            conn.transaction(async |conn| {
                fixture
                    .subscriptions
                    .bind_provider_id(conn, first, &payhere("SUB-1"), "420000123")
                    .await?;
                bound.send(()).unwrap();
                released.await.unwrap();
                Ok::<_, SubscriptionError>(())
            })
            .await
        })
    };
    bound_seen.await.unwrap();
    let racer = {
        let fixture = fixture.clone();
        tokio::spawn(async move {
            let mut conn = fixture.pool.get().await.unwrap();
            conn.transaction(async |conn| {
                let result = fixture
                    .subscriptions
                    .bind_provider_id(conn, second, &payhere("SUB-2"), "420000123")
                    .await;
                // The refusal leaves the caller's transaction usable.
                let still = lookup::get(conn, second).await?;
                Ok::<_, SubscriptionError>((result.map(|s| s.id), still.provider))
            })
            .await
        })
    };
    // Whether the racer is already waiting on the index or starts after the commit, the answer
    // is the same; the pause makes the first case the usual one.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();
    let (result, provider) = racer.await.unwrap().unwrap();
    assert!(
        matches!(result, Err(SubscriptionError::ProviderIdTaken)),
        "{result:?}"
    );
    assert_eq!(provider, Some(payhere("SUB-2")));
    let mut conn = fixture.pool.get().await.unwrap();
    assert_eq!(
        lookup::find_by_provider(&mut conn, &payhere("420000123"))
            .await
            .unwrap()
            .map(|s| s.id),
        Some(first)
    );
}
