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
    #[error("hold expiry must be in the future")]
    InvalidExpiry,
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("stored data violates a ledger invariant: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// The stable codes of [`LedgerError`], as they appear in API problem bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerErrorCode {
    WalletNotFound,
    WalletAlreadyExists,
    InsufficientFunds,
    FrozenWallet,
    InvalidAmount,
    CurrencyMismatch,
    IdempotencyConflict,
    HoldNotFound,
    HoldNotOpen,
    CaptureExceedsHold,
    BalanceOverflow,
    InvalidExpiry,
    InvalidInput,
    Internal,
}

impl LedgerError {
    pub fn code(&self) -> LedgerErrorCode {
        use LedgerErrorCode as C;
        match self {
            Self::WalletNotFound => C::WalletNotFound,
            Self::WalletAlreadyExists { .. } => C::WalletAlreadyExists,
            Self::InsufficientFunds { .. } => C::InsufficientFunds,
            Self::FrozenWallet { .. } => C::FrozenWallet,
            Self::InvalidAmount { .. } => C::InvalidAmount,
            Self::CurrencyMismatch { .. } => C::CurrencyMismatch,
            Self::IdempotencyConflict { .. } => C::IdempotencyConflict,
            Self::HoldNotFound { .. } => C::HoldNotFound,
            Self::HoldNotOpen { .. } => C::HoldNotOpen,
            Self::CaptureExceedsHold { .. } => C::CaptureExceedsHold,
            Self::BalanceOverflow { .. } => C::BalanceOverflow,
            Self::InvalidExpiry => C::InvalidExpiry,
            Self::Input(_) => C::InvalidInput,
            Self::Corrupt(_) | Self::Database(_) => C::Internal,
        }
    }

    /// The stable string code; for input errors, the field-specific one (`INVALID_REFERENCE`).
    pub fn code_str(&self) -> &'static str {
        match self {
            Self::Input(input) => input.code,
            other => other.code().as_str(),
        }
    }
}

impl LedgerErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WalletNotFound => "WALLET_NOT_FOUND",
            Self::WalletAlreadyExists => "WALLET_ALREADY_EXISTS",
            Self::InsufficientFunds => "INSUFFICIENT_FUNDS",
            Self::FrozenWallet => "FROZEN_WALLET",
            Self::InvalidAmount => "INVALID_AMOUNT",
            Self::CurrencyMismatch => "CURRENCY_MISMATCH",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::HoldNotFound => "HOLD_NOT_FOUND",
            Self::HoldNotOpen => "HOLD_NOT_OPEN",
            Self::CaptureExceedsHold => "CAPTURE_EXCEEDS_HOLD",
            Self::BalanceOverflow => "BALANCE_OVERFLOW",
            Self::InvalidExpiry => "INVALID_EXPIRY",
            Self::InvalidInput => "INVALID_INPUT",
            Self::Internal => "INTERNAL",
        }
    }
}

fn sources_list(sources: &[FreezeSource]) -> String {
    sources
        .iter()
        .map(|source| source.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
