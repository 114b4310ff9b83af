//! The world of an intake test: a fresh database, a manual clock, the intake over real
//! enforcement and ledger, organizations with wallets and subscriptions, and deliveries of
//! normalized events as the receiver hands them over (already verified and parsed).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration as StdDuration,
};

use billing::{BillingEvent, BillingEventKind, ParsedWebhook, Providers};
use chrono::{DateTime, Duration, Utc};
use db::{
    DbConfig, DbPool,
    schema::{
        ledger_entries, organizations, outbox_messages, risk_cases, subscription_events,
        webhook_inbox,
    },
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use enforcement::Enforcer;
use intake::{
    Intake, IntakePolicy, Received,
    inbox::{self, InboxDelivery, InboxStatus},
};
use ledger::{FreezeSource, Ledger};
use primitives::{Currency, ManualClock, Money, OrganizationId, ProviderName, SubscriptionId};
use secrecy::SecretString;
use subscriptions::{
    EventEnvelope, EventId, EventSource, LifecyclePolicy, NewSubscription, PlanCode, ProviderRef,
    Subscription, SubscriptionEvent, SubscriptionStatus, Subscriptions, TimePrecision, lookup,
};
use testkit::TestDb;
use uuid::Uuid;

pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

pub struct World {
    _db: TestDb,
    pub pool: DbPool,
    pub clock: ManualClock,
    pub ledger: Ledger,
    pub enforcer: Enforcer,
    pub intake: Intake,
    counter: AtomicU32,
}

/// An organization of the world, with its USD wallet and (when subscribed) its subscription.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrganizationId,
    pub subscription: Option<SubscriptionId>,
}

impl Org {
    pub fn reference(&self) -> Option<String> {
        Some(self.id.to_string())
    }

    pub fn subscription(&self) -> SubscriptionId {
        self.subscription.unwrap()
    }
}

impl World {
    pub async fn new() -> Self {
        Self::with(|_| Providers::none(), IntakePolicy::default()).await
    }

