//! The outbox's vocabulary: messages as enqueued, claimed and listed, and what settling did.

use std::{fmt, num::NonZeroU16, str::FromStr};

use chrono::{DateTime, Utc};
use primitives::OrganizationId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::input::{DedupeKey, Topic};

/// One outbox message (UUID v7, so ids sort by creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for MessageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Waiting for its next attempt, or claimed by a worker right now.
    Pending,
    /// Delivered; never touched again.
    Delivered,
    /// Given up on (attempts exhausted or a permanent error): a person must look at it.
    Dead,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to enqueue. Build it with [`NewMessage::new`] and override fields as needed:
/// `NewMessage { organization_id: Some(org), ..NewMessage::new(topic, key, payload, now) }`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub topic: Topic,
    pub dedupe_key: DedupeKey,
    pub organization_id: Option<OrganizationId>,
    /// What the handler needs to make the call. Never put secrets here: payloads are shown to
    /// operators.
    pub payload: serde_json::Value,
    /// The earliest time it may be delivered (usually now).
    pub available_at: DateTime<Utc>,
    /// Attempts before the message is dead-lettered.
    pub max_attempts: NonZeroU16,
}

impl NewMessage {
    /// Under the default [`crate::Redelivery`] (5 s doubling, capped at an hour) the waits
    /// between 12 attempts add up to between about 1.2 and 2.4 hours.
    pub const DEFAULT_MAX_ATTEMPTS: NonZeroU16 = match NonZeroU16::new(12) {
        Some(n) => n,
        None => panic!("12 is not zero"),
    };

    pub fn new(
        topic: Topic,
        dedupe_key: DedupeKey,
        payload: serde_json::Value,
        available_at: DateTime<Utc>,
    ) -> Self {
        Self {
            topic,
            dedupe_key,
            organization_id: None,
            payload,
            available_at,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What [`crate::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(MessageId),
    /// The (topic, dedupe key) was already enqueued: nothing changed; this is its id.
    Duplicate(MessageId),
}

impl Enqueued {
    pub fn id(&self) -> MessageId {
        match self {
            Self::New(id) | Self::Duplicate(id) => *id,
        }
    }
}

/// A message claimed by one worker. Only this value (its claim token) can settle it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedMessage {
    pub id: MessageId,
    pub topic: Topic,
    pub dedupe_key: DedupeKey,
    pub organization_id: Option<OrganizationId>,
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub max_attempts: u32,
    /// The error of the previous attempt, if any.
    pub last_error: Option<String>,
    /// After this instant another worker may claim the message again.
    pub lease_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub(crate) claim_token: Uuid,
}

/// What settling a claimed message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Delivered,
    /// Pending again, not before `next_attempt_at`.
    Retrying {
        next_attempt_at: DateTime<Utc>,
    },
    Dead,
    /// The claim is no longer ours (the lease ran out and another worker claimed the message,
    /// or an operator changed it): nothing was written.
    ClaimLost,
}

/// A message as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: MessageId,
    pub topic: Topic,
    pub dedupe_key: DedupeKey,
    pub organization_id: Option<OrganizationId>,
    pub payload: serde_json::Value,
    pub status: Status,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// Set while a worker holds a claim (it may have died: then this is in the past).
    pub claimed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Which messages [`crate::list`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub topic: Option<Topic>,
    pub organization_id: Option<OrganizationId>,
    /// Only messages older than this one (the last id of the previous page).
    pub before: Option<MessageId>,
    /// At most [`ListFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl ListFilter {
    pub const MAX_LIMIT: u32 = 500;

    /// The dead letters of every topic, newest first.
    pub fn dead_letters(limit: u32) -> Self {
        Self {
            status: Some(Status::Dead),
            ..Self::default()
        }
        .with_limit(limit)
    }

    pub fn with_limit(self, limit: u32) -> Self {
        Self { limit, ..self }
    }
}

impl Default for ListFilter {
    fn default() -> Self {
        Self {
            status: None,
            topic: None,
            organization_id: None,
            before: None,
            limit: 100,
        }
    }
}

/// How many messages of a topic are in a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub topic: Topic,
    pub status: Status,
    pub count: u64,
}
