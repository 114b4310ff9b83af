//! A request described so it can be sent again unchanged, and its answer. Neither `Debug`
//! shows a credential, a body or a query string: those may hold secrets or customer data.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::OutboundError;

/// Whether a request may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Doing it twice ends as doing it once: a read, a status set, or a write carrying an
    /// idempotency key the provider honours (the same key on every attempt). Resent after a
    /// 429, a 5xx and any failed exchange, timeouts included.
    Safe,
    /// Twice could act twice (a charge, an SMS). Resent only when the provider certainly did
    /// not act: the connection never opened, or it answered 429 (refused before processing).
    /// After a 5xx, a timeout or a connection lost mid-exchange the answer or error goes back
    /// to the caller.
    OnlyIfUnsent,
}

/// A request body.
#[derive(Clone, PartialEq)]
pub enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`, in this order.
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Field names only: the values are customer data (a phone number, a message) or
        // secrets (a token request) as often as not.
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Form(fields) => f
                .debug_tuple("Form")
                .field(&fields.iter().map(|(name, _)| name).collect::<Vec<_>>())
                .finish(),
            Self::Json(value) => write!(f, "Json({} bytes)", value.to_string().len()),
        }
    }
}

/// One call: method, path (and query) under the client's base URL, headers, body, and whether
/// it may be sent twice.
#[derive(Clone)]
pub struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Body,
    repeat: Repeat,
}

impl Request {
    /// `path` is appended to the client's base URL (`/v1/subscriptions/sub_1?expand=x`). GET
    /// and HEAD are [`Repeat::Safe`], every other method [`Repeat::OnlyIfUnsent`] until marked
    /// with [`Request::repeatable`] or [`Request::idempotency_key`].
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let repeat = if matches!(method, Method::GET | Method::HEAD) {
            Repeat::Safe
        } else {
            Repeat::OnlyIfUnsent
        };
        Self {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: Body::Empty,
            repeat,
        }
    }

    /// Adds a header; a value that cannot be a header is a [`OutboundError::Config`] naming the
    /// header, not the value. Credential headers (`Authorization`, `Proxy-Authorization`,
    /// `Cookie`) are marked sensitive whatever way they come in.
    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Self, OutboundError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            OutboundError::Config(format!("header {name} has a value that cannot be sent"))
        })?;
        if is_credential(&name) {
            value.set_sensitive(true);
        }
        self.headers.insert(name, value);
        Ok(self)
    }

    /// A header whose value is a secret: marked sensitive, never shown.
    pub fn secret_header(
        mut self,
        name: HeaderName,
        value: &SecretString,
    ) -> Result<Self, OutboundError> {
        let mut header = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
            OutboundError::Config(format!("a secret cannot be sent in header {name}"))
        })?;
        header.set_sensitive(true);
        self.headers.insert(name, header);
        Ok(self)
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &SecretString) -> Result<Self, OutboundError> {
        let value = SecretString::from(format!("Bearer {}", token.expose_secret()));
        self.secret_header(AUTHORIZATION, &value)
    }

    /// `Authorization: Basic base64(user:password)`.
    pub fn basic_auth(self, user: &str, password: &SecretString) -> Result<Self, OutboundError> {
        let credentials = STANDARD.encode(format!("{user}:{}", password.expose_secret()));
        let value = SecretString::from(format!("Basic {credentials}"));
        self.secret_header(AUTHORIZATION, &value)
    }

    /// Sends the provider's idempotency header and marks the request [`Repeat::Safe`]: with
    /// the same key the provider answers a repeat with the first result instead of acting
    /// again. An empty key is refused (it would make every call one).
    pub fn idempotency_key(mut self, name: HeaderName, key: &str) -> Result<Self, OutboundError> {
        if key.trim().is_empty() {
            return Err(OutboundError::Config(format!(
                "an idempotency key ({name}) must not be empty"
            )));
        }
        self = self.header(name, key)?;
        self.repeat = Repeat::Safe;
        Ok(self)
    }

    /// Marks the request safe to send twice (see [`Repeat::Safe`]): the caller knows that
    /// repeating it cannot act twice.
    #[must_use]
    pub fn repeatable(mut self) -> Self {
        self.repeat = Repeat::Safe;
        self
    }

    #[must_use]
    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.body = Body::Form(fields);
        self
    }

    #[must_use]
    pub fn json(mut self, value: serde_json::Value) -> Self {
        self.body = Body::Json(value);
        self
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Path and query as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path without its query, as logs and `Debug` show it.
    pub fn path_only(&self) -> &str {
        self.path.split(['?', '#']).next().unwrap_or_default()
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    pub fn repeat(&self) -> Repeat {
        self.repeat
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path_only())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body)
            .field("repeat", &self.repeat)
            .finish()
    }
}

fn is_credential(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || *name == PROXY_AUTHORIZATION || *name == COOKIE
}

/// An answer, whatever its status.
#[derive(Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the body is empty or whitespace only.
    pub fn is_blank(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may echo what was sent (a phone number, an email) or carry a token.
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk_live_never_in_debug_9f8e7d";

    #[test]
    fn debug_shows_no_credential_body_or_query() {
        let request = Request::new(Method::POST, "/v1/things?email=someone%40example.com")
            .bearer(&SecretString::from(SECRET))
            .unwrap()
            .form(vec![("To".into(), "+94771234567".into())]);
        let shown = format!("{request:?} {request:#?}");
        for hidden in [SECRET, "+94771234567", "someone", "example.com"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
        assert!(shown.contains("/v1/things"), "{shown}");
        assert!(shown.contains("authorization"), "{shown}");
        assert!(shown.contains("\"To\""), "{shown}");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        let json = Request::new(Method::POST, "/x").json(serde_json::json!({"token": SECRET}));
        assert!(!format!("{json:?}").contains(SECRET));
    }

    #[test]
    fn credentials_are_sensitive_however_they_are_added() {
        let plain = Request::new(Method::GET, "/")
            .header(AUTHORIZATION, "Bearer x")
            .unwrap();
        assert!(plain.headers()[AUTHORIZATION].is_sensitive());
        let basic = Request::new(Method::GET, "/")
            .basic_auth("AC1", &SecretString::from("tok"))
            .unwrap();
        assert_eq!(basic.headers()[AUTHORIZATION], "Basic QUMxOnRvaw==");
        assert!(basic.headers()[AUTHORIZATION].is_sensitive());
        let error = Request::new(Method::GET, "/")
            .bearer(&SecretString::from(format!("{SECRET}\n")))
            .err()
            .unwrap();
        assert!(!error.to_string().contains(SECRET), "{error}");
    }

    #[test]
    fn only_reads_and_keyed_or_marked_writes_repeat() {
        assert_eq!(Request::new(Method::GET, "/").repeat(), Repeat::Safe);
        assert_eq!(
            Request::new(Method::POST, "/").repeat(),
            Repeat::OnlyIfUnsent
        );
        assert_eq!(
            Request::new(Method::DELETE, "/").repeat(),
            Repeat::OnlyIfUnsent
        );
        let keyed = Request::new(Method::POST, "/")
            .idempotency_key(HeaderName::from_static("idempotency-key"), "k1")
            .unwrap();
        assert_eq!(keyed.repeat(), Repeat::Safe);
        assert_eq!(keyed.headers()["idempotency-key"], "k1");
        assert!(
            Request::new(Method::POST, "/")
                .idempotency_key(HeaderName::from_static("idempotency-key"), " ")
                .is_err()
        );
        assert_eq!(
            Request::new(Method::POST, "/").repeatable().repeat(),
            Repeat::Safe
        );
    }

    #[test]
    fn response_debug_shows_no_body() {
        let response = Response {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: br#"{"access_token":"A21AA-secret"}"#.to_vec(),
        };
        let shown = format!("{response:?}");
        assert!(!shown.contains("A21AA"), "{shown}");
        assert!(shown.contains("200"), "{shown}");
    }
}
