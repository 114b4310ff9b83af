//! RFC 9457 problem details: the single error type handlers return.
//!
//! Every error body has the standard members (`type`, `title`, `status`, `detail`) plus `code`,
//! a stable machine-readable identifier that clients branch on (titles and details are for
//! people and may be reworded). Extra members (the figures behind an `INSUFFICIENT_FUNDS`, say)
//! sit beside them, as the RFC allows.
//!
//! `type` is `urn:problem-type:` followed by the code in kebab case: a URI that identifies the
//! problem without promising a documentation host that may not exist.

use std::{borrow::Cow, fmt};

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Members defined by RFC 9457 or by us; an extension may not shadow them.
const RESERVED_MEMBERS: [&str; 6] = ["type", "title", "status", "detail", "instance", "code"];

/// An error response. Build one with a constructor, refine it with the `with_*` methods and
/// return it from a handler.
///
/// ```
/// use httpkit::ApiError;
/// use http::StatusCode;
///
/// let error = ApiError::new(StatusCode::PAYMENT_REQUIRED, "INSUFFICIENT_FUNDS", "Insufficient funds")
///     .with_detail("the wallet holds 1.00 USD, 2.50 USD needed")
///     .with_member("available", "1.00");
/// assert_eq!(error.code(), "INSUFFICIENT_FUNDS");
/// ```
#[derive(Debug, Clone)]
pub struct ApiError(Box<Problem>);

