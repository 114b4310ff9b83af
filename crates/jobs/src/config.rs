//! The worker's settings: its probe listener, how often each job runs, the notifier, Twilio and
//! the dispatcher. The settings every service shares (lifecycle, holds, providers, intake) are
//! `services::ServicesConfig`; the database's are `db::DatabaseSettings`.

use std::{net::SocketAddr, time::Duration};

use campaigns::DispatchConfig;
use campaigns::HoldSettings;
use campaigns::LookupConfig;
use chrono::TimeDelta;
use intake::sync::SyncPolicy;
use ledger::WriterConfig;
use notifications::NotifierConfig;
use primitives::config::{ConfigError, Env, Variable};

use twilio::{REQUEST_TIMEOUT as TWILIO_REQUEST_TIMEOUT, TwilioConfig};

pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8082);
pub const DEFAULT_HOLD_EXPIRY_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_DUNNING_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_NOTIFICATION_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_MESSAGING_OUTBOX_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RESUME_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_INBOX_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_INBOX_PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);
pub const DEFAULT_TWILIO_LOOKUP_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_PROVIDER_SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// How often each job runs; `None` turns a job off in this process (another process runs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervals {
    pub hold_expiry: Option<Duration>,
    pub dunning: Option<Duration>,
    pub notifications: Option<Duration>,
    /// `messaging.control`, `campaigns.control`, `billing.provider` and (with Twilio)
    /// `twilio.subaccount`.
    pub messaging_outbox: Option<Duration>,
    pub campaign_resume: Option<Duration>,
    /// Unconfirmed recipients looked up in Twilio's message list (with Twilio configured).
    pub twilio_lookup: Option<Duration>,
    pub inbox: Option<Duration>,
    pub inbox_prune: Option<Duration>,
    /// The provider sync's rounds (`intake::sync`).
    pub provider_sync: Option<Duration>,
}

impl Intervals {
    /// Every job off: tests turn on the ones they watch.
    pub const NONE: Self = Self {
        hold_expiry: None,
        dunning: None,
        notifications: None,
        messaging_outbox: None,
        campaign_resume: None,
        twilio_lookup: None,
        inbox: None,
        inbox_prune: None,
        provider_sync: None,
    };
}

impl Default for Intervals {
    fn default() -> Self {
        Self {
            hold_expiry: Some(DEFAULT_HOLD_EXPIRY_INTERVAL),
            dunning: Some(DEFAULT_DUNNING_INTERVAL),
            notifications: Some(DEFAULT_NOTIFICATION_INTERVAL),
            messaging_outbox: Some(DEFAULT_MESSAGING_OUTBOX_INTERVAL),
            campaign_resume: Some(DEFAULT_RESUME_INTERVAL),
            twilio_lookup: Some(DEFAULT_TWILIO_LOOKUP_INTERVAL),
            inbox: Some(DEFAULT_INBOX_INTERVAL),
            inbox_prune: Some(DEFAULT_INBOX_PRUNE_INTERVAL),
            provider_sync: Some(DEFAULT_PROVIDER_SYNC_INTERVAL),
        }
    }
}

/// The campaign dispatcher's loops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchSettings {
    /// Loops this process runs when Twilio is configured; 0: none.
    pub workers: usize,
    pub batch_size: usize,
    pub concurrency: usize,
    /// How long an idle loop waits before looking again.
    pub interval: Duration,
    pub lease: Duration,
    /// Where Twilio posts delivery updates; `None`: not asked for.
    pub status_callback: Option<url::Url>,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            batch_size: 100,
            concurrency: 16,
            interval: Duration::from_millis(1000),
            lease: Duration::from_secs(300),
            status_callback: None,
        }
    }
}

