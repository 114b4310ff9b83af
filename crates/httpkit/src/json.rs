//! Extractors whose rejections are problems.
//!
//! axum's own extractors answer bad input with `text/plain` bodies; these wrap them and map each
//! rejection onto an [`ApiError`] with a stable code:
//!
//! | input | status | code |
//! |---|---|---|
//! | body is not JSON | 400 | `MALFORMED_JSON` |
//! | JSON that is not an object (an array, a string, `null` ...) | 422 | `BODY_NOT_OBJECT` |
//! | an object of the wrong shape (types, missing or unknown members) | 422 | `VALIDATION_FAILED`, with `field` |
//! | `Content-Type` missing or not JSON | 415 | `UNSUPPORTED_MEDIA_TYPE` |
//! | body over the limit | 413 | `BODY_TOO_LARGE` |
//! | path segment that does not parse (a malformed UUID) | 404 | `NOT_FOUND` |
//! | query string that does not fit | 422 | `VALIDATION_FAILED`, with `field` |
//!
//! A request body is always an object: serde fills a struct from an array too, element by
//! element, so `["1.00","USD"]` would otherwise be taken for `{"amount":"1.00","currency":"USD"}`
//! and a client's mistake would move money.
//!
//! Details say in plain words what is wrong and `field` names the member (`numbers[3]`,
//! `limit`); serde's words for Rust types (`u32`, `struct DebitRequest`) never reach a client.
//!
//! A malformed id in a path is a 404, not a 400: the URL names no resource, exactly as a
//! well-formed id of another organization's resource names none, and answering both alike
//! reveals nothing.

use axum::{
    Json,
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Path, Query, Request,
        path::ErrorKind,
        rejection::{BytesRejection, FailedToBufferBody, PathRejection, QueryRejection},
    },
    response::{IntoResponse, Response},
};
use http::{HeaderMap, header, request::Parts};
use serde::{
    Serialize,
    de::{DeserializeOwned, IgnoredAny},
};

use crate::{ApiError, server::BodyLimit};

/// Details echo the client's own input back; cap them so a huge body cannot become a huge error.
const MAX_DETAIL_CHARS: usize = 500;

/// A JSON request body (and response) whose rejections are problems. The body must be a JSON
/// object (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The media type is checked before the body is read, as axum's `Json` does.
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type("application/json"));
        }
        let limit = req.extensions().get::<BodyLimit>().copied();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| bytes_rejection(&rejection, limit))?;
        from_object(&bytes).map(Self)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Whether `Content-Type` is JSON: `application/json` or `application/*+json`, with any
/// parameters (`; charset=utf-8`).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some((kind, subtype)) => {
            kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
        }
        None => false,
    }
}

/// A request body that must be a JSON object, as [`ApiJson`] takes it; for handlers that read
/// the bytes themselves (an optional body, say) and must refuse the same things the same way.
///
/// Only the body itself is held to being an object: serde would still fill a nested struct
/// member from an array, so request types keep their members flat (text, numbers, lists of
/// text, enums).
pub fn from_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first != Some(&b'{') {
        // Not JSON at all is a 400 whatever its first character; JSON that is not an object is
        // well-formed input of the wrong shape.
        let value = serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|error| ApiError::malformed_json(syntax_detail(&error, bytes)))?;
        return Err(ApiError::validation(
            "BODY_NOT_OBJECT",
            format!(
                "the request body must be a JSON object with named members, not {}",
                json_kind(&value)
            ),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| json_data_error(&error, bytes))?;
    // Anything after the object (`{...} {...}`, `{...}x`) makes the body malformed.
    deserializer
        .end()
        .map_err(|error| ApiError::malformed_json(syntax_detail(&error, bytes)))?;
    Ok(value)
}

fn json_data_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
    bytes: &[u8],
) -> ApiError {
    let inner = error.inner();
    let message = without_location(inner);
    if !inner.is_data() {
        // serde_json reports a value of the wrong kind where an enum's name belongs (`3` for
        // `"admin"`) as a syntax error, "expected value"; the body is well-formed all the same.
        if serde_json::from_slice::<IgnoredAny>(bytes).is_err() {
            return ApiError::malformed_json(syntax_detail(inner, bytes));
        }
        let message = if message == "expected value" {
            "invalid type: expected one of the allowed values"
        } else {
            &message
        };
        return Complaint::new(error.path(), message, Noun::Member).into_problem();
    }
    Complaint::new(error.path(), &message, Noun::Member).into_problem()
}

