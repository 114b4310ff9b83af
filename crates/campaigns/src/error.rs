//! The crate's error type. Each variant has a stable code (docs/campaigns.md lists them).

use outbox::HandlerError;
use primitives::{Classified, Currency, ErrorClass};

use crate::{CampaignStatus, RecipientStatus, eligibility::Blocker};

/// A recipient number refused by [`crate::Campaigns::add_recipients`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPhone {
    /// Position in the request.
    pub index: usize,
    /// The value, cut to 32 characters.
    pub value: String,
}

/// What went wrong in a brands, campaigns or messaging operation.
#[derive(Debug, thiserror::Error)]
pub enum CampaignsError {
    /// The caller's input was refused before touching the database.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        field: &'static str,
        reason: &'static str,
    },
    /// Some recipient numbers are not E.164; nothing was added. Lists at most the first 20.
    #[error("{count} recipient numbers are not E.164 (+ and 7 to 15 digits)")]
    InvalidPhoneNumbers {
        count: usize,
        invalid: Vec<InvalidPhone>,
    },
    #[error("at most {max} recipients per request")]
    TooManyRecipients { max: usize },
    #[error("price currency {requested} differs from the wallet's {wallet}")]
    CurrencyMismatch {
        wallet: Currency,
        requested: Currency,
    },
    /// A cost (price x segments x recipients) does not fit in 64-bit minor units.
    #[error("the campaign's cost overflows")]
    CostOverflow,
    #[error("brand not found")]
    BrandNotFound,
    #[error("campaign not found")]
    CampaignNotFound,
    #[error("recipient not found")]
    RecipientNotFound,
    /// Another brand already uses this Twilio subaccount.
    #[error("Twilio subaccount already belongs to a brand")]
    SubaccountTaken,
    /// The operation does not apply to a campaign in this status.
    #[error("cannot {action} a {status} campaign")]
    InvalidState {
        action: &'static str,
        status: CampaignStatus,
    },
    #[error("the campaign has no pending recipients")]
    NoRecipients,
    /// The organization may not send now; every reason is listed (the first is the code).
    #[error("not eligible to send: {}", blockers_list(.0))]
    NotEligible(Vec<Blocker>),
    #[error("recipient is {status}, not unconfirmed")]
    NotUnconfirmed { status: RecipientStatus },
    /// A stored value this code does not know (a bug or a hand-written update).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    Subscription(#[from] subscriptions::SubscriptionError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error(transparent)]
    OutboxInput(#[from] outbox::InputError),
    #[error(transparent)]
    Pool(#[from] db::PoolError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl CampaignsError {
    /// The stable machine-readable code. Ledger and subscription errors keep their own.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "VALIDATION_FAILED",
            Self::InvalidPhoneNumbers { .. } => "INVALID_PHONE_NUMBER",
            Self::TooManyRecipients { .. } => "TOO_MANY_RECIPIENTS",
            Self::CurrencyMismatch { .. } => "CURRENCY_MISMATCH",
            Self::CostOverflow => "INVALID_AMOUNT",
            Self::BrandNotFound => "BRAND_NOT_FOUND",
            Self::CampaignNotFound => "CAMPAIGN_NOT_FOUND",
            Self::RecipientNotFound => "RECIPIENT_NOT_FOUND",
            Self::SubaccountTaken => "SUBACCOUNT_TAKEN",
            Self::InvalidState { .. } => "CAMPAIGN_STATE_CONFLICT",
            Self::NoRecipients => "NO_RECIPIENTS",
            Self::NotEligible(blockers) => blockers.first().map_or("INTERNAL", Blocker::code),
            Self::NotUnconfirmed { .. } => "RECIPIENT_NOT_UNCONFIRMED",
            Self::Ledger(error) => error.code(),
            Self::Subscription(error) => error.code(),
            Self::Corrupt(_)
            | Self::Outbox(_)
            | Self::OutboxInput(_)
            | Self::Pool(_)
            | Self::Database(_) => "INTERNAL",
        }
    }
}

/// Ledger and subscription errors keep their own class; the outbox's are the system's fault
/// (the campaign's own input was checked before them).
impl Classified for CampaignsError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidInput { .. }
            | Self::InvalidPhoneNumbers { .. }
            | Self::TooManyRecipients { .. }
            | Self::CurrencyMismatch { .. }
            | Self::CostOverflow
            | Self::NoRecipients => ErrorClass::Invalid,
            Self::BrandNotFound | Self::CampaignNotFound | Self::RecipientNotFound => {
                ErrorClass::NotFound
            }
            Self::SubaccountTaken | Self::InvalidState { .. } | Self::NotUnconfirmed { .. } => {
                ErrorClass::Conflict
            }
            // Without a blocker it is a bug, as its code says.
            Self::NotEligible(blockers) => blockers
                .first()
                .map_or(ErrorClass::Internal, Blocker::class),
            Self::Ledger(error) => error.class(),
            Self::Subscription(error) => error.class(),
            Self::Outbox(error) => error.class().as_fault(),
            Self::Corrupt(_) | Self::OutboxInput(_) => ErrorClass::Internal,
            Self::Pool(_) => ErrorClass::Unavailable,
            Self::Database(error) => db::error_class(error),
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

