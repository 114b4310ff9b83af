//! Shared set-up: a database, a manual clock and an outbox over them.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use db::{DbConfig, DbPool, pool::PooledConnection, schema::organizations};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use outbox::{
    ClaimedMessage, DedupeKey, Enqueued, Message, MessageId, NewMessage, Outbox, OutboxMessage,
    Redelivery, Topic,
};
use primitives::{ManualClock, OrganizationId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use testkit::TestDb;

pub const MAIL: Topic = Topic::from_static("mail");
pub const SMS: Topic = Topic::from_static("twilio.sms");

/// The typed message of [`MAIL`]: what [`message`] writes raw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub key: String,
}

impl Message for Mail {
    const TOPIC: Topic = MAIL;
}

pub struct Fixture {
    _db: TestDb,
    pub pool: DbPool,
    pub clock: ManualClock,
    pub outbox: Outbox,
    pub org: OrganizationId,
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

pub fn secs(s: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(s)
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_policy(Redelivery::default()).await
    }

    pub async fn with_policy(policy: Redelivery) -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "outbox-tests");
        config.max_connections = 16;
        config.acquire_timeout = Duration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start_time());
        let outbox = Outbox::new(Arc::new(clock.clone()), policy);
        let org = OrganizationId::new();
        let mut conn = pool.get().await.unwrap();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(org.as_uuid()),
                organizations::name.eq("Acme"),
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
            org,
        }
    }

    pub async fn conn(&self) -> PooledConnection {
        self.pool.get().await.unwrap()
    }

    /// Enqueues a message due now (per the manual clock) and returns its id.
    pub async fn enqueue(&self, topic: &Topic, key: &str) -> MessageId {
        self.enqueue_at(topic, key, self.clock_now()).await
    }

    pub async fn enqueue_at(&self, topic: &Topic, key: &str, at: DateTime<Utc>) -> MessageId {
        let mut conn = self.conn().await;
        match outbox::enqueue_raw(&mut conn, message(topic, key, at))
            .await
            .unwrap()
        {
            Enqueued::New(id) => id,
            Enqueued::Duplicate(id) => panic!("{key} was already enqueued as {id}"),
        }
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        self.outbox.now()
    }

    pub async fn claim(&self, topic: &Topic, limit: usize) -> Vec<ClaimedMessage> {
        let mut conn = self.conn().await;
        self.outbox
            .claim(&mut conn, std::slice::from_ref(topic), limit)
            .await
            .unwrap()
    }

    pub async fn claim_one(&self, topic: &Topic) -> ClaimedMessage {
        let mut claimed = self.claim(topic, 1).await;
        assert_eq!(claimed.len(), 1, "expected one due message");
        claimed.remove(0)
    }

    pub async fn get(&self, id: MessageId) -> OutboxMessage {
        let mut conn = self.conn().await;
        outbox::get(&mut conn, id).await.unwrap()
    }
}

pub fn message(topic: &Topic, key: &str, at: DateTime<Utc>) -> NewMessage {
    NewMessage::new(
        topic.clone(),
        DedupeKey::parse(key).unwrap(),
        json!({ "key": key }),
        at,
    )
}
