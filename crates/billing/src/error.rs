//! Errors of provider calls. They keep the provider's own error code and message (never a
//! secret: request bodies and credentials are not echoed).

use crate::ProviderName;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an error.
    #[error("{provider} answered {status}: {code}: {message}")]
    Api {
        provider: ProviderName,
        status: u16,
        /// The provider's error code (`card_declined`, `RESOURCE_NOT_FOUND` ...).
        code: String,
        message: String,
    },
    /// No answer: connection refused, timeout, TLS failure.
    #[error("{provider} could not be reached: {message}")]
    Transport {
        provider: ProviderName,
        message: String,
    },
    /// An answer we cannot read.
    #[error("{provider} sent something unreadable: {message}")]
    Decode {
        provider: ProviderName,
        message: String,
    },
    /// Our configuration cannot work (a base URL that does not parse, say).
    #[error("{provider} is misconfigured: {message}")]
    Config {
        provider: ProviderName,
        message: String,
    },
    /// The provider is not configured in this deployment ([`crate::Providers`] has no adapter
    /// for it).
    #[error("{provider} is not configured")]
    NotConfigured { provider: ProviderName },
    /// The operation does not exist at this provider.
    #[error("{provider} does not support {operation}")]
    Unsupported {
        provider: ProviderName,
        operation: &'static str,
    },
}

impl ProviderError {
    /// Whether trying again later may succeed (the dunning runner and the outbox use this).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::Decode { .. }
            | Self::Config { .. }
            | Self::NotConfigured { .. }
            | Self::Unsupported { .. } => false,
        }
    }
}