/// serde_json's message, which for syntax is plain already ("expected value at line 1 column
/// 5"); an empty body gets words of its own.
fn syntax_detail(error: &serde_json::Error, bytes: &[u8]) -> String {
    if error.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) {
        return "the request body is empty; send a JSON object".to_owned();
    }
    truncate(error.to_string())
}

fn without_location(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let location = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&location) {
        Some(bare) => bare.to_owned(),
        None => message,
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "true or false",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The raw request body, for handlers that must see exact bytes (webhook signatures).
#[derive(Debug, Clone)]
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().copied();
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| bytes_rejection(&rejection, limit))
    }
}

fn bytes_rejection(rejection: &BytesRejection, limit: Option<BodyLimit>) -> ApiError {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::body_too_large(limit.map(|BodyLimit(bytes)| bytes))
        }
        // The connection broke or the client sent a malformed chunked body.
        _ => ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "UNREADABLE_BODY",
            "Unreadable body",
        )
        .with_detail("the request body could not be read"),
    }
}

/// Path parameters; a segment that does not parse is a 404 (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(error) => match error.kind() {
            // These mean the handler's type does not match its route: our bug, not the client's.
            ErrorKind::WrongNumberOfParameters { .. } | ErrorKind::UnsupportedType { .. } => {
                ApiError::internal_from(rejection)
            }
            _ => ApiError::not_found(),
        },
        other => ApiError::internal_from(other),
    }
}

/// A query string whose rejection is a 422 `VALIDATION_FAILED` problem naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

/// axum deserializes query strings through `serde_path_to_error` over `serde_urlencoded`, whose
/// error is serde's own value error; it is found in the rejection's sources.
type QueryError = serde_path_to_error::Error<serde::de::value::Error>;

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if let Some(error) = error.downcast_ref::<QueryError>() {
            let message = error.inner().to_string();
            return Complaint::new(error.path(), &message, Noun::QueryParameter).into_problem();
        }
        source = error.source();
    }
    ApiError::validation_failed("the query string could not be read")
}

// ---------------------------------------------------------------------------------------------
// serde's messages in plain words

/// What a rejected member is called in a detail.
#[derive(Debug, Clone, Copy)]
enum Noun {
    Member,
    QueryParameter,
}

/// One rejected input: the member it concerns (when known) and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
struct Complaint {
    field: Option<String>,
    detail: String,
}

impl Complaint {
    /// serde's `message` about the value at `path`, with serde's Rust vocabulary (`u32`,
    /// `struct DebitRequest`, `a sequence`) put in JSON's words.
    fn new(path: &serde_path_to_error::Path, message: &str, noun: Noun) -> Self {
        let at = path_text(path);
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('`'))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        // The member's name is in these messages; the path is its parent's (for missing and
        // duplicate members) or already ends with it (unknown members).
        for prefix in ["missing field ", "duplicate field "] {
            if let Some(name) = named(prefix) {
                let detail = match noun {
                    Noun::Member => message.to_owned(),
                    Noun::QueryParameter => message.replacen("field", "query parameter", 1),
                };
                return Self::about(Some(join(at.as_deref(), &name)), detail);
            }
        }
        if let Some(name) = named("unknown field ") {
            let field = match at {
                Some(at) if at == name || at.ends_with(&format!(".{name}")) => at,
                other => join(other.as_deref(), &name),
            };
            let detail = match noun {
                Noun::Member => message.to_owned(),
                Noun::QueryParameter => message.replacen("field", "query parameter", 1),
            };
            return Self::about(Some(field), detail);
        }
        let plain = plain_message(message);
        let detail = match &at {
            Some(at) => format!("{at}: {plain}"),
            None => plain,
        };
        Self::about(at, detail)
    }

    fn about(field: Option<String>, detail: String) -> Self {
        Self {
            field,
            detail: truncate(detail),
        }
    }

    fn into_problem(self) -> ApiError {
        let problem = ApiError::validation_failed(self.detail);
        match self.field {
            Some(field) => problem.with_member("field", field),
            None => problem,
        }
    }
}

/// `numbers[3]`, `provider.name`; `None` for the body (or query string) as a whole.
fn path_text(path: &serde_path_to_error::Path) -> Option<String> {
    let text = path.to_string();
    (text != "." && !text.is_empty()).then_some(text)
}

fn join(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    }
}

