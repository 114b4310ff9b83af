//! Connecting, with a usable message when it fails: the driver reports only "error connecting to
//! server", without where or why.

use std::time::Duration;

use anyhow::bail;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use tokio::{net::TcpStream, time::timeout};

/// An unreachable host can otherwise hang for minutes in the kernel's TCP retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn connect(url: &str) -> anyhow::Result<AsyncPgConnection> {
    let target = Target::parse(url);
    let shown = target
        .as_ref()
        .map_or_else(String::new, |target| format!(" at {target}"));
    let error = match timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url)).await {
        Ok(Ok(conn)) => return Ok(conn),
        Ok(Err(error)) => error.to_string(),
        Err(_) => bail!("timed out connecting to the database{shown}"),
    };
    let reason = match &target {
        Some(target) => target.probe().await.unwrap_or(error),
        None => error,
    };
    bail!("could not connect to the database{shown}: {reason}")
}

/// Host, port and database of a `postgres://` URL; never the credentials, so it can be shown.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    database: String,
}

impl Target {
    fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            match after.strip_prefix(':') {
                Some(port) => (host, port.parse().ok()?),
                None => (host, 5432),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (host_port, 5432),
            }
        };
        if host.is_empty() {
            return None;
        }
        let database = tail
            .strip_prefix('/')
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("");
        Some(Self {
            host: host.to_owned(),
            port,
            database: database.to_owned(),
        })
    }

    /// Why a plain TCP connection fails (refused, no route, unknown host), if it does.
    async fn probe(&self) -> Option<String> {
        match timeout(
            PROBE_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}/{}", self.host, self.port, self.database)
        } else {
            write!(f, "{}:{}/{}", self.host, self.port, self.database)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn shown(url: &str) -> Option<String> {
        Target::parse(url).map(|target| target.to_string())
    }

    #[test]
    fn shows_where_but_never_the_password() {
        assert_eq!(
            shown("postgres://u:secret@db.internal:6543/billing?sslmode=require").as_deref(),
            Some("db.internal:6543/billing")
        );
        assert_eq!(
            shown("postgresql://localhost").as_deref(),
            Some("localhost:5432/")
        );
        assert_eq!(
            shown("postgres://[::1]:5433/x").as_deref(),
            Some("[::1]:5433/x")
        );
        assert_eq!(shown("postgres://[::1]/x").as_deref(), Some("[::1]:5432/x"));
        assert_eq!(shown("postgres:///x?host=/run/postgresql"), None);
        assert_eq!(shown("host=localhost dbname=x"), None);
    }
}
