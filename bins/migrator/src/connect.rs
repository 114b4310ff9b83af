//! Connecting, with a usable message when it fails: the driver reports only "error connecting to
//! server", without where or why.
//!
//! The URL may name several hosts (`postgres://u@db1:5432,db2:5432/billing?
//! target_session_attrs=read-write`, as after a failover): the driver tries them in order and
//! keeps the first that accepts writes. A failure then names every host, and those that could
//! not even be reached say why.

use std::time::Duration;

use anyhow::bail;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use tokio::{net::TcpStream, time::timeout};

/// An unreachable host can otherwise hang for minutes in the kernel's TCP retries (for each
/// host of a multi-host URL; add `connect_timeout=N` to the URL to bound each one).
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
        Some(target) => target.explain(error).await,
        None => error,
    };
    bail!("could not connect to the database{shown}: {reason}")
}

/// One `host:port` of a URL.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Hosts, ports and database of a `postgres://` URL; never the credentials, so it can be shown.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    endpoints: Vec<Endpoint>,
    database: String,
}

impl Target {
    fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let endpoints = hosts
            .split(',')
            .map(Self::endpoint)
            .collect::<Option<Vec<_>>>()?;
        let database = tail
            .strip_prefix('/')
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("");
        Some(Self {
            endpoints,
            database: database.to_owned(),
        })
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 5432 per host, as the
    /// driver reads it.
    fn endpoint(chunk: &str) -> Option<Endpoint> {
        let (host, port) = if let Some(bracketed) = chunk.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            match after.strip_prefix(':') {
                Some(port) => (host, port.parse().ok()?),
                None if after.is_empty() => (host, 5432),
                None => return None,
            }
        } else {
            match chunk.split_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (chunk, 5432),
            }
        };
        (!host.is_empty()).then(|| Endpoint {
            host: host.to_owned(),
            port,
        })
    }

    /// Why the driver's `error` happened, as far as plain TCP connections tell: every host
    /// unreachable (refused, no route, unknown host) names each one's reason; some reachable
    /// means one of them refused us (a password, a missing database, no writable node among
    /// them), which the driver's error says, with the unreachable ones added.
    async fn explain(&self, error: String) -> String {
        let mut unreachable = Vec::new();
        for endpoint in &self.endpoints {
            if let Some(failure) = probe(endpoint).await {
                unreachable.push(if self.endpoints.len() == 1 {
                    failure
                } else {
                    format!("{endpoint}: {failure}")
                });
            }
        }
        if unreachable.is_empty() {
            error
        } else if unreachable.len() == self.endpoints.len() {
            unreachable.join("; ")
        } else {
            format!("{error} (unreachable: {})", unreachable.join("; "))
        }
    }
}

/// Why a plain TCP connection fails, if it does.
async fn probe(endpoint: &Endpoint) -> Option<String> {
    match timeout(
        PROBE_TIMEOUT,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, endpoint) in self.endpoints.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{endpoint}")?;
        }
        write!(f, "/{}", self.database)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

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

    #[test]
    fn shows_every_host_of_a_multi_host_url() {
        assert_eq!(
            shown(
                "postgres://billing:s3cret@db1.internal:5432,db2.internal:5433/billing\
                 ?target_session_attrs=read-write&connect_timeout=2"
            )
            .as_deref(),
            Some("db1.internal:5432,db2.internal:5433/billing")
        );
        // A host without a port gets the default, as the driver reads it.
        assert_eq!(
            shown("postgres://u:p@db1,[fd00::2]:6432,db3:5433/b").as_deref(),
            Some("db1:5432,[fd00::2]:6432,db3:5433/b")
        );
        assert_eq!(shown("postgres://u:p@db1:5432,/b"), None);
        assert_eq!(shown("postgres://u:p@db1:x,db2/b"), None);
    }

    #[tokio::test]
    async fn a_failure_says_which_hosts_could_not_be_reached() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let up = listener.local_addr().unwrap().port();
        let down = {
            let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            closed.local_addr().unwrap().port()
        };

        let one_down = Target::parse(&format!("postgres://u@127.0.0.1:{down}/b")).unwrap();
        let reason = one_down.explain("driver".to_owned()).await;
        assert!(reason.contains("refused"), "{reason}");
        assert!(!reason.contains("driver"), "{reason}");

        let both = Target::parse(&format!(
            "postgres://u@127.0.0.1:{down},127.0.0.1:{up}/b?target_session_attrs=read-write"
        ))
        .unwrap();
        let reason = both
            .explain("database does not allow writes".to_owned())
            .await;
        assert!(
            reason.starts_with("database does not allow writes (unreachable: 127.0.0.1:"),
            "{reason}"
        );
        assert!(reason.contains(&format!("127.0.0.1:{down}: ")), "{reason}");
        assert!(!reason.contains(&format!("127.0.0.1:{up}:")), "{reason}");
    }
}
