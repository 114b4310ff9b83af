//! The PostgreSQL server under test and the bench's own throwaway database on it, found and
//! checked as the other benches do: `BENCH_DATABASE_URL`, else `DATABASE_URL`, else the embedded
//! development cluster; refused when commits are not durable.

use anyhow::{Context, bail};
use db::embedded::quote_ident;
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Server {
    url: String,
    /// Which setting named it (or `embedded`); the URL itself is never printed.
    pub source: &'static str,
}

impl Server {
    pub async fn resolve() -> anyhow::Result<Self> {
        for name in ["BENCH_DATABASE_URL", "DATABASE_URL"] {
            if let Ok(url) = std::env::var(name)
                && !url.trim().is_empty()
            {
                let url = url.trim().to_owned();
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    bail!("{name} must be a postgres:// URL");
                }
                return Ok(Self { url, source: name });
            }
        }
        crate::progress!(
            "no BENCH_DATABASE_URL or DATABASE_URL: using the embedded development cluster"
        );
        let resolved = db::embedded::database_url_from_env_or_local()
            .await
            .context("could not start the embedded development cluster")?;
        Ok(Self {
            url: resolved.url.expose_secret().to_owned(),
            source: "embedded",
        })
    }

    /// The configured database: for CREATE / DROP DATABASE and the settings.
    pub fn maintenance_url(&self) -> &str {
        &self.url
    }

    /// The same server and credentials, database `name`. A `dbname` parameter is read after the
    /// URL's path by the PostgreSQL client every pool here uses (tokio-postgres), so it wins.
    pub fn url_for(&self, name: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}dbname={name}", self.url)
    }
}

pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .context("could not connect to PostgreSQL")
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

pub async fn text(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<String> {
    let row: Setting = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .with_context(|| format!("query failed: {sql}"))?;
    Ok(row.value)
}

/// The server's version and the settings that decide what a commit costs.
pub async fn describe(conn: &mut AsyncPgConnection) -> anyhow::Result<Value> {
    let mut settings = serde_json::Map::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "commit_delay",
        "shared_buffers",
        "max_connections",
    ] {
        let value = text(conn, &format!("SELECT current_setting('{name}') AS value")).await?;
        settings.insert(name.to_owned(), Value::String(value));
    }
    Ok(json!({ "settings": settings }))
}

/// Refuses a server without fsync: its commits say nothing about an intake that must not lose
/// a delivery it acknowledged.
pub fn require_durable(description: &Value) -> anyhow::Result<()> {
    let settings = &description["settings"];
    let fsync = settings["fsync"].as_str().unwrap_or("unknown");
    if fsync != "on" {
        bail!(
            "refusing to run: the server has fsync = {fsync:?}. Without fsync commits are not \
             durable and the figures would say nothing about an intake that stores every \
             delivery before answering; benchmark a server with fsync = on"
        );
    }
    if settings["synchronous_commit"].as_str() == Some("off") {
        crate::progress!(
            "WARNING: synchronous_commit = off: commits do not wait for the WAL flush, so the \
             latencies are not those of durable commits"
        );
    }
    Ok(())
}

pub async fn create(server: &Server, name: &str) -> anyhow::Result<()> {
    let mut conn = connect(server.maintenance_url()).await?;
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(&mut conn)
        .await
        .with_context(|| format!("could not create database {name}"))?;
    Ok(())
}

pub async fn drop(server: &Server, name: &str) -> anyhow::Result<()> {
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

pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    db::migrations::run_pending(connect(url).await?)
        .await
        .context("could not migrate the benchmark database")
}

/// The 1, 5 and 15 minute load averages: how busy the machine was.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_off_is_refused() {
        let off = json!({ "settings": { "fsync": "off" } });
        assert!(require_durable(&off).is_err());
        assert!(require_durable(&json!({})).is_err());
        assert!(require_durable(&json!({ "settings": { "fsync": "on" } })).is_ok());
    }

    #[test]
    fn the_database_is_named_by_a_parameter() {
        let server = |url: &str| Server {
            url: url.to_owned(),
            source: "test",
        };
        assert_eq!(
            server("postgres://u@h:5432/postgres").url_for("b"),
            "postgres://u@h:5432/postgres?dbname=b"
        );
        assert_eq!(
            server("postgres://h/app?sslmode=disable").url_for("b"),
            "postgres://h/app?sslmode=disable&dbname=b"
        );
    }
}
