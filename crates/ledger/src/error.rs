//! Ledger errors. Each has a stable code (see docs/ledger.md) and carries the figures a caller
//! needs to act on it.

use primitives::{Currency, HoldId, Money, OrganizationId};

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
        matches!(self, Self::Busy)
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
