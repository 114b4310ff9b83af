//! The connection pool: deadpool over diesel-async, with per-connection session settings.
//!
//! After a failover the pool must end up on the new primary without a restart. A connection
//! the old primary dropped is broken and discarded on its first use (diesel-async marks it). A
//! connection that is still open to a node that can no longer write (a primary demoted to a
//! standby, or one set read-only) is not broken, and `target_session_attrs=read-write` is only
//! checked when a connection is opened: so the first write it refuses (SQLSTATE 25006) marks
//! every connection opened before that moment as stale, and the pool drops each one instead of
//! handing it out again (see [`Staleness`]). New connections go through the URL's host list
//! again and find the writable node.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::{
    ConnectionError,
    connection::{Instrumentation, InstrumentationEvent},
};
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
///
/// `config.url` may name several hosts (`postgres://u@db1:5432,db2:5432/billing?
/// target_session_attrs=read-write`): tokio-postgres tries them in order and keeps the first
/// that accepts writes, for every connection the pool opens.
pub fn connect_pool(config: &DbConfig) -> Result<DbPool, PoolBuildError> {
    let staleness = Staleness::new();
    let session = SessionSettings {
        statement_timeout_ms: config.statement_timeout.as_millis(),
        application_name: config.application_name.clone(),
        staleness: staleness.clone(),
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
        // Runs on every checkout of an idle connection, before diesel-async's own check: an
        // atomic load and a comparison, no round trip.
        .pre_recycle(deadpool::Hook::sync_fn(move |_, metrics| {
            if staleness.is_stale(metrics.created) {
                Err(deadpool::HookError::message(
                    "opened before a write was refused as read-only",
                ))
            } else {
                Ok(())
            }
        }))
        .build()?;
    Ok(pool)
}

/// When a pooled connection last met a node that refused a write because it is read-only. One
/// per pool: the node behind the URL changed for every connection of the pool at once (a
/// failover), so every connection opened before the refusal is suspect; those opened after it
/// went through `target_session_attrs` again. Dropping a good one costs one reconnect.
#[derive(Debug, Clone)]
struct Staleness {
    origin: Instant,
    /// Nanoseconds after `origin` of the last refusal, plus one; 0: never.
    refused_at: Arc<AtomicU64>,
}

impl Staleness {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            refused_at: Arc::new(AtomicU64::new(0)),
        }
    }

    fn mark(&self) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.refused_at.fetch_max(nanos + 1, Ordering::Relaxed);
    }

    /// Whether a connection opened at `created` was opened before the last refusal.
    fn is_stale(&self, created: Instant) -> bool {
        match self.refused_at.load(Ordering::Relaxed) {
            0 => false,
            refused => {
                let refused_at = self.origin + Duration::from_nanos(refused - 1);
                created <= refused_at
            }
        }
    }

    /// Watches every statement of one connection for a read-only refusal.
    fn watch(&self) -> impl Instrumentation {
        let staleness = self.clone();
        move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::FinishQuery {
                error: Some(error), ..
            } = event
                && crate::failure::refused_as_read_only(error)
            {
                tracing::warn!(
                    "the database refused a write as read-only (a demoted primary?): the pool \
                     replaces every connection opened before now"
                );
                staleness.mark();
            }
        }
    }
}

#[derive(Debug, Clone)]
struct SessionSettings {
    statement_timeout_ms: u128,
    application_name: String,
    staleness: Staleness,
}

impl SessionSettings {
    fn establish(self, url: &str) -> BoxFuture<'_, Result<AsyncPgConnection, ConnectionError>> {
        let url = url.to_owned();
        async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.set_instrumentation(self.staleness.watch());
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
