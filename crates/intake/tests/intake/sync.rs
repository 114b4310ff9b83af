//! The provider sync against PostgreSQL and fake providers: a lost webhook heals by itself,
//! through the same effects; a view is acted on once; two workers never ask about one
//! subscription at once; a provider's budget and its 429 are respected.

use std::{sync::Arc, time::Duration as StdDuration};

use billing::{
    BillingEventKind as K, Providers,
    http::RetryPolicy,
    stripe::{StripeConfig, StripeProvider},
};
use chrono::Duration;
use db::schema::subscriptions as subscriptions_table;
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use intake::{
    IntakePolicy,
    sync::{ProviderSync, Rate, SyncPolicy, SyncReport},
};
use ledger::FreezeSource;
use primitives::{ProviderName, SubscriptionId};
use secrecy::SecretString;
use serde_json::json;
use subscriptions::{FailureReason, SubscriptionEvent, SubscriptionStatus as S};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::{
    flows::paypal_world,
    support::{Org, World, usd, with},
};

/// A world whose Stripe adapter's REST API is `server`, each call tried once (the sync is the
/// one that decides what happens after a failure).
async fn stripe_world(server: &MockServer) -> World {
    let uri = server.uri();
    World::with(
        move |clock| {
            let mut config = StripeConfig::new(
                SecretString::from("sk_test_1".to_owned()),
                vec![SecretString::from("whsec_1".to_owned())],
            );
            config.base_url = uri;
            config.retry = RetryPolicy::ONCE;
            Providers::none().with_stripe(StripeProvider::new(config, clock).unwrap())
        },
        IntakePolicy::default(),
    )
    .await
}

/// Stripe's answer about subscription `id`, paid until `period_end` (Unix seconds).
fn stripe_subscription(id: &str, status: &str, period_end: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": id,
        "object": "subscription",
        "status": status,
        "current_period_end": period_end,
        "metadata": {},
    }))
}

fn stripe_path(id: &str) -> String {
    format!("/v1/subscriptions/{id}")
}

/// PayPal's OAuth, answered for good.
async fn paypal_oauth(server: &MockServer) {
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "token-1", "token_type": "Bearer", "expires_in": 32400,
        })))
        .mount(server)
        .await;
}

fn paypal_subscription(id: &str, status: &str, outstanding: &str, next: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": id,
        "status": status,
        "plan_id": "P-1",
        "billing_info": {
            "outstanding_balance": {"currency_code": "USD", "value": outstanding},
            "next_billing_time": next,
        },
    }))
}

/// How many times the provider was asked about `path`.
async fn asked(server: &MockServer, path: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == path)
        .count()
}

async fn asked_about_subscriptions(server: &MockServer, prefix: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path().starts_with(prefix))
        .count()
}

fn sync(world: &World) -> ProviderSync {
    world.intake.provider_sync(SyncPolicy::default())
}

async fn round(world: &World, sync: &ProviderSync) -> SyncReport {
    sync.run_once(&world.pool).await.unwrap()
}

/// Puts the subscription past due by a failure of our own (not a provider webhook).
async fn fail(world: &World, subscription: SubscriptionId) {
    let at = world.now();
    world
        .apply(
            subscription,
            SubscriptionEvent::PaymentFailed {
                reason: FailureReason::new("card_declined"),
                at,
            },
        )
        .await;
}

async fn sync_record(
    world: &World,
    org: &Org,
) -> (Option<chrono::DateTime<chrono::Utc>>, Option<String>) {
    let mut conn = world.pool.get().await.unwrap();
    subscriptions_table::table
        .find(org.subscription().as_uuid())
        .select((
            subscriptions_table::last_synced_at,
            subscriptions_table::last_sync_error,
        ))
        .first(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_lost_paypal_suspension_heals_with_every_effect_of_the_webhook() {
    let server = MockServer::start().await;
    let world = paypal_world(&server).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 10_000).await;
    paypal_oauth(&server).await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/billing/subscriptions/I-1"))
        .respond_with(paypal_subscription(
            "I-1",
            "SUSPENDED",
            "29.00",
            "2027-02-01T10:00:00Z",
        ))
        .mount(&server)
        .await;
    let sync = sync(&world);

    // Heard from a moment ago: not looked at yet.
    assert_eq!(round(&world, &sync).await, SyncReport::default());

    // A day without a word: PayPal is asked, and its BILLING.SUBSCRIPTION.SUSPENDED, never
    // delivered, takes effect.
    world.advance(Duration::hours(25));
    let report = round(&world, &sync).await;
    assert_eq!((report.claimed, report.checked, report.applied), (1, 1, 1));
    assert_eq!(world.status(&org).await, S::Suspended);
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Billing]);
    assert_eq!(
        world.outbox(&org, "campaigns.control", "action").await,
        ["pause"]
    );
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend"]
    );
    assert_eq!(world.recorded_events(&org, "sync").await, 1);
    let (synced, problem) = sync_record(&world, &org).await;
    assert_eq!(synced, Some(world.now()));
    assert_eq!(problem, None);

    // A second round changes nothing: not due before the recheck, in agreement after it.
    assert_eq!(round(&world, &sync).await.claimed, 0);
    world.advance(Duration::minutes(61));
    let again = round(&world, &sync).await;
    assert_eq!((again.checked, again.in_sync, again.applied), (1, 1, 0));
    assert_eq!(world.recorded_events(&org, "sync").await, 1);
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend"]
    );
    assert_eq!(asked(&server, "/v1/billing/subscriptions/I-1").await, 2);
}