/// Boxed so `Result<T, ApiError>` stays small on the happy path.
#[derive(Debug, Clone)]
struct Problem {
    status: StatusCode,
    code: &'static str,
    title: Cow<'static, str>,
    detail: Option<String>,
    members: Map<String, Value>,
    headers: HeaderMap,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self(Box::new(Problem {
            status,
            code,
            title: title.into(),
            detail: None,
            members: Map::new(),
            headers: HeaderMap::new(),
        }))
    }

    /// A human-readable explanation of this occurrence. Never put secrets or internal error
    /// text here: it goes to the client verbatim.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Adds an extension member. Names of standard members are ignored so an extension can
    /// never disguise the status or code.
    #[must_use]
    pub fn with_member(mut self, name: &str, value: impl Serialize) -> Self {
        if RESERVED_MEMBERS.contains(&name) {
            return self;
        }
        // Serializing plain data into a Value cannot fail; a value that does is dropped rather
        // than turning one error into another.
        if let Ok(value) = serde_json::to_value(value) {
            self.0.members.insert(name.to_owned(), value);
        }
        self
    }

    /// Adds a response header, such as `WWW-Authenticate` or `Retry-After`.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.insert(name, value);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn code(&self) -> &'static str {
        self.0.code
    }

    pub fn title(&self) -> &str {
        &self.0.title
    }

    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    pub fn member(&self, name: &str) -> Option<&Value> {
        self.0.members.get(name)
    }

    /// 401: no credential, a malformed one, or one nobody issued. One code for all three so
    /// callers cannot probe which keys exist.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized")
            .with_detail("a valid bearer credential is required")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 403: the credential is valid but the operation needs the admin credential.
    pub fn admin_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ADMIN_REQUIRED",
            "Admin credential required",
        )
        .with_detail("this operation needs the admin credential")
    }

    /// 403: the route acts on the caller's own organization, and the admin credential has
    /// none; the admin uses the routes that name the organization in their path.
    pub fn organization_key_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ORGANIZATION_KEY_REQUIRED",
            "Organization key required",
        )
        .with_detail(
            "this operation acts on the caller's own organization: use an organization API key",
        )
    }

    /// 404 with the generic code. Also the answer for another organization's resources, so
    /// their existence is not revealed.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found").with_detail("no such resource")
    }

    /// 400: the body is not syntactically valid JSON.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MALFORMED_JSON", "Malformed JSON").with_detail(detail)
    }

    /// 422 with the generic code: well-formed input that does not fit the expected shape.
    pub fn validation_failed(detail: impl Into<String>) -> Self {
        Self::validation("VALIDATION_FAILED", detail)
    }

    /// 422 with a specific code, for domain validation such as `INVALID_NAME` or
    /// `UNSUPPORTED_CURRENCY`.
    pub fn validation(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Validation failed").with_detail(detail)
    }

    /// 413: the body is larger than the configured limit.
    pub fn body_too_large(limit_bytes: Option<usize>) -> Self {
        let error = Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            "Body too large",
        );
        match limit_bytes {
            Some(limit) => error
                .with_detail(format!("the request body exceeds {limit} bytes"))
                .with_member("limit_bytes", limit),
            None => error.with_detail("the request body exceeds the limit"),
        }
    }

    /// 414: the query string is longer than the listener accepts.
    pub fn query_too_long(limit_bytes: usize) -> Self {
        Self::new(StatusCode::URI_TOO_LONG, "QUERY_TOO_LONG", "Query too long")
            .with_detail(format!("the query string exceeds {limit_bytes} bytes"))
            .with_member("limit_bytes", limit_bytes)
    }

    /// 431: the header fields take more bytes than the listener accepts.
    pub fn headers_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
            "Header fields too large",
        )
        .with_detail(format!("the header fields exceed {limit_bytes} bytes"))
        .with_member("limit_bytes", limit_bytes)
    }

    /// 431: more header fields than the listener accepts.
    pub fn too_many_headers(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "TOO_MANY_HEADERS",
            "Too many header fields",
        )
        .with_detail(format!("the request has more than {limit} header fields"))
        .with_member("limit", limit)
    }

    /// 429: the caller's rate limit is used up. `Retry-After` (and `retry_after_secs`) is the
    /// wait in whole seconds, rounded up, until one more request would be let through.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let secs = retry_after
            .as_secs()
            .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
            .max(1);
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests",
        )
        .with_detail(format!(
            "this credential's request rate limit is used up; retry in {secs} s"
        ))
        .with_member("retry_after_secs", secs)
        .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
    }

    /// 415: the body's media type is missing or not the one expected.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Unsupported media type",
        )
        .with_detail(format!("expected Content-Type: {expected}"))
    }

    /// 405; axum adds the `Allow` header listing the methods the route has.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed",
        )
        .with_detail("the resource does not support this method")
    }

    /// 409 with a specific code, e.g. `IDEMPOTENCY_CONFLICT`.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict").with_detail(detail)
    }

    /// 500 with nothing about the cause: internal error text can hold SQL, hostnames or
    /// worse. Use [`ApiError::internal_from`] to log the cause at the same time.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal server error",
        )
        .with_detail("an unexpected error occurred; it has been logged")
    }

    /// Logs `error` (with its source chain) server-side and returns [`ApiError::internal`].
    pub fn internal_from(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(error), "internal error");
        Self::internal()
    }

    /// 503 with `Retry-After: 1`: a dependency (usually the database) is unavailable, or the
    /// connection to it was lost mid-request; the same request may succeed when retried. A
    /// request that moves money is retried with the same reference, so it is applied once
    /// whether or not the first attempt got through.
    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service unavailable",
        )
        .with_detail(detail)
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// Logs `error` server-side and returns a 503 without its text.
    pub fn unavailable_from(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %ErrorChain(error), "dependency unavailable");
        Self::service_unavailable("a dependency is unavailable; retry later")
    }

    /// The wire form of this error.
    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            problem_type: format!(
                "urn:problem-type:{}",
                self.0.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: self.0.title.clone().into_owned(),
            status: self.0.status.as_u16(),
            detail: self.0.detail.clone(),
            code: self.0.code.to_owned(),
            extensions: self.0.members.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.status.as_u16(), self.0.code)?;
        if let Some(detail) = &self.0.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match serde_json::to_vec(&self.body()) {
            Ok(body) => body,
            // Unreachable with string and JSON members, but an error path must not panic.
            Err(_) => br#"{"type":"urn:problem-type:internal","title":"Internal server error","status":500,"code":"INTERNAL"}"#.to_vec(),
        };
        let mut response = (self.0.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        headers.extend(self.0.headers);
        response
    }
}

/// The `application/problem+json` document, as sent and as documented in OpenAPI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:problem-type:validation-failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "name: must not be empty",
    "code": "VALIDATION_FAILED"
}))]
pub struct ProblemBody {
    /// URI identifying the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type, for people.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code; branch on this, not on the title.
    pub code: String,
    /// Problem-specific members, such as the figures behind `INSUFFICIENT_FUNDS`.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: Map<String, Value>,
}

