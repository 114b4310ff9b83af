//! What a request may make a listener hold before any handler runs: the size and number of its
//! header fields and the length of its query string. The body's limit is the extractors'
//! ([`crate::server::finish`]).
//!
//! Two bounds, from one [`RequestLimits`]:
//!
//! - **The answer** ([`RequestLimits::check`], run by [`crate::server::serve_with`] in front of
//!   every route and fallback): over a limit, a problem with a stable code (431
//!   `HEADERS_TOO_LARGE` or `TOO_MANY_HEADERS`, 414 `QUERY_TOO_LONG`) and `Connection: close`;
//!   nothing behind it runs, so nothing changes.
//! - **The hard bound** (hyper's `max_header_size` and `max_headers`, twice the limits and
//!   more): what hyper buffers for one request head before it gives up with a bare 431 and
//!   closes the connection. It bounds the memory a connection can make the server hold; between
//!   the two bounds the caller gets the problem.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, Uri, header};
use primitives::config::{ConfigError, Env};

use crate::ApiError;

/// The limits one listener enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// The header section as sent: each field's name and value with `": "` and the line end.
    pub max_header_bytes: usize,
    /// Header fields, each value counted (a repeated name counts as often as it is sent).
    pub max_headers: usize,
    /// The query string, without the `?`.
    pub max_query_bytes: usize,
}

pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
pub const DEFAULT_MAX_HEADERS: usize = 64;
pub const DEFAULT_MAX_QUERY_BYTES: usize = 4 * 1024;

/// What the start line may take besides the query (method, path, version) before hyper's hard
/// bound: paths are short here, and a long one only finds a 404.
const START_LINE_ALLOWANCE: usize = 8 * 1024;

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_query_bytes: DEFAULT_MAX_QUERY_BYTES,
        }
    }
}

/// The variables a service reads its [`RequestLimits`] from (each service names its own, as it
/// does its body limit).
#[derive(Debug, Clone, Copy)]
pub struct LimitVariables {
    pub max_header_bytes: &'static str,
    pub max_headers: &'static str,
    pub max_query_bytes: &'static str,
}

impl RequestLimits {
    pub const HEADER_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1024 * 1024;
    pub const HEADERS_RANGE: std::ops::RangeInclusive<usize> = 8..=1000;
    pub const QUERY_BYTES_RANGE: std::ops::RangeInclusive<usize> = 64..=64 * 1024;

    /// The limits from `names`, each within its range, the default when unset.
    pub fn from_env(env: &Env<'_>, names: &LimitVariables) -> Result<Self, ConfigError> {
        let limits = Self {
            max_header_bytes: env.number(
                names.max_header_bytes,
                Self::HEADER_BYTES_RANGE,
                DEFAULT_MAX_HEADER_BYTES,
            )?,
            max_headers: env.number(names.max_headers, Self::HEADERS_RANGE, DEFAULT_MAX_HEADERS)?,
            max_query_bytes: env.number(
                names.max_query_bytes,
                Self::QUERY_BYTES_RANGE,
                DEFAULT_MAX_QUERY_BYTES,
            )?,
        };
        limits.validate(names)?;
        Ok(limits)
    }

    /// Limits made in code are held to the environment's ranges.
    pub fn validate(&self, names: &LimitVariables) -> Result<(), ConfigError> {
        let check = |name: &'static str, value: usize, range: std::ops::RangeInclusive<usize>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    name,
                    format!(
                        "expected a whole number from {} to {}, got {value}",
                        range.start(),
                        range.end()
                    ),
                ))
            }
        };
        check(
            names.max_header_bytes,
            self.max_header_bytes,
            Self::HEADER_BYTES_RANGE,
        )?;
        check(names.max_headers, self.max_headers, Self::HEADERS_RANGE)?;
        check(
            names.max_query_bytes,
            self.max_query_bytes,
            Self::QUERY_BYTES_RANGE,
        )
    }

    /// The refusal `uri` and `headers` earn, if any: the query first (it is read first), then the
    /// number of fields, then their size.
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        if uri.query().map_or(0, str::len) > self.max_query_bytes {
            return Err(ApiError::query_too_long(self.max_query_bytes));
        }
        if headers.len() > self.max_headers {
            return Err(ApiError::too_many_headers(self.max_headers));
        }
        if header_bytes(headers) > self.max_header_bytes {
            return Err(ApiError::headers_too_large(self.max_header_bytes));
        }
        Ok(())
    }

    /// hyper's bound on a request head (start line and header fields), above which it answers a
    /// bare 431 and closes: room for twice the header limit, the query and the start line.
    pub fn hard_max_head_bytes(&self) -> usize {
        self.max_header_bytes
            .saturating_mul(2)
            .saturating_add(self.max_query_bytes)
            .saturating_add(START_LINE_ALLOWANCE)
    }

    /// hyper's bound on the number of header fields.
    pub fn hard_max_headers(&self) -> usize {
        self.max_headers.saturating_mul(2)
    }
}

