//! An event as it arrives: who sent it, its id at the sender, when it happened.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{SubscriptionError, SubscriptionEvent};

/// Where an event came from (`paypal`, `stripe`, `payhere`, `dunning`, `scheduler`, `admin` ...):
/// lowercase ASCII, so ids from different senders never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EventSource(String);

impl EventSource {
    pub fn parse(value: &str) -> Result<Self, SubscriptionError> {
        let valid = (1..=32).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(SubscriptionError::invalid(
                "source",
                "1 to 32 characters: lowercase letters, digits, underscores",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The sender's id for the event; applying the same (source, id) twice changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub fn parse(value: &str) -> Result<Self, SubscriptionError> {
        let valid = (1..=200).contains(&value.len())
            && value.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            && value.trim() == value;
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(SubscriptionError::invalid(
                "event_id",
                "1 to 200 printable ASCII characters without surrounding spaces",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    pub source: EventSource,
    pub event_id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub event: SubscriptionEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_ids_are_validated() {
        assert!(EventSource::parse("paypal").is_ok());
        assert!(EventSource::parse("stripe_test2").is_ok());
        for bad in ["", "PayPal", "2co", "pay pal", "a-b", &"x".repeat(33)] {
            assert!(EventSource::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EventId::parse("WH-7Y7254563A4550640-06E3").is_ok());
        assert!(EventId::parse("evt_1 with space").is_ok());
        for bad in ["", " x", "x ", "é", "a\nb", &"x".repeat(201)] {
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
