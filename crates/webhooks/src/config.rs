//! The receiver's own settings, from the environment. The billing providers
//! (`billing::Providers::from_lookup`), the subscription lifecycle
//! (`subscriptions::LifecyclePolicy::from_lookup`) and the intake (`intake::IntakePolicy`) read
//! their own variables; the README lists them all.

use std::net::SocketAddr;

use db::{DatabaseSettings, DatabaseSource};
use intake::IntakePolicy;
pub use primitives::config::ConfigError;
use primitives::config::{Env, Variable};
use secrecy::SecretString;
use subscriptions::LifecyclePolicy;

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Where providers' deliveries arrive (behind the TLS-terminating proxy the provider is
    /// pointed at).
    pub addr: SocketAddr,
    /// The database the migrator prepared (`DATABASE_URL` is required: the receiver never
    /// migrates; `/readyz` is 503 until the migrator has run) and the pool.
    pub database: DatabaseSettings,
    /// Larger deliveries get 413. Provider events are a few kilobytes.
    pub body_limit_bytes: usize,
    /// The dunning schedule and grace periods: the same variables as the worker's, which must
    /// agree (events applied here schedule the subscription's next steps).
    pub lifecycle: LifecyclePolicy,
    pub intake: IntakePolicy,
}

pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 256 * 1024;

impl ReceiverConfig {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "WEBHOOK_ADDR",
            default: "127.0.0.1:8081",
            meaning: "where the webhook receiver listens",
        },
        Variable {
            name: "WEBHOOK_BODY_LIMIT_BYTES",
            default: "262144",
            meaning: "larger deliveries get 413 (1024 to 1048576)",
        },
    ];

    /// Defaults for everything but the database, listening on a free loopback port.
    pub fn new(database_url: SecretString) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseSettings::new(DatabaseSource::Url(database_url)),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            lifecycle: LifecyclePolicy::default(),
            intake: IntakePolicy::default(),
        }
    }

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let database = DatabaseSettings::from_env(env)?;
        database.require_url("webhook receiver")?;
        let lifecycle = LifecyclePolicy::from_lookup(env.lookup())?;
        let intake = IntakePolicy::from_lookup(env.lookup())?;
        Ok(Self {
            addr: env.parse("WEBHOOK_ADDR", DEFAULT_ADDR)?,
            database,
            body_limit_bytes: env.number(
                "WEBHOOK_BODY_LIMIT_BYTES",
                1024..=1024 * 1024,
                DEFAULT_BODY_LIMIT_BYTES,
            )?,
            lifecycle,
            intake,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ReceiverConfig, ConfigError> {
        ReceiverConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn the_database_is_required_and_defaults_fill_the_rest() {
        assert_eq!(
            config(&[]).map(|_| ()).map_err(|e| e.variable),
            Err("DATABASE_URL")
        );
        assert_eq!(
            config(&[("DATABASE_URL", " ")])
                .map(|_| ())
                .map_err(|e| e.variable),
            Err("DATABASE_URL")
        );
        let ok = config(&[("DATABASE_URL", "postgres://x/y")]);
        assert_eq!(ok.as_ref().map(|c| c.addr), Ok(DEFAULT_ADDR));
        assert_eq!(
            ok.as_ref().map(|c| c.body_limit_bytes),
            Ok(DEFAULT_BODY_LIMIT_BYTES)
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("WEBHOOK_ADDR", "localhost"),
            ("WEBHOOK_BODY_LIMIT_BYTES", "10"),
            ("WEBHOOK_BODY_LIMIT_BYTES", "-5"),
            ("DATABASE_POOL_SIZE", "0"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "soon"),
            ("INBOX_MAX_ATTEMPTS", "0"),
            ("BILLING_GRACE_PERIOD_HOURS", "x"),
        ] {
            let error = config(&[("DATABASE_URL", "postgres://x/y"), (variable, value)]);
            assert_eq!(
                error.map(|_| ()).map_err(|e| e.variable),
                Err(variable),
                "{variable}"
            );
        }
    }
}
