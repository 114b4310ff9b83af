//! The `billing.provider` handler against a fake PayPal on loopback: each customer action
//! (through `CustomerActions::change`) reaches PayPal as its own call, with the command's
//! idempotency key and reason, exactly once; a top-up capture too; a provider this process
//! has no adapter for dead-letters the command with a clear error.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up: a panic is how a test reports failure"
)]

use std::{sync::Arc, time::Duration as StdDuration};

use billing::{Providers, ProvidersConfig, http::RetryPolicy};
use chrono::{DateTime, Duration, Utc};
use db::{
    DbConfig, DbPool,
    schema::{organizations, outbox_messages},
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use enforcement::{
    CustomerActions, CustomerConfig, Enforcer, ProviderAction, ProviderCommand,
    ProviderCommandHandler,
    customer::{CUSTOMER_SOURCE, SubscriptionAction},
};
use ledger::Ledger;
use outbox::{DedupeKey, Envelope, Outbox, Redelivery};
use primitives::{Currency, ManualClock, OrganizationId, ProviderName, SubscriptionId};
use secrecy::SecretString;
use serde_json::json;
use subscriptions::{
    EventEnvelope, EventId, EventSource, LifecyclePolicy, NewSubscription, PlanCode, ProviderRef,
    SubscriptionEvent, SubscriptionStatus, Subscriptions, TimePrecision, lookup,
};
use testkit::TestDb;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

struct World {
    _db: TestDb,
    pool: DbPool,
    paypal: MockServer,
    providers: Providers,
    outbox: Outbox,
    actions: CustomerActions,
    organization: OrganizationId,
    subscription: SubscriptionId,
}

impl World {
    /// An organization whose PayPal subscription `I-1` is active.
    async fn new() -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "enforcement-tests");
        config.acquire_timeout = StdDuration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start());
        let ledger = Ledger::new(Arc::new(clock.clone()));
        let subscriptions = Subscriptions::new(Arc::new(clock.clone()), LifecyclePolicy::default());
        let enforcer = Enforcer::new(subscriptions.clone(), ledger.clone());

        let paypal = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "A21AAFakeToken", "token_type": "Bearer", "expires_in": 32400
            })))
            .mount(&paypal)
            .await;
        let pairs = [
            ("PAYPAL_WEBHOOK_IDS", "WH-1".to_owned()),
            ("PAYPAL_API_BASE_URL", paypal.uri()),
            ("PAYPAL_CLIENT_ID", "client".to_owned()),
            ("PAYPAL_CLIENT_SECRET", "secret".to_owned()),
        ];
        let mut providers = ProvidersConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        })
        .unwrap();
        providers.paypal.as_mut().unwrap().retry = RetryPolicy::ONCE;
        let providers = providers.build(Arc::new(clock.clone())).unwrap();

        let mut conn = pool.get().await.unwrap();
        let organization = OrganizationId::new();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(organization.as_uuid()),
                organizations::name.eq("Acme"),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        ledger
            .open_wallet(&mut conn, organization, Currency::USD)
            .await
            .unwrap();
        let event = |id: &str, event| EventEnvelope {
            source: EventSource::parse("paypal").unwrap(),
            event_id: EventId::parse(id).unwrap(),
            occurred_at: start(),
            precision: TimePrecision::Second,
            event,
        };
        let new = NewSubscription {
            organization_id: organization,
            plan: PlanCode::parse("pro").unwrap(),
            provider: Some(ProviderRef::new(ProviderName::Paypal, "I-1").unwrap()),
        };
        let subscription = subscriptions
            .create(
                &mut conn,
                new,
                &event("WH-create", SubscriptionEvent::Created),
            )
            .await
            .unwrap()
            .id;
        let activated = SubscriptionEvent::Activated {
            period_end: start() + Duration::days(30),
        };
        enforcer
            .apply(&mut conn, subscription, &event("WH-activated", activated))
            .await
            .unwrap();
        drop(conn);
        let actions = CustomerActions::new(
            enforcer,
            ledger,
            providers.clone(),
            CustomerConfig::default(),
        );
        Self {
            _db: db,
            pool,
            paypal,
            providers,
            outbox: Outbox::new(Arc::new(clock), Redelivery::DEFAULT),
            actions,
            organization,
            subscription,
        }
    }

    async fn act(&self, key: &str, action: SubscriptionAction) -> SubscriptionStatus {
        let mut conn = self.pool.get().await.unwrap();
        let changed = self
            .actions
            .change(&mut conn, self.organization, key, action)
            .await
            .unwrap();
        assert!(changed.changed);
        changed.subscription.state.status
    }

    async fn deliver(&self, providers: &Providers) -> outbox::DeliveryReport {
        let handler = ProviderCommandHandler::new(self.pool.clone(), providers.clone());
        outbox::deliver_batch(&self.pool, &self.outbox, &handler, 10)
            .await
            .unwrap()
    }

    /// The `billing.provider` messages: (idempotency key, status, last error).
    async fn commands(&self) -> Vec<(String, String, Option<String>)> {
        let rows: Vec<(serde_json::Value, String, Option<String>)> = outbox_messages::table
            .filter(outbox_messages::topic.eq("billing.provider"))
            .order(outbox_messages::id)
            .select((
                outbox_messages::payload,
                outbox_messages::status,
                outbox_messages::last_error,
            ))
            .load(&mut self.pool.get().await.unwrap())
            .await
            .unwrap();
        rows.into_iter()
            .map(|(payload, status, error)| {
                (
                    payload["idempotency_key"].as_str().unwrap().to_owned(),
                    status,
                    error,
                )
            })
            .collect()
    }
}

