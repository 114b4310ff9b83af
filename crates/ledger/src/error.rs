//! Ledger errors. Each has a stable code (see docs/ledger.md) and carries the figures a caller
//! needs to act on it.

use primitives::{Classified, Currency, ErrorClass, HoldId, Money, OrganizationId};

use crate::{
    input::{InputError, Reference},
    model::{EntryKind, FreezeSource, HoldStatus},
};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("wallet not found")]
    WalletNotFound,
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("currency {code} cannot hold money here (no minor-unit exponent)")]
    UnsupportedCurrency { code: String },
    #[error("organization {organization_id} already has a {currency} wallet")]
    WalletAlreadyExists {
        organization_id: OrganizationId,
        currency: Currency,
    },
    #[error("insufficient funds: {available} available, {requested} requested")]
    InsufficientFunds { available: Money, requested: Money },
    #[error("wallet is frozen ({})", sources_list(.sources))]
    FrozenWallet { sources: Vec<FreezeSource> },
    #[error("invalid amount: {reason}")]
    InvalidAmount { reason: String },
    #[error("currency mismatch: wallet holds {wallet}, request is in {requested}")]
    CurrencyMismatch {
        wallet: Currency,
        requested: Currency,
    },
    #[error(
        "reference {reference} was already used for a different {original_kind:?} request on this wallet"
    )]
    IdempotencyConflict {
        reference: Reference,
        original_kind: EntryKind,
    },
    #[error("hold {hold_id} not found")]
    HoldNotFound { hold_id: HoldId },
    #[error("hold {hold_id} is {status:?}, not open")]
    HoldNotOpen { hold_id: HoldId, status: HoldStatus },
    #[error("capture of {requested} exceeds the {remaining} still held by hold {hold_id}")]
    CaptureExceedsHold {
        hold_id: HoldId,
        remaining: Money,
        requested: Money,
    },
    #[error("the balance would exceed the largest representable amount ({balance} + {requested})")]
    BalanceOverflow { balance: Money, requested: Money },
    #[error("hold expiry must be after now and at most {max_days} days ahead")]
    InvalidExpiry { max_days: i64 },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("stored data violates a ledger invariant: {0}")]
    Corrupt(String),
    #[error("the wallet is busy (lock timeout or serialization conflict); retry")]
    Busy,
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    /// The batching writer's transaction failed as a whole (`cause` is for the logs): nothing of
    /// the batch was applied, and the same request may be retried.
    #[error("the ledger could not write this request's batch: {cause}")]
    Unavailable { cause: String },
}

impl LedgerError {
    /// The stable machine-readable code (docs/ledger.md lists them all).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WalletNotFound => "WALLET_NOT_FOUND",
            Self::OrganizationNotFound => "ORGANIZATION_NOT_FOUND",
            Self::WalletAlreadyExists { .. } => "WALLET_ALREADY_EXISTS",
            Self::UnsupportedCurrency { .. } => "INVALID_CURRENCY",
            Self::InsufficientFunds { .. } => "INSUFFICIENT_FUNDS",
            Self::FrozenWallet { .. } => "FROZEN_WALLET",
            Self::InvalidAmount { .. } => "INVALID_AMOUNT",
            Self::CurrencyMismatch { .. } => "CURRENCY_MISMATCH",
            Self::IdempotencyConflict { .. } => "IDEMPOTENCY_CONFLICT",
            Self::HoldNotFound { .. } => "HOLD_NOT_FOUND",
            Self::HoldNotOpen { .. } => "HOLD_NOT_OPEN",
            Self::CaptureExceedsHold { .. } => "CAPTURE_EXCEEDS_HOLD",
            Self::BalanceOverflow { .. } => "BALANCE_OVERFLOW",
            Self::InvalidExpiry { .. } => "INVALID_EXPIRY",
            Self::Input(input) => input.code,
            Self::Busy => "WALLET_BUSY",
            Self::Unavailable { .. } => "LEDGER_UNAVAILABLE",
            Self::Corrupt(_) | Self::Database(_) => "INTERNAL",
        }
    }

    /// A decision against the request (funds, freeze, hold state...), as opposed to a failure
    /// of the system: for these an earlier entry under the same reference must still win.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::InsufficientFunds { .. }
                | Self::FrozenWallet { .. }
                | Self::CurrencyMismatch { .. }
                | Self::HoldNotFound { .. }
                | Self::HoldNotOpen { .. }
                | Self::CaptureExceedsHold { .. }
                | Self::BalanceOverflow { .. }
                | Self::InvalidExpiry { .. }
        )
    }

    /// True when the same request may succeed if simply retried later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy | Self::Unavailable { .. })
    }
}

