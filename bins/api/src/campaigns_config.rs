//! The campaign and Twilio part of the configuration; the variables are in the table of
//! [`crate::config`] (and the README).
//!
//! Twilio is optional: without `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` the api runs no
//! dispatcher and no subaccount handler (it says so once at start), while campaigns can still be
//! prepared and the control topics are still delivered. One of the two without the other is a
//! mistake, and the api refuses to start naming the missing one.

use std::time::Duration;

use campaigns::{DispatchConfig, FundsPolicy};
use chrono::TimeDelta;
use secrecy::SecretString;

use crate::config::{ConfigError, interval, parse, positive};

/// Twilio's production API root.
pub const DEFAULT_TWILIO_BASE_URL: &str = "https://api.twilio.com";
/// Whole-request timeout of every Twilio call; the lease check below counts with it.
pub const TWILIO_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_DISPATCH_WORKERS: usize = 2;
pub const DEFAULT_DISPATCH_BATCH_SIZE: usize = 100;
pub const DEFAULT_DISPATCH_CONCURRENCY: usize = 16;
pub const DEFAULT_DISPATCH_INTERVAL: Duration = Duration::from_millis(1000);
pub const DEFAULT_DISPATCH_LEASE: Duration = Duration::from_secs(300);
pub const DEFAULT_HOLD_TTL_HOURS: u64 = 168;
pub const DEFAULT_HOLD_RENEW_BEFORE_HOURS: u64 = 24;
/// The ledger refuses holds longer than 366 days.
pub const MAX_HOLD_TTL_HOURS: u64 = 366 * 24;
pub const DEFAULT_RESUME_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_MESSAGING_OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

const HOUR: u64 = 3600;

/// The parent Twilio account. `Debug` shows the token as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// `AC` + 32 hex digits: Basic-auth user of every call.
    pub account_sid: String,
    pub auth_token: SecretString,
    /// API root, without a trailing slash.
    pub base_url: String,
    /// Where Twilio posts delivery updates; `None`: not asked for.
    pub status_callback: Option<url::Url>,
}

impl TwilioSettings {
    /// Production base URL, no status callback.
    pub fn new(account_sid: impl Into<String>, auth_token: SecretString) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token,
            base_url: DEFAULT_TWILIO_BASE_URL.to_owned(),
            status_callback: None,
        }
    }

    /// The client's configuration: these credentials, [`TWILIO_REQUEST_TIMEOUT`], the default
    /// retry policy.
    pub fn client_config(&self) -> twilio::TwilioConfig {
        let mut config = twilio::TwilioConfig::new(&self.account_sid, self.auth_token.clone());
        config.base_url = self.base_url.clone();
        config.timeout = TWILIO_REQUEST_TIMEOUT;
        config
    }

    /// From the environment: `None` when neither credential is set.
    pub(crate) fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let base_url = match get("TWILIO_BASE_URL") {
            Some(raw) => http_url(&raw, "TWILIO_BASE_URL")?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            None => DEFAULT_TWILIO_BASE_URL.to_owned(),
        };
        let status_callback = get("TWILIO_STATUS_CALLBACK_URL")
            .map(|raw| http_url(&raw, "TWILIO_STATUS_CALLBACK_URL"))
            .transpose()?;
        let (account_sid, auth_token) = match (get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN"))
        {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(ConfigError {
                    name: "TWILIO_AUTH_TOKEN",
                    reason: "is unset while TWILIO_ACCOUNT_SID is set: set both or neither"
                        .to_owned(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    name: "TWILIO_ACCOUNT_SID",
                    reason: "is unset while TWILIO_AUTH_TOKEN is set: set both or neither"
                        .to_owned(),
                });
            }
            (Some(sid), Some(token)) => (sid.trim().to_owned(), SecretString::from(token)),
        };
        twilio::validate_account_sid(&account_sid).map_err(|_| ConfigError {
            name: "TWILIO_ACCOUNT_SID",
            reason: "must be AC followed by 32 hex digits".to_owned(),
        })?;
        Ok(Some(Self {
            account_sid,
            auth_token,
            base_url,
            status_callback,
        }))
    }
}

