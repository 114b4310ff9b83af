//! Who is calling: bearer credentials resolved to a [`Principal`].
//!
//! The admin credential is checked here; every other bearer token goes to an [`Authenticator`]
//! supplied by the binary (the api wires tenancy's API keys into it), so this crate needs no
//! database. Handlers take [`Authenticated`] or [`AdminOnly`]; both find the [`Auth`] in the
//! router state through `FromRef`.

use std::{fmt, sync::Arc};

use axum::extract::{FromRef, FromRequestParts};
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, header, request::Parts};
use primitives::{ApiKeyId, OrganizationId};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiError;

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The platform operator, holder of the admin credential.
    Admin,
    /// A customer organization, through one of its API keys.
    Organization {
        organization_id: OrganizationId,
        key_id: ApiKeyId,
    },
}

impl Principal {
    /// Whether this caller may read or change the organization's data (G11).
    pub fn may_access(&self, organization_id: OrganizationId) -> bool {
        match self {
            Self::Admin => true,
            Self::Organization {
                organization_id: own,
                ..
            } => *own == organization_id,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }

    /// The caller's own organization; `None` for the admin.
    pub fn organization_id(&self) -> Option<OrganizationId> {
        match self {
            Self::Admin => None,
            Self::Organization {
                organization_id, ..
            } => Some(*organization_id),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The credential store could not answer. Never means "bad credential": that is `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Transient (database down, pool exhausted): 503, retrying may help.
    #[error("credential store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: 500.
    #[error("credential check failed")]
    Internal(#[source] BoxError),
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match &error {
            AuthError::Unavailable(_) => ApiError::unavailable_from(&error),
            AuthError::Internal(_) => ApiError::internal_from(&error),
        }
    }
}

/// Resolves bearer tokens other than the admin credential. Object safe, so the binary can hand
/// in any implementation as `Arc<dyn Authenticator>`.
pub trait Authenticator: Send + Sync {
    /// `Ok(None)` for a token that is unknown, revoked or malformed.
    fn authenticate<'a>(
        &'a self,
        bearer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>>;
}

/// An authenticator that knows no keys: only the admin credential works.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

impl Authenticator for NoKeys {
    fn authenticate<'a>(
        &'a self,
        _bearer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// The admin credential. Only its SHA-256 digest is kept, and presented tokens are hashed before
/// a constant-time comparison, so neither content nor length leaks through timing.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

/// Too short to be a safe admin credential.
#[derive(Debug, thiserror::Error)]
#[error("the admin token must be at least {min} characters long", min = AdminToken::MIN_LEN)]
pub struct WeakAdminToken;

impl AdminToken {
    /// 32 characters: a random token of that length has well over 128 bits of entropy.
    pub const MIN_LEN: usize = 32;

    pub fn new(token: &SecretString) -> Result<Self, WeakAdminToken> {
        let token = token.expose_secret();
        if token.chars().count() < Self::MIN_LEN {
            return Err(WeakAdminToken);
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(&self.digest).into()
    }

    /// A value that changes when the credential does, for `purpose` only: what a store may keep
    /// to notice a replaced token (the console's operator sessions end with it), without keeping
    /// what presented tokens are compared against.
    pub fn fingerprint(&self, purpose: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update(b":");
        hasher.update(self.digest);
        hasher.finalize().into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken([REDACTED])")
    }
}

/// The authentication set-up kept in router state: the admin credential and the authenticator
/// for everything else. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    admin: AdminToken,
    keys: Arc<dyn Authenticator>,
}

impl Auth {
    pub fn new(admin: AdminToken, keys: Arc<dyn Authenticator>) -> Self {
        Self { admin, keys }
    }

    /// Resolves a bearer token: the admin credential first, then the authenticator.
    pub async fn resolve(&self, bearer: &str) -> Result<Option<Principal>, AuthError> {
        if self.admin.matches(bearer) {
            return Ok(Some(Principal::Admin));
        }
        self.keys.authenticate(bearer).await
    }

    /// Whether `presented` is the admin credential (constant time), without asking the
    /// authenticator about anything else.
    pub fn is_admin_token(&self, presented: &str) -> bool {
        self.admin.matches(presented)
    }

    /// [`AdminToken::fingerprint`] of the configured admin credential.
    pub fn admin_fingerprint(&self, purpose: &str) -> [u8; 32] {
        self.admin.fingerprint(purpose)
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

/// Longer than any credential we issue; longer tokens are refused before any lookup.
const MAX_TOKEN_LEN: usize = 512;

/// The token of an `Authorization: Bearer <token>` header, if there is exactly one well-formed
/// such header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic());
    well_formed.then_some(token)
}

/// In request extensions: a layer in front of the handler resolved this request's bearer
/// credential and nobody issued it, so [`Authenticated`] answers 401 without asking the
/// credential store again (a flood of made-up tokens costs one lookup each, not two). A layer
/// that found the credential inserts the [`Principal`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCredential;

/// Any authenticated caller; 401 `UNAUTHORIZED` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated(pub Principal);

impl<S> FromRequestParts<S> for Authenticated
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A handler may use several auth extractors; resolve the credential only once.
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Self(*principal));
        }
        let Some(bearer) = bearer_token(&parts.headers) else {
            return Err(ApiError::unauthorized());
        };
        let invalid_token = || {
            ApiError::unauthorized().with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            )
        };
        if parts.extensions.get::<UnknownCredential>().is_some() {
            return Err(invalid_token());
        }
        let principal = Auth::from_ref(state)
            .resolve(bearer)
            .await?
            .ok_or_else(invalid_token)?;
        parts.extensions.insert(principal);
        Ok(Self(principal))
    }
}

/// The admin caller; 401 without a valid credential, 403 `ADMIN_REQUIRED` with an
/// organization's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminOnly;

impl<S> FromRequestParts<S> for AdminOnly
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        if principal.is_admin() {
            Ok(Self)
        } else {
            Err(ApiError::admin_required())
        }
    }
}

/// An organization's own key: the organization comes from the credential, not from the path.
/// 401 without a valid credential; 403 `ORGANIZATION_KEY_REQUIRED` for the admin credential,
/// which belongs to no organization (admin routes name the organization in their path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizationOnly {
    pub organization_id: OrganizationId,
    pub key_id: ApiKeyId,
}

impl<S> FromRequestParts<S> for OrganizationOnly
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        match principal {
            Principal::Organization {
                organization_id,
                key_id,
            } => Ok(Self {
                organization_id,
                key_id,
            }),
            Principal::Admin => Err(ApiError::organization_key_required()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn organizations_may_access_only_themselves() {
        let own = OrganizationId::new();
        let other = OrganizationId::new();
        let principal = Principal::Organization {
            organization_id: own,
            key_id: ApiKeyId::new(),
        };
        assert!(principal.may_access(own));
        assert!(!principal.may_access(other));
        assert!(Principal::Admin.may_access(other));
        assert_eq!(principal.organization_id(), Some(own));
        assert!(!principal.is_admin());
    }

    #[test]
    fn admin_token_matches_only_itself_and_refuses_weak_tokens() {
        let token = "a".repeat(32);
        let admin = AdminToken::new(&secret(&token)).unwrap();
        assert!(admin.matches(&token));
        assert!(!admin.matches(&"a".repeat(31)));
        assert!(!admin.matches(&"a".repeat(33)));
        assert!(!admin.matches(""));
        assert!(AdminToken::new(&secret(&"a".repeat(31))).is_err());
        assert!(!format!("{admin:?}").contains(&token));
    }

    /// Counts the lookups it is asked for; knows no key.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Authenticator for Counting {
        fn authenticate<'a>(
            &'a self,
            _bearer: &'a str,
        ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(std::future::ready(Ok(None)))
        }
    }

    #[tokio::test]
    async fn a_credential_a_layer_found_unknown_is_refused_without_a_second_lookup() {
        let keys = Arc::new(Counting(Default::default()));
        let auth = Auth::new(
            AdminToken::new(&secret(&"a".repeat(32))).unwrap(),
            keys.clone(),
        );
        let request = http::Request::get("/")
            .header(header::AUTHORIZATION, "Bearer bsk_unknown")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let refused = Authenticated::from_request_parts(&mut parts, &auth).await;
        assert_eq!(refused.unwrap_err().code(), "UNAUTHORIZED");
        assert_eq!(keys.0.load(std::sync::atomic::Ordering::SeqCst), 1);

        parts.extensions.insert(UnknownCredential);
        let refused = Authenticated::from_request_parts(&mut parts, &auth).await;
        let refused = refused.unwrap_err();
        assert_eq!(refused.code(), "UNAUTHORIZED");
        assert_eq!(
            keys.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "asked the store again"
        );
        let answer = axum::response::IntoResponse::into_response(refused);
        assert_eq!(
            answer.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }

    #[test]
    fn parses_exactly_one_well_formed_bearer_header() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            }
            bearer_token(&headers).map(str::to_owned)
        };
        assert_eq!(with(&["Bearer abc"]).as_deref(), Some("abc"));
        assert_eq!(with(&["bearer abc"]).as_deref(), Some("abc"));
        assert_eq!(with(&[]), None);
        assert_eq!(with(&["Bearer"]), None);
        assert_eq!(with(&["Bearer "]), None);
        assert_eq!(with(&["Basic abc"]), None);
        assert_eq!(with(&["Bearer a b"]), None);
        assert_eq!(with(&["Bearer abc", "Bearer abc"]), None);
        assert_eq!(with(&[&format!("Bearer {}", "x".repeat(513))]), None);
    }
}
