//! Row types: what the table holds, turned into the outbox's vocabulary. Values the table's
//! `CHECK`s already guarantee are re-validated anyway, so a corrupt row is an error, not a panic.

use chrono::{DateTime, Utc};
use db::schema::outbox_messages;
use diesel::prelude::*;
use primitives::OrganizationId;
use uuid::Uuid;

use crate::{
    error::OutboxError,
    input::{DedupeKey, Topic},
    model::{MessageId, OutboxMessage, Status},
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox_messages, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MessageRow {
    id: Uuid,
    topic: String,
    dedupe_key: String,
    organization_id: Option<Uuid>,
    payload: serde_json::Value,
    status: String,
    attempts: i32,
    max_attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    claimed_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<MessageRow> for OutboxMessage {
    type Error = OutboxError;

    fn try_from(row: MessageRow) -> Result<Self, OutboxError> {
        Ok(Self {
            id: MessageId::from_uuid(row.id),
            topic: topic(row.topic)?,
            dedupe_key: dedupe_key(row.dedupe_key)?,
            organization_id: row.organization_id.map(OrganizationId::from_uuid),
            payload: row.payload,
            status: status(&row.status)?,
            attempts: count(row.attempts)?,
            max_attempts: count(row.max_attempts)?,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            claimed_until: row.claimed_until,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
        })
    }
}

pub(crate) fn topic(value: String) -> Result<Topic, OutboxError> {
    Topic::parse(value).map_err(|e| OutboxError::Corrupt(format!("stored topic: {e}")))
}

pub(crate) fn dedupe_key(value: String) -> Result<DedupeKey, OutboxError> {
    DedupeKey::parse(value).map_err(|e| OutboxError::Corrupt(format!("stored dedupe key: {e}")))
}

pub(crate) fn status(value: &str) -> Result<Status, OutboxError> {
    Status::parse(value).ok_or_else(|| OutboxError::Corrupt(format!("unknown status {value:?}")))
}

pub(crate) fn count(value: i32) -> Result<u32, OutboxError> {
    u32::try_from(value).map_err(|_| OutboxError::Corrupt(format!("negative count {value}")))
}
