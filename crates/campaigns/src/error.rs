//! The crate's error type.

/// What went wrong in a brands or messaging operation.
#[derive(Debug, thiserror::Error)]
pub enum CampaignsError {
    /// The caller's input was refused before touching the database.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        field: &'static str,
        reason: &'static str,
    },
    #[error("brand not found")]
    BrandNotFound,
    /// Another brand already uses this Twilio subaccount.
    #[error("Twilio subaccount already belongs to a brand")]
    SubaccountTaken,
    /// A stored value this code does not know (a bug or a hand-written update).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error(transparent)]
    OutboxInput(#[from] outbox::InputError),
    #[error(transparent)]
    Pool(#[from] db::PoolError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}
