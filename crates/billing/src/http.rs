//! The adapters' side of [`outbound`], the one outbound HTTP layer: a client bound to one
//! provider, so what the layer reports comes back as that provider's [`ProviderError`].
//!
//! What is retried is the layer's rule: 429 always (the provider did not process the call;
//! `Retry-After` honoured, capped at the policy's maximum delay); 5xx answers and lost
//! exchanges only for requests marked repeatable (reads, and writes carrying the provider's
//! idempotency key, the same on every attempt); a connection that never opened always (nothing
//! was sent). Never retried: any other 4xx.

use std::time::Duration;

use outbound::{Client, OutboundError};

pub use outbound::RetryPolicy;
pub(crate) use outbound::{Request as ApiRequest, Response as ApiResponse};

use crate::{ProviderError, ProviderName};

impl ProviderError {
    /// What the outbound layer reported, as `provider`'s error.
    pub(crate) fn outbound(provider: ProviderName, error: OutboundError) -> Self {
        match error {
            OutboundError::Config(message) => Self::Config { provider, message },
            OutboundError::Transport { message, .. } => Self::Transport { provider, message },
        }
    }
}

/// `Self::outbound` for `map_err`.
pub(crate) fn at(provider: ProviderName) -> impl Fn(OutboundError) -> ProviderError {
    move |error| ProviderError::outbound(provider, error)
}

/// The body of an answer as the JSON expected, else [`ProviderError::Decode`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    response: &ApiResponse,
    provider: ProviderName,
) -> Result<T, ProviderError> {
    response.json().map_err(|error| ProviderError::Decode {
        provider,
        message: format!(
            "{} answer is not the JSON expected: {error}",
            response.status
        ),
    })
}

/// The client of one provider.
#[derive(Debug, Clone)]
pub(crate) struct ApiClient {
    provider: ProviderName,
    client: Client,
}

impl ApiClient {
    /// `base_url` is the provider's API root (a test server's in tests).
    pub(crate) fn new(
        provider: ProviderName,
        base_url: &str,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> Result<Self, ProviderError> {
        let client =
            Client::new(provider.as_str(), base_url, timeout, policy).map_err(at(provider))?;
        Ok(Self { provider, client })
    }

    /// Sends `request` through the outbound layer. Any status comes back as an
    /// [`ApiResponse`]; only a request that never got an answer is an error.
    pub(crate) async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, ProviderError> {
        self.client.send(request).await.map_err(at(self.provider))
    }
}
