//! The payload fields rendering understands. All are optional; a missing or malformed one just
//! leaves its sentence out. Text values are cleaned (control characters dropped, cut to 200
//! characters) before they reach an email.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Amount due or received, as text (`"10.00 USD"`) or a number (then `CURRENCY` is appended).
pub const AMOUNT: &str = "amount";
/// Currency code for a numeric `AMOUNT`.
pub const CURRENCY: &str = "currency";
/// Why the payment failed, as the provider said it (`"card declined"`).
pub const REASON: &str = "reason";
/// The number of the payment attempt that failed.
pub const ATTEMPT: &str = "attempt";
/// The number of the next payment attempt.
pub const NEXT_ATTEMPT: &str = "next_attempt";
/// RFC 3339 time of the next dunning step: the next retry, or the suspension for a final
/// warning.
pub const NEXT_STEP_AT: &str = "next_step_at";
/// RFC 3339 end of the current period (when a scheduled cancellation takes effect).
pub const PERIOD_END: &str = "period_end";
/// RFC 3339 end of the trial.
pub const TRIAL_END: &str = "trial_end";
/// The subscription concerned, quoted in the footer.
pub const SUBSCRIPTION_ID: &str = "subscription_id";

const MAX_CHARS: usize = 200;

/// Read access to a payload that may lack any field or not be an object at all.
pub(crate) struct Facts<'a>(&'a Value);

impl<'a> Facts<'a> {
    pub(crate) fn new(payload: &'a Value) -> Self {
        Self(payload)
    }

    /// A string or number field as clean text; `None` when missing, null, empty or another type.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        let raw = match self.0.get(key)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let clean: String = raw
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_CHARS)
            .collect();
        let clean = clean.trim();
        (!clean.is_empty()).then(|| clean.to_owned())
    }

    pub(crate) fn amount(&self) -> Option<String> {
        let amount = self.text(AMOUNT)?;
        let numeric = matches!(self.0.get(AMOUNT), Some(Value::Number(_)));
        match self.text(CURRENCY) {
            Some(currency) if numeric => Some(format!("{amount} {currency}")),
            _ => Some(amount),
        }
    }

    /// A positive whole number.
    pub(crate) fn count(&self, key: &str) -> Option<u64> {
        self.0.get(key)?.as_u64().filter(|n| *n > 0)
    }

    /// A time as `2026-11-25 14:00 UTC`; text that is not RFC 3339 is shown as it is.
    pub(crate) fn time(&self, key: &str) -> Option<String> {
        if !self.0.get(key).is_some_and(Value::is_string) {
            return None;
        }
        let text = self.text(key)?;
        Some(match DateTime::parse_from_rfc3339(&text) {
            Ok(time) => time
                .with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string(),
            Err(_) => text,
        })
    }
}
