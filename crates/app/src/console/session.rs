//! Console sessions: who is signed in in this browser, kept in `console_sessions` so every api
//! instance sees the same ones and signing out or revoking a key takes effect everywhere.
//!
//! The cookie carries a random token; the table keeps only its SHA-256. A session is found only
//! while all of these hold, checked in the one statement that also marks it seen:
//! - it was not signed out, and neither its absolute nor its idle lifetime has passed;
//! - a customer's API key is not revoked;
//! - an operator's admin token is still the configured one (its fingerprint matches).

use std::time::Duration;

use axum::{extract::FromRequestParts, response::Redirect};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use diesel::{
    OptionalExtension, QueryableByName,
    sql_types::{Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use http::{HeaderMap, HeaderValue, header, request::Parts};
use primitives::{ApiKeyId, OrganizationId};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::{AppError, AppState};

use super::{
    ConsoleSettings,
    dispatch::Caller,
    page::{self, ConsoleError},
};

/// The random value in the cookie: 32 bytes, unpadded base64url. Never logged or printed.
pub struct SessionToken(String);

impl SessionToken {
    fn generate() -> Self {
        Self(random_text())
    }

    /// The value for the cookie; nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the table keeps.
    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// 32 random bytes as 43 characters of base64url.
pub(super) fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An operator's name as they signed in with it: 1 to 64 printable characters, recorded on
/// every action they take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorName(String);

impl OperatorName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let chars = value.chars().count();
        let printable = value.chars().all(|c| !c.is_control());
        ((1..=Self::MAX_CHARS).contains(&chars) && printable).then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Customer {
        organization_id: OrganizationId,
        key_id: ApiKeyId,
    },
    Operator(OperatorName),
}

/// A session found for this request.
#[derive(Debug, Clone)]
pub struct Session {
    pub signed: Signed,
    /// The session's CSRF token, sent back in every form.
    pub csrf: String,
}

impl Session {
    /// Whether a submitted form carries this session's token (constant time).
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        submitted.len() == self.csrf.len()
            && bool::from(submitted.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// The fingerprint of the admin credential operator sessions are opened with: replacing the
/// token changes it, which ends every operator session.
pub fn credential_fingerprint(state: &AppState) -> [u8; 32] {
    state.auth.admin_fingerprint("console-operator-session")
}

#[derive(QueryableByName)]
struct SessionRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    api_key_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    operator: Option<String>,
    #[diesel(sql_type = Text)]
    csrf_token: String,
}

impl SessionRow {
    fn into_session(self) -> Option<Session> {
        let signed = match (self.kind.as_str(), self.api_key_id, self.organization_id) {
            ("customer", Some(key_id), Some(organization_id)) => Signed::Customer {
                organization_id: OrganizationId::from_uuid(organization_id),
                key_id: ApiKeyId::from_uuid(key_id),
            },
            ("operator", None, None) => Signed::Operator(OperatorName::parse(&self.operator?)?),
            _ => return None,
        };
        Some(Session {
            signed,
            csrf: self.csrf_token,
        })
    }
}

/// Opens a session and answers the token for the cookie. Sessions ended more than a day ago are
/// deleted on the way, so the table holds about a day of sign-ins.
pub async fn open(
    state: &AppState,
    signed: &Signed,
    fingerprint: Option<[u8; 32]>,
) -> Result<(SessionToken, Session), AppError> {
    let now = state.clock.now();
    let settings = &state.console;
    let token = SessionToken::generate();
    let csrf = random_text();
    let (kind, key_id, organization_id, operator) = match signed {
        Signed::Customer {
            organization_id,
            key_id,
        } => (
            "customer",
            Some(key_id.as_uuid()),
            Some(organization_id.as_uuid()),
            None,
        ),
        Signed::Operator(name) => ("operator", None, None, Some(name.as_str().to_owned())),
    };
    let mut conn = state.conn().await?;
    diesel::sql_query("DELETE FROM console_sessions WHERE expires_at < $1")
        .bind::<Timestamptz, _>(now - chrono::Duration::days(1))
        .execute(&mut conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO console_sessions (token_hash, kind, api_key_id, organization_id, operator, \
         credential_fingerprint, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
    )
    .bind::<Bytea, _>(token.digest().to_vec())
    .bind::<Text, _>(kind)
    .bind::<Nullable<SqlUuid>, _>(key_id)
    .bind::<Nullable<SqlUuid>, _>(organization_id)
    .bind::<Nullable<Text>, _>(operator)
    .bind::<Nullable<Bytea>, _>(fingerprint.map(|f| f.to_vec()))
    .bind::<Text, _>(&csrf)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + to_chrono(settings.session_lifetime))
    .execute(&mut conn)
    .await?;
    Ok((
        token,
        Session {
            signed: signed.clone(),
            csrf,
        },
    ))
}

/// The live session behind a token, marked seen now; `None` when there is none (never
/// opened, signed out, expired, idle too long, its key revoked or its admin token replaced).
pub async fn find(state: &AppState, token: &str) -> Result<Option<Session>, AppError> {
    let now: DateTime<Utc> = state.clock.now();
    let settings = &state.console;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let fingerprint = credential_fingerprint(state);
    let mut conn = state.conn().await?;
    let row: Option<SessionRow> = diesel::sql_query(
        "UPDATE console_sessions s SET last_seen_at = $2 \
         WHERE s.token_hash = $1 AND s.ended_at IS NULL \
           AND s.expires_at > $2 AND s.last_seen_at > $3 \
           AND CASE s.kind \
                 WHEN 'operator' THEN s.credential_fingerprint = $4 \
                 ELSE EXISTS (SELECT 1 FROM api_keys k \
                              WHERE k.id = s.api_key_id AND k.revoked_at IS NULL) \
               END \
         RETURNING s.kind, s.api_key_id, s.organization_id, s.operator, s.csrf_token",
    )
    .bind::<Bytea, _>(digest.to_vec())
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now - to_chrono(settings.idle_timeout))
    .bind::<Bytea, _>(fingerprint.to_vec())
    .get_result(&mut conn)
    .await
    .optional()?;
    Ok(row.and_then(SessionRow::into_session))
}

/// Ends the session behind a token (signing out): it is refused from now on, everywhere.
pub async fn end(state: &AppState, token: &str) -> Result<(), AppError> {
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut conn = state.conn().await?;
    diesel::sql_query(
        "UPDATE console_sessions SET ended_at = $2 WHERE token_hash = $1 AND ended_at IS NULL",
    )
    .bind::<Bytea, _>(digest.to_vec())
    .bind::<Timestamptz, _>(state.clock.now())
    .execute(&mut conn)
    .await?;
    Ok(())
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The session cookie's name: with `Secure`, the `__Host-` prefix also pins it to this host and
/// path `/` (browsers refuse such a cookie from anywhere else).
pub fn cookie_name(settings: &ConsoleSettings) -> &'static str {
    if settings.secure_cookies {
        "__Host-console_session"
    } else {
        "console_session"
    }
}

/// The cookie's value in a request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a value under `name`: HttpOnly, SameSite=Strict, path `/`, Secure when
/// configured; `max_age` zero deletes it.
pub fn set_cookie(
    settings: &ConsoleSettings,
    name: &str,
    value: &str,
    max_age: Duration,
) -> HeaderValue {
    let secure = if settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    // Names are constants and values base64url: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session of this request, looked up once and kept in the request's extensions.
async fn session_of(parts: &mut Parts, state: &AppState) -> Result<Option<Session>, AppError> {
    if let Some(found) = parts.extensions.get::<Option<Session>>() {
        return Ok(found.clone());
    }
    let name = cookie_name(&state.console);
    let found = match cookie(&parts.headers, name) {
        Some(token) if token.len() <= 64 => find(state, token).await?,
        _ => None,
    };
    parts.extensions.insert(found.clone());
    Ok(found)
}

/// A signed-in customer: the organization and key the session acts as. Without a live customer
/// session the page answers a redirect to the sign-in page (a form post changes nothing).
#[derive(Debug, Clone)]
pub struct CustomerSession {
    pub organization_id: OrganizationId,
    pub key_id: ApiKeyId,
    pub session: Session,
}

impl FromRequestParts<AppState> for CustomerSession {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session_of(parts, state).await? {
            Some(
                session @ Session {
                    signed:
                        Signed::Customer {
                            organization_id,
                            key_id,
                        },
                    ..
                },
            ) => {
                if let Some(limiter) = &state.rate_limiter
                    && let Err(wait) = limiter.check(key_id)
                {
                    metrics::counter!("api_rate_limited_total").increment(1);
                    return Err(ConsoleError::RateLimited(wait));
                }
                Ok(Self {
                    organization_id,
                    key_id,
                    session,
                })
            }
            _ => Err(ConsoleError::SignIn(Redirect::to(page::CUSTOMER_SIGN_IN))),
        }
    }
}

/// A signed-in operator. Without a live operator session the page answers a redirect to the
/// operator sign-in page (a form post changes nothing).
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub operator: OperatorName,
    pub session: Session,
}

impl FromRequestParts<AppState> for OperatorSession {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session_of(parts, state).await? {
            Some(
                session @ Session {
                    signed: Signed::Operator(_),
                    ..
                },
            ) => {
                let Signed::Operator(operator) = session.signed.clone() else {
                    return Err(ConsoleError::SignIn(Redirect::to(page::OPERATOR_SIGN_IN)));
                };
                Ok(Self { operator, session })
            }
            _ => Err(ConsoleError::SignIn(Redirect::to(page::OPERATOR_SIGN_IN))),
        }
    }
}