/// An absolute `http` or `https` URL.
fn http_url(raw: &str, name: &'static str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|error| ConfigError {
        name,
        reason: format!("not a URL: {error}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError {
            name,
            reason: "must be an http(s) URL with a host".to_owned(),
        });
    }
    Ok(url)
}

/// Campaign holds, the dispatcher and the campaign and messaging background jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignsConfig {
    /// Dispatcher loops the api runs when Twilio is configured; 0: none.
    pub dispatch_workers: usize,
    pub dispatch_batch_size: usize,
    pub dispatch_concurrency: usize,
    /// How long an idle dispatcher loop waits.
    pub dispatch_interval: Duration,
    pub dispatch_lease: Duration,
    pub hold_ttl: Duration,
    pub hold_renew_before: Duration,
    /// How often billing-paused campaigns are resumed where eligible; `None` disables it.
    pub resume_interval: Option<Duration>,
    /// How often the `messaging.control`, `campaigns.control` and `twilio.subaccount` topics
    /// are delivered; `None` disables them.
    pub messaging_outbox_interval: Option<Duration>,
}

impl Default for CampaignsConfig {
    fn default() -> Self {
        Self {
            dispatch_workers: DEFAULT_DISPATCH_WORKERS,
            dispatch_batch_size: DEFAULT_DISPATCH_BATCH_SIZE,
            dispatch_concurrency: DEFAULT_DISPATCH_CONCURRENCY,
            dispatch_interval: DEFAULT_DISPATCH_INTERVAL,
            dispatch_lease: DEFAULT_DISPATCH_LEASE,
            hold_ttl: Duration::from_secs(DEFAULT_HOLD_TTL_HOURS * HOUR),
            hold_renew_before: Duration::from_secs(DEFAULT_HOLD_RENEW_BEFORE_HOURS * HOUR),
            resume_interval: Some(DEFAULT_RESUME_INTERVAL),
            messaging_outbox_interval: Some(DEFAULT_MESSAGING_OUTBOX_INTERVAL),
        }
    }
}

