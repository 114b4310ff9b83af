//! The schema migrations, embedded from the workspace's `migrations/` directory at build time.

use diesel::migration::MigrationVersion;
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Hex digest of every file under `migrations/` (see `build.rs`): names a migrated template
/// database so that a changed migration gets a fresh template instead of a stale one.
pub const FINGERPRINT: &str = env!("DB_MIGRATIONS_FINGERPRINT");

/// A migration failure, with diesel's message.
#[derive(Debug, thiserror::Error)]
#[error("migration failed: {0}")]
pub struct MigrationError(String);

/// Applied and pending migration versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

/// Applies every pending migration, each in its own transaction; returns the versions applied.
///
/// Needs the multi-threaded tokio runtime: diesel's migration machinery is synchronous.
pub async fn run_pending(conn: AsyncPgConnection) -> Result<Vec<String>, MigrationError> {
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| MigrationError(e.to_string()))?;
    Ok(applied.iter().map(version_string).collect())
}

/// Lists applied and pending migrations without changing anything.
pub async fn status(conn: AsyncPgConnection) -> Result<MigrationStatus, MigrationError> {
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .applied_migrations()
        .map_err(|e| MigrationError(e.to_string()))?;
    let pending = harness
        .pending_migrations(MIGRATIONS)
        .map_err(|e| MigrationError(e.to_string()))?;
    Ok(MigrationStatus {
        applied: applied.iter().map(version_string).collect(),
        pending: pending.iter().map(|m| m.name().to_string()).collect(),
    })
}

fn version_string(version: &MigrationVersion<'_>) -> String {
    version.to_string()
}
