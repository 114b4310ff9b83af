//! Outbox bodies for operators: messages, counts and the list's query (docs/outbox.md).
//!
//! Statuses cross the wire as the outbox's own names (`pending`, `delivered`, `dead`); the
//! payload as stored, which is why it never holds secrets.

use chrono::{DateTime, Utc};
use outbox::{MessageId, OutboxMessage, Status, StatusCount};
use primitives::OrganizationId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `?status=&topic=&organization_id=&cursor=&limit=` of `GET /v1/admin/outbox`. Every value is
/// taken as text and checked by the handler, so each bad one gets its own code rather than the
/// generic `VALIDATION_FAILED`. An absent parameter is no filter; an empty one is refused like
/// any other bad value.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxListParams {
    /// Only messages in this status: `pending`, `delivered` or `dead`.
    #[param(example = "dead", min_length = 1)]
    pub status: Option<String>,
    /// Only messages of this topic (lower-case dotted words).
    #[param(example = "notification", min_length = 1, max_length = 64)]
    pub topic: Option<String>,
    /// Only messages concerning this organization.
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// Page size, 1 to 200. Default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = OutboxStatus)]
pub enum OutboxStatusWire {
    /// Waiting for its next attempt, or claimed by a worker right now.
    Pending,
    /// Delivered; never touched again.
    Delivered,
    /// Given up on: a person must look at it, then may retry it.
    Dead,
}

impl From<Status> for OutboxStatusWire {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => Self::Pending,
            Status::Delivered => Self::Delivered,
            Status::Dead => Self::Dead,
        }
    }
}

/// One outbox message as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessageView {
    /// Time-ordered (UUID v7); handlers pass it on as the idempotency key.
    #[schema(value_type = uuid::Uuid)]
    pub id: MessageId,
    /// Which handler delivers it.
    #[schema(example = "notification")]
    pub topic: String,
    /// The enqueuer's idempotency key within the topic.
    #[schema(example = "0190f3a2-7c1e-7000-8000-000000000000:payment_failed")]
    pub dedupe_key: String,
    /// The organization concerned, if any.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<OrganizationId>,
    pub status: OutboxStatusWire,
    /// Claims so far (reset to 0 by a retry).
    pub attempts: u32,
    /// Claims allowed before the message is dead-lettered.
    pub max_attempts: u32,
    /// When it may next be claimed; while claimed, the end of the lease.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, sanitized by the handler; kept after a retry until the next attempt.
    pub last_error: Option<String>,
    /// Set while a worker holds a claim; in the past if that worker stopped.
    pub claimed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Set exactly when `status` is `delivered`.
    pub delivered_at: Option<DateTime<Utc>>,
    /// What the handler needs, as enqueued.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<OutboxMessage> for OutboxMessageView {
    fn from(message: OutboxMessage) -> Self {
        Self {
            id: message.id,
            topic: message.topic.as_str().to_owned(),
            dedupe_key: message.dedupe_key.as_str().to_owned(),
            organization_id: message.organization_id,
            status: message.status.into(),
            attempts: message.attempts,
            max_attempts: message.max_attempts,
            next_attempt_at: message.next_attempt_at,
            last_error: message.last_error,
            claimed_until: message.claimed_until,
            created_at: message.created_at,
            delivered_at: message.delivered_at,
            payload: message.payload,
        }
    }
}

/// A page of messages, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessagesResponse {
    pub messages: Vec<OutboxMessageView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub next_cursor: Option<MessageId>,
}

/// How many messages of a topic are in a status.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCountView {
    #[schema(example = "notification")]
    pub topic: String,
    pub status: OutboxStatusWire,
    pub count: u64,
}

impl From<StatusCount> for OutboxCountView {
    fn from(count: StatusCount) -> Self {
        Self {
            topic: count.topic.as_str().to_owned(),
            status: count.status.into(),
            count: count.count,
        }
    }
}

/// Message counts by topic, then status; a topic and status with no message is absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxCountsResponse {
    pub counts: Vec<OutboxCountView>,
}
