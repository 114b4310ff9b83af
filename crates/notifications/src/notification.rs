//! A notification and how it enters the outbox: on the caller's connection, so it commits with
//! the state change it announces.

use chrono::{DateTime, Utc};
use db::AsyncPgConnection;
use outbox::{ClaimedMessage, DedupeKey, Enqueued, NewMessage, Topic};
use primitives::OrganizationId;
use serde::{Deserialize, Serialize};

use crate::{error::NotificationError, kind::NotificationKind};

/// The outbox topic of customer notifications.
pub const TOPIC: Topic = Topic::from_static("notification");

/// Something to tell an organization about its billing.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub organization_id: OrganizationId,
    /// Facts for the text, a JSON object; every field is optional (see [`crate::facts`]).
    pub payload: serde_json::Value,
}

/// The outbox payload; the organization is the message's `organization_id`.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    kind: NotificationKind,
    facts: serde_json::Value,
}

/// Enqueues the notification under topic [`TOPIC`], due at `available_at` (usually the caller's
/// now). `dedupe_key` must be unique per notification across all kinds, e.g. the triggering
/// event's id and the kind; enqueueing it again changes nothing ([`Enqueued::Duplicate`]).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    notification: &Notification,
    dedupe_key: &str,
    available_at: DateTime<Utc>,
) -> Result<Enqueued, NotificationError> {
    let facts = match &notification.payload {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        object @ serde_json::Value::Object(_) => object.clone(),
        _ => return Err(NotificationError::PayloadNotAnObject),
    };
    let stored = Stored {
        kind: notification.kind,
        facts,
    };
    let payload =
        serde_json::to_value(&stored).map_err(|e| NotificationError::Encode(e.to_string()))?;
    let message = NewMessage {
        organization_id: Some(notification.organization_id),
        ..NewMessage::new(TOPIC, DedupeKey::parse(dedupe_key)?, payload, available_at)
    };
    Ok(outbox::enqueue(conn, message).await?)
}

/// The notification a claimed outbox message carries.
pub(crate) fn decode(message: &ClaimedMessage) -> Result<Notification, String> {
    let organization_id = message
        .organization_id
        .ok_or("the notification has no organization")?;
    let stored: Stored = serde_json::from_value(message.payload.clone())
        .map_err(|e| format!("undecodable notification payload: {e}"))?;
    Ok(Notification {
        kind: stored.kind,
        organization_id,
        payload: stored.facts,
    })
}
