//! The Subscription Manager API's OAuth token: client credentials (`app_id:app_secret` as
//! Basic auth, `grant_type=client_credentials`), cached until shortly before it expires.
//!
//! One lock guards the cache and is held while a token is fetched, so callers that find it
//! empty together make one token call and share its answer.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode, header::AUTHORIZATION};
use primitives::Clock;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::errors::{api_error, decode_error};
use super::{PAYHERE, wire};
use crate::http::{ApiClient, ApiRequest, at, decode};

pub(crate) const TOKEN_PATH: &str = "/merchant/v1/oauth/token";

#[derive(Debug)]
struct Cached {
    token: SecretString,
    refresh_after: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct TokenSource {
    /// `Basic base64(app_id:app_secret)`, built once.
    basic: SecretString,
    margin: Duration,
    clock: Arc<dyn Clock>,
    cache: Mutex<Option<Cached>>,
}

impl TokenSource {
    pub(crate) fn new(
        app_id: &str,
        app_secret: &SecretString,
        margin: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let credentials = STANDARD.encode(format!("{app_id}:{}", app_secret.expose_secret()));
        Self {
            basic: SecretString::from(format!("Basic {credentials}")),
            margin,
            clock,
            cache: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a fresh one.
    pub(crate) async fn token(
        &self,
        client: &ApiClient,
    ) -> Result<SecretString, crate::ProviderError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && self.clock.now() < cached.refresh_after
        {
            return Ok(cached.token.clone());
        }
        let fresh = self.fetch(client).await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Forgets `used` after PayHere refused it (401), unless another caller already replaced
    /// it: the next [`TokenSource::token`] then fetches a new one.
    pub(crate) async fn invalidate(&self, used: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|cached| cached.token.expose_secret() == used.expose_secret())
        {
            *cache = None;
        }
    }

    async fn fetch(&self, client: &ApiClient) -> Result<Cached, crate::ProviderError> {
        let request = ApiRequest::new(Method::POST, TOKEN_PATH)
            .form(vec![(
                "grant_type".to_owned(),
                "client_credentials".to_owned(),
            )])
            .secret_header(AUTHORIZATION, &self.basic)
            .map_err(at(PAYHERE))?
            // Asking for a token twice is harmless: a lost answer may be asked again.
            .repeatable();
        let response = client.send(&request).await?;
        if response.status != StatusCode::OK {
            return Err(api_error(&response));
        }
        let token: wire::Token = decode(&response, PAYHERE)?;
        if token.access_token.is_empty() {
            return Err(decode_error(
                "the token answer has an empty access_token".to_owned(),
            ));
        }
        // Refresh a margin before expiry, so a request never travels with a token in its last
        // seconds; a token too short-lived for the margin is refreshed half-way through.
        let lifetime = Duration::from_secs(token.expires_in);
        let usable = if self
            .margin
            .checked_mul(2)
            .is_some_and(|twice| lifetime > twice)
        {
            lifetime - self.margin
        } else {
            lifetime / 2
        };
        let usable = chrono::Duration::from_std(usable).unwrap_or(chrono::Duration::zero());
        Ok(Cached {
            token: SecretString::from(token.access_token),
            refresh_after: self.clock.now() + usable,
        })
    }
}
