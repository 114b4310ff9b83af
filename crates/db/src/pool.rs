//! The connection pool: deadpool over diesel-async, with per-connection session settings.

use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::{
    AsyncConnection, AsyncPgConnection, SimpleAsyncConnection,
    pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool},
};
use futures::{FutureExt, future::BoxFuture};
use secrecy::{ExposeSecret, SecretString};

pub type DbPool = deadpool::Pool<AsyncPgConnection>;
pub type PooledConnection = deadpool::Object<AsyncPgConnection>;
pub use deadpool::PoolError;

/// How to reach PostgreSQL and how each pooled session is configured.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://` URL; may contain a password, hence secret.
    pub url: SecretString,
    /// Upper bound of open connections (`DATABASE_POOL_SIZE`, default 16).
    pub max_connections: usize,
    /// Server-side limit for any one statement (`DATABASE_STATEMENT_TIMEOUT_MS`, default 5000):
    /// a stuck query must not hold a wallet row lock forever.
    pub statement_timeout: Duration,
    /// Shown in `pg_stat_activity`, so operators can tell which binary holds a lock.
    pub application_name: String,
    /// How long a caller waits for a free connection before getting an error.
    pub acquire_timeout: Duration,
}

impl DbConfig {
    pub fn new(url: SecretString, application_name: impl Into<String>) -> Self {
        Self {
            url,
            max_connections: 16,
            statement_timeout: Duration::from_secs(5),
            application_name: application_name.into(),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PoolBuildError {
    #[error("could not build the database pool: {0}")]
    Build(#[from] deadpool::BuildError),
}

/// Builds the pool. Connections are opened lazily, so this does not touch the network.
pub fn connect_pool(config: &DbConfig) -> Result<DbPool, PoolBuildError> {
    let session = SessionSettings {
        statement_timeout_ms: config.statement_timeout.as_millis(),
        application_name: config.application_name.clone(),
    };
    let mut manager_config = ManagerConfig::default();
    // Checking out a connection must not cost a `SELECT 1` round trip per request (it was ~7% of
    // a debit). A connection the server dropped is still detected: diesel-async marks it broken
    // on its first failed use and the pool discards it, and callers see a retryable error.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| session.clone().establish(url).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        config.url.expose_secret(),
        manager_config,
    );
    let pool = deadpool::Pool::builder(manager)
        .max_size(config.max_connections)
        .runtime(::deadpool::Runtime::Tokio1)
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.acquire_timeout))
        .build()?;
    Ok(pool)
}

#[derive(Debug, Clone)]
struct SessionSettings {
    statement_timeout_ms: u128,
    application_name: String,
}

impl SessionSettings {
    fn establish(self, url: &str) -> BoxFuture<'_, Result<AsyncPgConnection, ConnectionError>> {
        let url = url.to_owned();
        async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            // SET does not take bind parameters; both values are ours (a number and a name we
            // quote), never user input.
            let name = self.application_name.replace('\'', "''");
            let setup = format!(
                "SET statement_timeout = {}; SET application_name = '{name}'",
                self.statement_timeout_ms
            );
            // Two statements: only the simple-query protocol accepts that, a prepared one does not.
            conn.batch_execute(&setup)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    }
}
