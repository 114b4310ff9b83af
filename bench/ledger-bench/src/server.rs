//! The PostgreSQL server under test: where it is, what it is (version, durability settings) and the
//! benchmark's own throwaway database on it.

use std::process::Command;

use anyhow::{Context, bail};
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::pgurl::PgUrl;

/// The server, as a URL pointing at a database we may connect to for maintenance.
#[derive(Debug, Clone)]
pub struct Server {
    pub url: PgUrl,
    raw_url: String,
    /// Which setting named it (or `embedded`).
    pub source: &'static str,
}

impl Server {
    /// `BENCH_DATABASE_URL`, else `DATABASE_URL`, else the embedded development cluster.
    pub async fn resolve() -> anyhow::Result<Self> {
        for name in ["BENCH_DATABASE_URL", "DATABASE_URL"] {
            if let Ok(raw) = std::env::var(name)
                && !raw.trim().is_empty()
            {
                let url = PgUrl::parse(raw.trim()).with_context(|| format!("{name} is invalid"))?;
                return Ok(Self {
                    url,
                    raw_url: raw.trim().to_owned(),
                    source: name,
                });
            }
        }
        crate::progress!(
            "no BENCH_DATABASE_URL or DATABASE_URL: using the embedded development cluster"
        );
        let resolved = db::embedded::database_url_from_env_or_local()
            .await
            .context("could not start the embedded development cluster")?;
        let raw = resolved.url.expose_secret().to_owned();
        Ok(Self {
            url: PgUrl::parse(&raw)?,
            raw_url: raw,
            source: "embedded",
        })
    }

    /// The configured database; used for CREATE / DROP DATABASE and the settings query.
    pub fn maintenance_url(&self) -> &str {
        &self.raw_url
    }

    pub fn url_for(&self, database: &str) -> String {
        self.url.with_database(database)
    }
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = Text)]
    value: String,
}

pub async fn text_query(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<String> {
    let row: TextValue = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .with_context(|| format!("query failed: {sql}"))?;
    Ok(row.value)
}

/// The server's identity and durability settings.
pub async fn describe(conn: &mut AsyncPgConnection) -> anyhow::Result<Value> {
    let mut settings = serde_json::Map::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "full_page_writes",
        "commit_delay",
        "shared_buffers",
        "max_connections",
    ] {
        let value = text_query(conn, &format!("SELECT current_setting('{name}') AS value")).await?;
        settings.insert(name.to_owned(), Value::String(value));
    }
    let version = text_query(conn, "SELECT version() AS value").await?;
    let setting = |name: &str| {
        settings
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(json!({
        "server_version": setting("server_version"),
        "version": version,
        "fsync": setting("fsync"),
        "synchronous_commit": setting("synchronous_commit"),
        "settings": settings,
    }))
}

/// Fails when fsync is off: figures without fsync say nothing about a ledger whose commits must
/// survive a crash.
pub fn require_durable(description: &Value) -> anyhow::Result<()> {
    let fsync = description["fsync"].as_str().unwrap_or("unknown");
    if fsync != "on" {
        bail!(
            "refusing to run: the server has fsync = {fsync:?}. Without fsync commits are not \
             durable and the figures would say nothing about a billing ledger; benchmark a server \
             with fsync = on"
        );
    }
    if description["synchronous_commit"].as_str() == Some("off") {
        crate::progress!(
            "WARNING: synchronous_commit = off: commits do not wait for the WAL flush, so the \
             latencies are not those of durable commits"
        );
    }
    Ok(())
}

pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    AsyncPgConnection::establish(url)
        .await
        .context("could not connect to PostgreSQL")
}

pub async fn create_database(server: &Server, name: &str) -> anyhow::Result<()> {
    let mut conn = connect(server.maintenance_url()).await?;
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(&mut conn)
        .await
        .with_context(|| format!("could not create database {name}"))?;
    Ok(())
}

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

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// CPU count and model, the load at the time, and the git commit the benchmark was built from.
pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned());
    let mem_total_kb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    json!({
        "cpus": cpus,
        "cpu_model": cpu_model,
        "mem_total_mb": mem_total_kb.map(|kb| kb / 1024),
        "loadavg": loadavg(),
        "git_commit": git(&["rev-parse", "HEAD"]),
        "git_dirty": git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
    })
}

/// The 1, 5 and 15 minute load averages: how busy the machine was (other processes compete with
/// the server and the clients for the same cores).
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_off_is_refused_with_a_clear_reason() {
        let off = json!({ "fsync": "off", "synchronous_commit": "on" });
        let message = require_durable(&off).unwrap_err().to_string();
        assert!(message.contains("refusing to run"), "{message}");
        assert!(message.contains("fsync = \"off\""), "{message}");
        assert!(require_durable(&json!({ "fsync": "on" })).is_ok());
        assert!(require_durable(&json!({})).is_err());
    }
}
