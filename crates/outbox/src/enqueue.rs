//! Writing a message, on the caller's connection and inside the caller's transaction: the
//! message commits or rolls back together with the state change that needs it.

use db::schema::outbox_messages::dsl as m;
use diesel::{OptionalExtension, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    error::OutboxError,
    message::{Envelope, Message},
    model::{Enqueued, MessageId, NewMessage, Status},
};

/// Enqueues `message` under its type's topic. If that (topic, dedupe key) is already in the
/// outbox, whatever its status, nothing changes and the existing id comes back as
/// [`Enqueued::Duplicate`].
pub async fn enqueue<M: Message>(
    conn: &mut AsyncPgConnection,
    message: &M,
    envelope: Envelope,
) -> Result<Enqueued, OutboxError> {
    let payload = serde_json::to_value(message).map_err(|error| OutboxError::Encode {
        topic: M::TOPIC,
        message: error.to_string(),
    })?;
    enqueue_raw(conn, envelope.with(M::TOPIC, payload)).await
}

/// Enqueues an untyped message, as [`enqueue`] does. For tools and tests that write any topic;
/// domain code enqueues a [`Message`], so its topic and payload shape are written once.
pub async fn enqueue_raw(
    conn: &mut AsyncPgConnection,
    message: NewMessage,
) -> Result<Enqueued, OutboxError> {
    let id = MessageId::new();
    // ON CONFLICT DO NOTHING rather than catching the unique violation: a failed statement
    // would abort the caller's transaction, and with it the state change being recorded.
    let inserted: Option<Uuid> = diesel::insert_into(m::outbox_messages)
        .values((
            m::id.eq(id.as_uuid()),
            m::topic.eq(message.topic.as_str()),
            m::dedupe_key.eq(message.dedupe_key.as_str()),
            m::organization_id.eq(message.organization_id.map(|o| o.as_uuid())),
            m::payload.eq(&message.payload),
            m::status.eq(Status::Pending.as_str()),
            m::max_attempts.eq(i32::from(message.max_attempts.get())),
            m::next_attempt_at.eq(message.available_at),
        ))
        .on_conflict((m::topic, m::dedupe_key))
        .do_nothing()
        .returning(m::id)
        .get_result(conn)
        .await
        .optional()?;
    if inserted.is_some() {
        tracing::debug!(topic = %message.topic, id = %id, "outbox message enqueued");
        return Ok(Enqueued::New(id));
    }
    let existing: Option<Uuid> = m::outbox_messages
        .filter(m::topic.eq(message.topic.as_str()))
        .filter(m::dedupe_key.eq(message.dedupe_key.as_str()))
        .select(m::id)
        .first(conn)
        .await
        .optional()?;
    // The conflicting row is visible: in READ COMMITTED the insert waited for its transaction
    // to commit, and at stricter levels PostgreSQL raises a serialization failure instead.
    existing
        .map(|existing| Enqueued::Duplicate(MessageId::from_uuid(existing)))
        .ok_or_else(|| {
            OutboxError::Corrupt(format!(
                "enqueue of ({}, {}) conflicted with a row it cannot see",
                message.topic, message.dedupe_key
            ))
        })
}
