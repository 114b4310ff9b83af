//! Outbox errors, each with a stable code for the api to map.

use crate::{
    input::{InputError, Topic},
    model::{MessageId, Status},
};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("outbox message {0} not found")]
    NotFound(MessageId),
    #[error("outbox message {id} is {status}, not dead")]
    NotDead { id: MessageId, status: Status },
    #[error("a {topic} payload could not be encoded: {message}")]
    Encode { topic: Topic, message: String },
    #[error("stored outbox data is invalid: {0}")]
    Corrupt(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] db::PoolError),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

impl OutboxError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Input(_) => "INVALID_OUTBOX_INPUT",
            Self::NotFound(_) => "OUTBOX_MESSAGE_NOT_FOUND",
            Self::NotDead { .. } => "OUTBOX_MESSAGE_NOT_DEAD",
            Self::Encode { .. } | Self::Corrupt(_) | Self::Pool(_) | Self::Database(_) => {
                "INTERNAL"
            }
        }
    }
}