impl DispatchSettings {
    /// The dispatcher's configuration for the loop named `worker`.
    pub fn dispatch_config(&self, worker: String) -> DispatchConfig {
        DispatchConfig {
            batch_size: self.batch_size,
            concurrency: self.concurrency,
            lease: TimeDelta::from_std(self.lease).unwrap_or(TimeDelta::MAX),
            worker,
            status_callback: self.status_callback.clone(),
            ..DispatchConfig::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Where the worker serves `/healthz`, `/readyz` and `/metrics`.
    pub addr: SocketAddr,
    pub intervals: Intervals,
    /// Where notifications go: the log, or an SMTP relay (`SMTP_*`, see `notifications`).
    pub notifier: NotifierConfig,
    /// The parent Twilio account (`TWILIO_*`, see `twilio::TwilioConfig`); `None`: no
    /// dispatcher and no subaccount calls.
    pub twilio: Option<TwilioConfig>,
    pub dispatch: DispatchSettings,
    /// How unconfirmed recipients are looked up in Twilio's message list (`TWILIO_LOOKUP_*`).
    pub lookup: LookupConfig,
    /// What the provider sync looks at and how fast it may ask (`PROVIDER_SYNC_*`, see
    /// `intake::sync::SyncPolicy`).
    pub provider_sync: SyncPolicy,
    /// The batching writer the dispatchers book their batches' charges through
    /// (`LEDGER_WRITER_*`, see `ledger::WriterConfig`).
    pub ledger_writer: WriterConfig,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            intervals: Intervals::default(),
            notifier: NotifierConfig::Log,
            twilio: None,
            dispatch: DispatchSettings::default(),
            lookup: LookupConfig::default(),
            provider_sync: SyncPolicy::default(),
            ledger_writer: WriterConfig::default(),
        }
    }
}

