//! Webhook verification: the raw request in, a [`VerifiedWebhook`] or a typed refusal out.

use http::HeaderMap;

use crate::ProviderName;

/// The request exactly as received: headers and the raw body bytes, never a re-serialized body.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A webhook whose signature has been checked. Only `verify_webhook` implementations make one,
/// so a parser cannot be handed an unverified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedWebhook {
    provider: ProviderName,
    body: Vec<u8>,
}

impl VerifiedWebhook {
    /// For provider adapters in this crate only.
    pub(crate) fn new(provider: ProviderName, body: &[u8]) -> Self {
        Self {
            provider,
            body: body.to_vec(),
        }
    }

    pub fn provider(&self) -> ProviderName {
        self.provider
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// Why a webhook was refused. Messages name headers and reasons, never secrets or signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("signature does not match")]
    BadSignature,
    #[error("timestamp outside the tolerance of {tolerance_secs} s")]
    TimestampOutsideTolerance { tolerance_secs: u64 },
    #[error("certificate URL not allowed: {0}")]
    CertUrlNotAllowed(String),
    #[error("certificate chain invalid: {0}")]
    CertChainInvalid(String),
    #[error("certificate expired or not yet valid")]
    CertExpired,
    #[error("certificate could not be fetched: {0}")]
    CertUnavailable(String),
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("body is malformed: {0}")]
    MalformedBody(&'static str),
    /// The delivery names a provider this deployment has not configured ([`crate::Providers`]).
    #[error("{0} is not configured")]
    ProviderNotConfigured(ProviderName),
}

impl VerifyError {
    /// Stable code for logs and the webhook receiver's answers.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "WEBHOOK_MISSING_HEADER",
            Self::MalformedHeader { .. } => "WEBHOOK_MALFORMED_HEADER",
            Self::BadSignature => "WEBHOOK_BAD_SIGNATURE",
            Self::TimestampOutsideTolerance { .. } => "WEBHOOK_STALE",
            Self::CertUrlNotAllowed(_) => "WEBHOOK_CERT_URL_NOT_ALLOWED",
            Self::CertChainInvalid(_) => "WEBHOOK_CERT_CHAIN_INVALID",
            Self::CertExpired => "WEBHOOK_CERT_EXPIRED",
            Self::CertUnavailable(_) => "WEBHOOK_CERT_UNAVAILABLE",
            Self::UnsupportedAlgorithm(_) => "WEBHOOK_UNSUPPORTED_ALGORITHM",
            Self::MalformedBody(_) => "WEBHOOK_MALFORMED_BODY",
            Self::ProviderNotConfigured(_) => "WEBHOOK_PROVIDER_NOT_CONFIGURED",
        }
    }

    /// Whether the sender should retry later (our side could not check, not a forgery).
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::CertUnavailable(_))
    }
}