/// Each blocker has the class of the ledger's or the subscription's error of the same code.
impl Classified for Blocker {
    fn class(&self) -> ErrorClass {
        match self {
            Self::SubscriptionInactive { .. } => ErrorClass::NotEntitled,
            Self::WalletFrozen { .. } | Self::MessagingSuspended { .. } => ErrorClass::Conflict,
            Self::InsufficientFunds { .. } => ErrorClass::Invalid,
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

fn blockers_list(blockers: &[Blocker]) -> String {
    blockers
        .iter()
        .map(|blocker| blocker.reason().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An outbox handler's own trouble (pool, database): worth another attempt.
pub(crate) fn internal(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::retryable(format!("internal: {error}"))
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    use ledger::LedgerError;
    use primitives::Money;
    use subscriptions::SubscriptionError;

    use super::*;

    #[test]
    fn every_error_has_its_class() {
        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let funds = Blocker::InsufficientFunds {
            available: usd(5),
            required: usd(10),
        };
        let cases = [
            (
                CampaignsError::InvalidInput {
                    field: "name",
                    reason: "must not be empty",
                },
                ErrorClass::Invalid,
            ),
            (
                CampaignsError::InvalidPhoneNumbers {
                    count: 1,
                    invalid: vec![],
                },
                ErrorClass::Invalid,
            ),
            (
                CampaignsError::TooManyRecipients { max: 10_000 },
                ErrorClass::Invalid,
            ),
            (
                CampaignsError::CurrencyMismatch {
                    wallet: Currency::USD,
                    requested: Currency::EUR,
                },
                ErrorClass::Invalid,
            ),
            (CampaignsError::CostOverflow, ErrorClass::Invalid),
            (CampaignsError::NoRecipients, ErrorClass::Invalid),
            (CampaignsError::BrandNotFound, ErrorClass::NotFound),
            (CampaignsError::CampaignNotFound, ErrorClass::NotFound),
            (CampaignsError::RecipientNotFound, ErrorClass::NotFound),
            (CampaignsError::SubaccountTaken, ErrorClass::Conflict),
            (
                CampaignsError::InvalidState {
                    action: "start",
                    status: CampaignStatus::Running,
                },
                ErrorClass::Conflict,
            ),
            (
                CampaignsError::NotUnconfirmed {
                    status: RecipientStatus::Sent,
                },
                ErrorClass::Conflict,
            ),
            (
                CampaignsError::NotEligible(vec![
                    Blocker::SubscriptionInactive {
                        status: None,
                        denied_because: vec![],
                    },
                    funds.clone(),
                ]),
                ErrorClass::NotEntitled,
            ),
            (
                CampaignsError::NotEligible(vec![funds]),
                ErrorClass::Invalid,
            ),
            (
                CampaignsError::NotEligible(vec![Blocker::WalletFrozen { sources: vec![] }]),
                ErrorClass::Conflict,
            ),
            (
                CampaignsError::NotEligible(vec![Blocker::MessagingSuspended { brands: vec![] }]),
                ErrorClass::Conflict,
            ),
            (CampaignsError::NotEligible(vec![]), ErrorClass::Internal),
            (CampaignsError::Ledger(LedgerError::Busy), ErrorClass::Busy),
            (
                CampaignsError::Subscription(SubscriptionError::OrganizationNotFound),
                ErrorClass::NotFound,
            ),
            (
                CampaignsError::Outbox(outbox::OutboxError::Corrupt("status".into())),
                ErrorClass::Internal,
            ),
            (
                CampaignsError::Outbox(outbox::OutboxError::Pool(db::PoolError::Closed)),
                ErrorClass::Unavailable,
            ),
            (
                CampaignsError::OutboxInput(outbox::InputError {
                    field: "dedupe_key",
                    message: "too long",
                }),
                ErrorClass::Internal,
            ),
            (
                CampaignsError::Corrupt("status".into()),
                ErrorClass::Internal,
            ),
            (
                CampaignsError::Pool(db::PoolError::Closed),
                ErrorClass::Unavailable,
            ),
            (
                CampaignsError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (
                CampaignsError::Database(DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection,
                    Box::new("closed".to_owned()),
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
