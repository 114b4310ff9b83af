//! Typed failures with stable, machine-readable codes.

use primitives::{ApiKeyId, Classified, ErrorClass, OrganizationId};

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

impl Classified for TenancyError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::OrganizationNotFound(_) | Self::ApiKeyNotFound(_) => ErrorClass::NotFound,
            Self::OrganizationExists(_) => ErrorClass::Conflict,
            Self::InvalidName { .. } | Self::InvalidEmail { .. } => ErrorClass::Invalid,
            Self::Database(error) => db::error_class(error),
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use super::*;

    #[test]
    fn every_error_has_its_class() {
        let cases = [
            (
                TenancyError::OrganizationNotFound(OrganizationId::new()),
                ErrorClass::NotFound,
            ),
            (
                TenancyError::ApiKeyNotFound(ApiKeyId::new()),
                ErrorClass::NotFound,
            ),
            (
                TenancyError::OrganizationExists(OrganizationId::new()),
                ErrorClass::Conflict,
            ),
            (
                TenancyError::InvalidName {
                    field: "name",
                    reason: "must not be empty",
                },
                ErrorClass::Invalid,
            ),
            (
                TenancyError::InvalidEmail {
                    reason: "must contain @",
                },
                ErrorClass::Invalid,
            ),
            (
                TenancyError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (
                TenancyError::Database(DieselError::DatabaseError(
                    DatabaseErrorKind::UnableToSendCommand,
                    Box::new("connection closed".to_owned()),
                )),
                ErrorClass::Unavailable,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            assert_eq!(Classified::code(&error), error.code(), "{error:?}");
        }
    }
}
