//! Which database a service uses and how its pool behaves, from the environment; and opening it,
//! which in the development mode (no `DATABASE_URL`) means starting and migrating the private
//! cluster in `./.data/postgres`.

use std::{path::Path, time::Duration};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use primitives::config::{ConfigError, Env, Variable};
use secrecy::SecretString;

use crate::{
    DbConfig, DbPool,
    embedded::{ClusterOptions, DEV_CLUSTER_DIR, EmbeddedError, LocalCluster},
};

/// Where the database is.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// An operator-managed database; migrations are the migrator's job, never a service's.
    Url(SecretString),
    /// The private development cluster, started and migrated by the process that opens it.
    Embedded,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub source: DatabaseSource,
    pub pool_size: usize,
    pub statement_timeout: Duration,
}

pub const DEFAULT_POOL_SIZE: usize = 16;
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_millis(5000);

impl DatabaseSettings {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "DATABASE_URL",
            default: "unset",
            meaning: "PostgreSQL URL. Unset: the development mode (only `api` allows it), with a private cluster in `./.data/postgres` (port `EMBEDDED_PG_PORT`, default 54320) that the api starts and migrates. Set: no service migrates (the `migrator` does) and `/readyz` reports not ready while migrations are pending. Behind a failover pair list every node with `target_session_attrs=read-write` (`postgres://user@db1:5432,db2:5432/billing?target_session_attrs=read-write`, docs/deploy.md).",
        },
        Variable {
            name: "EMBEDDED_PG_PORT",
            default: "54320",
            meaning: "the development cluster's port on 127.0.0.1",
        },
        Variable {
            name: "DATABASE_POOL_SIZE",
            default: "16",
            meaning: "most database connections a process holds open (1 to 1000)",
        },
        Variable {
            name: "DATABASE_STATEMENT_TIMEOUT_MS",
            default: "5000",
            meaning: "server-side limit for any one SQL statement, so a stuck query cannot hold a wallet's lock (1 to 600000)",
        },
    ];

    /// Defaults for the pool, over `source`.
    pub fn new(source: DatabaseSource) -> Self {
        Self {
            source,
            pool_size: DEFAULT_POOL_SIZE,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let source = match env.get("DATABASE_URL") {
            Some(url) => DatabaseSource::Url(SecretString::from(url)),
            None => DatabaseSource::Embedded,
        };
        let timeout_ms = env.number(
            "DATABASE_STATEMENT_TIMEOUT_MS",
            1..=600_000u64,
            millis(DEFAULT_STATEMENT_TIMEOUT),
        )?;
        Ok(Self {
            source,
            pool_size: env.number("DATABASE_POOL_SIZE", 1..=1000, DEFAULT_POOL_SIZE)?,
            statement_timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// For services that never run on the development cluster: `DATABASE_URL` must be set.
    pub fn require_url(&self, service: &str) -> Result<&SecretString, ConfigError> {
        match &self.source {
            DatabaseSource::Url(url) => Ok(url),
            DatabaseSource::Embedded => Err(ConfigError::new(
                "DATABASE_URL",
                format!(
                    "the {service} needs the database the migrator prepared (only the api has a \
                     development mode without one)"
                ),
            )),
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self.source, DatabaseSource::Embedded)
    }

    /// The pool, named `application_name` in `pg_stat_activity`. Connections are made lazily: a
    /// database that is down makes `/readyz` fail, not the start. The development cluster is
    /// started and migrated first.
    pub async fn open(&self, application_name: &str) -> Result<Database, OpenError> {
        let (url, local) = match &self.source {
            DatabaseSource::Url(url) => (url.clone(), None),
            DatabaseSource::Embedded => {
                let options = ClusterOptions::dev_from_env()?;
                let cluster =
                    crate::embedded::ensure_local_cluster(Path::new(DEV_CLUSTER_DIR), &options)
                        .await?;
                let conn = AsyncPgConnection::establish(&cluster.url()).await?;
                let applied = crate::migrations::run_pending(conn).await?;
                tracing::info!(?applied, "development database migrated");
                (SecretString::from(cluster.url()), Some(cluster))
            }
        };
        let mut config = DbConfig::new(url, application_name);
        config.max_connections = self.pool_size;
        config.statement_timeout = self.statement_timeout;
        let pool = crate::connect_pool(&config)?;
        Ok(Database { pool, local })
    }
}

/// An opened database: the pool and, in the development mode, the cluster behind it (which
/// outlives the process on purpose, so the next start reuses it).
#[derive(Clone)]
pub struct Database {
    pub pool: DbPool,
    pub local: Option<LocalCluster>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("could not connect to the development database to migrate it: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Migration(#[from] crate::migrations::MigrationError),
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolBuildError),
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<DatabaseSettings, ConfigError> {
        DatabaseSettings::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn unset_means_the_development_cluster() {
        let settings = settings(&[("DATABASE_URL", " ")]).unwrap();
        assert!(settings.is_embedded());
        assert_eq!(settings.pool_size, 16);
        assert_eq!(settings.statement_timeout, Duration::from_secs(5));
        assert_eq!(
            settings.require_url("worker").unwrap_err().variable,
            "DATABASE_URL"
        );
    }

    #[test]
    fn reads_the_pool_and_never_shows_the_password() {
        let settings = settings(&[
            ("DATABASE_URL", "postgres://u:pw@db/billing"),
            ("DATABASE_POOL_SIZE", "4"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(settings.pool_size, 4);
        assert_eq!(settings.statement_timeout, Duration::from_millis(250));
        assert_eq!(
            settings.require_url("worker").unwrap().expose_secret(),
            "postgres://u:pw@db/billing"
        );
        assert!(!format!("{settings:?}").contains(":pw@"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for pairs in [
            &[("DATABASE_POOL_SIZE", "0")][..],
            &[("DATABASE_POOL_SIZE", "-1")],
            &[("DATABASE_STATEMENT_TIMEOUT_MS", "1.5")],
        ] {
            let error = settings(pairs).unwrap_err();
            assert_eq!(error.variable, pairs[0].0);
        }
    }
}
