//! Just enough of libpq's URL syntax to give pgbench its `-h -p -U dbname` (pgbench gets the
//! password through `PGPASSWORD`, never on its command line) and to print where the server is.
//! Splitting the URL and pointing it at another database are `benchkit::url`'s.

use anyhow::{Context, bail};
use benchkit::url::{UrlParts, split_postgres_url};

/// `postgres[ql]://[user[:password]@][host][:port][/dbname][?param=value&...]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: Option<String>,
    pub password: Option<String>,
    /// A host name, an IP address (without brackets) or a socket directory (`?host=/path`).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub sslmode: Option<String>,
}

impl PgUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let UrlParts {
            authority,
            path,
            query,
            ..
        } = split_postgres_url(url)?;
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (mut user, mut password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(decode(user)?), Some(decode(password)?)),
                None => (Some(decode(info)?), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport)?;
        let mut host = host.map(|h| decode(&h)).transpose()?;
        let mut port = port;
        let mut dbname = path.filter(|p| !p.is_empty()).map(decode).transpose()?;
        let mut sslmode = None;
        for pair in query
            .iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "host" => host = Some(value),
                "port" => port = Some(parse_port(&value)?),
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => dbname = Some(value),
                "sslmode" => sslmode = Some(value),
                _ => {}
            }
        }
        Ok(Self {
            user,
            password,
            host,
            port,
            dbname,
            sslmode,
        })
    }

    /// For printing: no password.
    pub fn redacted(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user.as_deref().unwrap_or("(default user)"),
            self.host.as_deref().unwrap_or("(default host)"),
            self.port
                .map_or_else(|| "5432".to_owned(), |p| p.to_string()),
            self.dbname.as_deref().unwrap_or("(default db)"),
        )
    }
}

fn split_host_port(hostport: &str) -> anyhow::Result<(Option<String>, Option<u16>)> {
    if hostport.is_empty() {
        return Ok((None, None));
    }
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .context("database URL: unclosed '[' in host")?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(parse_port(port)?),
            None if after.is_empty() => None,
            None => bail!("database URL: unexpected {after:?} after the host"),
        };
        return Ok((Some(host.to_owned()), port));
    }
    if hostport.contains(',') {
        bail!("database URL: several hosts are not supported by the benchmark");
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) => Ok((
            Some(host.to_owned()).filter(|h| !h.is_empty()),
            Some(parse_port(port)?),
        )),
        None => Ok((Some(hostport.to_owned()), None)),
    }
}

fn parse_port(port: &str) -> anyhow::Result<u16> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("database URL: invalid port {port:?}"))
}

fn decode(input: &str) -> anyhow::Result<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .with_context(|| format!("database URL: bad percent-escape in {input:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("database URL: percent-escapes are not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_url_is_taken_apart_and_decoded() {
        let url =
            PgUrl::parse("postgres://bench:p%40ss@db.local:6543/billing?sslmode=require").unwrap();
        assert_eq!(url.user.as_deref(), Some("bench"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(url.host.as_deref(), Some("db.local"));
        assert_eq!(url.port, Some(6543));
        assert_eq!(url.dbname.as_deref(), Some("billing"));
        assert_eq!(url.sslmode.as_deref(), Some("require"));
        assert_eq!(url.redacted(), "bench@db.local:6543/billing");
    }

    #[test]
    fn short_forms_ipv6_and_socket_hosts() {
        let url = PgUrl::parse("postgresql://localhost").unwrap();
        assert_eq!(url.host.as_deref(), Some("localhost"));
        assert_eq!(
            (url.port, url.dbname.clone(), url.user.clone()),
            (None, None, None)
        );

        let url = PgUrl::parse("postgres://u@[::1]:5433/d").unwrap();
        assert_eq!(url.host.as_deref(), Some("::1"));
        assert_eq!(url.port, Some(5433));

        let url =
            PgUrl::parse("postgres:///d?host=%2Fvar%2Frun%2Fpostgresql&dbname=other").unwrap();
        assert_eq!(url.host.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(url.dbname.as_deref(), Some("other"));
    }

    #[test]
    fn malformed_urls_are_refused() {
        for bad in [
            "mysql://x/y",
            "postgres://h:0/d",
            "postgres://h:abc/d",
            "postgres://[::1/d",
            "postgres://u%zz@h/d",
        ] {
            assert!(PgUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