/// Displays an error with its sources, "outer: inner: root".
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(error: ApiError) -> (StatusCode, HeaderMap, Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn renders_rfc9457_members_code_and_extensions() {
        let error = ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "INSUFFICIENT_FUNDS",
            "Insufficient funds",
        )
        .with_detail("need more")
        .with_member("available", "1.00")
        .with_member(
            "required",
            serde_json::json!({"amount": "2.50", "currency": "USD"}),
        );
        let (status, headers, body) = render(error).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:problem-type:insufficient-funds",
                "title": "Insufficient funds",
                "status": 402,
                "detail": "need more",
                "code": "INSUFFICIENT_FUNDS",
                "available": "1.00",
                "required": {"amount": "2.50", "currency": "USD"},
            })
        );
    }

    #[tokio::test]
    async fn common_constructors_have_their_status_code_and_headers() {
        let cases = [
            (ApiError::unauthorized(), 401, "UNAUTHORIZED"),
            (ApiError::admin_required(), 403, "ADMIN_REQUIRED"),
            (
                ApiError::organization_key_required(),
                403,
                "ORGANIZATION_KEY_REQUIRED",
            ),
            (ApiError::not_found(), 404, "NOT_FOUND"),
            (ApiError::malformed_json("x"), 400, "MALFORMED_JSON"),
            (ApiError::validation_failed("x"), 422, "VALIDATION_FAILED"),
            (ApiError::body_too_large(Some(10)), 413, "BODY_TOO_LARGE"),
            (
                ApiError::unsupported_media_type("application/json"),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (ApiError::method_not_allowed(), 405, "METHOD_NOT_ALLOWED"),
            (ApiError::query_too_long(10), 414, "QUERY_TOO_LONG"),
            (ApiError::headers_too_large(10), 431, "HEADERS_TOO_LARGE"),
            (ApiError::too_many_headers(10), 431, "TOO_MANY_HEADERS"),
            (
                ApiError::rate_limited(std::time::Duration::from_millis(1500)),
                429,
                "RATE_LIMITED",
            ),
            (
                ApiError::conflict("IDEMPOTENCY_CONFLICT", "x"),
                409,
                "IDEMPOTENCY_CONFLICT",
            ),
            (ApiError::internal(), 500, "INTERNAL"),
            (
                ApiError::service_unavailable("x"),
                503,
                "SERVICE_UNAVAILABLE",
            ),
        ];
        for (error, status, code) in cases {
            let (actual_status, headers, body) = render(error).await;
            assert_eq!(actual_status.as_u16(), status, "{code}");
            assert_eq!(body["status"], status, "{code}");
            assert_eq!(body["code"], code);
            assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
            if code == "UNAUTHORIZED" {
                assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
            }
            if code == "SERVICE_UNAVAILABLE" {
                assert_eq!(headers[header::RETRY_AFTER], "1");
            }
            if code == "RATE_LIMITED" {
                // 1.5 s rounds up: retrying after a rounded-down wait would be refused again.
                assert_eq!(headers[header::RETRY_AFTER], "2");
                assert_eq!(body["retry_after_secs"], 2);
            }
        }
    }

    #[tokio::test]
    async fn internal_errors_never_reach_the_body() {
        let cause = std::io::Error::other("password=hunter2 at db.internal:5432");
        let (status, _, body) = render(ApiError::internal_from(&cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let text = body.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("db.internal"), "{text}");
        let (_, _, body) = render(ApiError::unavailable_from(&cause)).await;
        assert!(!body.to_string().contains("hunter2"));
    }

    #[test]
    fn a_rate_limit_never_asks_for_a_wait_of_zero() {
        for (wait, expected) in [(0, "1"), (1, "1"), (999, "1"), (1000, "1"), (1001, "2")] {
            let error = ApiError::rate_limited(std::time::Duration::from_millis(wait));
            let response = error.into_response();
            assert_eq!(
                response.headers()[header::RETRY_AFTER],
                expected,
                "{wait} ms"
            );
        }
    }

    #[test]
    fn reserved_members_cannot_be_overridden() {
        let error = ApiError::not_found()
            .with_member("status", 200)
            .with_member("code", "OK");
        assert_eq!(error.body().status, 404);
        assert_eq!(error.body().code, "NOT_FOUND");
        assert!(error.body().extensions.is_empty());
    }

    #[test]
    fn body_round_trips_through_the_wire_type() {
        let body = ApiError::body_too_large(Some(65536)).body();
        let json = serde_json::to_string(&body).unwrap();
        let back: ProblemBody = serde_json::from_str(&json).unwrap();
        assert_eq!(back, body);
        assert_eq!(back.extensions["limit_bytes"], 65536);
    }
}
