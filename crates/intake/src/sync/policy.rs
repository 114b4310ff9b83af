//! Which subscriptions the provider sync looks at, how many per round and how fast it may ask.
//! Read by [`SyncPolicy::from_env`]; each variable is documented on its field and in the
//! README. How often a round runs is the worker's (`PROVIDER_SYNC_INTERVAL_SECS`, jobs).

use std::time::Duration;

use primitives::config::{ConfigError, Env, Variable};

use super::bucket::Rate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPolicy {
    /// `PROVIDER_SYNC_PENDING_AFTER_MINS` (default 60): a subscription still pending this long
    /// after its creation is looked at (its activation may have been lost).
    pub pending_after: Duration,
    /// `PROVIDER_SYNC_QUIET_HOURS` (default 24): a live subscription that has heard nothing
    /// (no applied event, no sync) for this long is looked at.
    pub quiet_after: Duration,
    /// `PROVIDER_SYNC_RECHECK_MINS` (default 60): no subscription is looked at again sooner
    /// than this after its last sync; past-due and suspended ones are looked at this often.
    pub recheck_after: Duration,
    /// `PROVIDER_SYNC_BATCH` (default 100): subscriptions one round takes at most.
    pub batch: usize,
    /// `PROVIDER_SYNC_RATE_PER_SEC` (default 5) and `PROVIDER_SYNC_BURST` (default 10): each
    /// provider's request budget in one worker process.
    pub rate: Rate,
    /// The longest a round waits for a token before it leaves that provider's remaining
    /// subscriptions to the next round (5 s).
    pub max_wait: Duration,
    /// How long a provider is left alone after it answered 429 (60 s): the outbound layer has
    /// already honoured its `Retry-After` on its own retries before giving up.
    pub cooldown: Duration,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            pending_after: 60 * MINUTE,
            quiet_after: 24 * HOUR,
            recheck_after: 60 * MINUTE,
            batch: 100,
            rate: Rate::per_second(5, 10),
            max_wait: Duration::from_secs(5),
            cooldown: MINUTE,
        }
    }
}

impl SyncPolicy {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "PROVIDER_SYNC_PENDING_AFTER_MINS",
            default: "60",
            meaning: "provider sync: a subscription still pending this long after its creation is re-fetched from its provider (1 to 43200)",
        },
        Variable {
            name: "PROVIDER_SYNC_QUIET_HOURS",
            default: "24",
            meaning: "provider sync: a live subscription without an event or a sync for this long is re-fetched (1 to 8760)",
        },
        Variable {
            name: "PROVIDER_SYNC_RECHECK_MINS",
            default: "60",
            meaning: "provider sync: the least time between two syncs of one subscription, and how often past-due and suspended ones are re-fetched (1 to 43200)",
        },
        Variable {
            name: "PROVIDER_SYNC_BATCH",
            default: "100",
            meaning: "provider sync: subscriptions one round takes at most (1 to 1000)",
        },
        Variable {
            name: "PROVIDER_SYNC_RATE_PER_SEC",
            default: "5",
            meaning: "provider sync: requests per second to each provider, per worker process (1 to 1000)",
        },
        Variable {
            name: "PROVIDER_SYNC_BURST",
            default: "10",
            meaning: "provider sync: requests to each provider at once after a pause, per worker process (1 to 1000)",
        },
    ];

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let minutes = |name, default: Duration| -> Result<Duration, ConfigError> {
            Ok(MINUTE * env.number(name, 1..=43_200u32, secs_in(default, MINUTE))?)
        };
        let rate = Rate::per_second(
            env.number("PROVIDER_SYNC_RATE_PER_SEC", 1..=1000, 5)?,
            env.number("PROVIDER_SYNC_BURST", 1..=1000, defaults.rate.burst)?,
        );
        Ok(Self {
            pending_after: minutes("PROVIDER_SYNC_PENDING_AFTER_MINS", defaults.pending_after)?,
            quiet_after: HOUR
                * env.number(
                    "PROVIDER_SYNC_QUIET_HOURS",
                    1..=8760u32,
                    secs_in(defaults.quiet_after, HOUR),
                )?,
            recheck_after: minutes("PROVIDER_SYNC_RECHECK_MINS", defaults.recheck_after)?,
            batch: env.number("PROVIDER_SYNC_BATCH", 1..=1000, defaults.batch)?,
            rate,
            ..defaults
        })
    }

    /// How long a round holds what it claimed: long enough for every claimed subscription to
    /// wait for its token and for its provider's answer (`ask_timeout`), so no other worker
    /// takes one of them while the round still means to ask about it.
    pub fn lease(&self, ask_timeout: Duration) -> Duration {
        let per_subscription = self.max_wait.saturating_add(ask_timeout);
        per_subscription
            .saturating_mul(u32::try_from(self.batch).unwrap_or(u32::MAX))
            .saturating_add(MINUTE)
    }
}

/// `duration` in whole `unit`s.
fn secs_in(duration: Duration, unit: Duration) -> u32 {
    u32::try_from(duration.as_secs() / unit.as_secs().max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(
            SyncPolicy::from_env(&Env::from_pairs(&[])),
            Ok(SyncPolicy::default())
        );
        let policy = SyncPolicy::from_env(&Env::from_pairs(&[
            ("PROVIDER_SYNC_PENDING_AFTER_MINS", "15"),
            ("PROVIDER_SYNC_QUIET_HOURS", "48"),
            ("PROVIDER_SYNC_RECHECK_MINS", "30"),
            ("PROVIDER_SYNC_BATCH", "20"),
            ("PROVIDER_SYNC_RATE_PER_SEC", "2"),
            ("PROVIDER_SYNC_BURST", "3"),
        ]))
        .unwrap_or_default();
        assert_eq!(policy.pending_after, 15 * MINUTE);
        assert_eq!(policy.quiet_after, 48 * HOUR);
        assert_eq!(policy.recheck_after, 30 * MINUTE);
        assert_eq!(policy.batch, 20);
        assert_eq!(policy.rate, Rate::per_second(2, 3));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("PROVIDER_SYNC_PENDING_AFTER_MINS", "0"),
            ("PROVIDER_SYNC_QUIET_HOURS", "a day"),
            ("PROVIDER_SYNC_RECHECK_MINS", "-5"),
            ("PROVIDER_SYNC_BATCH", "1001"),
            ("PROVIDER_SYNC_RATE_PER_SEC", "0.5"),
            ("PROVIDER_SYNC_BURST", "0"),
        ] {
            let error = SyncPolicy::from_env(&Env::from_pairs(&[(variable, value)]));
            assert_eq!(
                error.map_err(|e| e.variable),
                Err(variable),
                "{variable}={value}"
            );
        }
    }

    #[test]
    fn the_lease_outlasts_a_round_that_waits_for_every_token_and_answer() {
        let policy = SyncPolicy {
            batch: 10,
            ..SyncPolicy::default()
        };
        // Ten subscriptions, each up to 5 s for a token and 5 s for the answer, and a minute.
        assert_eq!(
            policy.lease(Duration::from_secs(5)),
            Duration::from_secs(160)
        );
    }
}