impl Classified for LedgerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::WalletNotFound | Self::OrganizationNotFound | Self::HoldNotFound { .. } => {
                ErrorClass::NotFound
            }
            Self::UnsupportedCurrency { .. }
            | Self::InsufficientFunds { .. }
            | Self::InvalidAmount { .. }
            | Self::CurrencyMismatch { .. }
            | Self::CaptureExceedsHold { .. }
            | Self::BalanceOverflow { .. }
            | Self::InvalidExpiry { .. } => ErrorClass::Invalid,
            Self::Input(input) => input.class(),
            Self::WalletAlreadyExists { .. }
            | Self::FrozenWallet { .. }
            | Self::IdempotencyConflict { .. }
            | Self::HoldNotOpen { .. } => ErrorClass::Conflict,
            Self::Busy => ErrorClass::Busy,
            Self::Unavailable { .. } => ErrorClass::Unavailable,
            Self::Corrupt(_) => ErrorClass::Internal,
            Self::Database(error) => db::error_class(error),
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

impl Classified for InputError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Invalid
    }

    fn code(&self) -> &'static str {
        self.code
    }
}

impl From<diesel::result::Error> for LedgerError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            // Raised when a caller's REPEATABLE READ/SERIALIZABLE transaction locks a wallet that
            // changed after its snapshot: the whole transaction must be retried.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Self::Busy,
            Error::DatabaseError(_, info) if is_lock_timeout(info.message()) => Self::Busy,
            _ => Self::Database(error),
        }
    }
}

fn is_lock_timeout(message: &str) -> bool {
    message.starts_with("canceling statement due to lock timeout")
}

fn sources_list(sources: &[FreezeSource]) -> String {
    sources
        .iter()
        .map(|source| source.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    use primitives::Currency;

    use super::*;
    use crate::input::Reference;

    #[test]
    fn every_error_has_its_class() {
        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let input = InputError {
            code: "INVALID_REASON",
            field: "reason",
            message: "must not be empty".into(),
        };
        let reference = Reference::parse("order-1").unwrap();
        let cases = [
            (LedgerError::WalletNotFound, ErrorClass::NotFound),
            (LedgerError::OrganizationNotFound, ErrorClass::NotFound),
            (
                LedgerError::HoldNotFound {
                    hold_id: HoldId::new(),
                },
                ErrorClass::NotFound,
            ),
            (
                LedgerError::UnsupportedCurrency { code: "XAU".into() },
                ErrorClass::Invalid,
            ),
            (
                LedgerError::InsufficientFunds {
                    available: usd(5),
                    requested: usd(10),
                },
                ErrorClass::Invalid,
            ),
            (
                LedgerError::InvalidAmount {
                    reason: "zero".into(),
                },
                ErrorClass::Invalid,
            ),
            (
                LedgerError::CurrencyMismatch {
                    wallet: Currency::USD,
                    requested: Currency::EUR,
                },
                ErrorClass::Invalid,
            ),
            (
                LedgerError::CaptureExceedsHold {
                    hold_id: HoldId::new(),
                    remaining: usd(5),
                    requested: usd(10),
                },
                ErrorClass::Invalid,
            ),
            (
                LedgerError::BalanceOverflow {
                    balance: usd(i64::MAX),
                    requested: usd(1),
                },
                ErrorClass::Invalid,
            ),
            (
                LedgerError::InvalidExpiry { max_days: 366 },
                ErrorClass::Invalid,
            ),
            (LedgerError::Input(input.clone()), ErrorClass::Invalid),
            (
                LedgerError::WalletAlreadyExists {
                    organization_id: OrganizationId::new(),
                    currency: Currency::USD,
                },
                ErrorClass::Conflict,
            ),
            (
                LedgerError::FrozenWallet {
                    sources: vec![FreezeSource::Billing],
                },
                ErrorClass::Conflict,
            ),
            (
                LedgerError::IdempotencyConflict {
                    reference,
                    original_kind: EntryKind::Debit,
                },
                ErrorClass::Conflict,
            ),
            (
                LedgerError::HoldNotOpen {
                    hold_id: HoldId::new(),
                    status: HoldStatus::Expired,
                },
                ErrorClass::Conflict,
            ),
            (LedgerError::Busy, ErrorClass::Busy),
            (
                LedgerError::Corrupt("balance -7".into()),
                ErrorClass::Internal,
            ),
            (
                LedgerError::Database(DieselError::NotFound),
                ErrorClass::Internal,
            ),
            (
                LedgerError::Database(DieselError::DatabaseError(
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
        assert_eq!(Classified::code(&input), "INVALID_REASON");
        assert_eq!(input.class(), ErrorClass::Invalid);
    }

    #[test]
    fn a_lock_timeout_or_serialization_conflict_is_busy() {
        for error in [
            DieselError::DatabaseError(
                DatabaseErrorKind::SerializationFailure,
                Box::new("could not serialize access".to_owned()),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("canceling statement due to lock timeout".to_owned()),
            ),
        ] {
            assert_eq!(LedgerError::from(error).class(), ErrorClass::Busy);
        }
    }
}
