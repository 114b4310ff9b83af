//! Readiness: can a service instance take traffic? The database answers and, where migrations are
//! someone else's job, every embedded migration is applied.

use std::sync::atomic::{AtomicBool, Ordering};

use diesel::{
    QueryableByName,
    migration::MigrationSource,
    pg::Pg,
    sql_types::{Bool, Integer, Text},
};
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;

/// Whether `/readyz` must also see every embedded migration applied.
#[derive(Debug)]
pub struct Readiness {
    check_migrations: bool,
    /// Migrations are never rolled back under a running service, so once they are all applied
    /// the check need not be repeated on every probe.
    migrations_complete: AtomicBool,
}

/// Why the instance is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("database unreachable")]
    Database(#[source] diesel::result::Error),
    #[error("{} migration(s) pending: {}", .0.len(), .0.join(", "))]
    MigrationsPending(Vec<String>),
    #[error("the embedded migrations cannot be listed: {0}")]
    MigrationSource(String),
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Integer)]
    #[expect(dead_code, reason = "the row only proves the round trip")]
    one: i32,
}

#[derive(QueryableByName)]
struct TableExists {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

impl Readiness {
    /// `check_migrations` is set when migrations are someone else's job (`DATABASE_URL` set):
    /// an api started before the migrator ran must not take traffic.
    pub fn new(check_migrations: bool) -> Self {
        Self {
            check_migrations,
            migrations_complete: AtomicBool::new(false),
        }
    }

    pub async fn check(&self, conn: &mut AsyncPgConnection) -> Result<(), NotReady> {
        diesel::sql_query("SELECT 1 AS one")
            .get_result::<One>(conn)
            .await
            .map_err(NotReady::Database)?;
        if !self.check_migrations || AtomicBool::load(&self.migrations_complete, Ordering::Relaxed)
        {
            return Ok(());
        }
        let pending = pending_migrations(conn).await?;
        if pending.is_empty() {
            self.migrations_complete.store(true, Ordering::Relaxed);
            Ok(())
        } else {
            Err(NotReady::MigrationsPending(pending))
        }
    }
}

/// Embedded migrations whose version is not recorded in diesel's bookkeeping table.
async fn pending_migrations(conn: &mut AsyncPgConnection) -> Result<Vec<String>, NotReady> {
    // Before the first migration diesel's bookkeeping table does not exist yet.
    let bookkeeping: TableExists = diesel::sql_query(
        "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS present",
    )
    .get_result(conn)
    .await
    .map_err(NotReady::Database)?;
    let applied: Vec<AppliedVersion> = if bookkeeping.present {
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load(conn)
            .await
            .map_err(NotReady::Database)?
    } else {
        Vec::new()
    };
    // Listed after the awaits: diesel's migration objects are not Send.
    let embedded = MigrationSource::<Pg>::migrations(&crate::migrations::MIGRATIONS)
        .map_err(|e| NotReady::MigrationSource(e.to_string()))?;
    Ok(embedded
        .iter()
        .map(|migration| migration.name().version().to_string())
        .filter(|version| !applied.iter().any(|a| &a.version == version))
        .collect())
}