    /// A world whose providers are built on its clock.
    pub async fn with(
        providers: impl FnOnce(Arc<dyn primitives::Clock>) -> Providers,
        policy: IntakePolicy,
    ) -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "intake-tests");
        config.acquire_timeout = StdDuration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start());
        let ledger = Ledger::new(Arc::new(clock.clone()));
        let subscriptions = Subscriptions::new(Arc::new(clock.clone()), LifecyclePolicy::default());
        let enforcer = Enforcer::new(subscriptions, ledger.clone());
        let intake = Intake::new(
            enforcer.clone(),
            ledger.clone(),
            providers(Arc::new(clock.clone())),
            Arc::new(clock.clone()),
            policy,
        );
        Self {
            _db: db,
            pool,
            clock,
            ledger,
            enforcer,
            intake,
            counter: AtomicU32::new(0),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        primitives::Clock::now(&self.clock)
    }

    pub fn advance(&self, by: Duration) {
        self.clock.set(self.now() + by);
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A new organization with a USD wallet holding `funds` (minor units).
    pub async fn organization(&self, funds: i64) -> Org {
        let mut conn = self.pool.get().await.unwrap();
        let id = OrganizationId::new();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(id.as_uuid()),
                organizations::name.eq("Acme"),
                organizations::billing_email.eq("billing@acme.example"),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        let wallet = self
            .ledger
            .open_wallet(&mut conn, id, Currency::USD)
            .await
            .unwrap();
        if funds > 0 {
            let request = ledger::CreditRequest {
                wallet_id: wallet.value.wallet_id,
                amount: usd(funds),
                counterparty: ledger::Counterparty::parse("topup:manual").unwrap(),
                reference: ledger::Reference::parse(format!("fund-{}", self.next())).unwrap(),
                actor: ledger::Actor::admin(),
            };
            self.ledger.credit(&mut conn, request).await.unwrap();
        }
        Org {
            id,
            subscription: None,
        }
    }

    /// An organization whose subscription is billed through `provider` as `id`, active until a
    /// month from now.
    pub async fn subscribed(&self, provider: ProviderName, id: &str, funds: i64) -> Org {
        let mut org = self.organization(funds).await;
        let subscription = self.create_subscription(&org, Some((provider, id))).await;
        self.apply(
            subscription,
            SubscriptionEvent::Activated {
                period_end: self.now() + Duration::days(30),
            },
        )
        .await;
        org.subscription = Some(subscription);
        org
    }

    /// A pending subscription of `org` (billed through the provider, if given).
    pub async fn create_subscription(
        &self,
        org: &Org,
        provider: Option<(ProviderName, &str)>,
    ) -> SubscriptionId {
        let mut conn = self.pool.get().await.unwrap();
        let created = self.envelope("admin", SubscriptionEvent::Created);
        let new = NewSubscription {
            organization_id: org.id,
            plan: PlanCode::parse("pro").unwrap(),
            provider: provider.map(|(name, id)| ProviderRef::new(name, id).unwrap()),
        };
        self.enforcer
            .subscriptions()
            .create(&mut conn, new, &created)
            .await
            .unwrap()
            .id
    }

    fn envelope(&self, source: &str, event: SubscriptionEvent) -> EventEnvelope {
        EventEnvelope {
            source: EventSource::parse(source).unwrap(),
            event_id: EventId::parse(&format!("{source}-{}", self.next())).unwrap(),
            occurred_at: self.now(),
            precision: TimePrecision::Microsecond,
            event,
        }
    }

    /// Applies an event of the system's own (an operator's, the scheduler's) to a subscription.
    pub async fn apply(&self, subscription: SubscriptionId, event: SubscriptionEvent) {
        let mut conn = self.pool.get().await.unwrap();
        let envelope = self.envelope("admin", event);
        self.enforcer
            .apply(&mut conn, subscription, &envelope)
            .await
            .unwrap();
    }

    /// Hands a verified, parsed delivery to the intake, as the receiver does.
    pub async fn deliver(&self, provider: ProviderName, events: Vec<BillingEvent>) -> Received {
        let body = serde_json::to_vec(&events).unwrap();
        self.intake
            .receive(
                &self.pool,
                provider,
                &body,
                Ok(ParsedWebhook::Events { events }),
            )
            .await
            .unwrap()
    }

    pub async fn deliver_one(&self, event: BillingEvent) -> Received {
        self.deliver(event.provider, vec![event]).await
    }

    pub async fn delivery(&self, id: Uuid) -> InboxDelivery {
        let mut conn = self.pool.get().await.unwrap();
        inbox::get(&mut conn, id).await.unwrap().unwrap()
    }

    pub async fn inbox_rows(&self) -> i64 {
        let mut conn = self.pool.get().await.unwrap();
        webhook_inbox::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    pub async fn statuses(&self) -> Vec<InboxStatus> {
        let mut conn = self.pool.get().await.unwrap();
        let rows: Vec<String> = webhook_inbox::table
            .order(webhook_inbox::id)
            .select(webhook_inbox::status)
            .load(&mut conn)
            .await
            .unwrap();
        rows.iter()
            .map(|s| InboxStatus::parse(s).unwrap())
            .collect()
    }

    pub async fn subscription(&self, id: SubscriptionId) -> Subscription {
        let mut conn = self.pool.get().await.unwrap();
        lookup::get(&mut conn, id).await.unwrap()
    }

    pub async fn status(&self, org: &Org) -> SubscriptionStatus {
        self.subscription(org.subscription()).await.state.status
    }

    /// Events recorded on the subscription from `source`.
    pub async fn recorded_events(&self, org: &Org, source: &str) -> i64 {
        let mut conn = self.pool.get().await.unwrap();
        subscription_events::table
            .filter(subscription_events::subscription_id.eq(org.subscription().as_uuid()))
            .filter(subscription_events::source.eq(source))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    pub async fn balance(&self, org: &Org) -> ledger::WalletBalance {
        let mut conn = self.pool.get().await.unwrap();
        let wallet = self
            .ledger
            .wallet_for_organization(&mut conn, org.id)
            .await
            .unwrap();
        self.ledger.balance(&mut conn, wallet).await.unwrap()
    }

    pub async fn frozen_by(&self, org: &Org) -> Vec<FreezeSource> {
        self.balance(org)
            .await
            .freezes
            .iter()
            .map(|f| f.source)
            .collect()
    }

    /// The wallet's entries of `kind`, as (amount, reference).
    pub async fn entries(&self, org: &Org, kind: &str) -> Vec<(i64, String)> {
        let wallet = self.balance(org).await.wallet_id;
        let mut conn = self.pool.get().await.unwrap();
        ledger_entries::table
            .filter(ledger_entries::wallet_id.eq(wallet.as_uuid()))
            .filter(ledger_entries::kind.eq(kind))
            .order(ledger_entries::seq)
            .select((ledger_entries::amount, ledger_entries::reference))
            .load(&mut conn)
            .await
            .unwrap()
    }

    /// The outbox messages of `org` on `topic`: their `field` values, in order.
    pub async fn outbox(&self, org: &Org, topic: &str, field: &str) -> Vec<String> {
        let mut conn = self.pool.get().await.unwrap();
        let payloads: Vec<serde_json::Value> = outbox_messages::table
            .filter(outbox_messages::topic.eq(topic))
            .filter(outbox_messages::organization_id.eq(org.id.as_uuid()))
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

    /// The risk cases of `org`: (kind, status, amount).
    pub async fn risk_cases(&self, org: &Org) -> Vec<(String, String, i64)> {
        let mut conn = self.pool.get().await.unwrap();
        risk_cases::table
            .filter(risk_cases::organization_id.eq(org.id.as_uuid()))
            .order(risk_cases::id)
            .select((risk_cases::kind, risk_cases::status, risk_cases::amount))
            .load(&mut conn)
            .await
            .unwrap()
    }

    /// An event of `kind` at `provider`, stamped now, with a fresh id.
    pub fn event(&self, provider: ProviderName, kind: BillingEventKind) -> BillingEvent {
        BillingEvent {
            provider,
            provider_event_id: format!("evt_{}", self.next()),
            occurred_at: self.now(),
            kind,
            organization_ref: None,
            provider_subscription_id: None,
            amount: None,
            payment_reference: None,
            period_end: None,
            subscription_status: None,
            trial_end: None,
            failure_reason: None,
            order_reference: None,
            checkout_reference: None,
            provider_event_type: format!("test.{}", kind.as_str()),
        }
    }

    /// An event about `org`'s subscription (named by the provider id `id`).
    pub fn about(
        &self,
        org: &Org,
        provider: ProviderName,
        id: &str,
        kind: BillingEventKind,
    ) -> BillingEvent {
        BillingEvent {
            organization_ref: org.reference(),
            provider_subscription_id: Some(id.to_owned()),
            ..self.event(provider, kind)
        }
    }
}

/// An event with a change.
pub fn with(mut event: BillingEvent, change: impl FnOnce(&mut BillingEvent)) -> BillingEvent {
    change(&mut event);
    event
}