#[tokio::test]
async fn a_lost_stripe_cancellation_heals_and_the_ended_subscription_is_never_asked_again() {
    let server = MockServer::start().await;
    let world = stripe_world(&server).await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    // Past due by its failed payment; the cancellation that ended dunning at Stripe was lost.
    world.advance(Duration::hours(1));
    world
        .deliver_one(world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed))
        .await;
    assert_eq!(world.status(&org).await, S::PastDue);
    Mock::given(matchers::method("GET"))
        .and(matchers::path(stripe_path("sub_1")))
        .respond_with(stripe_subscription("sub_1", "canceled", 1_800_000_000))
        .expect(1)
        .mount(&server)
        .await;
    let sync = sync(&world);
    let report = round(&world, &sync).await;
    assert_eq!(report.applied, 1, "{report:?}");
    assert_eq!(world.status(&org).await, S::Canceled);
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Billing]);
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend"]
    );
    world.advance(Duration::days(3));
    assert_eq!(round(&world, &sync).await.claimed, 0);
}

#[tokio::test]
async fn a_lost_payment_restores_everything_when_the_provider_says_paid_up() {
    let server = MockServer::start().await;
    let world = paypal_world(&server).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 10_000).await;
    world.advance(Duration::minutes(1));
    world
        .deliver_one(world.about(&org, ProviderName::Paypal, "I-1", K::SubscriptionSuspended))
        .await;
    assert_eq!(world.status(&org).await, S::Suspended);
    paypal_oauth(&server).await;

    // Still owed at PayPal: nothing changes, and nothing is recorded.
    let owed = Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/billing/subscriptions/I-1"))
        .respond_with(paypal_subscription(
            "I-1",
            "ACTIVE",
            "29.00",
            "2027-02-01T10:00:00Z",
        ))
        .mount_as_scoped(&server)
        .await;
    let sync = sync(&world);
    let report = round(&world, &sync).await;
    assert_eq!((report.checked, report.in_sync), (1, 1), "{report:?}");
    assert_eq!(world.status(&org).await, S::Suspended);
    assert_eq!(world.recorded_events(&org, "sync").await, 0);
    drop(owed);

    // Paid: the payment's webhook never came, and the sync restores at once (G8).
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/billing/subscriptions/I-1"))
        .respond_with(paypal_subscription(
            "I-1",
            "ACTIVE",
            "0.00",
            "2027-02-01T10:00:00Z",
        ))
        .mount(&server)
        .await;
    world.advance(Duration::minutes(61));
    let report = round(&world, &sync).await;
    assert_eq!(report.applied, 1, "{report:?}");
    let restored = world.subscription(org.subscription()).await;
    assert_eq!(restored.state.status, S::Active);
    assert_eq!(
        restored.state.current_period_end.map(|at| at.to_rfc3339()),
        Some("2027-02-01T10:00:00+00:00".to_owned())
    );
    assert!(world.frozen_by(&org).await.is_empty());
    assert_eq!(
        world.outbox(&org, "campaigns.control", "action").await,
        ["pause", "resume"]
    );
    assert_eq!(
        world.outbox(&org, "messaging.control", "action").await,
        ["suspend", "reactivate"]
    );

    // Active and in agreement: a later round (once quiet for a day) records nothing more.
    world.advance(Duration::hours(25));
    let report = round(&world, &sync).await;
    assert_eq!((report.checked, report.in_sync), (1, 1), "{report:?}");
    assert_eq!(world.recorded_events(&org, "sync").await, 1);
}

