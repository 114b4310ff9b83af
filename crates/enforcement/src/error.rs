use ledger::LedgerError;
use notifications::NotificationError;
use primitives::{Classified, ErrorClass};
use subscriptions::SubscriptionError;

#[derive(Debug, thiserror::Error)]
pub enum EnforcementError {
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error("wallet: {0}")]
    Ledger(#[from] LedgerError),
    #[error("outbox: {0}")]
    Outbox(#[from] outbox::OutboxError),
    #[error("notification: {0}")]
    Notification(#[from] NotificationError),
    #[error("effect could not be built: {0}")]
    Effect(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

impl EnforcementError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Subscription(error) => error.code(),
            Self::Ledger(error) => error.code(),
            Self::Outbox(_) | Self::Notification(_) | Self::Effect(_) | Self::Database(_) => {
                "INTERNAL"
            }
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Subscription(error) => error.is_retryable(),
            Self::Ledger(error) => error.is_retryable(),
            _ => false,
        }
    }
}

/// The subscription's and the wallet's errors keep their own class (a busy wallet is as
/// retryable here as anywhere); a failing outbox, notification or effect is the system's fault,
/// and rolled the whole event back.
impl Classified for EnforcementError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Subscription(error) => error.class(),
            Self::Ledger(error) => error.class(),
            Self::Outbox(error) | Self::Notification(NotificationError::Outbox(error)) => {
                error.class().as_fault()
            }
            Self::Notification(_) | Self::Effect(_) => ErrorClass::Internal,
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
    use outbox::OutboxError;

    use super::*;

    fn lost() -> DieselError {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("closed".to_owned()),
        )
    }

    #[test]
    fn every_error_has_its_class() {
        let input = || outbox::InputError {
            field: "topic",
            message: "must be 1 to 64 characters",
        };
        let cases = [
            (
                EnforcementError::Subscription(SubscriptionError::Busy),
                ErrorClass::Busy,
            ),
            (
                EnforcementError::Subscription(SubscriptionError::NotFound),
                ErrorClass::NotFound,
            ),
            (
                EnforcementError::Ledger(LedgerError::Busy),
                ErrorClass::Busy,
            ),
            (
                EnforcementError::Ledger(LedgerError::FrozenWallet { sources: vec![] }),
                ErrorClass::Conflict,
            ),
            (
                EnforcementError::Outbox(OutboxError::Input(input())),
                ErrorClass::Internal,
            ),
            (
                EnforcementError::Outbox(OutboxError::Database(lost())),
                ErrorClass::Unavailable,
            ),
            (
                EnforcementError::Notification(NotificationError::PayloadNotAnObject),
                ErrorClass::Internal,
            ),
            (
                EnforcementError::Notification(NotificationError::InvalidDedupeKey(input())),
                ErrorClass::Internal,
            ),
            (
                EnforcementError::Notification(NotificationError::Outbox(OutboxError::Pool(
                    db::PoolError::Closed,
                ))),
                ErrorClass::Unavailable,
            ),
            (
                EnforcementError::Effect("no wallet".into()),
                ErrorClass::Internal,
            ),
            (
                EnforcementError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (EnforcementError::Database(lost()), ErrorClass::Unavailable),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            assert_eq!(Classified::code(&error), error.code(), "{error:?}");
        }
    }
}
