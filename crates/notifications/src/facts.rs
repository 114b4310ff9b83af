//! The payload fields rendering understands. All are optional; a missing or malformed one just
//! leaves its sentence out. Text values are cleaned (control characters dropped, cut to 200
//! characters) before they reach an email.

use chrono::{DateTime, Utc};
use primitives::ProviderName;
use serde_json::Value;

/// Amount due, received, disputed or taken back, as text (`"10.00 USD"`) or a number (then
/// `CURRENCY` is appended).
pub const AMOUNT: &str = "amount";
/// Currency code for a numeric `AMOUNT` or `SHORTFALL`.
pub const CURRENCY: &str = "currency";
/// Why, as the provider said it: a failed payment's (`"card declined"`), a dispute's
/// (`"fraudulent"`) or a reversal's (`"refund"`, `"chargeback"`).
pub const REASON: &str = "reason";
/// The provider's id of the payment concerned (disputes, reversals), as the customer finds it
/// in their provider account (`"ch_3NaB..."`, a PayPal capture id).
pub const PAYMENT_REFERENCE: &str = "payment_reference";
/// The provider the payment went through: `paypal`, `stripe`, `payhere` (shown as PayPal,
/// Stripe, PayHere) or any other name, shown as it is.
pub const PROVIDER: &str = "provider";
/// The part of a taken-back amount the wallet could not cover (disputes lost, reversals), as
/// text or a number like `AMOUNT`. Present only when the wallet fell short and was frozen; a
/// zero shortfall (no non-zero digit) counts as none.
pub const SHORTFALL: &str = "shortfall";
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
        self.money(AMOUNT)
    }

    /// What the wallet could not cover, when it is more than nothing.
    pub(crate) fn shortfall(&self) -> Option<String> {
        self.money(SHORTFALL)
            .filter(|text| text.chars().any(|c| c.is_ascii_digit() && c != '0'))
    }

    /// The provider's display name.
    pub(crate) fn provider(&self) -> Option<String> {
        let name = self.text(PROVIDER)?;
        Some(match ProviderName::parse(&name) {
            Some(ProviderName::Paypal) => "PayPal".to_owned(),
            Some(ProviderName::Stripe) => "Stripe".to_owned(),
            Some(ProviderName::Payhere) => "PayHere".to_owned(),
            None => name,
        })
    }

    /// An amount as text, or a number with `CURRENCY` appended.
    fn money(&self, key: &str) -> Option<String> {
        let amount = self.text(key)?;
        let numeric = matches!(self.0.get(key), Some(Value::Number(_)));
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
