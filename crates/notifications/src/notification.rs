//! A notification and how it enters the outbox: on the caller's connection, so it commits with
//! the state change it announces.

use chrono::{DateTime, Utc};
use db::AsyncPgConnection;
use outbox::{DedupeKey, Enqueued, Envelope, Message, Topic};
use primitives::OrganizationId;
use serde::{Deserialize, Serialize};
use subscriptions::NotificationKind;

use crate::error::NotificationError;

/// Something to tell an organization about its billing.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub organization_id: OrganizationId,
    /// Facts for the text, a JSON object; every field is optional (see [`crate::facts`]).
    pub payload: serde_json::Value,
}

/// The outbox message of a notification (its topic is in the `Message` impl below):
/// `{"kind": "payment_failed", "facts": {...}}`. The organization is the message's
/// `organization_id`. Producers go through [`enqueue`]; [`crate::NotificationHandler`] delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationMessage {
    pub kind: NotificationKind,
    pub facts: serde_json::Map<String, serde_json::Value>,
}

impl Message for NotificationMessage {
    const TOPIC: Topic = Topic::from_static("notification");
}

/// Enqueues the notification as a [`NotificationMessage`], due at `available_at` (usually the
/// caller's now). `dedupe_key` must be unique per notification across all kinds, e.g. the
/// triggering event's id and the kind; enqueueing it again changes nothing
/// ([`Enqueued::Duplicate`]).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    notification: &Notification,
    dedupe_key: &str,
    available_at: DateTime<Utc>,
) -> Result<Enqueued, NotificationError> {
    let facts = match &notification.payload {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(facts) => facts.clone(),
        _ => return Err(NotificationError::PayloadNotAnObject),
    };
    let message = NotificationMessage {
        kind: notification.kind,
        facts,
    };
    let envelope = Envelope::new(DedupeKey::parse(dedupe_key)?, available_at)
        .for_organization(notification.organization_id);
    Ok(outbox::enqueue(conn, &message, envelope).await?)
}

impl NotificationMessage {
    /// The notification for `organization_id` (the message's organization).
    pub(crate) fn into_notification(self, organization_id: OrganizationId) -> Notification {
        Notification {
            kind: self.kind,
            organization_id,
            payload: serde_json::Value::Object(self.facts),
        }
    }
}