/// The header section's size as sent: `name: value\r\n` per field.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Middleware (for `axum::middleware::from_fn_with_state`): refuses a request over the limits
/// before anything else sees it. It runs outside the request log, so it logs the refusal itself
/// (method, status and code only: the fields it refused may hold credentials).
pub async fn enforce(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    match limits.check(request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(problem) => {
            tracing::warn!(
                target: "http",
                method = %request.method(),
                status = problem.status().as_u16(),
                code = problem.code(),
                "request refused: over the request limits"
            );
            let mut response = problem.into_response();
            // Its body (if any) is left unread: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderName, HeaderValue};

    use super::*;

    const NAMES: LimitVariables = LimitVariables {
        max_header_bytes: "X_MAX_HEADER_BYTES",
        max_headers: "X_MAX_HEADERS",
        max_query_bytes: "X_MAX_QUERY_BYTES",
    };

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn limits() -> RequestLimits {
        RequestLimits {
            max_header_bytes: 1024,
            max_headers: 8,
            max_query_bytes: 64,
        }
    }

    fn refusal(uri: &str, fields: &[(&str, &str)]) -> Option<(u16, &'static str)> {
        let uri: Uri = uri.parse().unwrap();
        limits()
            .check(&uri, &headers(fields))
            .err()
            .map(|problem| (problem.status().as_u16(), problem.code()))
    }

    #[test]
    fn each_limit_is_inclusive_and_refused_one_past_it() {
        let query = "a".repeat(64);
        assert_eq!(refusal(&format!("/p?{query}"), &[]), None);
        assert_eq!(
            refusal(&format!("/p?{query}b"), &[]),
            Some((414, "QUERY_TOO_LONG"))
        );

        let eight: Vec<(&str, &str)> = (0..8).map(|_| ("x-a", "1")).collect();
        assert_eq!(refusal("/p", &eight), None);
        let nine = [&eight[..], &[("x-a", "1")]].concat();
        assert_eq!(refusal("/p", &nine), Some((431, "TOO_MANY_HEADERS")));

        // "x-big: " + value + "\r\n" is exactly 1024 bytes.
        let value = "v".repeat(1024 - "x-big".len() - 4);
        assert_eq!(refusal("/p", &[("x-big", &value)]), None);
        let value = format!("{value}v");
        assert_eq!(
            refusal("/p", &[("x-big", &value)]),
            Some((431, "HEADERS_TOO_LARGE"))
        );
    }

    #[test]
    fn reads_its_variables_within_their_ranges() {
        let defaults = RequestLimits::from_env(&Env::from_pairs(&[]), &NAMES).unwrap();
        assert_eq!(defaults, RequestLimits::default());
        let set = RequestLimits::from_env(
            &Env::from_pairs(&[
                ("X_MAX_HEADER_BYTES", "2048"),
                ("X_MAX_HEADERS", "16"),
                ("X_MAX_QUERY_BYTES", "128"),
            ]),
            &NAMES,
        )
        .unwrap();
        assert_eq!(
            set,
            RequestLimits {
                max_header_bytes: 2048,
                max_headers: 16,
                max_query_bytes: 128
            }
        );
        for (name, value) in [
            ("X_MAX_HEADER_BYTES", "1023"),
            ("X_MAX_HEADERS", "0"),
            ("X_MAX_HEADERS", "1001"),
            ("X_MAX_QUERY_BYTES", "many"),
        ] {
            let error =
                RequestLimits::from_env(&Env::from_pairs(&[(name, value)]), &NAMES).unwrap_err();
            assert_eq!(error.variable, name);
        }
        let made = RequestLimits {
            max_headers: 2,
            ..RequestLimits::default()
        };
        assert_eq!(made.validate(&NAMES).unwrap_err().variable, "X_MAX_HEADERS");
    }

    #[test]
    fn the_hard_bound_leaves_room_for_the_answer() {
        let limits = RequestLimits::default();
        assert!(limits.hard_max_head_bytes() > 2 * limits.max_header_bytes);
        assert!(limits.hard_max_headers() > limits.max_headers);
    }
}
