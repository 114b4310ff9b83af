//! The api's settings: its listener, the admin credential, the request limits (body, header,
//! query) and each API key's rate limit, plus the
//! database (`db::DatabaseSettings`), the settings every service shares
//! (`services::ServicesConfig`) and, in the development mode only, the worker's
//! (`jobs::JobsConfig`). Every variable is declared beside the struct that reads it; the
//! README's table is checked against those declarations.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use db::DatabaseSettings;
use httpkit::limits::{LimitVariables, RequestLimits};
use jobs::JobsConfig;
use ledger::WriterConfig;
use primitives::config::{ConfigError, Env, Variable};
use secrecy::SecretString;
use services::ServicesConfig;

use crate::{auth, console::ConsoleSettings, rate_limit::RateLimit};

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
    pub admin_token: AdminTokenSource,
    pub body_limit_bytes: usize,
    /// The header and query limits of the listener (`httpkit::limits`).
    pub request_limits: RequestLimits,
    /// Each organization API key's request budget; `None`: no limit.
    pub rate_limit: Option<RateLimit>,
    /// How long a found API key is used without asking the database again (zero: always ask);
    /// at most one second, so a revoked key is refused within a second (`auth::cache`).
    pub auth_cache_ttl: Duration,
    /// `HEALTH_STALLED_CAMPAIGN_SECS`.
    pub health_stalled_after: Duration,
    /// The console's sessions and cookies (`CONSOLE_*`).
    pub console: ConsoleSettings,
    /// The batching writer the wallet routes move money through: the most requests one
    /// transaction writes, and how many batches are written at once (each on a connection of
    /// the pool).
    pub ledger_writer: WriterConfig,
    /// Directory for development state (`./.data`): the generated admin token.
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub services: ServicesConfig,
    /// The worker's jobs, run inside the api: only the development mode (no `DATABASE_URL`) sets
    /// them, so one process is the whole system. In production the `worker` runs them.
    pub jobs: Option<JobsConfig>,
    /// Development mode only, with no `PAYPAL_*` variable set: PayPal verifies deliveries for
    /// the development webhook id, trusting the development CA under `data_dir` besides the
    /// configured roots and reading certificates from its directory (`devhooks::dev`; made at
    /// start if missing). Never set in production, so the local tool's PayPal deliveries are
    /// refused there.
    pub dev_paypal: bool,
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const DEFAULT_AUTH_CACHE_TTL_MS: u64 = 1000;
pub const DEFAULT_AUTH_CACHE_TTL: Duration = Duration::from_millis(DEFAULT_AUTH_CACHE_TTL_MS);
pub const LIMIT_VARIABLES: LimitVariables = LimitVariables {
    max_header_bytes: "API_MAX_HEADER_BYTES",
    max_headers: "API_MAX_HEADERS",
    max_query_bytes: "API_MAX_QUERY_BYTES",
};