/// A PayPal subscription transition, answered 204, expected once.
async fn expect_transition(world: &World, action: &str, reason: &str, key_prefix: &str) {
    Mock::given(method("POST"))
        .and(path(format!("/v1/billing/subscriptions/I-1/{action}")))
        .and(header("authorization", "Bearer A21AAFakeToken"))
        .and(body_json(json!({"reason": reason})))
        .and(PrefixedRequestId(key_prefix.to_owned()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&world.paypal)
        .await;
}

/// `PayPal-Request-Id` starts with the command's action.
struct PrefixedRequestId(String);

impl wiremock::Match for PrefixedRequestId {
    fn matches(&self, request: &wiremock::Request) -> bool {
        request
            .headers
            .get("paypal-request-id")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with(&self.0))
    }
}

#[tokio::test]
async fn paypal_hears_each_customer_action_once_with_its_key_and_reason() {
    let world = World::new().await;
    assert_eq!(
        world.act("pause", SubscriptionAction::Pause).await,
        SubscriptionStatus::Paused
    );
    expect_transition(&world, "suspend", "paused by the customer", "pause:").await;
    let report = world.deliver(&world.providers).await;
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");

    assert_eq!(
        world.act("resume", SubscriptionAction::Resume).await,
        SubscriptionStatus::Active
    );
    expect_transition(&world, "activate", "resumed by the customer", "resume:").await;
    assert_eq!(world.deliver(&world.providers).await.delivered, 1);

    // PayPal cannot schedule a cancellation: it is canceled there now, ours stays active.
    let cancel = SubscriptionAction::Cancel {
        at_period_end: true,
    };
    assert_eq!(
        world.act("cancel", cancel).await,
        SubscriptionStatus::Active
    );
    expect_transition(
        &world,
        "cancel",
        "canceled by the customer at the end of the period",
        "cancel_at_period_end:",
    )
    .await;
    assert_eq!(world.deliver(&world.providers).await.delivered, 1);
    // Nothing is sent twice.
    assert_eq!(world.deliver(&world.providers).await.claimed, 0);
    let commands = world.commands().await;
    assert_eq!(commands.len(), 3);
    assert!(commands.iter().all(|(_, status, _)| status == "delivered"));
    // Each command's key is its own, as sent.
    let received = world.paypal.received_requests().await.unwrap();
    for (key, _, _) in &commands {
        assert!(
            received.iter().any(|request| request
                .headers
                .get("paypal-request-id")
                .is_some_and(|value| value == key.as_str())),
            "{key} was not sent"
        );
    }
    // The events are the customer's.
    let mut conn = world.pool.get().await.unwrap();
    let events = subscriptions::history::events(&mut conn, world.subscription, 10)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .take(3)
            .all(|event| event.source == CUSTOMER_SOURCE),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_top_up_capture_is_sent_with_its_key() {
    let world = World::new().await;
    let command = ProviderCommand {
        organization_id: world.organization,
        subscription_id: None,
        provider: ProviderName::Paypal,
        target: "5O190127TN364715T".into(),
        action: ProviderAction::CaptureTopUp,
        reason: "wallet top-up approved by the customer".into(),
        idempotency_key: "capture:paypal:5O190127TN364715T".into(),
    };
    let mut conn = world.pool.get().await.unwrap();
    let envelope = Envelope::new(DedupeKey::parse("capture-test").unwrap(), start())
        .for_organization(world.organization);
    outbox::enqueue(&mut conn, &command, envelope)
        .await
        .unwrap();
    Mock::given(method("POST"))
        .and(path("/v2/checkout/orders/5O190127TN364715T/capture"))
        .and(header(
            "paypal-request-id",
            "capture:paypal:5O190127TN364715T",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "5O190127TN364715T", "status": "COMPLETED"
        })))
        .expect(1)
        .mount(&world.paypal)
        .await;
    assert_eq!(world.deliver(&world.providers).await.delivered, 1);
}

#[tokio::test]
async fn a_provider_without_an_adapter_here_dead_letters_the_command_clearly() {
    let world = World::new().await;
    world
        .act(
            "cancel",
            SubscriptionAction::Cancel {
                at_period_end: false,
            },
        )
        .await;
    let report = world.deliver(&Providers::none()).await;
    assert_eq!(report.dead, 1, "{report:?}");
    let [(_, status, error)] = world.commands().await.try_into().unwrap();
    assert_eq!(status, "dead");
    let error = error.unwrap();
    assert!(
        error.contains("cancel I-1") && error.contains("paypal is not configured"),
        "{error}"
    );
    // The subscription stays canceled on our side: a provider outage never undoes it (G10).
    let mut conn = world.pool.get().await.unwrap();
    let subscription = lookup::get(&mut conn, world.subscription).await.unwrap();
    assert_eq!(subscription.state.status, SubscriptionStatus::Canceled);
}
