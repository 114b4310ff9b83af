use billing::ProviderError;
use enforcement::{CustomerError, EnforcementError};
use ledger::{InputError, LedgerError};
use notifications::NotificationError;
use primitives::{Classified, ErrorClass};
use subscriptions::SubscriptionError;
use uuid::Uuid;

/// Why applying a delivery did not finish. Every one of them leaves the delivery in the inbox
/// to be tried again (with backoff) until it is applied or dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("no database connection: {0}")]
    Pool(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Enforcement(#[from] EnforcementError),
    /// Recording that a top-up's checkout was completed (`top_ups`) failed.
    #[error("top-up: {0}")]
    TopUp(#[from] CustomerError),
    #[error("subscription: {0}")]
    Subscription(#[from] SubscriptionError),
    #[error("wallet: {0}")]
    Ledger(#[from] LedgerError),
    #[error("ledger input: {0}")]
    LedgerInput(#[from] InputError),
    #[error("notification: {0}")]
    Notification(#[from] NotificationError),
    #[error("outbox: {0}")]
    Outbox(#[from] outbox::OutboxError),
    /// The provider could not be asked for its view (an outage, a timeout): try again later.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    #[error("the provider did not answer within {0} ms")]
    ProviderTimeout(u128),
    /// An event needs its provider's view first: the attempt's transaction is rolled back and
    /// the provider asked (not an error a caller ever sees).
    #[error("{} must be asked about subscription {}", .0.provider, .0.provider_subscription_id)]
    Ask(crate::intake::ProviderQuestion),
    /// Something changed between asking the provider and applying: try again.
    #[error("{0}")]
    Changed(String),
    #[error("inbox delivery {0} not found")]
    NotFound(Uuid),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<db::PoolError> for IntakeError {
    fn from(error: db::PoolError) -> Self {
        Self::Pool(error.to_string())
    }
}

/// To an operator (the only caller who sees one: a failed re-apply is recorded on the delivery,
/// not returned), an intake error is the inbox's own trouble, told apart only when the delivery
/// is missing or a lost connection makes a retry worth it.
impl Classified for IntakeError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound(_) => ErrorClass::NotFound,
            Self::Pool(_) => ErrorClass::Unavailable,
            Self::Database(error) => db::error_class(error),
            Self::Enforcement(error) => error.class().as_fault(),
            Self::TopUp(error) => error.class().as_fault(),
            Self::Subscription(error) => error.class().as_fault(),
            Self::Ledger(error) => error.class().as_fault(),
            Self::Notification(NotificationError::Outbox(error)) | Self::Outbox(error) => {
                error.class().as_fault()
            }
            Self::LedgerInput(_)
            | Self::Notification(_)
            | Self::Provider(_)
            | Self::ProviderTimeout(_)
            | Self::Ask(_)
            | Self::Changed(_)
            | Self::Corrupt(_) => ErrorClass::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "WEBHOOK_EVENT_NOT_FOUND",
            _ => "INTERNAL",
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use super::*;

    fn lost() -> DieselError {
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection reset by peer".to_owned()),
        )
    }

    #[test]
    fn every_error_but_a_missing_delivery_or_a_lost_connection_is_internal() {
        let cases = [
            (IntakeError::NotFound(Uuid::nil()), ErrorClass::NotFound),
            (IntakeError::Pool("closed".into()), ErrorClass::Unavailable),
            (IntakeError::Database(lost()), ErrorClass::Unavailable),
            (
                IntakeError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (
                IntakeError::Enforcement(EnforcementError::Outbox(outbox::OutboxError::Database(
                    lost(),
                ))),
                ErrorClass::Unavailable,
            ),
            (
                IntakeError::Enforcement(EnforcementError::Ledger(LedgerError::Busy)),
                ErrorClass::Internal,
            ),
            (
                IntakeError::Ledger(LedgerError::Database(lost())),
                ErrorClass::Unavailable,
            ),
            (
                IntakeError::Ledger(LedgerError::WalletNotFound),
                ErrorClass::Internal,
            ),
            (
                IntakeError::Subscription(SubscriptionError::NotFound),
                ErrorClass::Internal,
            ),
            (
                IntakeError::TopUp(CustomerError::Database(lost())),
                ErrorClass::Unavailable,
            ),
            (
                IntakeError::TopUp(CustomerError::TopUpNotFound),
                ErrorClass::Internal,
            ),
            (
                IntakeError::Subscription(SubscriptionError::Database(lost())),
                ErrorClass::Unavailable,
            ),
            (
                IntakeError::LedgerInput(InputError {
                    code: "INVALID_REASON",
                    field: "reason",
                    message: "empty".into(),
                }),
                ErrorClass::Internal,
            ),
            (
                IntakeError::Notification(NotificationError::PayloadNotAnObject),
                ErrorClass::Internal,
            ),
            (
                IntakeError::Notification(NotificationError::Outbox(outbox::OutboxError::Pool(
                    db::PoolError::Closed,
                ))),
                ErrorClass::Unavailable,
            ),
            (
                IntakeError::Outbox(outbox::OutboxError::Pool(db::PoolError::Closed)),
                ErrorClass::Unavailable,
            ),
            (
                IntakeError::Outbox(outbox::OutboxError::Corrupt("raced".into())),
                ErrorClass::Internal,
            ),
            (IntakeError::ProviderTimeout(5_000), ErrorClass::Internal),
            (
                IntakeError::Changed("the subscription lost its provider".into()),
                ErrorClass::Internal,
            ),
            (IntakeError::Corrupt("status".into()), ErrorClass::Internal),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            let not_found = class == ErrorClass::NotFound;
            assert_eq!(error.code() == "WEBHOOK_EVENT_NOT_FOUND", not_found);
            assert_eq!(error.code() == "INTERNAL", !not_found);
        }
    }
}