impl Config {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "API_ADDR",
            default: "127.0.0.1:8080",
            meaning: "where the api listens (port 0 picks a free port)",
        },
        Variable {
            name: "ADMIN_TOKEN",
            default: "unset",
            meaning: "the admin bearer credential, at least 32 characters. Unset: a random one is generated at each start and written to `./.data/admin-token` (mode 0600); only the path is printed",
        },
        Variable {
            name: "API_BODY_LIMIT_BYTES",
            default: "65536",
            meaning: "largest accepted request body; larger ones get 413",
        },
        Variable {
            name: "API_MAX_HEADER_BYTES",
            default: "16384",
            meaning: "largest accepted header section (each field's `name: value` and line end; 1024 to 1048576); larger: 431 `HEADERS_TOO_LARGE`",
        },
        Variable {
            name: "API_MAX_HEADERS",
            default: "64",
            meaning: "most header fields a request may have (8 to 1000); more: 431 `TOO_MANY_HEADERS`",
        },
        Variable {
            name: "API_MAX_QUERY_BYTES",
            default: "4096",
            meaning: "longest accepted query string (64 to 65536); longer: 414 `QUERY_TOO_LONG`",
        },
        Variable {
            name: "API_RATE_LIMIT_PER_SECOND",
            default: "100",
            meaning: "requests a second each organization API key may make, sustained (0 to 1000000; 0 turns the limit off); over it: 429 `RATE_LIMITED` with `Retry-After`. The admin token is not limited",
        },
        Variable {
            name: "API_RATE_LIMIT_BURST",
            default: "200",
            meaning: "requests an organization API key may make at once, the sustained rate refilling them (1 to 1000000)",
        },
        Variable {
            name: "AUTH_CACHE_TTL_MS",
            default: "1000",
            meaning: "how long (0 to 1000 ms) a found API key is used without asking the database again; a revoked key is refused within this time. 0: every request asks",
        },
        Variable {
            name: "HEALTH_STALLED_CAMPAIGN_SECS",
            default: "600",
            meaning: "how long (60 to 86400 s) a running campaign may go without progress (no change, no batch claimed or settled) before the health report counts it as stalled",
        },
    ];

    /// Defaults for everything but the database and the admin token, listening on a free
    /// loopback port and running no jobs: what tests and embedding programs usually want.
    pub fn new(database: DatabaseSettings, admin_token: AdminTokenSource) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token,
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            request_limits: RequestLimits::default(),
            rate_limit: Some(RateLimit::default_limit()),
            auth_cache_ttl: DEFAULT_AUTH_CACHE_TTL,
            health_stalled_after: crate::health_report::DEFAULT_STALLED_AFTER,
            console: ConsoleSettings::default(),
            ledger_writer: WriterConfig::default(),
            data_dir: PathBuf::from(".data"),
            database,
            services: ServicesConfig::default(),
            jobs: None,
            dev_paypal: false,
        }
    }

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let database = DatabaseSettings::from_env(env)?;
        let admin_token = match env.get("ADMIN_TOKEN") {
            Some(token) => AdminTokenSource::Given(SecretString::from(token)),
            None => AdminTokenSource::Generate,
        };
        let dev = DevProviders::unset_in(env, database.is_embedded());
        let services = ServicesConfig::from_env(&Env::new(|name| {
            env.get(name).or_else(|| dev.default_for(name))
        }))?;
        let jobs = if database.is_embedded() {
            Some(JobsConfig::from_env(env, &services.holds)?)
        } else {
            None
        };
        Ok(Self {
            addr: env.parse("API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            admin_token,
            body_limit_bytes: env.number(
                "API_BODY_LIMIT_BYTES",
                1..=64 * 1024 * 1024,
                DEFAULT_BODY_LIMIT_BYTES,
            )?,
            request_limits: RequestLimits::from_env(env, &LIMIT_VARIABLES)?,
            rate_limit: RateLimit::from_env(env)?,
            auth_cache_ttl: Duration::from_millis(env.number(
                "AUTH_CACHE_TTL_MS",
                0..=auth::cache::MAX_TTL_MS,
                DEFAULT_AUTH_CACHE_TTL_MS,
            )?),
            health_stalled_after: Duration::from_secs(env.number(
                "HEALTH_STALLED_CAMPAIGN_SECS",
                60..=86_400,
                crate::health_report::DEFAULT_STALLED_AFTER.as_secs(),
            )?),
            console: ConsoleSettings::from_env(env, database.is_embedded())?,
            ledger_writer: WriterConfig::from_env(env)?,
            data_dir: PathBuf::from(".data"),
            database,
            services,
            jobs,
            dev_paypal: dev.paypal,
        })
    }

    pub fn is_dev_mode(&self) -> bool {
        self.database.is_embedded()
    }

    /// Settings made in code (tests, embedding programs) are held to the environment's rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth_cache_ttl > auth::cache::MAX_TTL {
            return Err(ConfigError::new(
                "AUTH_CACHE_TTL_MS",
                format!("at most {} ms", auth::cache::MAX_TTL_MS),
            ));
        }
        self.request_limits.validate(&LIMIT_VARIABLES)?;
        self.console.validate()?;
        if let Some(rate_limit) = &self.rate_limit {
            rate_limit.validate()?;
        }
        self.ledger_writer.validate()
    }
}

/// The providers the development mode configures with their development defaults
/// (`devhooks::dev`, the secrets the local webhook tool signs with when nothing is set): those
/// none of whose variables is set. A provider configured by its variables is left as it is;
/// production (`DATABASE_URL` set) gets no default at all.
#[derive(Debug, Clone, Copy, Default)]
struct DevProviders {
    stripe: bool,
    payhere: bool,
    paypal: bool,
}

impl DevProviders {
    fn unset_in(env: &Env<'_>, dev_mode: bool) -> Self {
        if !dev_mode {
            return Self::default();
        }
        let unset = |variables: &[Variable]| variables.iter().all(|v| env.get(v.name).is_none());
        Self {
            stripe: unset(&billing::stripe::VARIABLES),
            payhere: unset(&billing::payhere::VARIABLES),
            paypal: unset(&billing::paypal::VARIABLES),
        }
    }

