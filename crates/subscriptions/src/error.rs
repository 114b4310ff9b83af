//! Errors of the subscriptions domain, each with a stable code.

use primitives::{Classified, ErrorClass, OrganizationId, SubscriptionId};

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("subscription not found")]
    NotFound,
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("organization {organization} already has a live subscription {existing}")]
    AlreadyLive {
        organization: OrganizationId,
        existing: SubscriptionId,
    },
    #[error("provider subscription id already belongs to another subscription")]
    ProviderIdTaken,
    #[error("event id already names a {kind} event")]
    EventIdTaken { kind: crate::EventKind },
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error("the subscription is busy; retry")]
    Busy,
    #[error("stored subscription data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(diesel::result::Error),
}

impl SubscriptionError {
    pub(crate) fn invalid(field: &'static str, message: &'static str) -> Self {
        Self::Invalid { field, message }
    }

    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "SUBSCRIPTION_NOT_FOUND",
            Self::OrganizationNotFound => "ORGANIZATION_NOT_FOUND",
            Self::AlreadyLive { .. } => "SUBSCRIPTION_EXISTS",
            Self::ProviderIdTaken => "PROVIDER_SUBSCRIPTION_TAKEN",
            Self::EventIdTaken { .. } => "IDEMPOTENCY_CONFLICT",
            Self::Invalid { .. } => "VALIDATION_FAILED",
            Self::Busy => "SUBSCRIPTION_BUSY",
            Self::Corrupt(_) | Self::Database(_) => "INTERNAL",
        }
    }

    /// Whether trying again unchanged may succeed.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy)
    }
}

impl Classified for SubscriptionError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound | Self::OrganizationNotFound => ErrorClass::NotFound,
            Self::AlreadyLive { .. } | Self::ProviderIdTaken | Self::EventIdTaken { .. } => {
                ErrorClass::Conflict
            }
            Self::Invalid { .. } => ErrorClass::Invalid,
            Self::Busy => ErrorClass::Busy,
            Self::Corrupt(_) => ErrorClass::Internal,
            Self::Database(error) => db::error_class(error),
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

impl From<diesel::result::Error> for SubscriptionError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            Error::DatabaseError(
                DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Busy,
            Error::DatabaseError(_, info) if info.message().contains("lock timeout") => Self::Busy,
            _ => Self::Database(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use super::*;

    #[test]
    fn every_error_has_its_class() {
        let cases = [
            (SubscriptionError::NotFound, ErrorClass::NotFound),
            (
                SubscriptionError::OrganizationNotFound,
                ErrorClass::NotFound,
            ),
            (
                SubscriptionError::AlreadyLive {
                    organization: OrganizationId::new(),
                    existing: SubscriptionId::new(),
                },
                ErrorClass::Conflict,
            ),
            (SubscriptionError::ProviderIdTaken, ErrorClass::Conflict),
            (
                SubscriptionError::EventIdTaken {
                    kind: crate::EventKind::PaymentFailed,
                },
                ErrorClass::Conflict,
            ),
            (
                SubscriptionError::invalid("plan", "too long"),
                ErrorClass::Invalid,
            ),
            (SubscriptionError::Busy, ErrorClass::Busy),
            (
                SubscriptionError::Corrupt("status".into()),
                ErrorClass::Internal,
            ),
            (
                SubscriptionError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (
                SubscriptionError::Database(DieselError::BrokenTransactionManager),
                ErrorClass::Unavailable,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            assert_eq!(Classified::code(&error), error.code(), "{error:?}");
        }
        // A broken socket is converted to busy (retried the same way).
        let broken = DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        );
        assert_eq!(SubscriptionError::from(broken).class(), ErrorClass::Busy);
    }
}
