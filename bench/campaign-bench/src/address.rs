//! Where the server is, for the record: its URL without the password.

use benchkit::url::{UrlParts, split_url};

/// The URL with any password replaced by `***` (also a `password=` query parameter).
pub fn redact(url: &str) -> String {
    let Some(UrlParts {
        scheme,
        authority,
        path,
        query,
    }) = split_url(url)
    else {
        return "(unparsable URL)".to_owned();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let shown = redact("postgres://u:secret@h/d?password=other&sslmode=disable");
        assert!(
            !shown.contains("secret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(shown, "postgres://u:***@h/d?password=***&sslmode=disable");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("nonsense"), "(unparsable URL)");
    }
}
