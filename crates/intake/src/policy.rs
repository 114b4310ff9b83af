//! How the intake retries, how long it keeps things, and how long it waits for a provider.
//! Read from the environment by [`IntakePolicy::from_lookup`]; each variable is documented on its
//! field and in the README.

use std::time::Duration;

use outbox::Redelivery;
use primitives::config::Variable;

/// Why a configuration was refused: the variable and what is wrong with it.
pub use primitives::config::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakePolicy {
    /// Backoff after a failed attempt (5 s doubling to 1 h, equal jitter) and the lease an
    /// attempt holds a delivery for (1 min).
    pub retry: Redelivery,
    /// `INBOX_MAX_ATTEMPTS` (default 30, about a day at the default backoff): failed attempts
    /// before a delivery is dead-lettered (`INBOX DEAD LETTER` logged, counted). Providers stop
    /// redelivering after about three days, so a dead letter must be re-applied by a person.
    pub max_attempts: u32,
    /// How long a freshly received delivery is left to the receiver that stored it before the
    /// background job may take it (30 s).
    pub receiver_grace: Duration,
    /// `INBOX_UNMATCHED_RETRY_DAYS` (default 30): for how long unmatched deliveries are looked at
    /// again (every minute at first, hourly at most); after that only an operator re-applies
    /// them. A subscription created or bound meanwhile wakes them at once.
    pub unmatched_window: Duration,
    /// `INBOX_RETENTION_DAYS` (default 90): raw bodies are kept this long, then pruned; each
    /// delivery's row, digest, events and outcomes stay.
    pub retention: Duration,
    /// `PROVIDER_ASK_TIMEOUT_MS` (default 5000): the longest an attempt waits for a provider's
    /// view of a subscription (an activation while payment is owed, a payment without its
    /// period). Past it the attempt fails and is retried.
    pub ask_timeout: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for IntakePolicy {
    fn default() -> Self {
        Self {
            retry: Redelivery::DEFAULT,
            max_attempts: 30,
            receiver_grace: Duration::from_secs(30),
            unmatched_window: 30 * DAY,
            retention: 90 * DAY,
            ask_timeout: Duration::from_secs(5),
        }
    }
}

impl IntakePolicy {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "INBOX_MAX_ATTEMPTS",
            default: "30",
            meaning: "failed attempts before a webhook delivery is dead-lettered (`INBOX DEAD LETTER`; 1 to 1000)",
        },
        Variable {
            name: "INBOX_RETENTION_DAYS",
            default: "90",
            meaning: "how long raw webhook bodies are kept (rows, events and outcomes stay; 1 to 3650)",
        },
        Variable {
            name: "INBOX_UNMATCHED_RETRY_DAYS",
            default: "30",
            meaning: "how long unmatched deliveries are looked at again by themselves (1 to 3650)",
        },
        Variable {
            name: "PROVIDER_ASK_TIMEOUT_MS",
            default: "5000",
            meaning: "the longest an attempt waits for a provider's view of a subscription (100 to 60000)",
        },
    ];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let number =
            |variable: &'static str, min: u64, max: u64| -> Result<Option<u64>, ConfigError> {
                let Some(raw) = lookup(variable) else {
                    return Ok(None);
                };
                let value: u64 = raw.trim().parse().map_err(|_| ConfigError {
                    variable,
                    message: format!("expected a whole number from {min} to {max}, got {raw:?}"),
                })?;
                if !(min..=max).contains(&value) {
                    return Err(ConfigError {
                        variable,
                        message: format!("must be from {min} to {max}, got {value}"),
                    });
                }
                Ok(Some(value))
            };
        let max_attempts = number("INBOX_MAX_ATTEMPTS", 1, 1000)?
            .and_then(|value| u32::try_from(value).ok())
            .unwrap_or(defaults.max_attempts);
        let days = |variable, default: Duration| -> Result<Duration, ConfigError> {
            Ok(number(variable, 1, 3650)?
                .map_or(default, |days| DAY * u32::try_from(days).unwrap_or(1)))
        };
        Ok(Self {
            max_attempts,
            unmatched_window: days("INBOX_UNMATCHED_RETRY_DAYS", defaults.unmatched_window)?,
            retention: days("INBOX_RETENTION_DAYS", defaults.retention)?,
            ask_timeout: number("PROVIDER_ASK_TIMEOUT_MS", 100, 60_000)?
                .map_or(defaults.ask_timeout, Duration::from_millis),
            ..defaults
        })
    }

    /// When an unmatched delivery received at `received_at` is looked at again, seen at `now`:
    /// a quarter of its age, between a minute and an hour, so a subscription created right
    /// after its first event is found quickly and a stray delivery costs little; `None` once
    /// it is older than the window.
    pub fn next_unmatched_attempt(
        &self,
        received_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let age = (now - received_at).to_std().unwrap_or_default();
        if age > self.unmatched_window {
            return None;
        }
        let wait = (age / 4).clamp(Duration::from_secs(60), Duration::from_secs(60 * 60));
        chrono::Duration::from_std(wait).ok().map(|wait| now + wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(
            IntakePolicy::from_lookup(lookup(&[])),
            Ok(IntakePolicy::default())
        );
        let policy = IntakePolicy::from_lookup(lookup(&[
            ("INBOX_MAX_ATTEMPTS", "5"),
            ("INBOX_RETENTION_DAYS", "7"),
            ("PROVIDER_ASK_TIMEOUT_MS", "250"),
        ]));
        assert_eq!(
            policy
                .as_ref()
                .map(|p| (p.max_attempts, p.retention, p.ask_timeout)),
            Ok((5, DAY * 7, Duration::from_millis(250)))
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("INBOX_MAX_ATTEMPTS", "0"),
            ("INBOX_MAX_ATTEMPTS", "-1"),
            ("INBOX_MAX_ATTEMPTS", "ten"),
            ("INBOX_RETENTION_DAYS", "0"),
            ("INBOX_UNMATCHED_RETRY_DAYS", "99999"),
            ("PROVIDER_ASK_TIMEOUT_MS", "1e3"),
        ] {
            let error = IntakePolicy::from_lookup(lookup(&[(variable, value)]));
            assert_eq!(
                error.map_err(|e| e.variable),
                Err(variable),
                "{variable}={value}"
            );
        }
    }

    #[test]
    fn unmatched_deliveries_are_looked_at_again_ever_more_slowly_then_left() {
        let policy = IntakePolicy::default();
        let received = chrono::DateTime::UNIX_EPOCH;
        let after = |secs: i64| {
            let now = received + chrono::Duration::seconds(secs);
            policy
                .next_unmatched_attempt(received, now)
                .map(|next| (next - now).num_seconds())
        };
        assert_eq!(after(0), Some(60));
        assert_eq!(after(60 * 60), Some(15 * 60));
        assert_eq!(after(10 * 60 * 60), Some(60 * 60));
        assert_eq!(after(31 * 24 * 60 * 60), None);
    }
}
