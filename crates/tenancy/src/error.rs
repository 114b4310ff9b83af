//! Typed failures with stable, machine-readable codes.

use primitives::{ApiKeyId, OrganizationId};

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("organization {0} not found")]
    OrganizationNotFound(OrganizationId),
    #[error("organization {0} already exists")]
    OrganizationExists(OrganizationId),
    #[error("API key {0} not found")]
    ApiKeyNotFound(ApiKeyId),
    #[error("invalid {field}: {reason}")]
    InvalidName {
        field: &'static str,
        reason: &'static str,
    },
    #[error("invalid billing_email: {reason}")]
    InvalidEmail { reason: &'static str },
    #[error("database error")]
    Database(#[from] diesel::result::Error),
}

impl TenancyError {
    /// A stable code for clients and dashboards; never changes once published.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::OrganizationNotFound(_) => "ORGANIZATION_NOT_FOUND",
            Self::OrganizationExists(_) => "ORGANIZATION_EXISTS",
            Self::ApiKeyNotFound(_) => "API_KEY_NOT_FOUND",
            Self::InvalidName { .. } => "INVALID_NAME",
            Self::InvalidEmail { .. } => "INVALID_EMAIL",
            Self::Database(_) => "DATABASE_ERROR",
        }
    }
}
