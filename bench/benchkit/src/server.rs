//! The PostgreSQL server under test: where it is (`BENCH_DATABASE_URL`, else `DATABASE_URL`, else
//! the embedded development cluster), what it is (version, the settings that decide what a commit
//! costs), whether its commits are durable, and the bench's own throwaway database on it.

use anyhow::{Context, bail};
use db::{DbPool, embedded::quote_ident, pool::PooledConnection};
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::{
    progress::progress,
    url::{split_postgres_url, url_with_database},
};

/// The server, as a URL pointing at a database we may connect to for maintenance. The URL may
/// hold a password: it is never printed (Debug shows it redacted).
#[derive(Debug, Clone)]
pub struct Server {
    url: SecretString,
    /// Which setting named it (or `embedded`).
    pub source: &'static str,
}

impl Server {
    /// `BENCH_DATABASE_URL`, else `DATABASE_URL`, else the embedded development cluster (started
    /// when it is not running). `bench` names the bench in its progress lines.
    pub async fn resolve(bench: &str) -> anyhow::Result<Self> {
        for name in ["BENCH_DATABASE_URL", "DATABASE_URL"] {
            if let Ok(url) = std::env::var(name)
                && !url.trim().is_empty()
            {
                return Self::new(url.trim(), name).with_context(|| format!("{name} is invalid"));
            }
        }
        progress(
            bench,
            format_args!(
                "no BENCH_DATABASE_URL or DATABASE_URL: using the embedded development cluster"
            ),
        );
        let resolved = db::embedded::database_url_from_env_or_local()
            .await
            .context("could not start the embedded development cluster")?;
        Self::new(resolved.url.expose_secret(), "embedded")
    }

    /// The server at `url` (a `postgres://` or `postgresql://` URL), named by `source`.
    pub fn new(url: &str, source: &'static str) -> anyhow::Result<Self> {
        split_postgres_url(url)?;
        Ok(Self {
            url: url.to_owned().into(),
            source,
        })
    }

    /// The configured database: for CREATE / DROP DATABASE and the settings.
    pub fn maintenance_url(&self) -> &str {
        self.url.expose_secret()
    }

    /// The same server and credentials, database `name`.
    pub fn url_for(&self, name: &str) -> anyhow::Result<String> {
        url_with_database(self.url.expose_secret(), name)
    }
}

/// One connection of its own (not pooled).
pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .context("could not connect to PostgreSQL")
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = Text)]
    value: String,
}

/// The one text column `value` of the one row `sql` returns.
pub async fn text_query(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<String> {
    let row: TextValue = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .with_context(|| format!("query failed: {sql}"))?;
    Ok(row.value)
}

/// The settings every bench records: those that decide what a commit costs.
const COMMIT_SETTINGS: [&str; 7] = [
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "commit_delay",
    "shared_buffers",
    "max_connections",
];

/// The server's identity and settings: `server_version`, `version`, `fsync`,
/// `synchronous_commit`, and under `settings` those that decide what a commit costs and the
/// bench's `extra_settings`.
pub async fn describe(server: &Server, extra_settings: &[&str]) -> anyhow::Result<Value> {
    let mut conn = connect(server.maintenance_url()).await?;
    let mut settings = serde_json::Map::new();
    for name in COMMIT_SETTINGS.iter().chain(extra_settings) {
        let sql = format!("SELECT current_setting('{name}') AS value");
        let value = text_query(&mut conn, &sql).await?;
        settings.insert((*name).to_owned(), Value::String(value));
    }
    let version = text_query(&mut conn, "SELECT version() AS value").await?;
    let setting = |name: &str| settings.get(name).cloned().unwrap_or_default();
    Ok(json!({
        "server_version": setting("server_version"),
        "version": version,
        "fsync": setting("fsync"),
        "synchronous_commit": setting("synchronous_commit"),
        "settings": settings,
    }))
}

/// Refuses a server without fsync (`settings` as under [`describe`]'s `settings`): its figures
/// would say nothing about `what`, whose commits must survive a crash. Warns when commits do not
/// wait for the WAL flush.
pub fn require_durable(bench: &str, settings: &Value, what: &str) -> anyhow::Result<()> {
    let fsync = settings["fsync"].as_str().unwrap_or("unknown");
    if fsync != "on" {
        bail!(
            "refusing to run: the server has fsync = {fsync:?}. Without fsync commits are not \
             durable and the figures would say nothing about {what}; benchmark a server with \
             fsync = on"
        );
    }
    if settings["synchronous_commit"].as_str() == Some("off") {
        progress(
            bench,
            format_args!(
                "WARNING: synchronous_commit = off: commits do not wait for the WAL flush, so \
                 the figures are not those of durable commits"
            ),
        );
    }
    Ok(())
}

/// Creates database `name` (empty: [`migrate`] gives it the schema).
pub async fn create_database(server: &Server, name: &str) -> anyhow::Result<()> {
    let mut conn = connect(server.maintenance_url()).await?;
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(&mut conn)
        .await
        .with_context(|| format!("could not create database {name}"))?;
    Ok(())
}

/// Drops database `name`, closing whatever connections are still open to it.
pub async fn drop_database(server: &Server, name: &str) -> anyhow::Result<()> {
    let mut conn = connect(server.maintenance_url()).await?;
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut conn)
    .await
    .with_context(|| format!("could not drop database {name}"))?;
    Ok(())
}

