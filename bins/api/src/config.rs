//! Configuration, read from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `API_ADDR` | `127.0.0.1:8080` | address to listen on (port 0 picks a free port) |
//! | `DATABASE_URL` | unset | PostgreSQL URL. Unset: development mode, with a private cluster in `./.data/postgres` (see `db::embedded`, port `EMBEDDED_PG_PORT`, default 54320) that the api migrates at start. Set: the api never migrates (the `migrator` does) and `/readyz` reports not ready while migrations are pending. |
//! | `ADMIN_TOKEN` | unset | the admin bearer credential, at least 32 characters. Unset: a random one is generated at each start and written to `./.data/admin-token` (mode 0600); only the path is printed. |
//! | `API_BODY_LIMIT_BYTES` | `65536` | largest accepted request body; larger ones get 413 |
//! | `DATABASE_POOL_SIZE` | `16` | most database connections held open |
//! | `DATABASE_STATEMENT_TIMEOUT_MS` | `5000` | server-side limit for any one SQL statement |
//! | `HOLD_EXPIRY_INTERVAL_SECS` | `30` | how often the api expires wallet holds past their deadline (up to 1000 per sweep); `0` disables the sweeper (run it elsewhere, e.g. `POST /v1/admin/holds/expire` or the worker once it exists) |
//! | `BILLING_DUNNING_SCHEDULE` | `3:retry,5:retry+warning,7:retry+final_warning,10:suspend` | the dunning schedule: comma-separated `<day>:<retry\|suspend>[+warning\|+final_warning]` steps, days counted from the first failed payment, strictly increasing, the last one (only) `suspend` (see `subscriptions::dunning`) |
//! | `BILLING_GRACE_PERIOD_HOURS` | `0` | how long access survives a failed payment before dunning blocks it; `0` blocks at once; must end before the schedule's first day |
//! | `BILLING_RENEWAL_GRACE_HOURS` | `24` | how long an active subscription's period may stay unpaid past its end (no renewal arrived, or nobody paid by hand) before it goes `past_due` and dunning starts, counted from the period's end; `0` at once; at most the schedule's first day |
//! | `BILLING_TRIAL_NOTICE_DAYS` | `3` | how many days before a trial's end the customer is told it ends (once, whether by this schedule or the provider's notice); `0` sends none of ours; at most 366 |
//! | `DUNNING_INTERVAL_SECS` | `60` | how often the api runs due dunning steps, trial ends and trial-ending notices, overdue renewals and period ends (retries through the billing provider, suspension on the last day); `0` disables it (run it elsewhere) |
//! | `NOTIFICATION_INTERVAL_SECS` | `5` | how often the api delivers queued customer notifications from the outbox; `0` disables it |
//! | `SMTP_HOST`, `SMTP_TLS`, `SMTP_PORT`, `SMTP_USERNAME`, `SMTP_PASSWORD`, `SMTP_FROM`, `SMTP_TIMEOUT_SECS` | unset | the SMTP relay for notifications (see `notifications::NotifierConfig`); without `SMTP_HOST` notifications are only logged |
//! | `TWILIO_ACCOUNT_SID` | unset | the parent Twilio account (`AC` + 32 hex digits): Basic-auth user of every call; messages go out through each brand's subaccount. Set together with `TWILIO_AUTH_TOKEN`, or neither (then no campaign is dispatched and no subaccount is suspended or reactivated; one warning says so at start). |
//! | `TWILIO_AUTH_TOKEN` | unset | the parent account's auth token (held as a secret, never logged) |
//! | `TWILIO_BASE_URL` | `https://api.twilio.com` | Twilio's API root (a fake's in tests) |
//! | `TWILIO_STATUS_CALLBACK_URL` | unset | where Twilio posts delivery updates (`campaign` and `recipient` are added to its query); unset: none are asked for |
//! | `DISPATCH_WORKERS` | `2` | dispatcher loops the api runs (with Twilio configured); `0` disables dispatching here |
//! | `DISPATCH_BATCH_SIZE` | `100` | recipients one claim takes |
//! | `DISPATCH_CONCURRENCY` | `16` | Twilio calls in flight per batch |
//! | `DISPATCH_INTERVAL_MS` | `1000` | how long an idle dispatcher loop waits before looking again |
//! | `DISPATCH_LEASE_SECS` | `300` | how long a claim lasts before its recipients count as abandoned (then `unconfirmed`); at least the time a batch can take (`ceil(batch / concurrency)` Twilio calls of up to 15 s each) |
//! | `CAMPAIGN_HOLD_TTL_HOURS` | `168` | how long a campaign's wallet hold lasts (at most 8784, the ledger's 366 days); running campaigns renew it |
//! | `CAMPAIGN_HOLD_RENEW_BEFORE_HOURS` | `24` | a hold closer than this to its deadline is renewed before the next batch; must be less than the TTL and more than the lease |
//! | `CAMPAIGN_RESUME_INTERVAL_SECS` | `30` | how often campaigns paused for a billing reason are resumed if the reason cleared; `0` disables |
//! | `MESSAGING_OUTBOX_INTERVAL_SECS` | `5` | how often the `messaging.control`, `campaigns.control` and (with Twilio) `twilio.subaccount` outbox topics are delivered; `0` disables |
//! | `INBOX_INTERVAL_SECS` | `5` | how often webhook deliveries that could not be applied at once (and unmatched ones) are tried again; `0` disables (the worker runs it) |
//! | `INBOX_PRUNE_INTERVAL_SECS` | `3600` | how often raw webhook bodies past their retention are pruned; `0` disables |
//! | `INBOX_MAX_ATTEMPTS`, `INBOX_RETENTION_DAYS`, `INBOX_UNMATCHED_RETRY_DAYS`, `PROVIDER_ASK_TIMEOUT_MS` | see `intake::IntakePolicy` | the intake's retries, retention and provider calls |
//! | `PAYPAL_*`, `STRIPE_*`, `PAYHERE_*` | unset | the billing providers (see `billing::ProvidersConfig`): dunning retries go to each subscription's provider, and the development mode serves `/webhooks/*` |
//! | `LOG_FORMAT` | `json` | `json` or `pretty` (see `httpkit::telemetry`) |
//! | `RUST_LOG` | `info` | log filter |

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use billing::ProvidersConfig;
use intake::IntakePolicy;
use notifications::NotifierConfig;
use secrecy::SecretString;
use subscriptions::LifecyclePolicy;

