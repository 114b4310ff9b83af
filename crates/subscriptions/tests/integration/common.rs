//! Shared setup: a fresh database, an organization, a clock.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbConfig, DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use primitives::{ManualClock, OrganizationId, SubscriptionId};
use secrecy::SecretString;
use subscriptions::{
    Applied, EventEnvelope, EventId, EventSource, LifecyclePolicy, NewSubscription, PlanCode,
    SubscriptionEvent, Subscriptions, TimePrecision,
};
use testkit::TestDb;

pub struct Fixture {
    _db: TestDb,
    pub pool: DbPool,
    pub subscriptions: Subscriptions,
}

pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

impl Fixture {
    pub async fn new() -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "subscriptions-tests");
        config.max_connections = 16;
        config.acquire_timeout = Duration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start());
        let subscriptions = Subscriptions::new(Arc::new(clock.clone()), LifecyclePolicy::default());
        Self {
            _db: db,
            pool,
            subscriptions,
        }
    }

    /// A new organization with a pending subscription.
    pub async fn subscription(&self) -> (OrganizationId, SubscriptionId) {
        let mut conn = self.pool.get().await.unwrap();
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
            provider: None,
        };
        let subscription = self
            .subscriptions
            .create(&mut conn, new, &created)
            .await
            .unwrap();
        (organization, subscription.id)
    }

    pub async fn apply(&self, id: SubscriptionId, envelope: &EventEnvelope) -> Applied {
        let mut conn = self.pool.get().await.unwrap();
        self.subscriptions
            .apply(&mut conn, id, envelope)
            .await
            .unwrap()
    }
}

pub async fn organization(conn: &mut AsyncPgConnection) -> OrganizationId {
    let id = OrganizationId::new();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id.as_uuid()),
            organizations::name.eq("Acme"),
        ))
        .execute(conn)
        .await
        .unwrap();
    id
}

pub fn envelope(
    source: &str,
    id: &str,
    occurred_at: DateTime<Utc>,
    event: SubscriptionEvent,
) -> EventEnvelope {
    EventEnvelope {
        source: EventSource::parse(source).unwrap(),
        event_id: EventId::parse(id).unwrap(),
        occurred_at,
        precision: TimePrecision::Microsecond,
        event,
    }
}
