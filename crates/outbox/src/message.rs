//! Typed contracts. A message type names its topic, and its producer and its consumer share
//! it: a topic or a payload field is written in one place, and a payload that does not fit the
//! type never reaches a handler.

use std::num::NonZeroU16;

use chrono::{DateTime, Utc};
use primitives::OrganizationId;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    input::{DedupeKey, Topic},
    model::NewMessage,
};

/// The payload of one topic. The crate that owns the message's meaning defines the type;
/// producers enqueue it with [`crate::enqueue`] and the consumer is the [`crate::Handler`]
/// whose `Message` it is.
///
/// Payloads are stored as JSON and shown to operators: never put secrets in them. A stored
/// payload that no longer decodes makes its message dead at the next attempt, so change a type
/// only in ways that still read the rows already stored (new fields optional, wire names kept).
pub trait Message: Serialize + DeserializeOwned + Send {
    const TOPIC: Topic;
}

/// Everything about a typed message but its topic and payload: its idempotency key, its
/// organization, when it is due and how many attempts it gets.
///
/// `Envelope { organization_id: Some(org), ..Envelope::new(key, now) }`, or
/// `Envelope::new(key, now).for_organization(org)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub dedupe_key: DedupeKey,
    pub organization_id: Option<OrganizationId>,
    /// The earliest time it may be delivered (usually now).
    pub available_at: DateTime<Utc>,
    /// Attempts before the message is dead-lettered.
    pub max_attempts: NonZeroU16,
}

impl Envelope {
    /// No organization, [`NewMessage::DEFAULT_MAX_ATTEMPTS`] attempts.
    pub fn new(dedupe_key: DedupeKey, available_at: DateTime<Utc>) -> Self {
        Self {
            dedupe_key,
            organization_id: None,
            available_at,
            max_attempts: NewMessage::DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn for_organization(self, organization_id: OrganizationId) -> Self {
        Self {
            organization_id: Some(organization_id),
            ..self
        }
    }

    pub(crate) fn with(self, topic: Topic, payload: serde_json::Value) -> NewMessage {
        NewMessage {
            topic,
            dedupe_key: self.dedupe_key,
            organization_id: self.organization_id,
            payload,
            available_at: self.available_at,
            max_attempts: self.max_attempts,
        }
    }
}
