//! Form posts: every one is checked against cross-site request forgery before its fields are
//! read, so a forged post changes nothing.
//!
//! Three checks, any one of which refuses (403 `CSRF_REFUSED`):
//! - the browser says the request came from another site (`Sec-Fetch-Site`), or its `Origin`
//!   names another host;
//! - the form's `csrf` field is not the session's token (synchronizer token);
//! - for signing in, before any session exists: the field is not the value of the sign-in cookie
//!   set with the form (double submit), which stops signing a victim in as the attacker.
//!
//! The session cookie is also `SameSite=Strict`, so a cross-site post arrives without it.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
};
use http::{HeaderMap, StatusCode, header, request::Parts};
use httpkit::ApiError;
use serde::{Deserialize, de::DeserializeOwned};

use crate::AppState;

use super::{page::ConsoleError, session::HasSession};

/// A form post by a signed-in session `S`, with its fields `T`; the CSRF checks have passed.
#[derive(Debug)]
pub struct Posted<S, T> {
    pub session: S,
    pub form: T,
}

/// The one field every form carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<S, T> FromRequest<AppState> for Posted<S, T>
where
    S: FromRequestParts<AppState, Rejection = ConsoleError> + HasSession + Send,
    T: DeserializeOwned,
{
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers) {
            return Err(ConsoleError::forged());
        }
        let session = S::from_request_parts(&mut parts, state).await?;
        let body = read_form(parts, body, state).await?;
        let CsrfField { csrf } = parse_fields(&body)?;
        if !session.session().csrf_matches(&csrf) {
            return Err(ConsoleError::forged());
        }
        Ok(Self {
            session,
            form: parse_fields(&body)?,
        })
    }
}

/// A form post before any session: the sign-in forms. The double-submit check against the
/// sign-in cookie is the handler's (it knows the cookie).
#[derive(Debug)]
pub struct SignInPost<T> {
    pub headers: HeaderMap,
    pub csrf: String,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignInPost<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        if !same_origin(&parts.headers) {
            return Err(ConsoleError::forged());
        }
        let headers = parts.headers.clone();
        let body = read_form(parts, body, state).await?;
        let CsrfField { csrf } = parse_fields(&body)?;
        Ok(Self {
            headers,
            csrf,
            form: parse_fields(&body)?,
        })
    }
}

/// Whether the browser's own headers place the request on this site. Browsers always send
/// them on cross-site posts; a client that sends neither (curl, a test) is judged by the CSRF
/// token alone.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(site) = fetch_site
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host);
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

async fn read_form(
    parts: Parts,
    body: axum::body::Body,
    state: &AppState,
) -> Result<Bytes, ConsoleError> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::unsupported_media_type("application/x-www-form-urlencoded").into());
    }
    let request = Request::from_parts(parts, body);
    Bytes::from_request(request, state)
        .await
        .map_err(|_| ConsoleError::Problem(ApiError::body_too_large(None)))
}

fn parse_fields<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes(body).map_err(|error| {
        ConsoleError::Problem(
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "FORM_INVALID",
                "The form's fields are not valid",
            )
            .with_detail(error.to_string()),
        )
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn posts_from_this_site_pass_and_from_others_are_refused() {
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "a")])));
    }
}