/// Either kind of session, for the pages both may see (signing out).
#[derive(Debug, Clone)]
pub struct AnySession(pub Option<Session>);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(session_of(parts, state).await?))
    }
}

/// A customer's calls are made as the key the session was opened with.
impl From<&CustomerSession> for Caller {
    fn from(session: &CustomerSession) -> Self {
        Self::Customer {
            organization_id: session.organization_id,
            key_id: session.key_id,
        }
    }
}

/// An operator's calls are the admin's, naming the operator.
impl From<&OperatorSession> for Caller {
    fn from(session: &OperatorSession) -> Self {
        Self::Operator(session.operator.as_str().to_owned())
    }
}

/// What a form post carries besides its fields.
pub trait HasSession {
    fn session(&self) -> &Session;
}

impl HasSession for CustomerSession {
    fn session(&self) -> &Session {
        &self.session
    }
}

impl HasSession for OperatorSession {
    fn session(&self) -> &Session {
        &self.session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_are_trimmed_printable_and_bounded() {
        assert_eq!(OperatorName::parse("  alice ").unwrap().as_str(), "alice");
        assert!(OperatorName::parse("").is_none());
        assert!(OperatorName::parse("   ").is_none());
        assert!(OperatorName::parse("a\u{0}b").is_none());
        assert!(OperatorName::parse(&"x".repeat(64)).is_some());
        assert!(OperatorName::parse(&"x".repeat(65)).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others_and_empty_is_none() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; console_session=tok; b=2"),
        );
        assert_eq!(cookie(&headers, "console_session"), Some("tok"));
        assert_eq!(cookie(&headers, "console"), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("console_session="));
        assert_eq!(cookie(&headers, "console_session"), None);
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let session = Session {
            signed: Signed::Operator(OperatorName::parse("a").unwrap()),
            csrf: "abcdef".into(),
        };
        assert!(session.csrf_matches("abcdef"));
        assert!(!session.csrf_matches("abcde"));
        assert!(!session.csrf_matches("abcdeg"));
        assert!(!session.csrf_matches(""));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_configured() {
        let mut settings = ConsoleSettings {
            secure_cookies: false,
            ..ConsoleSettings::default()
        };
        let plain = set_cookie(&settings, "console_session", "v", Duration::from_secs(60));
        assert_eq!(
            plain,
            "console_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        settings.secure_cookies = true;
        assert_eq!(cookie_name(&settings), "__Host-console_session");
        let secure = set_cookie(&settings, cookie_name(&settings), "v", Duration::ZERO);
        assert!(secure.to_str().unwrap().ends_with("; Max-Age=0; Secure"));
    }
}
