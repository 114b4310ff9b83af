//! The world of a timeline: database, clock, ledger, enforcer, a scripted provider, captured logs.

use std::{
    collections::VecDeque,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration as StdDuration,
};

use chrono::{DateTime, Duration, Utc};
use db::{
    DbConfig, DbPool,
    schema::{organizations, outbox_messages},
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use enforcement::{
    DunningRunner, Enforcer, PaymentRetrier, RetryError, RetryRequest, RetryResult, RunReport,
};
use ledger::Ledger;
use primitives::{Currency, ManualClock, Money, OrganizationId, SubscriptionId};
use secrecy::SecretString;
use subscriptions::{
    Applied, EventEnvelope, EventId, EventSource, Feature, LifecyclePolicy, NewSubscription,
    PlanCode, ProviderRef, Subscription, SubscriptionEvent, SubscriptionStatus, Subscriptions,
    TimePrecision, access, lookup,
};
use testkit::TestDb;

pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

/// A provider whose retry answers are scripted, recording every request.
#[derive(Debug, Clone, Default)]
pub struct ScriptedProvider {
    answers: Arc<Mutex<VecDeque<Result<RetryResult, RetryError>>>>,
    pub requests: Arc<Mutex<Vec<RetryRequest>>>,
}

impl ScriptedProvider {
    pub fn answer(&self, answer: Result<RetryResult, RetryError>) {
        self.answers.lock().unwrap().push_back(answer);
    }

    pub fn requests(&self) -> Vec<RetryRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl PaymentRetrier for ScriptedProvider {
    async fn retry_payment(&self, request: &RetryRequest) -> Result<RetryResult, RetryError> {
        self.requests.lock().unwrap().push(request.clone());
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected retry {request:?}"))
    }
}

/// Log lines captured from the code under test.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct World {
    _db: TestDb,
    pub pool: DbPool,
    pub clock: ManualClock,
    pub ledger: Ledger,
    pub enforcer: Enforcer,
    pub provider: ScriptedProvider,
    pub runner: DunningRunner<ScriptedProvider>,
    pub organization: OrganizationId,
    pub subscription: SubscriptionId,
    pub logs: Logs,
    _log_guard: tracing::subscriber::DefaultGuard,
    counter: std::sync::atomic::AtomicU32,
}

impl World {
    pub async fn new(policy: LifecyclePolicy) -> Self {
        Self::billed_by(policy, None).await
    }

    /// A world whose subscription is billed through `provider` (its id at the provider).
    pub async fn billed_by(policy: LifecyclePolicy, billed_through: Option<ProviderRef>) -> Self {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let log_guard = tracing::subscriber::set_default(subscriber);

        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "enforcement-tests");
        config.acquire_timeout = StdDuration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start());
        let ledger = Ledger::new(Arc::new(clock.clone()));
        let subscriptions = Subscriptions::new(Arc::new(clock.clone()), policy);
        let enforcer = Enforcer::new(subscriptions.clone(), ledger.clone());
        let provider = ScriptedProvider::default();
        let runner = DunningRunner::new(enforcer.clone(), provider.clone());

        let mut conn = pool.get().await.unwrap();
        let organization = OrganizationId::new();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(organization.as_uuid()),
                organizations::name.eq("Acme"),
                organizations::billing_email.eq("billing@acme.example"),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        ledger
            .open_wallet(&mut conn, organization, Currency::USD)
            .await
            .unwrap();
        let created = envelope("test", "create", start(), SubscriptionEvent::Created);
        let new = NewSubscription {
            organization_id: organization,
            plan: PlanCode::parse("pro").unwrap(),
            provider: billed_through,
        };
        let subscription = subscriptions
            .create(&mut conn, new, &created)
            .await
            .unwrap()
            .id;
        drop(conn);
        Self {
            _db: db,
            pool,
            clock,
            ledger,
            enforcer,
            provider,
            runner,
            organization,
            subscription,
            logs,
            _log_guard: log_guard,
            counter: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Delivers a provider event happening now.
    pub async fn deliver(&self, event: SubscriptionEvent) -> Applied {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let envelope = envelope("stripe", &format!("evt_{n}"), self.clock.now_utc(), event);
        self.deliver_envelope(&envelope).await
    }

    pub async fn deliver_envelope(&self, envelope: &EventEnvelope) -> Applied {
        let mut conn = self.pool.get().await.unwrap();
        self.enforcer
            .apply(&mut conn, self.subscription, envelope)
            .await
            .unwrap()
    }

    /// Moves the clock to `days` after the start and runs the dunning runner.
    pub async fn day(&self, days: i64) -> RunReport {
        self.clock.set(start() + Duration::days(days));
        self.runner.run_once(&self.pool).await.unwrap()
    }

    pub async fn status(&self) -> SubscriptionStatus {
        let mut conn = self.pool.get().await.unwrap();
        lookup::get(&mut conn, self.subscription)
            .await
            .unwrap()
            .state
            .status
    }

    pub async fn may_send(&self) -> bool {
        let mut conn = self.pool.get().await.unwrap();
        access::entitlement(&mut conn, self.organization, Feature::SendMessages)
            .await
            .unwrap()
            .allowed()
    }

    pub async fn wallet_frozen_by(&self) -> Vec<String> {
        let mut conn = self.pool.get().await.unwrap();
        let wallet = self
            .ledger
            .wallet_for_organization(&mut conn, self.organization)
            .await
            .unwrap();
        let balance = self.ledger.balance(&mut conn, wallet).await.unwrap();
        balance
            .freezes
            .iter()
            .map(|f| f.source.as_str().to_owned())
            .collect()
    }

    /// Notification kinds enqueued so far, in order.
    pub async fn notifications(&self) -> Vec<String> {
        self.topic("notification", "kind").await
    }

    /// The facts of the notifications enqueued so far, in order.
    pub async fn notification_facts(&self) -> Vec<serde_json::Value> {
        let mut conn = self.pool.get().await.unwrap();
        let payloads: Vec<serde_json::Value> = outbox_messages::table
            .filter(outbox_messages::topic.eq("notification"))
            .order(outbox_messages::id)
            .select(outbox_messages::payload)
            .load(&mut conn)
            .await
            .unwrap();
        payloads.into_iter().map(|p| p["facts"].clone()).collect()
    }

    /// The subscription as stored now.
    pub async fn stored(&self) -> Subscription {
        let mut conn = self.pool.get().await.unwrap();
        lookup::get(&mut conn, self.subscription).await.unwrap()
    }

    /// Values of `field` in the payloads of messages on `topic`, in order.
    pub async fn topic(&self, topic: &str, field: &str) -> Vec<String> {
        let mut conn = self.pool.get().await.unwrap();
        let payloads: Vec<serde_json::Value> = outbox_messages::table
            .filter(outbox_messages::topic.eq(topic))
            .order(outbox_messages::id)
            .select(outbox_messages::payload)
            .load(&mut conn)
            .await
            .unwrap();
        payloads
            .iter()
            .map(|p| p[field].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

trait NowUtc {
    fn now_utc(&self) -> DateTime<Utc>;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        primitives::Clock::now(self)
    }
}

pub fn envelope(
    source: &str,
    id: &str,
    at: DateTime<Utc>,
    event: SubscriptionEvent,
) -> EventEnvelope {
    EventEnvelope {
        source: EventSource::parse(source).unwrap(),
        event_id: EventId::parse(id).unwrap(),
        occurred_at: at,
        precision: TimePrecision::Microsecond,
        event,
    }
}

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}
