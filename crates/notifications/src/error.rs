//! Errors of enqueueing and of configuring notifiers.

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("the notification payload must be a JSON object")]
    PayloadNotAnObject,
    #[error("invalid dedupe key: {0}")]
    InvalidDedupeKey(#[from] outbox::InputError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
}

impl NotificationError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PayloadNotAnObject | Self::InvalidDedupeKey(_) => "INVALID_NOTIFICATION",
            Self::Outbox(error) => error.code(),
        }
    }
}

/// A notifier configuration that cannot work; names the variable, never echoes a secret.
pub use primitives::config::ConfigError;
