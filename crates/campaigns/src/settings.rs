//! How long a campaign's wallet hold lasts and when a running campaign renews it, from the
//! environment; the settings behind [`FundsPolicy`].

use std::time::Duration;

use chrono::TimeDelta;
use primitives::config::{ConfigError, Env, Variable};

use crate::FundsPolicy;

/// How long a campaign's wallet hold lasts and when a running campaign renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldSettings {
    pub ttl: Duration,
    pub renew_before: Duration,
}

pub const DEFAULT_HOLD_TTL_HOURS: u64 = 168;
pub const DEFAULT_HOLD_RENEW_BEFORE_HOURS: u64 = 24;
const HOUR: u64 = 3600;

impl Default for HoldSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(DEFAULT_HOLD_TTL_HOURS * HOUR),
            renew_before: Duration::from_secs(DEFAULT_HOLD_RENEW_BEFORE_HOURS * HOUR),
        }
    }
}

impl HoldSettings {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "CAMPAIGN_HOLD_TTL_HOURS",
            default: "168",
            meaning: "how long a campaign's wallet hold lasts (at most the ledger's longest hold, 720 hours); running campaigns renew it",
        },
        Variable {
            name: "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            default: "24",
            meaning: "a hold closer than this to its deadline is renewed before the next batch; less than the TTL and more than `DISPATCH_LEASE_SECS`",
        },
    ];

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let max_hours = ledger::MAX_HOLD_TTL.num_hours().unsigned_abs();
        let hours = |name, default| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                env.number(name, 1..=max_hours, default)? * HOUR,
            ))
        };
        let settings = Self {
            ttl: hours("CAMPAIGN_HOLD_TTL_HOURS", DEFAULT_HOLD_TTL_HOURS)?,
            renew_before: hours(
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                DEFAULT_HOLD_RENEW_BEFORE_HOURS,
            )?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Settings made in code are held to the same rules as the environment's.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max = ledger::MAX_HOLD_TTL.to_std().unwrap_or(Duration::MAX);
        if self.ttl.is_zero() || self.ttl > max {
            return Err(ConfigError::new(
                "CAMPAIGN_HOLD_TTL_HOURS",
                format!("must be from 1 to {} hours", max.as_secs() / HOUR),
            ));
        }
        if self.renew_before.is_zero() || self.renew_before >= self.ttl {
            return Err(ConfigError::new(
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                format!(
                    "must be more than 0 and less than CAMPAIGN_HOLD_TTL_HOURS ({} h)",
                    self.ttl.as_secs() / HOUR
                ),
            ));
        }
        Ok(())
    }

    pub fn funds_policy(&self) -> FundsPolicy {
        FundsPolicy {
            hold_ttl: delta(self.ttl),
            renew_before: delta(self.renew_before),
            ..FundsPolicy::default()
        }
    }
}

/// Validated durations are far below `TimeDelta`'s range.
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(pairs: &[(&str, &str)]) -> Result<HoldSettings, ConfigError> {
        HoldSettings::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn defaults_are_a_week_renewed_a_day_before() {
        let settings = holds(&[]).unwrap();
        assert_eq!(settings, HoldSettings::default());
        let policy = settings.funds_policy();
        assert_eq!(policy.hold_ttl, TimeDelta::days(7));
        assert_eq!(policy.renew_before, TimeDelta::days(1));
    }

    #[test]
    fn a_hold_never_outlasts_the_ledgers_limit_and_renews_before_it_ends() {
        let max = ledger::MAX_HOLD_TTL.num_hours().to_string();
        assert!(holds(&[("CAMPAIGN_HOLD_TTL_HOURS", &max)]).is_ok());
        let over = (ledger::MAX_HOLD_TTL.num_hours() + 1).to_string();
        for (pairs, variable) in [
            (
                vec![("CAMPAIGN_HOLD_TTL_HOURS", over.as_str())],
                "CAMPAIGN_HOLD_TTL_HOURS",
            ),
            (
                vec![("CAMPAIGN_HOLD_TTL_HOURS", "0")],
                "CAMPAIGN_HOLD_TTL_HOURS",
            ),
            (
                vec![("CAMPAIGN_HOLD_TTL_HOURS", "x")],
                "CAMPAIGN_HOLD_TTL_HOURS",
            ),
            (
                vec![("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "168")],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
            (
                vec![
                    ("CAMPAIGN_HOLD_TTL_HOURS", "12"),
                    ("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "24"),
                ],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
            (
                vec![("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "-3")],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
        ] {
            assert_eq!(holds(&pairs).unwrap_err().variable, variable, "{pairs:?}");
        }
    }
}