/// Applies the embedded migrations; the names of those applied.
pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    db::migrations::run_pending(connect(url).await?)
        .await
        .context("could not migrate the benchmark database")
}

/// Opens `count` connections of `pool` at once, so none is opened while the clock runs (or to
/// put a hook on each); they return to the pool when dropped.
pub async fn open_connections(
    pool: &DbPool,
    count: usize,
) -> anyhow::Result<Vec<PooledConnection>> {
    let mut opened = Vec::with_capacity(count);
    for _ in 0..count {
        opened.push(
            pool.get()
                .await
                .context("could not open a pooled connection")?,
        );
    }
    Ok(opened)
}

/// Drops the bench's database unless `keep`; the `teardown` line to emit.
pub async fn teardown(bench: &str, server: &Server, name: &str, keep: bool) -> Value {
    if keep {
        progress(bench, format_args!("kept database {name}"));
        return json!({ "type": "teardown", "database": name, "dropped": false });
    }
    let dropped = drop_database(server, name).await;
    if let Err(e) = &dropped {
        progress(bench, format_args!("could not drop {name}: {e:#}"));
    }
    json!({ "type": "teardown", "database": name, "dropped": dropped.is_ok() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_off_is_refused_with_a_clear_reason() {
        let off = json!({ "fsync": "off", "synchronous_commit": "on" });
        let message = require_durable("test", &off, "a ledger")
            .unwrap_err()
            .to_string();
        assert!(message.contains("refusing to run"), "{message}");
        assert!(message.contains("fsync = \"off\""), "{message}");
        assert!(message.contains("nothing about a ledger;"), "{message}");
        assert!(require_durable("test", &json!({ "fsync": "on" }), "x").is_ok());
        let unsynced = json!({ "fsync": "on", "synchronous_commit": "off" });
        assert!(require_durable("test", &unsynced, "x").is_ok());
        assert!(require_durable("test", &json!({}), "x").is_err());
    }

    #[test]
    fn a_server_is_a_postgres_url_never_shown() {
        let server = Server::new("postgres://u:secret@h:5432/postgres", "test").unwrap();
        assert_eq!(server.source, "test");
        assert_eq!(
            server.maintenance_url(),
            "postgres://u:secret@h:5432/postgres"
        );
        assert_eq!(
            server.url_for("bench_1").unwrap(),
            "postgres://u:secret@h:5432/bench_1"
        );
        assert!(!format!("{server:?}").contains("secret"));
        assert!(Server::new("http://h/d", "test").is_err());
    }
}
