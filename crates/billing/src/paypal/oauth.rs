//! OAuth2 client credentials: `POST /v1/oauth2/token` with Basic `client_id:secret`, the
//! token cached until shortly before `expires_in` runs out (by the injected clock), and
//! dropped when PayPal answers 401 to it so the next call fetches a fresh one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::Method;
use primitives::Clock;
use secrecy::{ExposeSecret, SecretString};

use super::errors::error_from;
use super::wire;
use crate::http::{ApiClient, ApiRequest, at, decode};
use crate::{ProviderError, ProviderName};

/// A token and when to stop using it.
struct Cached {
    token: SecretString,
    renew_at: DateTime<Utc>,
}

pub(crate) struct TokenSource {
    client: ApiClient,
    client_id: String,
    client_secret: SecretString,
    clock: Arc<dyn Clock>,
    margin: Duration,
    // An async mutex held across the token request: concurrent callers wait for one fetch
    // instead of each asking PayPal for a token.
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(
        client: ApiClient,
        client_id: String,
        client_secret: SecretString,
        clock: Arc<dyn Clock>,
        margin: Duration,
    ) -> Self {
        Self {
            client,
            client_id,
            client_secret,
            clock,
            margin,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A token valid for a while yet: the cached one, or a fresh one.
    pub(crate) async fn token(&self) -> Result<SecretString, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref()
            && self.clock.now() < current.renew_at
        {
            return Ok(current.token.clone());
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `rejected` (PayPal answered 401 to it), unless another caller already replaced it.
    pub(crate) async fn invalidate(&self, rejected: &SecretString) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|current| current.token.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, ProviderError> {
        let request = ApiRequest::new(Method::POST, "/v1/oauth2/token")
            .form(vec![("grant_type".into(), "client_credentials".into())])
            .basic_auth(&self.client_id, &self.client_secret)
            .map_err(at(ProviderName::Paypal))?
            // Asking for a token twice is harmless, so a 5xx or lost connection may be retried.
            .repeatable();
        let requested_at = self.clock.now();
        let response = self.client.send(&request).await?;
        if !response.status.is_success() {
            return Err(error_from(&response));
        }
        let token: wire::Token = decode(&response, ProviderName::Paypal)?;
        let lifetime = Duration::from_secs(token.expires_in);
        // A short-lived token keeps at least half its life usable rather than none.
        let margin = self.margin.min(lifetime / 2);
        let usable = chrono::Duration::from_std(lifetime.saturating_sub(margin))
            .unwrap_or(chrono::Duration::zero());
        Ok(Cached {
            token: token.access_token,
            // An absurd `expires_in` that overflows the calendar is simply not cached.
            renew_at: requested_at
                .checked_add_signed(usable)
                .unwrap_or(requested_at),
        })
    }
}
