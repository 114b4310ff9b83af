//! The PostgreSQL server under test, found and checked the way `ledger-bench` does it: where it
//! is, whether its commits are durable, and the benchmark's own throwaway database on it.

use std::process::Command;

use anyhow::{Context, bail};
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The server, as a URL pointing at a database we may connect to for maintenance.
#[derive(Debug, Clone)]
pub struct Server {
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
                let raw = raw.trim().to_owned();
                url_with_database(&raw, "probe").with_context(|| format!("{name} is invalid"))?;
                return Ok(Self {
                    raw_url: raw,
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
        Ok(Self {
            raw_url: resolved.url.expose_secret().to_owned(),
            source: "embedded",
        })
    }

    /// The configured database; used for CREATE / DROP DATABASE and the settings query.
    pub fn maintenance_url(&self) -> &str {
        &self.raw_url
    }

    pub fn url_for(&self, database: &str) -> anyhow::Result<String> {
        url_with_database(&self.raw_url, database)
    }

    /// For printing: the URL without its password.
    pub fn redacted(&self) -> String {
        redact(&self.raw_url)
    }
}

/// `postgres[ql]://authority[/dbname][?query]` pointed at `dbname` (a `dbname=` query parameter
/// is dropped so it cannot override the path).
pub fn url_with_database(url: &str, dbname: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "postgres" | "postgresql"))
        .context("database URL must start with postgres:// or postgresql://")?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let query = query
        .map(|q| {
            q.split('&')
                .filter(|pair| !pair.is_empty() && !pair.starts_with("dbname="))
                .collect::<Vec<_>>()
                .join("&")
        })
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let encoded: String = dbname
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(format!("{scheme}://{authority}/{encoded}{query}"))
}

/// The URL with any password replaced by `***` (also a `password=` query parameter).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(unparsable URL)".to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| {
                if pair.starts_with("password=") {
                    "password=***"
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let mut out = format!("{scheme}://{authority}");
    if let Some(path) = path {
        out.push('/');
        out.push_str(path);
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(&query);
    }
    out
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
        "plan_cache_mode",
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

/// Fails when fsync is off: figures without fsync say nothing about a dispatcher whose every
/// batch commits money movements that must survive a crash.
pub fn require_durable(description: &Value) -> anyhow::Result<()> {
    let fsync = description["fsync"].as_str().unwrap_or("unknown");
    if fsync != "on" {
        bail!(
            "refusing to run: the server has fsync = {fsync:?}. Without fsync commits are not \
             durable and the figures would say nothing about a billing system; benchmark a \
             server with fsync = on"
        );
    }
    if description["synchronous_commit"].as_str() == Some("off") {
        crate::progress!(
            "WARNING: synchronous_commit = off: commits do not wait for the WAL flush, so the \
             figures are not those of durable commits"
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

/// The 1, 5 and 15 minute load averages: how busy the machine was.
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
        assert!(require_durable(&json!({ "fsync": "on" })).is_ok());
        assert!(require_durable(&json!({})).is_err());
    }

    #[test]
    fn urls_are_pointed_at_another_database_and_redacted() {
        assert_eq!(
            url_with_database("postgres://u:p%40ss@h:5433/postgres?sslmode=disable", "b_1")
                .unwrap(),
            "postgres://u:p%40ss@h:5433/b_1?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgresql://localhost", "x").unwrap(),
            "postgresql://localhost/x"
        );
        assert_eq!(
            url_with_database("postgres:///d?host=%2Ftmp&dbname=other", "b").unwrap(),
            "postgres:///b?host=%2Ftmp"
        );
        assert!(url_with_database("mysql://h/d", "b").is_err());
        let shown = redact("postgres://u:secret@h/d?password=other&sslmode=disable");
        assert!(
            !shown.contains("secret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
    }
}
