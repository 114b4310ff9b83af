//! Test-only helpers. [`TestDb`] gives each test a database of its own, cloned from a migrated
//! template, so database tests run in parallel without `#[serial]`.
//!
//! The server is `TEST_DATABASE_URL`, else `DATABASE_URL`, else a throwaway cluster that testkit
//! runs from the installed PostgreSQL binaries in `<workspace>/target/test-postgres` (fsync off;
//! left running for the next test run). Its port is 54321 plus an offset derived from the
//! checkout's path (the next free one if taken), or `TEST_EMBEDDED_PG_PORT`. Without PostgreSQL,
//! tests fail: there is no skip, in CI or anywhere else.
//!
//! ```no_run
//! # async fn example() {
//! let db = testkit::TestDb::new().await;
//! let mut conn = db.conn().await; // or db.pool()
//! # }
//! ```
//!
//! [`signing`] signs webhook deliveries exactly as PayPal, Stripe and PayHere do, for
//! end-to-end tests and benchmarks that need genuine deliveries.
//!
//! Everything here panics instead of returning errors: it is for tests only.

pub mod binary;
mod server;
pub mod signing;
mod smtp;
mod url;

use std::{sync::mpsc, time::Duration};

use db::{AsyncPgConnection, DbConfig, DbPool, embedded::quote_ident};
use secrecy::SecretString;

pub use smtp::{ReceivedMail, SmtpSink};

/// What the tests read: where their databases live and how many cases the property tests run.
pub const VARIABLES: &[primitives::config::Variable] = &[
    primitives::config::Variable {
        name: "TEST_DATABASE_URL",
        default: "unset",
        meaning: "server for test databases (else `DATABASE_URL`, else a throwaway cluster under `target/test-postgres`)",
    },
    primitives::config::Variable {
        name: "TEST_EMBEDDED_PG_PORT",
        default: "54321 + per-checkout offset",
        meaning: "port of the throwaway test cluster",
    },
    primitives::config::Variable {
        name: "LEDGER_MODEL_CASES",
        default: "48",
        meaning: "cases of the ledger's model-based property test",
    },
    primitives::config::Variable {
        name: "CAMPAIGN_MODEL_CASES",
        default: "12",
        meaning: "cases of the campaigns' model-based property test",
    },
    primitives::config::Variable {
        name: "SUBSCRIPTION_ORDER_CASES",
        default: "24",
        meaning: "cases of the subscriptions' delivery-order property tests",
    },
    primitives::config::Variable {
        name: "INTAKE_ORDER_CASES",
        default: "6",
        meaning: "cases of the intake's shuffled-delivery property test",
    },
];

/// Upper bound on how long dropping a [`TestDb`] may hold up the end of a test.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh database, dropped (with any open connections) when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    maintenance_url: String,
}

impl TestDb {
    /// A new database with every migration applied.
    pub async fn new() -> Self {
        let template = server::template().await;
        Self::create(Some(template)).await
    }

    /// A new database with no migrations applied, e.g. for testing the migrator.
    pub async fn empty() -> Self {
        Self::create(None).await
    }

    async fn create(template: Option<&str>) -> Self {
        let server = server::server().await;
        let name = format!(
            "{}{}",
            server::TEST_DB_PREFIX,
            uuid::Uuid::now_v7().simple()
        );
        let mut sql = format!("CREATE DATABASE {}", quote_ident(&name));
        if let Some(template) = template {
            sql.push_str(&format!(" TEMPLATE {}", quote_ident(template)));
        }
        let created = match server::connect(&server.maintenance_url).await {
            Ok(mut conn) => server::execute(&mut conn, &sql).await,
            Err(error) => Err(error),
        };
        if let Err(message) = created {
            panic!("testkit: could not create a test database: {message}");
        }
        Self {
            url: server.url_for(&name),
            name,
            maintenance_url: server.maintenance_url.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://` URL of this database.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A pool over this database, configured like the binaries' pools.
    pub fn pool(&self) -> DbPool {
        let config = DbConfig::new(SecretString::from(self.url()), "testkit");
        db::connect_pool(&config)
            .unwrap_or_else(|e| panic!("testkit: could not build a pool for {}: {e}", self.url))
    }

    /// A single connection outside any pool.
    pub async fn conn(&self) -> AsyncPgConnection {
        server::connect(&self.url)
            .await
            .unwrap_or_else(|message| panic!("testkit: {message}"))
    }
}

impl Drop for TestDb {
    /// Runs on a thread with its own runtime, since drop cannot await and the test's runtime
    /// may be shutting down; waits a bounded time so a hung server cannot hang the test run.
    /// Failures are ignored: a leftover database is dropped by a later run once it is stale.
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        let maintenance_url = self.maintenance_url.clone();
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(DROP_TIMEOUT, async {
                        let mut conn = server::connect(&maintenance_url).await?;
                        server::execute(&mut conn, &sql).await
                    })
                    .await;
                });
            }
            let _ = done.send(());
        });
        let _ = finished.recv_timeout(DROP_TIMEOUT + Duration::from_secs(1));
    }
}
