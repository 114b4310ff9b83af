//! Pointing a `postgres://` URL at another database on the same server.

/// Replaces the database (path) of `url`, keeping credentials, host and query parameters.
/// Returns `None` for anything that is not a `postgres://`/`postgresql://` URL.
pub(crate) fn with_database(url: &str, database: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme = &url[..url.len() - rest.len()];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    Some(format!("{scheme}{authority}/{database}{query}"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn swaps_only_the_database() {
        let cases = [
            ("postgres://u:p@h:5432/app", "postgres://u:p@h:5432/x"),
            ("postgres://h", "postgres://h/x"),
            ("postgresql://h/", "postgresql://h/x"),
            (
                "postgres://h/app?sslmode=disable",
                "postgres://h/x?sslmode=disable",
            ),
            ("postgres://h?host=/run/pg", "postgres://h/x?host=/run/pg"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "x").as_deref(), Some(expected), "{url}");
        }
        assert_eq!(with_database("host=h dbname=app", "x"), None);
    }
}
