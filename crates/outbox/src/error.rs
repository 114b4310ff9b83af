//! Outbox errors, each with a stable code for the api to map.

use primitives::{Classified, ErrorClass};

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

impl Classified for OutboxError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Input(_) => ErrorClass::Invalid,
            Self::NotFound(_) => ErrorClass::NotFound,
            Self::NotDead { .. } => ErrorClass::Conflict,
            Self::Encode { .. } | Self::Corrupt(_) => ErrorClass::Internal,
            Self::Pool(_) => ErrorClass::Unavailable,
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
        let id = MessageId::new();
        let cases = [
            (
                OutboxError::Input(InputError {
                    field: "topic",
                    message: "must be 1 to 64 characters",
                }),
                ErrorClass::Invalid,
            ),
            (OutboxError::NotFound(id), ErrorClass::NotFound),
            (
                OutboxError::NotDead {
                    id,
                    status: Status::Pending,
                },
                ErrorClass::Conflict,
            ),
            (
                OutboxError::Encode {
                    topic: Topic::parse("mail").unwrap(),
                    message: "not an object".into(),
                },
                ErrorClass::Internal,
            ),
            (OutboxError::Corrupt("status".into()), ErrorClass::Internal),
            (
                OutboxError::Pool(db::PoolError::Closed),
                ErrorClass::Unavailable,
            ),
            (
                OutboxError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (
                OutboxError::Database(DieselError::DatabaseError(
                    DatabaseErrorKind::Unknown,
                    Box::new("terminating connection due to administrator command".to_owned()),
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
