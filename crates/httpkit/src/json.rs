//! Extractors whose rejections are problems.
//!
//! axum's own extractors answer bad input with `text/plain` bodies; these wrap them and map each
//! rejection onto an [`ApiError`] with a stable code:
//!
//! | input | status | code |
//! |---|---|---|
//! | body is not JSON | 400 | `MALFORMED_JSON` |
//! | JSON of the wrong shape (types, missing fields) | 422 | `VALIDATION_FAILED` (serde's message as detail) |
//! | `Content-Type` missing or not JSON | 415 | `UNSUPPORTED_MEDIA_TYPE` |
//! | body over the limit | 413 | `BODY_TOO_LARGE` |
//! | path segment that does not parse (a malformed UUID) | 404 | `NOT_FOUND` |
//! | query string that does not fit | 422 | `VALIDATION_FAILED` |
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
        rejection::{
            BytesRejection, FailedToBufferBody, JsonRejection, PathRejection, QueryRejection,
        },
    },
    response::{IntoResponse, Response},
};
use http::request::Parts;
use serde::{Serialize, de::DeserializeOwned};

use crate::{ApiError, server::BodyLimit};

/// Details echo the client's own input back; cap them so a huge body cannot become a huge error.
const MAX_DETAIL_CHARS: usize = 500;

/// A JSON request body (and response) whose rejections are problems.
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
        let limit = req.extensions().get::<BodyLimit>().copied();
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection, limit)),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

fn json_rejection(rejection: &JsonRejection, limit: Option<BodyLimit>) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(error) => ApiError::malformed_json(cause(error)),
        JsonRejection::JsonDataError(error) => ApiError::validation_failed(cause(error)),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::unsupported_media_type("application/json")
        }
        JsonRejection::BytesRejection(error) => bytes_rejection(error, limit),
        // JsonRejection is non-exhaustive; anything new is reported by its own status.
        other => ApiError::new(other.status(), "BAD_REQUEST", "Bad request")
            .with_detail(truncate(other.body_text())),
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

/// A query string whose rejection is a 422 `VALIDATION_FAILED` problem.
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

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    match rejection {
        QueryRejection::FailedToDeserializeQueryString(error) => {
            ApiError::validation_failed(format!("query string: {}", cause(error)))
        }
        other => ApiError::validation_failed(truncate(other.body_text())),
    }
}

/// The underlying (serde) message without axum's generic preamble.
fn cause(error: &dyn std::error::Error) -> String {
    let message = match error.source() {
        Some(source) => source.to_string(),
        None => error.to_string(),
    };
    truncate(message)
}

fn truncate(message: String) -> String {
    if message.chars().count() <= MAX_DETAIL_CHARS {
        return message;
    }
    let mut short: String = message.chars().take(MAX_DETAIL_CHARS).collect();
    short.push('…');
    short
}
