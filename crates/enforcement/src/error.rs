use ledger::LedgerError;
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
    Notification(#[from] notifications::NotificationError),
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