impl CampaignsConfig {
    pub(crate) fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let hours = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            let hours: u64 = positive(get(name), name, default)?;
            hours
                .checked_mul(HOUR)
                .map(Duration::from_secs)
                .ok_or(ConfigError {
                    name,
                    reason: "is too large".to_owned(),
                })
        };
        let config = Self {
            dispatch_workers: parse(
                get("DISPATCH_WORKERS"),
                "DISPATCH_WORKERS",
                Some(DEFAULT_DISPATCH_WORKERS),
            )?,
            dispatch_batch_size: positive(
                get("DISPATCH_BATCH_SIZE"),
                "DISPATCH_BATCH_SIZE",
                DEFAULT_DISPATCH_BATCH_SIZE,
            )?,
            dispatch_concurrency: positive(
                get("DISPATCH_CONCURRENCY"),
                "DISPATCH_CONCURRENCY",
                DEFAULT_DISPATCH_CONCURRENCY,
            )?,
            dispatch_interval: Duration::from_millis(positive(
                get("DISPATCH_INTERVAL_MS"),
                "DISPATCH_INTERVAL_MS",
                1000u64,
            )?),
            dispatch_lease: Duration::from_secs(positive(
                get("DISPATCH_LEASE_SECS"),
                "DISPATCH_LEASE_SECS",
                DEFAULT_DISPATCH_LEASE.as_secs(),
            )?),
            hold_ttl: hours("CAMPAIGN_HOLD_TTL_HOURS", DEFAULT_HOLD_TTL_HOURS)?,
            hold_renew_before: hours(
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                DEFAULT_HOLD_RENEW_BEFORE_HOURS,
            )?,
            resume_interval: interval(
                get,
                "CAMPAIGN_RESUME_INTERVAL_SECS",
                DEFAULT_RESUME_INTERVAL,
            )?,
            messaging_outbox_interval: interval(
                get,
                "MESSAGING_OUTBOX_INTERVAL_SECS",
                DEFAULT_MESSAGING_OUTBOX_INTERVAL,
            )?,
        };
        config.validate()?;
        Ok(config)
    }

    /// The rules between the values, each blamed on one variable:
    /// - a batch must fit in its lease: `ceil(batch / concurrency)` rounds of Twilio calls of up
    ///   to [`TWILIO_REQUEST_TIMEOUT`] each (else recipients of a slow but healthy batch would be
    ///   taken for abandoned and left `unconfirmed`);
    /// - the hold lasts at most the ledger's 366 days;
    /// - the renewal margin is shorter than the hold (else every batch would renew it) and longer
    ///   than the lease (else a batch could outlive its hold).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("DISPATCH_BATCH_SIZE", self.dispatch_batch_size == 0),
            ("DISPATCH_CONCURRENCY", self.dispatch_concurrency == 0),
            ("DISPATCH_INTERVAL_MS", self.dispatch_interval.is_zero()),
            ("DISPATCH_LEASE_SECS", self.dispatch_lease.is_zero()),
            ("CAMPAIGN_HOLD_TTL_HOURS", self.hold_ttl.is_zero()),
            (
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                self.hold_renew_before.is_zero(),
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(ConfigError {
                name,
                reason: "must be greater than zero".to_owned(),
            });
        }
        let rounds = self.dispatch_batch_size.div_ceil(self.dispatch_concurrency);
        let batch_time = u32::try_from(rounds)
            .ok()
            .and_then(|rounds| TWILIO_REQUEST_TIMEOUT.checked_mul(rounds));
        if batch_time.is_none_or(|batch_time| self.dispatch_lease < batch_time) {
            return Err(ConfigError {
                name: "DISPATCH_LEASE_SECS",
                reason: format!(
                    "{} s is shorter than a batch can take: {rounds} rounds of Twilio calls \
                     (DISPATCH_BATCH_SIZE / DISPATCH_CONCURRENCY) of up to {} s each",
                    self.dispatch_lease.as_secs(),
                    TWILIO_REQUEST_TIMEOUT.as_secs()
                ),
            });
        }
        if self.hold_ttl > Duration::from_secs(MAX_HOLD_TTL_HOURS * HOUR) {
            return Err(ConfigError {
                name: "CAMPAIGN_HOLD_TTL_HOURS",
                reason: format!("must be at most {MAX_HOLD_TTL_HOURS} (366 days)"),
            });
        }
        if self.hold_renew_before >= self.hold_ttl {
            return Err(ConfigError {
                name: "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                reason: format!(
                    "must be less than CAMPAIGN_HOLD_TTL_HOURS ({} h)",
                    self.hold_ttl.as_secs() / HOUR
                ),
            });
        }
        if self.hold_renew_before <= self.dispatch_lease {
            return Err(ConfigError {
                name: "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                reason: format!(
                    "must be more than DISPATCH_LEASE_SECS ({} s), so no batch outlives its hold",
                    self.dispatch_lease.as_secs()
                ),
            });
        }
        Ok(())
    }

    /// How campaign holds are placed.
    pub fn funds_policy(&self) -> FundsPolicy {
        FundsPolicy {
            hold_ttl: delta(self.hold_ttl),
            renew_before: delta(self.hold_renew_before),
            ..FundsPolicy::default()
        }
    }

    /// The dispatcher's configuration for the worker named `worker`.
    pub fn dispatch_config(&self, worker: String, twilio: &TwilioSettings) -> DispatchConfig {
        DispatchConfig {
            batch_size: self.dispatch_batch_size,
            concurrency: self.dispatch_concurrency,
            lease: delta(self.dispatch_lease),
            worker,
            status_callback: twilio.status_callback.clone(),
            ..DispatchConfig::default()
        }
    }
}