impl JobsConfig {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "WORKER_ADDR",
            default: "127.0.0.1:8082",
            meaning: "where the worker serves `/healthz`, `/readyz` and `/metrics`",
        },
        Variable {
            name: "HOLD_EXPIRY_INTERVAL_SECS",
            default: "30",
            meaning: "how often wallet holds past their deadline are expired (up to 1000 per run); `0` turns the job off in this process",
        },
        Variable {
            name: "DUNNING_INTERVAL_SECS",
            default: "60",
            meaning: "how often due dunning steps, trial ends and notices, overdue renewals and period ends run (retries through each subscription's provider, suspension on the last day); `0` off",
        },
        Variable {
            name: "NOTIFICATION_INTERVAL_SECS",
            default: "5",
            meaning: "how often queued customer notifications are delivered; `0` off",
        },
        Variable {
            name: "MESSAGING_OUTBOX_INTERVAL_SECS",
            default: "5",
            meaning: "how often the `messaging.control`, `campaigns.control`, `billing.provider` and (with Twilio) `twilio.subaccount` outbox topics are delivered; `0` off",
        },
        Variable {
            name: "CAMPAIGN_RESUME_INTERVAL_SECS",
            default: "30",
            meaning: "how often campaigns paused for a billing reason are resumed if the reason cleared; `0` off",
        },
        Variable {
            name: "INBOX_INTERVAL_SECS",
            default: "5",
            meaning: "how often webhook deliveries that could not be applied at once (and unmatched ones) are tried again; `0` off",
        },
        Variable {
            name: "INBOX_PRUNE_INTERVAL_SECS",
            default: "3600",
            meaning: "how often raw webhook bodies past their retention are pruned; `0` off",
        },
        Variable {
            name: "PROVIDER_SYNC_INTERVAL_SECS",
            default: "60",
            meaning: "how often the provider sync re-fetches subscriptions whose state could be stale from their provider and applies any difference (`PROVIDER_SYNC_*`); `0` off",
        },
        Variable {
            name: "DISPATCH_WORKERS",
            default: "2",
            meaning: "dispatcher loops per process (with Twilio configured); `0` dispatches nothing here",
        },
        Variable {
            name: "DISPATCH_BATCH_SIZE",
            default: "100",
            meaning: "recipients one claim takes",
        },
        Variable {
            name: "DISPATCH_CONCURRENCY",
            default: "16",
            meaning: "Twilio calls in flight per batch",
        },
        Variable {
            name: "DISPATCH_INTERVAL_MS",
            default: "1000",
            meaning: "how long an idle dispatcher loop waits before looking again",
        },
        Variable {
            name: "TWILIO_STATUS_CALLBACK_URL",
            default: "unset",
            meaning: "the public URL where Twilio posts delivery updates, `https://<host>/webhooks/twilio/messages` on the webhook receiver (`campaign` and `recipient` are added to its query); the receiver reads the same value to rebuild the URL Twilio signed; unset: none are asked for",
        },
        Variable {
            name: "TWILIO_LOOKUP_INTERVAL_SECS",
            default: "60",
            meaning: "how often unconfirmed recipients are looked up in their brand subaccount's Twilio message list and resolved (with Twilio configured); `0` off",
        },
        Variable {
            name: "TWILIO_LOOKUP_AFTER_SECS",
            default: "600",
            meaning: "a recipient is looked up once it has been unconfirmed this long (status callbacks usually resolve it first)",
        },
        Variable {
            name: "TWILIO_LOOKUP_NOT_SENT_AFTER_SECS",
            default: "3600",
            meaning: "finding no message in Twilio's list resolves a recipient as not sent (refunded) only once it has been unconfirmed this long, since the list can lag behind what Twilio accepted; earlier it is looked up again then; at least `TWILIO_LOOKUP_AFTER_SECS`",
        },
        Variable {
            name: "DISPATCH_LEASE_SECS",
            default: "300",
            meaning: "how long a claim lasts before its recipients count as abandoned (then `unconfirmed`); at least the time a batch can take (`ceil(batch / concurrency)` Twilio calls of up to 15 s each), less than `CAMPAIGN_HOLD_RENEW_BEFORE_HOURS`",
        },
    ];

    /// `holds` are the shared campaign hold settings the dispatch lease must fit in.
    pub fn from_env(env: &Env<'_>, holds: &HoldSettings) -> Result<Self, ConfigError> {
        let defaults = Intervals::default();
        let interval =
            |name, default: Option<Duration>| env.interval_secs(name, default.unwrap_or_default());
        let intervals = Intervals {
            hold_expiry: interval("HOLD_EXPIRY_INTERVAL_SECS", defaults.hold_expiry)?,
            dunning: interval("DUNNING_INTERVAL_SECS", defaults.dunning)?,
            notifications: interval("NOTIFICATION_INTERVAL_SECS", defaults.notifications)?,
            messaging_outbox: interval(
                "MESSAGING_OUTBOX_INTERVAL_SECS",
                defaults.messaging_outbox,
            )?,
            campaign_resume: interval("CAMPAIGN_RESUME_INTERVAL_SECS", defaults.campaign_resume)?,
            twilio_lookup: interval("TWILIO_LOOKUP_INTERVAL_SECS", defaults.twilio_lookup)?,
            inbox: interval("INBOX_INTERVAL_SECS", defaults.inbox)?,
            inbox_prune: interval("INBOX_PRUNE_INTERVAL_SECS", defaults.inbox_prune)?,
            provider_sync: interval("PROVIDER_SYNC_INTERVAL_SECS", defaults.provider_sync)?,
        };
        let dispatch_defaults = DispatchSettings::default();
        let dispatch = DispatchSettings {
            workers: env.number("DISPATCH_WORKERS", 0..=64, dispatch_defaults.workers)?,
            batch_size: env.number(
                "DISPATCH_BATCH_SIZE",
                1..=10_000,
                dispatch_defaults.batch_size,
            )?,
            concurrency: env.number(
                "DISPATCH_CONCURRENCY",
                1..=1_000,
                dispatch_defaults.concurrency,
            )?,
            interval: Duration::from_millis(env.number(
                "DISPATCH_INTERVAL_MS",
                1..=3_600_000u64,
                1000,
            )?),
            lease: Duration::from_secs(env.number(
                "DISPATCH_LEASE_SECS",
                1..=86_400u64,
                dispatch_defaults.lease.as_secs(),
            )?),
            status_callback: env
                .get("TWILIO_STATUS_CALLBACK_URL")
                .map(|raw| twilio::http_url(&raw, "TWILIO_STATUS_CALLBACK_URL"))
                .transpose()?,
        };
        let lookup = lookup_from_env(env)?;
        let notifier = NotifierConfig::from_lookup(env.lookup())?;
        let config = Self {
            addr: env.parse("WORKER_ADDR", DEFAULT_ADDR)?,
            intervals,
            notifier,
            twilio: TwilioConfig::from_env(env)?,
            dispatch,
            lookup,
            provider_sync: SyncPolicy::from_env(env)?,
            ledger_writer: WriterConfig::from_env(env)?,
        };
        config.validate(holds)?;
        Ok(config)
    }

    /// The rules between the values, each blamed on one variable (settings made in code are held
    /// to them too):
    /// - a batch must fit in its lease: `ceil(batch / concurrency)` rounds of Twilio calls of up
    ///   to [`TWILIO_REQUEST_TIMEOUT`] each (else recipients of a slow but healthy batch would be
    ///   taken for abandoned and left `unconfirmed`);
    /// - the hold's renewal margin is longer than the lease (else a batch could outlive its hold).
    pub fn validate(&self, holds: &HoldSettings) -> Result<(), ConfigError> {
        self.ledger_writer.validate()?;
        let dispatch = &self.dispatch;
        if dispatch.batch_size == 0 || dispatch.concurrency == 0 {
            return Err(ConfigError::new(
                "DISPATCH_BATCH_SIZE",
                "the batch size and the concurrency must be greater than zero",
            ));
        }
        let rounds = dispatch.batch_size.div_ceil(dispatch.concurrency);
        let batch_time = u32::try_from(rounds)
            .ok()
            .and_then(|rounds| TWILIO_REQUEST_TIMEOUT.checked_mul(rounds));
        if batch_time.is_none_or(|batch_time| dispatch.lease < batch_time) {
            return Err(ConfigError::new(
                "DISPATCH_LEASE_SECS",
                format!(
                    "{} s is shorter than a batch can take: {rounds} rounds of Twilio calls \
                     (DISPATCH_BATCH_SIZE / DISPATCH_CONCURRENCY) of up to {} s each",
                    dispatch.lease.as_secs(),
                    TWILIO_REQUEST_TIMEOUT.as_secs()
                ),
            ));
        }
        if holds.renew_before <= dispatch.lease {
            return Err(ConfigError::new(
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
                format!(
                    "must be more than DISPATCH_LEASE_SECS ({} s), so no batch outlives its hold",
                    dispatch.lease.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// The lookup job's delays; concluding "not sent" may not come before the first look.
fn lookup_from_env(env: &Env<'_>) -> Result<LookupConfig, ConfigError> {
    let defaults = LookupConfig::default();
    let secs = |name, default: TimeDelta| -> Result<TimeDelta, ConfigError> {
        let default = u64::try_from(default.num_seconds()).unwrap_or(0);
        let secs: u64 = env.number(name, 1..=30 * 86_400, default)?;
        Ok(TimeDelta::seconds(i64::try_from(secs).unwrap_or(0)))
    };
    let after = secs("TWILIO_LOOKUP_AFTER_SECS", defaults.after)?;
    let not_sent_after = secs("TWILIO_LOOKUP_NOT_SENT_AFTER_SECS", defaults.not_sent_after)?;
    if not_sent_after < after {
        return Err(ConfigError::new(
            "TWILIO_LOOKUP_NOT_SENT_AFTER_SECS",
            "must be at least TWILIO_LOOKUP_AFTER_SECS",
        ));
    }
    Ok(LookupConfig {
        after,
        not_sent_after,
        ..defaults
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn from(pairs: &[(&str, &str)]) -> Result<JobsConfig, ConfigError> {
        let env = Env::from_pairs(pairs);
        let holds = HoldSettings::from_env(&env)?;
        JobsConfig::from_env(&env, &holds)
    }

    #[test]
    fn defaults_run_every_job_without_twilio() {
        let config = from(&[]).unwrap();
        assert_eq!(config.addr, DEFAULT_ADDR);
        assert_eq!(config.intervals, Intervals::default());
        assert_eq!(config.dispatch, DispatchSettings::default());
        assert!(config.twilio.is_none());
        assert!(matches!(config.notifier, NotifierConfig::Log));
    }

    #[test]
    fn reads_every_variable() {
        let config = from(&[
            ("WORKER_ADDR", "0.0.0.0:9100"),
            ("HOLD_EXPIRY_INTERVAL_SECS", "0"),
            ("DUNNING_INTERVAL_SECS", "7"),
            ("NOTIFICATION_INTERVAL_SECS", "8"),
            ("MESSAGING_OUTBOX_INTERVAL_SECS", "2"),
            ("CAMPAIGN_RESUME_INTERVAL_SECS", "0"),
            ("TWILIO_LOOKUP_INTERVAL_SECS", "11"),
            ("TWILIO_LOOKUP_AFTER_SECS", "120"),
            ("TWILIO_LOOKUP_NOT_SENT_AFTER_SECS", "7200"),
            ("INBOX_INTERVAL_SECS", "9"),
            ("INBOX_PRUNE_INTERVAL_SECS", "60"),
            ("PROVIDER_SYNC_INTERVAL_SECS", "0"),
            ("PROVIDER_SYNC_BATCH", "7"),
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
        ])
        .unwrap();
        assert_eq!(config.addr.to_string(), "0.0.0.0:9100");
        assert_eq!(
            config.intervals,
            Intervals {
                hold_expiry: None,
                dunning: Some(Duration::from_secs(7)),
                notifications: Some(Duration::from_secs(8)),
                messaging_outbox: Some(Duration::from_secs(2)),
                campaign_resume: None,
                twilio_lookup: Some(Duration::from_secs(11)),
                inbox: Some(Duration::from_secs(9)),
                inbox_prune: Some(Duration::from_secs(60)),
                provider_sync: None,
            }
        );
        assert_eq!(config.provider_sync.batch, 7);
        assert_eq!(config.lookup.after, TimeDelta::seconds(120));
        assert_eq!(config.lookup.not_sent_after, TimeDelta::seconds(7200));
        let twilio = config.twilio.as_ref().unwrap();
        assert_eq!(twilio.account_sid, SID);
        assert_eq!(twilio.auth_token.expose_secret(), "tok3n-secret");
        assert_eq!(twilio.base_url, "http://127.0.0.1:9999");
        let dispatch = config.dispatch.dispatch_config("worker-1".into());
        assert_eq!(dispatch.batch_size, 50);
        assert_eq!(dispatch.concurrency, 5);
        assert_eq!(dispatch.lease, TimeDelta::seconds(600));
        assert_eq!(dispatch.worker, "worker-1");
        assert_eq!(
            dispatch.status_callback.as_ref().map(url::Url::as_str),
            Some("https://hooks.example.com/twilio/status")
        );
        assert_eq!(config.dispatch.workers, 0);
        assert_eq!(config.dispatch.interval, Duration::from_millis(250));
        assert!(!format!("{config:?}").contains("tok3n-secret"));
    }

    #[test]
    fn bad_or_inconsistent_values_name_the_variable_to_change() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("WORKER_ADDR", "localhost")], "WORKER_ADDR"),
            (&[("DUNNING_INTERVAL_SECS", "-1")], "DUNNING_INTERVAL_SECS"),
            (&[("INBOX_INTERVAL_SECS", "soon")], "INBOX_INTERVAL_SECS"),
            (&[("PROVIDER_SYNC_BURST", "0")], "PROVIDER_SYNC_BURST"),
            (&[("DISPATCH_WORKERS", "two")], "DISPATCH_WORKERS"),
            (
                &[("TWILIO_LOOKUP_AFTER_SECS", "0")],
                "TWILIO_LOOKUP_AFTER_SECS",
            ),
            (
                &[
                    ("TWILIO_LOOKUP_AFTER_SECS", "7200"),
                    ("TWILIO_LOOKUP_NOT_SENT_AFTER_SECS", "3600"),
                ],
                "TWILIO_LOOKUP_NOT_SENT_AFTER_SECS",
            ),
            (&[("DISPATCH_BATCH_SIZE", "0")], "DISPATCH_BATCH_SIZE"),
            (&[("DISPATCH_CONCURRENCY", "1.5")], "DISPATCH_CONCURRENCY"),
            (&[("DISPATCH_INTERVAL_MS", "0")], "DISPATCH_INTERVAL_MS"),
            (&[("DISPATCH_LEASE_SECS", "0")], "DISPATCH_LEASE_SECS"),
            // 100 recipients, 16 at a time: 7 rounds of up to 15 s need at least 105 s.
            (&[("DISPATCH_LEASE_SECS", "104")], "DISPATCH_LEASE_SECS"),
            (
                &[
                    ("DISPATCH_CONCURRENCY", "1"),
                    ("DISPATCH_LEASE_SECS", "600"),
                ],
                "DISPATCH_LEASE_SECS",
            ),
            // The renewal margin must be longer than the lease (one hour is 3600 s).
            (
                &[
                    ("CAMPAIGN_HOLD_RENEW_BEFORE_HOURS", "1"),
                    ("DISPATCH_LEASE_SECS", "3600"),
                ],
                "CAMPAIGN_HOLD_RENEW_BEFORE_HOURS",
            ),
            (&[("TWILIO_ACCOUNT_SID", SID)], "TWILIO_AUTH_TOKEN"),
            (
                &[("TWILIO_STATUS_CALLBACK_URL", "not a url")],
                "TWILIO_STATUS_CALLBACK_URL",
            ),
            (&[("SMTP_HOST", "mail.example.com")], "SMTP_FROM"),
        ];
        for (pairs, variable) in cases {
            let error = from(pairs).unwrap_err();
            assert_eq!(error.variable, *variable, "{pairs:?}: {error}");
        }
        assert!(from(&[("DISPATCH_LEASE_SECS", "105")]).is_ok());
    }
}
