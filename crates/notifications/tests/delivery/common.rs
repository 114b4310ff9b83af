//! Set-up: a database with one organization, a manual clock, an outbox and an SMTP sink.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use db::{DbConfig, DbPool, schema::organizations};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use notifications::{
    Notification, NotificationHandler, NotificationKind, SmtpConfig, SmtpNotifier, TlsMode,
};
use outbox::{DeliveryReport, Enqueued, Outbox, OutboxMessage, Redelivery};
use primitives::{ManualClock, OrganizationId};
use secrecy::SecretString;
use serde_json::json;
use testkit::{SmtpSink, TestDb};

pub const FROM: &str = "Billing <billing@example.com>";

pub struct Fixture {
    _db: TestDb,
    pub pool: DbPool,
    pub clock: ManualClock,
    pub outbox: Outbox,
    pub sink: SmtpSink,
    pub org: OrganizationId,
}

pub fn smtp_config(sink: &SmtpSink) -> SmtpConfig {
    SmtpConfig {
        host: sink.host(),
        port: sink.port(),
        tls: TlsMode::None,
        credentials: None,
        from: FROM.to_owned(),
        timeout: Duration::from_secs(10),
    }
}

impl Fixture {
    /// Organization "Acme Ltd" with the given billing email.
    pub async fn new(billing_email: Option<&str>) -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "notifications-tests");
        config.acquire_timeout = Duration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let outbox = Outbox::new(Arc::new(clock.clone()), Redelivery::default());
        let org = OrganizationId::new();
        let mut conn = pool.get().await.unwrap();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(org.as_uuid()),
                organizations::name.eq("Acme Ltd"),
                organizations::billing_email.eq(billing_email),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        drop(conn);
        Self {
            _db: db,
            pool,
            clock,
            outbox,
            sink: SmtpSink::start().await,
            org,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.outbox.now()
    }

    pub fn handler(&self) -> NotificationHandler {
        let notifier = SmtpNotifier::new(smtp_config(&self.sink)).unwrap();
        NotificationHandler::new(self.pool.clone(), Arc::new(notifier))
    }

    pub fn payment_failed(&self) -> Notification {
        Notification {
            kind: NotificationKind::PaymentFailed,
            organization_id: self.org,
            payload: json!({
                "amount": "49.00 USD",
                "reason": "card declined",
                "next_attempt": 2,
                "next_step_at": "2027-01-18T08:00:00Z",
            }),
        }
    }

    pub async fn enqueue(&self, notification: &Notification, key: &str) -> Enqueued {
        let mut conn = self.pool.get().await.unwrap();
        notifications::enqueue(&mut conn, notification, key, self.now())
            .await
            .unwrap()
    }

    pub async fn deliver(&self) -> DeliveryReport {
        outbox::deliver_batch(&self.pool, &self.outbox, &self.handler(), 10)
            .await
            .unwrap()
    }

    pub async fn message(&self, id: outbox::MessageId) -> OutboxMessage {
        let mut conn = self.pool.get().await.unwrap();
        outbox::get(&mut conn, id).await.unwrap()
    }
}
