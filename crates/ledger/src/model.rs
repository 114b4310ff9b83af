//! The ledger's domain types, as callers see them.

use chrono::{DateTime, Utc};
use primitives::{Currency, EntryId, HoldId, Money, OrganizationId, WalletId};

use crate::input::{Actor, Counterparty, Reason, Reference};

/// What an entry did to the wallet. Each kind moves balance and held in exactly one way
/// (also enforced by the `ledger_entries_kind_shape` constraint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Money in: balance up.
    Credit,
    /// Money out: balance down, limited by available funds.
    Debit,
    /// Funds reserved: held up, available down, balance unchanged.
    Hold,
    /// Part or all of a hold spent: balance and held down by the same amount.
    Capture,
    /// The rest of a hold given back on request: held down.
    Release,
    /// The rest of a hold given back because its deadline passed: held down.
    Expiry,
    /// An audited admin adjustment, in either direction.
    Correction,
    /// Money a payment provider took back (refund, chargeback, lost dispute): balance down by
    /// what was available to take, possibly less than the provider took.
    Reversal,
}

impl EntryKind {
    pub const ALL: [Self; 8] = [
        Self::Credit,
        Self::Debit,
        Self::Hold,
        Self::Capture,
        Self::Release,
        Self::Expiry,
        Self::Correction,
        Self::Reversal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
            Self::Hold => "hold",
            Self::Capture => "capture",
            Self::Release => "release",
            Self::Expiry => "expiry",
            Self::Correction => "correction",
            Self::Reversal => "reversal",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

/// One append-only ledger entry, with the wallet's figures right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub wallet_id: WalletId,
    pub kind: EntryKind,
    /// Always positive; the direction is in `balance_change` / `held_change`.
    pub amount: Money,
    pub balance_change: Money,
    pub held_change: Money,
    pub balance_after: Money,
    pub held_after: Money,
    pub counterparty: Counterparty,
    pub reference: Reference,
    pub hold_id: Option<HoldId>,
    pub reason: Option<Reason>,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    /// Position in the global entry order; what history cursors point at.
    pub(crate) seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldStatus {
    Open,
    /// Fully captured.
    Captured,
    Released,
    Expired,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Captured => "captured",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Open, Self::Captured, Self::Released, Self::Expired]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// A reservation of wallet funds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub wallet_id: WalletId,
    pub amount: Money,
    pub captured: Money,
    pub released: Money,
    /// Still reserved: `amount - captured - released`.
    pub remaining: Money,
    pub status: HoldStatus,
    pub counterparty: Counterparty,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// The result of creating a hold: the hold (as it is now) and the entry that reserved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldReceipt {
    pub hold: Hold,
    pub entry: Entry,
}

/// Who froze a wallet. Freezes are kept per source: lifting one never lifts another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FreezeSource {
    /// Unpaid subscription (set and lifted by the enforcement layer).
    Billing,
    /// An operator.
    Admin,
    /// Fraud or risk review.
    Risk,
}

impl FreezeSource {
    pub const ALL: [Self; 3] = [Self::Billing, Self::Admin, Self::Risk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Billing => "billing",
            Self::Admin => "admin",
            Self::Risk => "risk",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|source| source.as_str() == value)
    }
}

/// An active freeze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub source: FreezeSource,
    pub reason: Reason,
    pub actor: Actor,
    pub frozen_at: DateTime<Utc>,
}

/// The wallet as a caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletBalance {
    pub wallet_id: WalletId,
    pub organization_id: OrganizationId,
    pub currency: Currency,
    pub balance: Money,
    pub held: Money,
    /// What can still be debited or held: `balance - held`.
    pub available: Money,
    pub frozen: bool,
    /// Active freezes, one per source, oldest first.
    pub freezes: Vec<Freeze>,
}

/// A freeze or unfreeze result: `changed` is false when the wallet already was in that state
/// for that source (the call is idempotent and the original freeze is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeOutcome {
    pub changed: bool,
    pub wallet: WalletBalance,
}

/// The result of an idempotent operation: `replayed` is true when the reference had already been
/// applied with the same parameters and the original result is returned without writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Outcome<T> {
    pub(crate) fn applied(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }

    pub(crate) fn replayed(value: T) -> Self {
        Self {
            value,
            replayed: true,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        Outcome {
            value: f(self.value),
            replayed: self.replayed,
        }
    }
}