/// Validated durations are far below `TimeDelta`'s range.
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::Config;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_run_no_twilio_and_the_documented_campaign_settings() {
        let config = from(&[]).unwrap();
        assert!(config.twilio.is_none());
        let campaigns = &config.campaigns;
        assert_eq!(campaigns, &CampaignsConfig::default());
        assert_eq!(campaigns.dispatch_workers, 2);
        assert_eq!(campaigns.dispatch_batch_size, 100);
        assert_eq!(campaigns.dispatch_concurrency, 16);
        assert_eq!(campaigns.dispatch_interval, Duration::from_millis(1000));
        assert_eq!(campaigns.dispatch_lease, Duration::from_secs(300));
        assert_eq!(campaigns.hold_ttl, Duration::from_secs(168 * 3600));
        assert_eq!(campaigns.hold_renew_before, Duration::from_secs(24 * 3600));
        assert_eq!(campaigns.resume_interval, Some(Duration::from_secs(30)));
        assert_eq!(
            campaigns.messaging_outbox_interval,
            Some(Duration::from_secs(5))
        );
        let policy = campaigns.funds_policy();
        assert_eq!(policy.hold_ttl, TimeDelta::days(7));
        assert_eq!(policy.renew_before, TimeDelta::days(1));
        assert_eq!(
            policy.counterparty.as_str(),
            FundsPolicy::default().counterparty.as_str()
        );
    }

    #[test]
    fn reads_every_campaign_and_twilio_variable() {
        let config = from(&[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
            ("TWILIO_BASE_URL", "http://127.0.0.1:9999/"),
            (
                "TWILIO_STATUS_CALLBACK_URL",
                "https://hooks.example.com/twilio/status",
            ),
            ("DISPATCH_WORKERS", "0"),
            ("DISPATCH_BATCH_SIZE", "50"),
            ("DISPATCH_CONCURRENCY", "5"),
            ("DISPATCH_INTERVAL_MS", "250"),
            ("DISPATCH_LEASE_SECS", "600"),
            ("CAMPAIGN_HOLD_TTL_HOURS", "48"),
            ("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "12"),
            ("CAMPAIGN_RESUME_INTERVAL_SECS", "0"),
            ("MESSAGING_OUTBOX_INTERVAL_SECS", "2"),
        ])
        .unwrap();
        let twilio = config.twilio.as_ref().unwrap();
        assert_eq!(twilio.account_sid, SID);
        assert_eq!(twilio.auth_token.expose_secret(), "tok3n-secret");
        assert_eq!(twilio.base_url, "http://127.0.0.1:9999");
        assert_eq!(
            twilio.status_callback.as_ref().map(url::Url::as_str),
            Some("https://hooks.example.com/twilio/status")
        );
        let client = twilio.client_config();
        assert_eq!(client.base_url, "http://127.0.0.1:9999");
        assert_eq!(client.timeout, TWILIO_REQUEST_TIMEOUT);
        let campaigns = &config.campaigns;
        assert_eq!(campaigns.dispatch_workers, 0);
        assert_eq!(campaigns.dispatch_batch_size, 50);
        assert_eq!(campaigns.dispatch_concurrency, 5);
        assert_eq!(campaigns.dispatch_interval, Duration::from_millis(250));
        assert_eq!(campaigns.dispatch_lease, Duration::from_secs(600));
        assert_eq!(campaigns.hold_ttl, Duration::from_secs(48 * 3600));
        assert_eq!(campaigns.hold_renew_before, Duration::from_secs(12 * 3600));
        assert_eq!(campaigns.resume_interval, None);
        assert_eq!(
            campaigns.messaging_outbox_interval,
            Some(Duration::from_secs(2))
        );
        let dispatch = campaigns.dispatch_config("api-1".into(), twilio);
        assert_eq!(dispatch.batch_size, 50);
        assert_eq!(dispatch.concurrency, 5);
        assert_eq!(dispatch.lease, TimeDelta::seconds(600));
        assert_eq!(dispatch.worker, "api-1");
        assert_eq!(dispatch.status_callback, twilio.status_callback);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (name, value) in [
            ("TWILIO_BASE_URL", "api.twilio.com"),
            ("TWILIO_BASE_URL", "ftp://api.twilio.com"),
            ("TWILIO_STATUS_CALLBACK_URL", "not a url"),
            ("DISPATCH_WORKERS", "-1"),
            ("DISPATCH_WORKERS", "two"),
            ("DISPATCH_BATCH_SIZE", "0"),
            ("DISPATCH_CONCURRENCY", "0"),
            ("DISPATCH_CONCURRENCY", "1.5"),
            ("DISPATCH_INTERVAL_MS", "0"),
            ("DISPATCH_LEASE_SECS", "0"),
            ("DISPATCH_LEASE_SECS", "soon"),
            ("CAMPAIGN_HOLD_TTL_HOURS", "0"),
            ("CAMPAIGN_HOLD_TTL_HOURS", "8785"),
            ("CAMPAIGN_HOLD_TTL_HOURS", "99999999999999999999"),
            ("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "-3"),
            ("CAMPAIGN_RESUME_INTERVAL_SECS", "-1"),
            ("MESSAGING_OUTBOX_INTERVAL_SECS", "x"),
        ] {
            let error = from(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name, "{name}={value}: {error}");
        }
    }

    #[test]
    fn inconsistent_values_are_refused_naming_the_variable_to_change() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            // The renewal margin must be shorter than the hold ...
            (
                &[("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "168")],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
            (
                &[
                    ("CAMPAIGN_HOLD_TTL_HOURS", "12"),
                    ("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "24"),
                ],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
            // ... and longer than the lease (one hour is 3600 s).
            (
                &[
                    ("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "1"),
                    ("DISPATCH_LEASE_SECS", "3600"),
                ],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
            // 100 recipients, 16 at a time: 7 rounds of up to 15 s need at least 105 s.
            (&[("DISPATCH_LEASE_SECS", "104")], "DISPATCH_LEASE_SECS"),
            (
                &[
                    ("DISPATCH_CONCURRENCY", "1"),
                    ("DISPATCH_LEASE_SECS", "600"),
                ],
                "DISPATCH_LEASE_SECS",
            ),
            // Half of the credentials.
            (&[("TWILIO_ACCOUNT_SID", SID)], "TWILIO_AUTH_TOKEN"),
        ];
        for (vars, name) in cases {
            let error = from(vars).unwrap_err();
            assert_eq!(error.name, name, "{vars:?}: {error}");
        }
        assert!(from(&[("DISPATCH_LEASE_SECS", "105")]).is_ok());
        let error = from(&[("TWILIO_AUTH_TOKEN", "tok3n-secret")]).unwrap_err();
        assert_eq!(error.name, "TWILIO_ACCOUNT_SID");
        assert!(!error.to_string().contains("tok3n-secret"), "{error}");
        let error = from(&[
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
        ])
        .unwrap_err();
        assert_eq!(error.name, "TWILIO_ACCOUNT_SID");
        assert!(!error.to_string().contains("tok3n-secret"), "{error}");
        // Blank counts as unset, for both.
        let config = from(&[("TWILIO_ACCOUNT_SID", " "), ("TWILIO_AUTH_TOKEN", "")]).unwrap();
        assert!(config.twilio.is_none());
    }

    #[test]
    fn the_auth_token_never_shows_in_debug_output() {
        let config = from(&[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("tok3n-secret"), "{debug}");
        assert!(debug.contains(SID), "{debug}");
        let client = format!("{:?}", config.twilio.unwrap().client_config());
        assert!(!client.contains("tok3n-secret"), "{client}");
    }
}