#[tokio::test]
async fn a_view_acted_on_once_is_not_acted_on_again_after_an_operator_overrode_it() {
    let server = MockServer::start().await;
    let world = paypal_world(&server).await;
    let org = world.subscribed(ProviderName::Paypal, "I-1", 0).await;
    paypal_oauth(&server).await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/billing/subscriptions/I-1"))
        .respond_with(paypal_subscription(
            "I-1",
            "SUSPENDED",
            "29.00",
            "2027-02-01T10:00:00Z",
        ))
        .mount(&server)
        .await;
    let sync = sync(&world);
    world.advance(Duration::hours(25));
    assert_eq!(round(&world, &sync).await.applied, 1);
    assert_eq!(world.status(&org).await, S::Suspended);

    // The customer paid by bank transfer; an operator recorded it.
    world.advance(Duration::minutes(5));
    let period_end = world.now() + Duration::days(30);
    world
        .apply(
            org.subscription(),
            SubscriptionEvent::ManualPaymentReceived {
                amount: usd(2900),
                period_end,
            },
        )
        .await;
    assert_eq!(world.status(&org).await, S::Active);

    // PayPal still says what it said: the same view, the same event, a duplicate.
    world.advance(Duration::hours(25));
    let report = round(&world, &sync).await;
    assert_eq!((report.checked, report.duplicate), (1, 1), "{report:?}");
    assert_eq!(world.status(&org).await, S::Active);
    assert_eq!(world.recorded_events(&org, "sync").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_over_one_backlog_ask_about_each_subscription_exactly_once() {
    let server = MockServer::start().await;
    let world = stripe_world(&server).await;
    let mut orgs = Vec::new();
    for n in 0..6 {
        let id = format!("sub_{n}");
        let org = world.subscribed(ProviderName::Stripe, &id, 0).await;
        fail(&world, org.subscription()).await;
        // Slow answers, so both rounds are asking at the same time.
        Mock::given(matchers::method("GET"))
            .and(matchers::path(stripe_path(&id)))
            .respond_with(
                stripe_subscription(&id, "canceled", 1_800_000_000)
                    .set_delay(StdDuration::from_millis(100)),
            )
            .expect(1)
            .mount(&server)
            .await;
        orgs.push(org);
    }
    world.advance(Duration::minutes(1));
    // Each takes four at most: the first takes four, the second what the first left.
    let worker = || {
        world.intake.provider_sync(SyncPolicy {
            batch: 4,
            ..SyncPolicy::default()
        })
    };
    let (first, second) = (worker(), worker());
    let (a, b) = tokio::join!(first.run_once(&world.pool), second.run_once(&world.pool));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.claimed + b.claimed, 6, "{a:?} {b:?}");
    assert_eq!(a.applied + b.applied, 6, "{a:?} {b:?}");
    for org in &orgs {
        assert_eq!(world.status(org).await, S::Canceled);
        assert_eq!(world.recorded_events(org, "sync").await, 1);
    }
    server.verify().await;
}

#[tokio::test]
async fn a_tiny_budget_limits_the_requests_of_a_round_and_the_rest_wait_their_turn() {
    let server = MockServer::start().await;
    let world = stripe_world(&server).await;
    for n in 0..5 {
        let id = format!("sub_{n}");
        let org = world.subscribed(ProviderName::Stripe, &id, 0).await;
        fail(&world, org.subscription()).await;
        Mock::given(matchers::method("GET"))
            .and(matchers::path(stripe_path(&id)))
            .respond_with(stripe_subscription(&id, "past_due", 1_800_000_000))
            .mount(&server)
            .await;
    }
    // Two at once, then one an hour; never wait for a token within a round.
    let sync = world.intake.provider_sync(SyncPolicy {
        rate: Rate {
            every: StdDuration::from_secs(60 * 60),
            burst: 2,
        },
        max_wait: StdDuration::ZERO,
        ..SyncPolicy::default()
    });
    world.advance(Duration::minutes(1));
    let report = round(&world, &sync).await;
    assert_eq!(
        (report.claimed, report.checked, report.rate_limited),
        (5, 2, 3)
    );
    assert_eq!(
        asked_about_subscriptions(&server, "/v1/subscriptions/").await,
        2
    );

    // Again at once: the three left are due, the budget is not.
    let report = round(&world, &sync).await;
    assert_eq!(
        (report.claimed, report.checked, report.rate_limited),
        (3, 0, 3)
    );
    assert_eq!(
        asked_about_subscriptions(&server, "/v1/subscriptions/").await,
        2
    );

    // An hour on: one more token, spent on one never synced before those synced an hour ago.
    world.advance(Duration::hours(1));
    let report = round(&world, &sync).await;
    assert_eq!((report.checked, report.rate_limited), (1, 4), "{report:?}");
    assert_eq!(
        asked_about_subscriptions(&server, "/v1/subscriptions/").await,
        3
    );
}

#[tokio::test]
async fn a_429_stops_asking_that_provider_for_the_round_and_its_cooldown() {
    let server = MockServer::start().await;
    let world = stripe_world(&server).await;
    let mut orgs = Vec::new();
    for n in 0..3 {
        let org = world
            .subscribed(ProviderName::Stripe, &format!("sub_{n}"), 0)
            .await;
        fail(&world, org.subscription()).await;
        orgs.push(org);
    }
    let throttled = Mock::given(matchers::method("GET"))
        .and(matchers::path_regex("^/v1/subscriptions/"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "error": {"type": "rate_limit_error", "message": "Too many requests"}
        })))
        .expect(1)
        .mount_as_scoped(&server)
        .await;
    let sync = sync(&world);
    world.advance(Duration::minutes(1));
    let report = round(&world, &sync).await;
    assert_eq!(
        (report.claimed, report.checked, report.rate_limited),
        (3, 0, 3)
    );
    // Within the cooldown nothing is asked, though all three are due.
    world.advance(Duration::seconds(30));
    let report = round(&world, &sync).await;
    assert_eq!((report.claimed, report.rate_limited), (3, 3));
    drop(throttled);

    for n in 0..3 {
        let id = format!("sub_{n}");
        Mock::given(matchers::method("GET"))
            .and(matchers::path(stripe_path(&id)))
            .respond_with(stripe_subscription(&id, "past_due", 1_800_000_000))
            .expect(1)
            .mount(&server)
            .await;
    }
    world.advance(Duration::seconds(31));
    let report = round(&world, &sync).await;
    assert_eq!((report.checked, report.in_sync), (3, 3), "{report:?}");
    for org in &orgs {
        assert_eq!(world.status(org).await, S::PastDue);
    }
}

