use billing::ProviderError;
use enforcement::EnforcementError;
use ledger::{InputError, LedgerError};
use notifications::NotificationError;
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
    #[error("subscription: {0}")]
    Subscription(#[from] SubscriptionError),
    #[error("wallet: {0}")]
    Ledger(#[from] LedgerError),
    #[error("ledger input: {0}")]
    LedgerInput(#[from] InputError),
    #[error("notification: {0}")]
    Notification(#[from] NotificationError),
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
