//! An event as it arrives: who sent it, its id at the sender, when it happened.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
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

/// How finely the sender stamps `occurred_at`: Stripe's `created` is in whole seconds, PayPal's
/// times in milliseconds, the system's own events (admin, dunning, scheduler) in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimePrecision {
    Microsecond,
    Millisecond,
    Second,
}

impl TimePrecision {
    /// `at` cut down to this precision (towards the past): what a sender of this precision would
    /// have stamped at that instant.
    pub fn truncate(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.trunc_subsecs(self.digits())
    }

    const fn digits(self) -> u16 {
        match self {
            Self::Microsecond => 6,
            Self::Millisecond => 3,
            Self::Second => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    pub source: EventSource,
    pub event_id: EventId,
    pub occurred_at: DateTime<Utc>,
    /// The precision of `occurred_at`: ordering against the newest applied event happens at it,
    /// so an event stamped in whole seconds is never stale against one from the same second.
    pub precision: TimePrecision,
    pub event: SubscriptionEvent,
}

impl EventEnvelope {
    /// Whether the event is older than `last_event_at`, the newest applied event, compared at
    /// this event's (coarser) precision: a tie is not stale, so a genuine later event stamped
    /// in a coarser unit is never lost.
    pub fn is_older_than(&self, last_event_at: DateTime<Utc>) -> bool {
        self.occurred_at < self.precision.truncate(last_event_at)
    }
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

    #[test]
    fn precision_truncates_towards_the_past() {
        let at = DateTime::parse_from_rfc3339("2027-01-01T12:00:05.700123456Z")
            .unwrap()
            .to_utc();
        let cut = |precision: TimePrecision| precision.truncate(at).to_rfc3339();
        assert_eq!(
            cut(TimePrecision::Microsecond),
            "2027-01-01T12:00:05.700123+00:00"
        );
        assert_eq!(
            cut(TimePrecision::Millisecond),
            "2027-01-01T12:00:05.700+00:00"
        );
        assert_eq!(cut(TimePrecision::Second), "2027-01-01T12:00:05+00:00");
        // Before 1970 too: truncation never rounds up.
        let early = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.900Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            TimePrecision::Second.truncate(early).to_rfc3339(),
            "1969-12-31T23:59:59+00:00"
        );
    }

    #[test]
    fn an_event_is_stale_only_when_older_at_its_own_precision() {
        let last = DateTime::parse_from_rfc3339("2027-01-01T12:00:05.700Z")
            .unwrap()
            .to_utc();
        let envelope = |at: &str, precision| EventEnvelope {
            source: EventSource::parse("stripe").unwrap(),
            event_id: EventId::parse("evt_1").unwrap(),
            occurred_at: DateTime::parse_from_rfc3339(at).unwrap().to_utc(),
            precision,
            event: SubscriptionEvent::Paused,
        };
        use TimePrecision::{Microsecond, Millisecond, Second};
        // The same second at second precision is a tie: applied.
        assert!(!envelope("2027-01-01T12:00:05Z", Second).is_older_than(last));
        assert!(envelope("2027-01-01T12:00:04Z", Second).is_older_than(last));
        assert!(!envelope("2027-01-01T12:00:05.700Z", Millisecond).is_older_than(last));
        assert!(envelope("2027-01-01T12:00:05.699Z", Millisecond).is_older_than(last));
        // At microsecond precision the same instant in seconds is older.
        assert!(envelope("2027-01-01T12:00:05Z", Microsecond).is_older_than(last));
        assert!(!envelope("2027-01-01T12:00:05.700Z", Microsecond).is_older_than(last));
    }
}