pub use crate::campaigns_config::{CampaignsConfig, TwilioSettings};

/// Where the database is.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// An operator-managed database; migrations are the migrator's job.
    Url(SecretString),
    /// The private development cluster, migrated at start.
    Embedded,
}

/// Where the admin credential comes from.
#[derive(Debug, Clone)]
pub enum AdminTokenSource {
    Given(SecretString),
    /// Generate one and write it to `<data_dir>/admin-token`.
    Generate,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database: DatabaseSource,
    pub admin_token: AdminTokenSource,
    pub body_limit_bytes: usize,
    pub pool_size: usize,
    pub statement_timeout: Duration,
    /// How often the background sweeper expires holds past their deadline; `None` disables it.
    pub hold_expiry_interval: Option<Duration>,
    /// Directory for development state (`./.data`): the generated admin token.
    pub data_dir: PathBuf,
    /// The dunning schedule and grace period the subscription lifecycle runs on.
    pub lifecycle: LifecyclePolicy,
    /// How often due dunning steps run; `None` disables the runner.
    pub dunning_interval: Option<Duration>,
    /// How often queued notifications are delivered; `None` disables delivery.
    pub notification_interval: Option<Duration>,
    /// Where notifications go: the log, or an SMTP relay.
    pub notifier: NotifierConfig,
    /// The parent Twilio account; `None`: no dispatcher and no subaccount calls.
    pub twilio: Option<TwilioSettings>,
    /// Campaign holds, the dispatcher and the campaign / messaging jobs.
    pub campaigns: CampaignsConfig,
    /// The billing providers: dunning retries go through them, the inbox job asks them when an
    /// event needs their view, and the development mode serves their webhooks.
    pub providers: ProvidersConfig,
    /// Retries, retention and provider calls of the webhook intake.
    pub intake: IntakePolicy,
    /// How often the inbox job tries deliveries again; `None` disables it.
    pub inbox_interval: Option<Duration>,
    /// How often raw webhook bodies past their retention are pruned; `None` disables it.
    pub inbox_prune_interval: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("{name} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const DEFAULT_POOL_SIZE: usize = 16;
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_millis(5000);
pub const DEFAULT_HOLD_EXPIRY_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_DUNNING_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_NOTIFICATION_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_INBOX_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_INBOX_PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

impl Config {
    /// Defaults for everything but the database and the admin token, listening on a free
    /// loopback port: what tests and embedding programs usually want.
    pub fn new(database: DatabaseSource, admin_token: AdminTokenSource) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database,
            admin_token,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            pool_size: DEFAULT_POOL_SIZE,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            hold_expiry_interval: Some(DEFAULT_HOLD_EXPIRY_INTERVAL),
            data_dir: PathBuf::from(".data"),
            lifecycle: LifecyclePolicy::default(),
            dunning_interval: Some(DEFAULT_DUNNING_INTERVAL),
            notification_interval: Some(DEFAULT_NOTIFICATION_INTERVAL),
            notifier: NotifierConfig::Log,
            twilio: None,
            campaigns: CampaignsConfig::default(),
            providers: ProvidersConfig::default(),
            intake: IntakePolicy::default(),
            inbox_interval: Some(DEFAULT_INBOX_INTERVAL),
            inbox_prune_interval: Some(DEFAULT_INBOX_PRUNE_INTERVAL),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`] over any variable source. Blank values count as unset, as
    /// `VAR=` in a compose file means "unset" to people.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let database = match get("DATABASE_URL") {
            Some(url) => DatabaseSource::Url(SecretString::from(url)),
            None => DatabaseSource::Embedded,
        };
        let admin_token = match get("ADMIN_TOKEN") {
            Some(token) => AdminTokenSource::Given(SecretString::from(token)),
            None => AdminTokenSource::Generate,
        };
        let mut config = Self::new(database, admin_token);
        config.addr = parse(get("API_ADDR"), "API_ADDR", DEFAULT_ADDR.parse().ok())?;
        config.body_limit_bytes = positive(
            get("API_BODY_LIMIT_BYTES"),
            "API_BODY_LIMIT_BYTES",
            DEFAULT_BODY_LIMIT_BYTES,
        )?;
        config.pool_size = positive(
            get("DATABASE_POOL_SIZE"),
            "DATABASE_POOL_SIZE",
            DEFAULT_POOL_SIZE,
        )?;
        let timeout_ms = positive(
            get("DATABASE_STATEMENT_TIMEOUT_MS"),
            "DATABASE_STATEMENT_TIMEOUT_MS",
            5000u64,
        )?;
        config.statement_timeout = Duration::from_millis(timeout_ms);
        config.hold_expiry_interval = interval(
            &get,
            "HOLD_EXPIRY_INTERVAL_SECS",
            DEFAULT_HOLD_EXPIRY_INTERVAL,
        )?;
        config.dunning_interval =
            interval(&get, "DUNNING_INTERVAL_SECS", DEFAULT_DUNNING_INTERVAL)?;
        config.notification_interval = interval(
            &get,
            "NOTIFICATION_INTERVAL_SECS",
            DEFAULT_NOTIFICATION_INTERVAL,
        )?;
        config.notifier = NotifierConfig::from_lookup(get).map_err(|error| ConfigError {
            name: error.variable,
            reason: error.message,
        })?;
        config.lifecycle = LifecyclePolicy::from_lookup(get).map_err(|error| ConfigError {
            name: error.variable,
            reason: error.message,
        })?;
        config.twilio = TwilioSettings::from_lookup(&get)?;
        config.campaigns = CampaignsConfig::from_lookup(&get)?;
        config.providers = ProvidersConfig::from_lookup(get).map_err(|error| ConfigError {
            name: error.variable,
            reason: error.message,
        })?;
        config.intake = IntakePolicy::from_lookup(get).map_err(|error| ConfigError {
            name: error.variable,
            reason: error.message,
        })?;
        config.inbox_interval = interval(&get, "INBOX_INTERVAL_SECS", DEFAULT_INBOX_INTERVAL)?;
        config.inbox_prune_interval = interval(
            &get,
            "INBOX_PRUNE_INTERVAL_SECS",
            DEFAULT_INBOX_PRUNE_INTERVAL,
        )?;
        Ok(config)
    }

    pub fn is_dev_mode(&self) -> bool {
        matches!(self.database, DatabaseSource::Embedded)
    }
}

/// A background job's period in whole seconds; `0` turns the job off.
pub(crate) fn interval(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
) -> Result<Option<Duration>, ConfigError> {
    let secs: u64 = parse(get(name), name, Some(default.as_secs()))?;
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

pub(crate) fn parse<T: std::str::FromStr>(
    value: Option<String>,
    name: &'static str,
    default: Option<T>,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError {
            name,
            reason: format!("{value:?}: {e}"),
        }),
        None => default.ok_or(ConfigError {
            name,
            reason: "no default".to_owned(),
        }),
    }
}

pub(crate) fn positive<T>(
    value: Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    let parsed: T = parse(value, name, Some(default))?;
    if parsed == T::default() {
        return Err(ConfigError {
            name,
            reason: "must be greater than zero".to_owned(),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_mean_development_mode() {
        let config = from(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert!(matches!(config.database, DatabaseSource::Embedded));
        assert!(matches!(config.admin_token, AdminTokenSource::Generate));
        assert!(config.is_dev_mode());
        assert_eq!(config.body_limit_bytes, 65536);
        assert_eq!(config.pool_size, 16);
        assert_eq!(config.statement_timeout, Duration::from_secs(5));
        assert_eq!(config.hold_expiry_interval, Some(Duration::from_secs(30)));
        assert_eq!(config.lifecycle, LifecyclePolicy::default());
        assert_eq!(
            config.lifecycle.dunning().to_string(),
            "3:retry,5:retry+warning,7:retry+final_warning,10:suspend"
        );
        assert_eq!(config.lifecycle.grace(), chrono::Duration::zero());
        assert_eq!(
            config.lifecycle.renewal_grace(),
            chrono::Duration::hours(24)
        );
        assert_eq!(config.lifecycle.trial_notice(), chrono::Duration::days(3));
        // Blank is unset.
        let config = from(&[("DATABASE_URL", " "), ("ADMIN_TOKEN", "")]).unwrap();
        assert!(config.is_dev_mode());
        assert!(matches!(config.admin_token, AdminTokenSource::Generate));
    }

    #[test]
    fn reads_every_variable() {
        let config = from(&[
            ("API_ADDR", "0.0.0.0:9000"),
            ("DATABASE_URL", "postgres://u:p@db/billing"),
            ("ADMIN_TOKEN", "t"),
            ("API_BODY_LIMIT_BYTES", "1024"),
            ("DATABASE_POOL_SIZE", "4"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "250"),
            ("HOLD_EXPIRY_INTERVAL_SECS", "5"),
            ("BILLING_DUNNING_SCHEDULE", "2:retry+warning, 4:suspend"),
            ("BILLING_GRACE_PERIOD_HOURS", "24"),
            ("BILLING_RENEWAL_GRACE_HOURS", "48"),
            ("BILLING_TRIAL_NOTICE_DAYS", "7"),
        ])
        .unwrap();
        assert_eq!(config.addr.to_string(), "0.0.0.0:9000");
        let DatabaseSource::Url(url) = &config.database else {
            panic!("expected a URL");
        };
        assert_eq!(url.expose_secret(), "postgres://u:p@db/billing");
        assert!(
            matches!(&config.admin_token, AdminTokenSource::Given(t) if t.expose_secret() == "t")
        );
        assert_eq!(config.body_limit_bytes, 1024);
        assert_eq!(config.pool_size, 4);
        assert_eq!(config.statement_timeout, Duration::from_millis(250));
        assert_eq!(config.hold_expiry_interval, Some(Duration::from_secs(5)));
        assert_eq!(
            config.lifecycle.dunning().to_string(),
            "2:retry+warning,4:suspend"
        );
        assert_eq!(config.lifecycle.grace(), chrono::Duration::hours(24));
        assert_eq!(
            config.lifecycle.renewal_grace(),
            chrono::Duration::hours(48)
        );
        assert_eq!(config.lifecycle.trial_notice(), chrono::Duration::days(7));
        assert!(!config.is_dev_mode());
    }

    #[test]
    fn zero_renewal_grace_lapses_at_once_and_zero_trial_notice_sends_none() {
        let config = from(&[
            ("BILLING_RENEWAL_GRACE_HOURS", "0"),
            ("BILLING_TRIAL_NOTICE_DAYS", "0"),
        ])
        .unwrap();
        assert_eq!(config.lifecycle.renewal_grace(), chrono::Duration::zero());
        assert_eq!(config.lifecycle.trial_notice(), chrono::Duration::zero());
    }

    #[test]
    fn a_zero_hold_expiry_interval_disables_the_sweeper() {
        let config = from(&[("HOLD_EXPIRY_INTERVAL_SECS", "0")]).unwrap();
        assert_eq!(config.hold_expiry_interval, None);
    }

    #[test]
    fn names_the_variable_that_is_wrong_without_echoing_secrets() {
        for (name, value) in [
            ("API_ADDR", "localhost"),
            ("API_BODY_LIMIT_BYTES", "big"),
            ("API_BODY_LIMIT_BYTES", "0"),
            ("DATABASE_POOL_SIZE", "-1"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "1.5"),
            ("HOLD_EXPIRY_INTERVAL_SECS", "-1"),
            ("HOLD_EXPIRY_INTERVAL_SECS", "soon"),
            ("BILLING_DUNNING_SCHEDULE", "3:retry"),
            ("BILLING_DUNNING_SCHEDULE", "3:suspend,5:retry"),
            ("BILLING_DUNNING_SCHEDULE", "5:retry,3:suspend"),
            ("BILLING_DUNNING_SCHEDULE", "3:retry+shout,10:suspend"),
            ("BILLING_DUNNING_SCHEDULE", "every day"),
            ("BILLING_GRACE_PERIOD_HOURS", "-1"),
            ("BILLING_GRACE_PERIOD_HOURS", "1.5"),
            // The default schedule's first step is day 3: a 72-hour grace would outlast it.
            ("BILLING_GRACE_PERIOD_HOURS", "72"),
            ("BILLING_RENEWAL_GRACE_HOURS", "-1"),
            ("BILLING_RENEWAL_GRACE_HOURS", "soon"),
            // Dunning counts from the period's end: a grace past the first step (day 3) is refused.
            ("BILLING_RENEWAL_GRACE_HOURS", "73"),
            ("BILLING_TRIAL_NOTICE_DAYS", "-3"),
            ("BILLING_TRIAL_NOTICE_DAYS", "2.5"),
            ("BILLING_TRIAL_NOTICE_DAYS", "367"),
        ] {
            let error = from(&[(name, value), ("ADMIN_TOKEN", "s3cret")]).unwrap_err();
            assert_eq!(error.name, name);
            assert!(!error.to_string().contains("s3cret"));
        }
        let debug = format!(
            "{:?}",
            from(&[
                ("ADMIN_TOKEN", "s3cret"),
                ("DATABASE_URL", "postgres://u:pw@h/d")
            ])
            .unwrap()
        );
        assert!(
            !debug.contains("s3cret") && !debug.contains(":pw@"),
            "{debug}"
        );
    }
}