    fn default_for(&self, name: &str) -> Option<String> {
        let value = match name {
            "STRIPE_WEBHOOK_SECRETS" if self.stripe => devhooks::dev::STRIPE_WEBHOOK_SECRET,
            "PAYHERE_MERCHANT_ID" if self.payhere => devhooks::dev::PAYHERE_MERCHANT_ID,
            "PAYHERE_MERCHANT_SECRET" if self.payhere => devhooks::dev::PAYHERE_MERCHANT_SECRET,
            "PAYPAL_WEBHOOK_IDS" if self.paypal => devhooks::dev::PAYPAL_WEBHOOK_ID,
            _ => return None,
        };
        Some(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn defaults_mean_development_mode_with_the_jobs_in_process() {
        let config = from(&[]).unwrap();
        assert_eq!(config.addr.to_string(), DEFAULT_ADDR);
        assert!(config.is_dev_mode());
        assert!(matches!(config.admin_token, AdminTokenSource::Generate));
        assert_eq!(config.body_limit_bytes, 65536);
        assert_eq!(config.auth_cache_ttl, Duration::from_secs(1));
        assert_eq!(config.request_limits, RequestLimits::default());
        assert_eq!(config.rate_limit, Some(RateLimit::per_second(100, 200)));
        assert_eq!(config.ledger_writer.max_batch, 256);
        assert_eq!(config.ledger_writer.shards, 2);
        config.validate().unwrap();
        assert!(config.jobs.is_some());
        // Blank is unset.
        let config = from(&[("DATABASE_URL", " "), ("ADMIN_TOKEN", "")]).unwrap();
        assert!(config.is_dev_mode());
        assert!(matches!(config.admin_token, AdminTokenSource::Generate));
    }

    #[test]
    fn development_mode_receives_every_provider_with_the_local_tools_defaults() {
        let config = from(&[]).unwrap();
        let providers = &config.services.providers;
        let stripe = providers.stripe.as_ref().unwrap();
        assert_eq!(
            stripe.webhook_secrets[0].expose_secret(),
            devhooks::dev::STRIPE_WEBHOOK_SECRET
        );
        let payhere = providers.payhere.as_ref().unwrap();
        assert_eq!(payhere.merchant_id, devhooks::dev::PAYHERE_MERCHANT_ID);
        let paypal = providers.paypal.as_ref().unwrap();
        assert_eq!(paypal.webhook_ids, [devhooks::dev::PAYPAL_WEBHOOK_ID]);
        assert!(config.dev_paypal);
        // A provider configured by its variables keeps exactly that configuration.
        let config = from(&[
            ("STRIPE_WEBHOOK_SECRETS", "whsec_mine"),
            ("PAYPAL_WEBHOOK_IDS", "WH-MINE"),
        ])
        .unwrap();
        let providers = &config.services.providers;
        let stripe = providers.stripe.as_ref().unwrap();
        assert_eq!(stripe.webhook_secrets.len(), 1);
        assert_eq!(stripe.webhook_secrets[0].expose_secret(), "whsec_mine");
        assert_eq!(providers.paypal.as_ref().unwrap().webhook_ids, ["WH-MINE"]);
        assert!(!config.dev_paypal);
        assert!(providers.payhere.is_some());
    }

    #[test]
    fn production_gets_no_development_provider() {
        let config = from(&[("DATABASE_URL", "postgres://u:p@db/billing")]).unwrap();
        let providers = &config.services.providers;
        assert!(providers.stripe.is_none() && providers.payhere.is_none());
        assert!(providers.paypal.is_none());
        assert!(!config.dev_paypal);
    }

    #[test]
    fn production_runs_no_jobs() {
        let config = from(&[
            ("API_ADDR", "0.0.0.0:9000"),
            ("DATABASE_URL", "postgres://u:p@db/billing"),
            ("ADMIN_TOKEN", "t"),
            ("API_BODY_LIMIT_BYTES", "1024"),
            ("AUTH_CACHE_TTL_MS", "0"),
            ("API_MAX_HEADER_BYTES", "8192"),
            ("API_MAX_HEADERS", "32"),
            ("API_MAX_QUERY_BYTES", "1024"),
            ("API_RATE_LIMIT_PER_SECOND", "0"),
            ("LEDGER_WRITER_MAX_BATCH", "10000"),
            ("LEDGER_WRITER_SHARDS", "64"),
            ("DATABASE_POOL_SIZE", "4"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "250"),
            ("BILLING_DUNNING_SCHEDULE", "2:retry+warning, 4:suspend"),
        ])
        .unwrap();
        assert_eq!(config.addr.to_string(), "0.0.0.0:9000");
        assert!(!config.is_dev_mode());
        assert!(config.jobs.is_none());
        assert!(
            matches!(&config.admin_token, AdminTokenSource::Given(t) if t.expose_secret() == "t")
        );
        assert_eq!(config.body_limit_bytes, 1024);
        assert_eq!(config.auth_cache_ttl, Duration::ZERO);
        assert_eq!(
            config.request_limits,
            RequestLimits {
                max_header_bytes: 8192,
                max_headers: 32,
                max_query_bytes: 1024
            }
        );
        assert_eq!(config.rate_limit, None);
        assert_eq!(config.ledger_writer.max_batch, 10_000);
        assert_eq!(config.ledger_writer.shards, 64);
        config.validate().unwrap();
        assert_eq!(config.database.pool_size, 4);
        assert_eq!(
            config.database.statement_timeout,
            Duration::from_millis(250)
        );
        assert_eq!(
            config.services.lifecycle.dunning().to_string(),
            "2:retry+warning,4:suspend"
        );
    }

    #[test]
    fn settings_made_in_code_are_held_to_the_same_ranges() {
        let database = DatabaseSettings::from_env(&Env::from_pairs(&[])).unwrap();
        let base = Config::new(database, AdminTokenSource::Generate);
        base.validate().unwrap();
        let mut config = base.clone();
        config.auth_cache_ttl = Duration::from_millis(1001);
        assert_eq!(config.validate().unwrap_err().variable, "AUTH_CACHE_TTL_MS");
        let mut config = base.clone();
        config.ledger_writer.max_batch = 0;
        assert_eq!(
            config.validate().unwrap_err().variable,
            "LEDGER_WRITER_MAX_BATCH"
        );
        let mut config = base.clone();
        config.request_limits.max_headers = 1001;
        assert_eq!(config.validate().unwrap_err().variable, "API_MAX_HEADERS");
        let mut config = base.clone();
        config.rate_limit = Some(RateLimit {
            replenish_every: Duration::from_secs(1),
            burst: 0,
        });
        assert_eq!(
            config.validate().unwrap_err().variable,
            "API_RATE_LIMIT_BURST"
        );
        let mut config = base;
        config.ledger_writer.shards = 65;
        assert_eq!(
            config.validate().unwrap_err().variable,
            "LEDGER_WRITER_SHARDS"
        );
    }

    #[test]
    fn names_the_variable_that_is_wrong_without_echoing_secrets() {
        for (name, value) in [
            ("API_ADDR", "localhost"),
            ("API_BODY_LIMIT_BYTES", "big"),
            ("API_BODY_LIMIT_BYTES", "0"),
            ("AUTH_CACHE_TTL_MS", "1001"),
            ("AUTH_CACHE_TTL_MS", "-1"),
            ("API_MAX_HEADER_BYTES", "100"),
            ("API_MAX_HEADERS", "lots"),
            ("API_MAX_QUERY_BYTES", "65537"),
            ("API_RATE_LIMIT_PER_SECOND", "-5"),
            ("API_RATE_LIMIT_BURST", "0"),
            ("LEDGER_WRITER_MAX_BATCH", "0"),
            ("LEDGER_WRITER_MAX_BATCH", "10001"),
            ("LEDGER_WRITER_SHARDS", "0"),
            ("LEDGER_WRITER_SHARDS", "65"),
            ("DATABASE_POOL_SIZE", "-1"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "1.5"),
            ("HOLD_EXPIRY_INTERVAL_SECS", "soon"),
            ("BILLING_DUNNING_SCHEDULE", "3:retry"),
            ("BILLING_GRACE_PERIOD_HOURS", "72"),
            ("BILLING_RENEWAL_GRACE_HOURS", "73"),
            ("BILLING_TRIAL_NOTICE_DAYS", "367"),
            ("CAMPAIGN_HOLD_TTL_HOURS", "721"),
            ("HEALTH_STALLED_CAMPAIGN_SECS", "59"),
            ("HEALTH_STALLED_CAMPAIGN_SECS", "86401"),
            ("HEALTH_STALLED_CAMPAIGN_SECS", "ten minutes"),
        ] {
            let error = from(&[(name, value), ("ADMIN_TOKEN", "s3cret")]).unwrap_err();
            assert_eq!(error.variable, name);
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
