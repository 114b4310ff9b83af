//! The `Idempotency-Key` request header.
//!
//! Take `Option<IdempotencyKey>` where the header is optional and `IdempotencyKey` where it is
//! required (POSTs that move money). Either way a present but invalid key is refused with 422
//! `INVALID_IDEMPOTENCY_KEY`, never ignored: silently dropping it would turn a retry into a
//! second charge.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::{HeaderMap, HeaderName, request::Parts};

use crate::ApiError;

pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// A client-chosen key: 1..=200 visible ASCII characters (no spaces or controls).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(invalid(format!(
                "must be 1 to {} characters long",
                Self::MAX_LEN
            )));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "must contain only visible ASCII characters (no spaces)".to_owned(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// The key from the headers: `Ok(None)` when absent, an error when present but invalid.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(invalid("must be sent once".to_owned()));
        }
        let value = value.to_str().map_err(|_| {
            invalid("must contain only visible ASCII characters (no spaces)".to_owned())
        })?;
        Self::parse(value).map(Some)
    }
}

fn invalid(reason: String) -> ApiError {
    ApiError::validation(
        "INVALID_IDEMPOTENCY_KEY",
        format!("Idempotency-Key {reason}"),
    )
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Self::from_headers(&parts.headers)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers)?.ok_or_else(|| {
            ApiError::validation(
                "IDEMPOTENCY_KEY_REQUIRED",
                "this operation requires an Idempotency-Key header",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                IDEMPOTENCY_KEY_HEADER,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn accepts_visible_ascii_up_to_200_characters() {
        assert_eq!(IdempotencyKey::from_headers(&headers(&[])).unwrap(), None);
        let key = IdempotencyKey::from_headers(&headers(&[b"order-42:retry_1"]))
            .unwrap()
            .unwrap();
        assert_eq!(key.as_str(), "order-42:retry_1");
        let longest = "k".repeat(200);
        assert!(IdempotencyKey::parse(&longest).is_ok());
    }

    #[test]
    fn refuses_invalid_keys_with_a_stable_code() {
        let too_long = "k".repeat(201);
        let cases: [&[&[u8]]; 5] = [
            &[b""],
            &[too_long.as_bytes()],
            &[b"has space"],
            &[b"caf\xc3\xa9"],
            &[b"one", b"two"],
        ];
        for case in cases {
            let error = IdempotencyKey::from_headers(&headers(case)).unwrap_err();
            assert_eq!(error.code(), "INVALID_IDEMPOTENCY_KEY", "{case:?}");
            assert_eq!(error.status().as_u16(), 422);
        }
    }
}
