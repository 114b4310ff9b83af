//! Errors of enqueueing and of configuring notifiers.

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("the notification payload must be a JSON object")]
    PayloadNotAnObject,
    #[error("invalid dedupe key: {0}")]
    InvalidDedupeKey(#[from] outbox::InputError),
    #[error("could not encode the notification: {0}")]
    Encode(String),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
}

impl NotificationError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PayloadNotAnObject | Self::InvalidDedupeKey(_) => "INVALID_NOTIFICATION",
            Self::Encode(_) => "INTERNAL",
            Self::Outbox(error) => error.code(),
        }
    }
}

/// A notifier configuration that cannot work; names the variable, never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}
