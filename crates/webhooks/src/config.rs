//! The receiver's own settings, from the environment. The billing providers
//! (`billing::Providers::from_lookup`), the subscription lifecycle
//! (`subscriptions::LifecyclePolicy::from_lookup`) and the intake (`intake::IntakePolicy`) read
//! their own variables; the README lists them all.

use std::{net::SocketAddr, time::Duration};

use intake::IntakePolicy;
use secrecy::SecretString;
use subscriptions::LifecyclePolicy;

/// Why the receiver cannot start with this environment: the variable and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// `WEBHOOK_ADDR` (default `127.0.0.1:8081`): where providers' deliveries arrive (behind
    /// the TLS-terminating proxy the provider is pointed at).
    pub addr: SocketAddr,
    /// `DATABASE_URL` (required): the receiver never migrates; `/readyz` is 503 until the
    /// migrator has run.
    pub database_url: SecretString,
    /// `DATABASE_POOL_SIZE` (default 16).
    pub pool_size: usize,
    /// `DATABASE_STATEMENT_TIMEOUT_MS` (default 5000).
    pub statement_timeout: Duration,
    /// `WEBHOOK_BODY_LIMIT_BYTES` (default 262144): larger deliveries get 413. Provider events
    /// are a few kilobytes.
    pub body_limit_bytes: usize,
    /// The dunning schedule and grace periods: the same variables as the api's, which must
    /// agree (events applied here schedule the subscription's next steps).
    pub lifecycle: LifecyclePolicy,
    pub intake: IntakePolicy,
}

pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 256 * 1024;

impl ReceiverConfig {
    /// Defaults for everything but the database, listening on a free loopback port.
    pub fn new(database_url: SecretString) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url,
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            lifecycle: LifecyclePolicy::default(),
            intake: IntakePolicy::default(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let database_url = get("DATABASE_URL").ok_or(ConfigError {
            variable: "DATABASE_URL",
            message: "the webhook receiver needs the database the migrator prepared".into(),
        })?;
        let mut config = Self::new(SecretString::from(database_url));
        config.addr = match get("WEBHOOK_ADDR") {
            Some(addr) => addr.trim().parse().map_err(|_| ConfigError {
                variable: "WEBHOOK_ADDR",
                message: format!("expected host:port, got {addr:?}"),
            })?,
            None => DEFAULT_ADDR,
        };
        config.pool_size = number(&get, "DATABASE_POOL_SIZE", 1, 1000)?.unwrap_or(16);
        config.statement_timeout = number(&get, "DATABASE_STATEMENT_TIMEOUT_MS", 1, 600_000)?
            .map_or(config.statement_timeout, |ms| {
                Duration::from_millis(ms as u64)
            });
        config.body_limit_bytes = number(&get, "WEBHOOK_BODY_LIMIT_BYTES", 1024, 1024 * 1024)?
            .unwrap_or(DEFAULT_BODY_LIMIT_BYTES);
        config.lifecycle = LifecyclePolicy::from_lookup(get).map_err(|error| ConfigError {
            variable: error.variable,
            message: error.message,
        })?;
        config.intake = IntakePolicy::from_lookup(get).map_err(|error| ConfigError {
            variable: error.variable,
            message: error.message,
        })?;
        Ok(config)
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ConfigError> {
    let Some(raw) = get(variable) else {
        return Ok(None);
    };
    match raw.trim().parse::<usize>() {
        Ok(value) if (min..=max).contains(&value) => Ok(Some(value)),
        _ => Err(ConfigError {
            variable,
            message: format!("expected a whole number from {min} to {max}, got {raw:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ReceiverConfig, ConfigError> {
        ReceiverConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
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