#[tokio::test]
async fn an_outage_is_tried_next_round_and_an_unknown_subscription_is_held_for_a_person() {
    let server = MockServer::start().await;
    let world = stripe_world(&server).await;
    let down = world.subscribed(ProviderName::Stripe, "sub_down", 0).await;
    let unknown = world.subscribed(ProviderName::Stripe, "sub_gone", 0).await;
    fail(&world, down.subscription()).await;
    fail(&world, unknown.subscription()).await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(stripe_path("sub_down")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(stripe_path("sub_gone")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "error": {"type": "invalid_request_error", "code": "resource_missing",
                      "message": "No such subscription: 'sub_gone'"}
        })))
        .mount(&server)
        .await;
    let sync = sync(&world);
    world.advance(Duration::minutes(1));
    let report = round(&world, &sync).await;
    assert_eq!((report.claimed, report.checked, report.errors), (2, 0, 2));
    for org in [&down, &unknown] {
        assert_eq!(world.status(org).await, S::PastDue);
        assert_eq!(world.recorded_events(org, "sync").await, 0);
    }
    assert_eq!(sync_record(&world, &down).await, (None, None));
    let (synced, problem) = sync_record(&world, &unknown).await;
    assert_eq!(synced, Some(world.now()));
    assert!(
        problem
            .as_deref()
            .is_some_and(|p| p.contains("does not know")),
        "{problem:?}"
    );

    // The outage is asked again at the next round; the unknown one only after the recheck.
    world.advance(Duration::minutes(1));
    let report = round(&world, &sync).await;
    assert_eq!((report.claimed, report.errors), (1, 1));
    assert_eq!(asked(&server, &stripe_path("sub_down")).await, 2);
    assert_eq!(asked(&server, &stripe_path("sub_gone")).await, 1);
}

#[tokio::test]
async fn a_view_older_than_an_event_applied_while_the_provider_was_asked_changes_nothing() {
    let server = MockServer::start().await;
    let world = Arc::new(stripe_world(&server).await);
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    world.advance(Duration::hours(1));
    world
        .deliver_one(world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed))
        .await;
    // Stripe's view as it was when asked: canceled (say, a moment before the customer came
    // back); slow to arrive.
    Mock::given(matchers::method("GET"))
        .and(matchers::path(stripe_path("sub_1")))
        .respond_with(
            stripe_subscription("sub_1", "canceled", 1_800_000_000)
                .set_delay(StdDuration::from_millis(500)),
        )
        .mount(&server)
        .await;
    let sync = Arc::new(sync(&world));
    world.advance(Duration::minutes(1));
    let running = {
        let (world, sync) = (world.clone(), sync.clone());
        tokio::spawn(async move { sync.run_once(&world.pool).await.unwrap() })
    };
    // While Stripe is being asked, a payment arrives and restores the subscription.
    for _ in 0..500 {
        if asked(&server, &stripe_path("sub_1")).await > 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert_eq!(asked(&server, &stripe_path("sub_1")).await, 1);
    world.advance(Duration::minutes(1));
    let period_end = world.now() + Duration::days(30);
    let paid = with(
        world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentSucceeded),
        |e| {
            e.amount = Some(usd(2900));
            e.period_end = Some(period_end);
            e.payment_reference = Some("in_2".into());
        },
    );
    world.deliver_one(paid).await;
    assert_eq!(world.status(&org).await, S::Active);

    let report = running.await.unwrap();
    assert_eq!((report.checked, report.stale), (1, 1), "{report:?}");
    assert_eq!(world.status(&org).await, S::Active);
}
