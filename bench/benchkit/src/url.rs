//! Just enough of libpq's URL syntax, `postgres[ql]://[userinfo@]host[:port][/dbname][?query]`,
//! to point a URL at another database. The benches that take a URL further apart (pgbench's
//! `-h -p -U`, a URL shown without its password) start from [`split_url`] too.

use anyhow::Context;

/// A URL's parts as written (nothing decoded): `scheme://authority[/path][?query]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    /// Everything between `://` and the path: user, password, host and port.
    pub authority: &'a str,
    /// After the `/` that ends the authority (the database name).
    pub path: Option<&'a str>,
    /// After the `?`.
    pub query: Option<&'a str>,
}

/// The parts of `url`; `None` without a `://`. The scheme is not checked.
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    Some(UrlParts {
        scheme,
        authority,
        path,
        query,
    })
}

/// The parts of a `postgres://` or `postgresql://` URL.
pub fn split_postgres_url(url: &str) -> anyhow::Result<UrlParts<'_>> {
    split_url(url)
        .filter(|parts| matches!(parts.scheme, "postgres" | "postgresql"))
        .context("database URL must start with postgres:// or postgresql://")
}

/// `url` pointed at database `dbname`: the same server and credentials, the same query
/// parameters but a `dbname=` one (so it cannot override the path).
pub fn url_with_database(url: &str, dbname: &str) -> anyhow::Result<String> {
    let UrlParts {
        scheme,
        authority,
        query,
        ..
    } = split_postgres_url(url)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_as_written() {
        assert_eq!(
            split_url("postgres://u:p%40ss@h:5433/db?sslmode=disable"),
            Some(UrlParts {
                scheme: "postgres",
                authority: "u:p%40ss@h:5433",
                path: Some("db"),
                query: Some("sslmode=disable"),
            })
        );
        let short = split_url("postgresql://localhost").unwrap();
        assert_eq!((short.path, short.query), (None, None));
        // A `/` in the query (a socket directory) is not the path's.
        let socket = split_url("postgres://?host=/tmp").unwrap();
        assert_eq!((socket.authority, socket.path), ("", None));
        assert_eq!(socket.query, Some("host=/tmp"));
        assert_eq!(split_url("localhost:5432"), None);
        assert!(split_postgres_url("mysql://h/d").is_err());
        assert!(split_postgres_url("postgresql://h/d").is_ok());
    }

    #[test]
    fn urls_are_pointed_at_another_database() {
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
        assert_eq!(
            url_with_database("postgres://h/app?dbname=x&&sslmode=disable", "a b").unwrap(),
            "postgres://h/a%20b?sslmode=disable"
        );
        assert!(url_with_database("mysql://h/d", "b").is_err());
    }
}