/// A serde message with its Rust words replaced: "invalid type: string \"two\", expected u32"
/// becomes "invalid type: got a string, expected an integer from 0 to 4294967295".
fn plain_message(message: &str) -> String {
    for kind in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(kind)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            return format!(
                "{kind}got {}, expected {}",
                plain_unexpected(unexpected),
                plain_expected(expected)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((length, expected)) = rest.rsplit_once(", expected ")
    {
        return format!(
            "invalid length: got {length} elements, expected {}",
            plain_expected(expected)
        );
    }
    if message.starts_with("unknown variant ") {
        return message.to_owned();
    }
    if message.starts_with("data did not match any variant") {
        return "does not match any of the accepted forms".to_owned();
    }
    if message.starts_with("UUID parsing failed") {
        return "invalid value: expected a UUID".to_owned();
    }
    // A message of a type's own (a date that does not parse, say): its words, with any Rust
    // type named in it replaced.
    without_rust_names(message)
}

/// What serde says was found, in JSON's words.
fn plain_unexpected(unexpected: &str) -> String {
    let quoted = |prefix: &str| {
        unexpected
            .strip_prefix(prefix)
            .map(|rest| rest.trim_matches('`').to_owned())
    };
    if let Some(number) = quoted("integer ").or_else(|| quoted("floating point ")) {
        return format!("the number {number}");
    }
    if let Some(boolean) = quoted("boolean ") {
        return boolean;
    }
    if unexpected.starts_with("string ") || unexpected.starts_with("char ") {
        return "a string".to_owned();
    }
    match unexpected {
        "null" | "unit value" | "unit" | "Option value" => "null".to_owned(),
        "map" => "an object".to_owned(),
        "sequence" => "an array".to_owned(),
        _ => "a value of another kind".to_owned(),
    }
}

/// What serde says it expected, in JSON's words.
fn plain_expected(expected: &str) -> String {
    if let Some(range) = integer_range(expected) {
        return range;
    }
    match expected {
        "a string" | "a borrowed string" | "string" | "a character" | "char" => {
            return "a string".to_owned();
        }
        "f32" | "f64" => return "a number".to_owned(),
        "a boolean" | "bool" => return "true or false".to_owned(),
        "a sequence" | "an array" | "a list" => return "an array".to_owned(),
        "a map" | "map" => return "an object".to_owned(),
        "option" => return "a value or null".to_owned(),
        _ => {}
    }
    if expected.starts_with("struct ") || expected.starts_with("a map ") {
        return "an object".to_owned();
    }
    if expected.starts_with("tuple") || expected.starts_with("a tuple") {
        return "an array".to_owned();
    }
    if expected.starts_with("enum ") || expected == "variant identifier" {
        return "one of the allowed values".to_owned();
    }
    if expected.contains("UUID") {
        return "a UUID".to_owned();
    }
    if expected.contains("date") {
        return "a date and time in RFC 3339 form, such as 2030-01-31T12:00:00Z".to_owned();
    }
    without_rust_names(expected)
}

fn integer_range(name: &str) -> Option<String> {
    let (min, max): (i128, i128) = match name {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    };
    Some(format!("an integer from {min} to {max}"))
}

/// Replaces "struct Name", "enum Name" and "with N elements" (serde's descriptions of Rust
/// types) with what they are in JSON.
fn without_rust_names(text: &str) -> String {
    const PUNCTUATION: [char; 4] = [',', '.', ':', ';'];
    let is_type_name = |word: &str| {
        let name = word.trim_end_matches(PUNCTUATION);
        name.chars().next().is_some_and(char::is_uppercase)
            && name.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    let words: Vec<&str> = text.split(' ').collect();
    let mut plain: Vec<String> = Vec::with_capacity(words.len());
    let mut index = 0;
    while let Some(&word) = words.get(index) {
        let next = words.get(index + 1).copied();
        if let ("struct" | "enum", Some(name)) = (word, next)
            && is_type_name(name)
        {
            let punctuation = &name[name.trim_end_matches(PUNCTUATION).len()..];
            let kind = if word == "struct" {
                "an object"
            } else {
                "one of the allowed values"
            };
            plain.push(format!("{kind}{punctuation}"));
            index += 2;
            continue;
        }
        let counted = next.is_some_and(|count| count.parse::<usize>().is_ok());
        if let ("with", true, Some(noun)) = (word, counted, words.get(index + 2))
            && noun.starts_with("element")
        {
            let punctuation = &noun[noun.trim_end_matches(PUNCTUATION).len()..];
            if let Some(last) = plain.last_mut() {
                last.push_str(punctuation);
            }
            index += 3;
            continue;
        }
        plain.push(word.to_owned());
        index += 1;
    }
    plain.join(" ")
}

fn truncate(message: String) -> String {
    if message.chars().count() <= MAX_DETAIL_CHARS {
        return message;
    }
    let mut short: String = message.chars().take(MAX_DETAIL_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Debit {
        amount: String,
        currency: String,
        reference: Option<String>,
        count: Option<u32>,
        numbers: Option<Vec<String>>,
        nested: Option<Nested>,
        source: Option<Source>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Nested {
        name: String,
        limit: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Source {
        Admin,
        Risk,
    }

    fn refused(body: &str) -> (u16, &'static str, Option<String>, String) {
        let error = from_object::<Debit>(body.as_bytes()).unwrap_err();
        let field = error
            .member("field")
            .and_then(|field| field.as_str())
            .map(str::to_owned);
        let detail = error.detail().unwrap_or_default().to_owned();
        (error.status().as_u16(), error.code(), field, detail)
    }

    /// No serde word for a Rust type may reach a client.
    fn assert_plain(detail: &str) {
        for word in [
            "Debit", "Nested", "Source", "struct", "u32", "i64", "sequence", "enum ",
        ] {
            assert!(!detail.contains(word), "{word:?} in {detail:?}");
        }
    }

    #[test]
    fn a_body_must_be_an_object_not_an_array_or_a_scalar() {
        for (body, kind) in [
            (r#"["1.00","USD",null,"ref-1"]"#, "an array"),
            ("  [] ", "an array"),
            (r#""1.00""#, "a string"),
            ("42", "a number"),
            ("null", "null"),
            ("true", "true or false"),
        ] {
            let (status, code, field, detail) = refused(body);
            assert_eq!(
                (status, code, field),
                (422, "BODY_NOT_OBJECT", None),
                "{body}"
            );
            assert!(detail.contains("must be a JSON object"), "{detail}");
            assert!(detail.ends_with(kind), "{detail}");
            assert_plain(&detail);
        }
        let debit: Debit = from_object(br#" {"amount":"1.00","currency":"USD"} "#).unwrap();
        assert_eq!(debit.amount, "1.00");
    }

    #[test]
    fn malformed_bodies_are_400_whatever_they_start_with() {
        for body in [
            "",
            "  ",
            "[1,",
            "{\"amount\":",
            "x",
            r#"{"amount":"1","currency":"USD"} {}"#,
            r#"{"amount":"1","currency":"USD"}x"#,
            "\"open",
        ] {
            let (status, code, _, detail) = refused(body);
            assert_eq!(
                (status, code),
                (400, "MALFORMED_JSON"),
                "{body:?}: {detail}"
            );
        }
        assert_eq!(
            refused("").3,
            "the request body is empty; send a JSON object"
        );
    }

    #[test]
    fn type_errors_name_the_field_and_say_what_was_expected_in_json_words() {
        let cases = [
            (
                r#"{"amount":5,"currency":"USD"}"#,
                "amount",
                "amount: invalid type: got the number 5, expected a string",
            ),
            (
                r#"{"amount":"1","currency":"USD","count":"two"}"#,
                "count",
                "count: invalid type: got a string, expected an integer from 0 to 4294967295",
            ),
            (
                r#"{"amount":"1","currency":"USD","count":-1}"#,
                "count",
                "count: invalid value: got the number -1, expected an integer from 0 to \
                 4294967295",
            ),
            (
                r#"{"amount":"1","currency":["USD"]}"#,
                "currency",
                "currency: invalid type: got an array, expected a string",
            ),
            (
                r#"{"amount":"1","currency":"USD","numbers":["+1",7]}"#,
                "numbers[1]",
                "numbers[1]: invalid type: got the number 7, expected a string",
            ),
            (
                r#"{"amount":"1","currency":"USD","numbers":{"a":1}}"#,
                "numbers",
                "numbers: invalid type: got an object, expected an array",
            ),
            (
                r#"{"amount":"1","currency":"USD","nested":"n"}"#,
                "nested",
                "nested: invalid type: got a string, expected an object",
            ),
            (
                r#"{"amount":"1","currency":"USD","nested":{"name":"n","limit":1.5}}"#,
                "nested.limit",
                "nested.limit: invalid type: got the number 1.5, expected an integer from \
                 -9223372036854775808 to 9223372036854775807",
            ),
            (
                r#"{"amount":"1","currency":"USD","source":"billing"}"#,
                "source",
                "source: unknown variant `billing`, expected `admin` or `risk`",
            ),
            (
                r#"{"amount":"1","currency":"USD","source":3}"#,
                "source",
                "source: invalid type: expected one of the allowed values",
            ),
            (
                r#"{"amount":null,"currency":"USD"}"#,
                "amount",
                "amount: invalid type: got null, expected a string",
            ),
            (
                r#"{"amount":true,"currency":"USD"}"#,
                "amount",
                "amount: invalid type: got true, expected a string",
            ),
        ];
        for (body, field, detail) in cases {
            let (status, code, actual_field, actual_detail) = refused(body);
            assert_eq!((status, code), (422, "VALIDATION_FAILED"), "{body}");
            assert_eq!(actual_field.as_deref(), Some(field), "{body}");
            assert_eq!(actual_detail, detail, "{body}");
            assert_plain(&actual_detail);
        }
    }

    #[test]
    fn missing_unknown_and_duplicate_members_are_named() {
        let cases = [
            (r#"{"amount":"1"}"#, "currency", "missing field `currency`"),
            (
                r#"{"amount":"1","currency":"USD","extra":1}"#,
                "extra",
                "unknown field `extra`",
            ),
            (
                r#"{"amount":"1","amount":"2","currency":"USD"}"#,
                "amount",
                "duplicate field `amount`",
            ),
            (
                r#"{"amount":"1","currency":"USD","nested":{"name":"n"}}"#,
                "nested.limit",
                "missing field `limit`",
            ),
            (
                r#"{"amount":"1","currency":"USD","nested":{"name":"n","limit":1,"x":2}}"#,
                "nested.x",
                "unknown field `x`",
            ),
        ];
        for (body, field, detail) in cases {
            let (status, code, actual_field, actual_detail) = refused(body);
            assert_eq!((status, code), (422, "VALIDATION_FAILED"), "{body}");
            assert_eq!(actual_field.as_deref(), Some(field), "{body}");
            assert!(actual_detail.starts_with(detail), "{actual_detail}");
            assert_plain(&actual_detail);
        }
    }

    #[test]
    fn rust_type_names_in_other_messages_are_replaced() {
        assert_eq!(
            without_rust_names("invalid length 2, expected struct DebitRequest with 4 elements"),
            "invalid length 2, expected an object"
        );
        assert_eq!(
            without_rust_names("expected enum Kind, or struct Other."),
            "expected one of the allowed values, or an object."
        );
        assert_eq!(
            plain_message("data did not match any variant of untagged enum Kind"),
            "does not match any of the accepted forms"
        );
        assert_eq!(
            plain_message("invalid length 2, expected struct DebitRequest with 4 elements"),
            "invalid length: got 2 elements, expected an object"
        );
        assert_eq!(
            plain_expected("a formatted date and time string or a unix timestamp"),
            "a date and time in RFC 3339 form, such as 2030-01-31T12:00:00Z"
        );
        assert_eq!(
            plain_message("premature end of input"),
            "premature end of input"
        );
    }

    #[test]
    fn json_media_types() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        for good in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=utf-8",
            "application/problem+json",
        ] {
            assert!(with(good), "{good}");
        }
        for bad in ["text/json", "text/plain", "application/jsonx", "json", ""] {
            assert!(!with(bad), "{bad}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "only deserialized")]
        struct Page {
            limit: Option<u32>,
            cursor: Option<String>,
        }
        let refused = |query: &str| {
            let uri: http::Uri = format!("/?{query}").parse().unwrap();
            let rejection = Query::<Page>::try_from_uri(&uri).unwrap_err();
            let error = query_rejection(&rejection);
            assert_eq!(error.code(), "VALIDATION_FAILED");
            (
                error.member("field").cloned(),
                error.detail().unwrap_or_default().to_owned(),
            )
        };
        let (field, detail) = refused("size=3");
        assert_eq!(field, Some(json!("size")));
        assert!(
            detail.starts_with("unknown query parameter `size`"),
            "{detail}"
        );
        let (field, detail) = refused("limit=ten");
        assert_eq!(field, Some(json!("limit")));
        assert!(detail.starts_with("limit: "), "{detail}");
        assert_plain(&detail);
        let (field, _) = refused("cursor=a&cursor=b");
        assert_eq!(field, Some(json!("cursor")));
    }
}
