//! The ledger's rules as pure functions: given the locked wallet, the entry already recorded under
//! the request's reference (if any) and the request, decide what to write or why not.
//!
//! No I/O happens here, so every rule is unit-testable and the same code serves the property
//! test's model comparison.

use chrono::{DateTime, Utc};
use primitives::{Currency, HoldId, Money, WalletId};

use crate::{
    error::LedgerError,
    input::{Counterparty, Reason},
    model::{Entry, EntryKind, FreezeSource, HoldStatus},
};

/// The longest a hold may reserve funds: a forgotten hold must not lock money away for good.
/// The one limit: the API's `expires_in_seconds` and the campaign hold settings are bounded by
/// it. Thirty days, as long as card networks let an authorization stand; a running campaign
/// renews its hold well before that.
pub const MAX_HOLD_TTL: chrono::Duration = chrono::Duration::days(30);

/// The wallet as read under its row lock.
#[derive(Debug, Clone)]
pub(crate) struct WalletState {
    pub id: WalletId,
    pub currency: Currency,
    pub balance: i64,
    pub held: i64,
    pub frozen_by: Vec<FreezeSource>,
}

impl WalletState {
    fn available(&self) -> i64 {
        // held <= balance is a schema invariant, so this cannot underflow on stored data.
        self.balance - self.held
    }

    fn money(&self, minor: i64) -> Money {
        Money::from_minor(minor, self.currency)
    }
}

/// A hold as read while its wallet is locked.
#[derive(Debug, Clone)]
pub(crate) struct HoldState {
    pub id: HoldId,
    pub amount: i64,
    pub captured: i64,
    pub released: i64,
    pub status: HoldStatus,
    pub counterparty: Counterparty,
    pub expires_at: DateTime<Utc>,
}

impl HoldState {
    pub fn remaining(&self) -> i64 {
        self.amount - self.captured - self.released
    }
}

/// What the caller asks for, with everything the rules need already loaded.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Debit {
        amount: Money,
        counterparty: Counterparty,
    },
    Credit {
        amount: Money,
        counterparty: Counterparty,
    },
    Hold {
        amount: Money,
        counterparty: Counterparty,
        expires_at: DateTime<Utc>,
    },
    Capture {
        hold_id: HoldId,
        hold: Option<HoldState>,
        amount: Money,
    },
    Release {
        hold_id: HoldId,
        hold: Option<HoldState>,
    },
    Expire {
        hold: HoldState,
    },
    Correction {
        /// Signed: positive adds to the balance, negative removes from it.
        amount: Money,
        reason: Reason,
    },
    Reversal {
        /// The most to take: what the provider took back.
        amount: Money,
        counterparty: Counterparty,
    },
}

impl Request {
    /// Gives a capture or release the hold it names, as loaded under the wallet lock.
    pub(crate) fn attach_hold(&mut self, loaded: Option<HoldState>) {
        match self {
            Self::Capture { hold, .. } | Self::Release { hold, .. } => *hold = loaded,
            _ => {}
        }
    }
}

/// How a hold row changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HoldChange {
    Create {
        id: HoldId,
        expires_at: DateTime<Utc>,
    },
    Update {
        id: HoldId,
        captured: i64,
        released: i64,
        status: HoldStatus,
    },
}

/// The entry to append and the wallet figures after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Movement {
    pub kind: EntryKind,
    pub amount: i64,
    pub balance_change: i64,
    pub held_change: i64,
    pub balance_after: i64,
    pub held_after: i64,
    pub counterparty: Counterparty,
    pub hold: Option<HoldChange>,
    pub reason: Option<Reason>,
}

impl Movement {
    pub fn hold_id(&self) -> Option<HoldId> {
        match &self.hold {
            Some(HoldChange::Create { id, .. } | HoldChange::Update { id, .. }) => Some(*id),
            None => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// The reference was already applied with the same parameters: answer with that entry.
    Replay(Box<Entry>),
    Apply(Movement),
}

/// Decides one request. `existing` is the entry already recorded under the request's reference.
pub(crate) fn decide(
    wallet: &WalletState,
    existing: Option<&Entry>,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Decision, LedgerError> {
    check_amount(request)?;
    if let Some(entry) = existing {
        return replay(entry, request);
    }
    check_currency(wallet, request)?;
    let movement = match request {
        Request::Debit {
            amount,
            counterparty,
        } => debit(wallet, *amount, counterparty)?,
        Request::Credit {
            amount,
            counterparty,
        } => credit(wallet, *amount, counterparty)?,
        Request::Hold {
            amount,
            counterparty,
            expires_at,
        } => hold(wallet, *amount, counterparty, *expires_at, now)?,
        Request::Capture {
            hold_id,
            hold,
            amount,
        } => capture(wallet, *hold_id, hold.as_ref(), *amount, now)?,
        Request::Release { hold_id, hold } => {
            close_hold(wallet, *hold_id, hold.as_ref(), EntryKind::Release)?
        }
        Request::Expire { hold } => close_hold(wallet, hold.id, Some(hold), EntryKind::Expiry)?,
        Request::Correction { amount, reason } => correction(wallet, *amount, reason)?,
        Request::Reversal {
            amount,
            counterparty,
        } => reversal(wallet, *amount, counterparty)?,
    };
    Ok(Decision::Apply(movement))
}

fn check_amount(request: &Request) -> Result<(), LedgerError> {
    let invalid = |reason: &str| {
        Err(LedgerError::InvalidAmount {
            reason: reason.into(),
        })
    };
    match request {
        Request::Debit { amount, .. }
        | Request::Credit { amount, .. }
        | Request::Hold { amount, .. }
        | Request::Capture { amount, .. }
        | Request::Reversal { amount, .. } => {
            if amount.is_positive() {
                Ok(())
            } else {
                invalid("amount must be greater than zero")
            }
        }
        Request::Correction { amount, .. } => match amount.minor() {
            0 => invalid("a correction must not be zero"),
            i64::MIN => invalid("a correction must fit in 64-bit minor units when negated"),
            _ => Ok(()),
        },
        Request::Release { .. } | Request::Expire { .. } => Ok(()),
    }
}

fn check_currency(wallet: &WalletState, request: &Request) -> Result<(), LedgerError> {
    let requested = match request {
        Request::Debit { amount, .. }
        | Request::Credit { amount, .. }
        | Request::Hold { amount, .. }
        | Request::Capture { amount, .. }
        | Request::Correction { amount, .. }
        | Request::Reversal { amount, .. } => amount.currency(),
        Request::Release { .. } | Request::Expire { .. } => return Ok(()),
    };
    if requested == wallet.currency {
        Ok(())
    } else {
        Err(LedgerError::CurrencyMismatch {
            wallet: wallet.currency,
            requested,
        })
    }
}

/// Same reference: the same parameters replay, anything else is a conflict.
fn replay(entry: &Entry, request: &Request) -> Result<Decision, LedgerError> {
    let same_money = |amount: &Money| entry.amount == *amount;
    let same = match request {
        Request::Debit {
            amount,
            counterparty,
        } => {
            entry.kind == EntryKind::Debit
                && same_money(amount)
                && entry.counterparty == *counterparty
        }
        Request::Credit {
            amount,
            counterparty,
        } => {
            entry.kind == EntryKind::Credit
                && same_money(amount)
                && entry.counterparty == *counterparty
        }
        // The expiry deadline is not compared: a client computing it from "now" would send a
        // different one on every retry.
        Request::Hold {
            amount,
            counterparty,
            ..
        } => {
            entry.kind == EntryKind::Hold
                && same_money(amount)
                && entry.counterparty == *counterparty
        }
        Request::Capture {
            hold_id, amount, ..
        } => {
            entry.kind == EntryKind::Capture
                && same_money(amount)
                && entry.hold_id == Some(*hold_id)
        }
        Request::Release { hold_id, .. } => {
            entry.kind == EntryKind::Release && entry.hold_id == Some(*hold_id)
        }
        Request::Expire { hold } => {
            entry.kind == EntryKind::Expiry && entry.hold_id == Some(hold.id)
        }
        Request::Correction { amount, reason } => {
            entry.kind == EntryKind::Correction
                && entry.balance_change == *amount
                && entry.reason.as_ref() == Some(reason)
        }
        // A reversal may have taken less than asked (funds were short): the retry of that
        // request must replay it, not take the rest now that money came in. Asking for less
        // than was taken cannot be a retry of it.
        Request::Reversal {
            amount,
            counterparty,
        } => {
            entry.kind == EntryKind::Reversal
                && entry.amount.currency() == amount.currency()
                && entry.amount.minor() <= amount.minor()
                && entry.counterparty == *counterparty
        }
    };
    if same {
        Ok(Decision::Replay(Box::new(entry.clone())))
    } else {
        Err(LedgerError::IdempotencyConflict {
            reference: entry.reference.clone(),
            original_kind: entry.kind,
        })
    }
}

fn refuse_if_frozen(wallet: &WalletState) -> Result<(), LedgerError> {
    if wallet.frozen_by.is_empty() {
        Ok(())
    } else {
        Err(LedgerError::FrozenWallet {
            sources: wallet.frozen_by.clone(),
        })
    }
}

fn require_available(wallet: &WalletState, amount: i64) -> Result<(), LedgerError> {
    if amount <= wallet.available() {
        Ok(())
    } else {
        Err(LedgerError::InsufficientFunds {
            available: wallet.money(wallet.available()),
            requested: wallet.money(amount),
        })
    }
}

fn debit(
    wallet: &WalletState,
    amount: Money,
    counterparty: &Counterparty,
) -> Result<Movement, LedgerError> {
    refuse_if_frozen(wallet)?;
    require_available(wallet, amount.minor())?;
    Ok(balance_movement(
        wallet,
        EntryKind::Debit,
        amount.minor(),
        -amount.minor(),
        counterparty.clone(),
        None,
    ))
}

fn credit(
    wallet: &WalletState,
    amount: Money,
    counterparty: &Counterparty,
) -> Result<Movement, LedgerError> {
    // Frozen wallets still record money received (G5).
    if wallet.balance.checked_add(amount.minor()).is_none() {
        return Err(LedgerError::BalanceOverflow {
            balance: wallet.money(wallet.balance),
            requested: amount,
        });
    }
    Ok(balance_movement(
        wallet,
        EntryKind::Credit,
        amount.minor(),
        amount.minor(),
        counterparty.clone(),
        None,
    ))
}

fn correction(
    wallet: &WalletState,
    amount: Money,
    reason: &Reason,
) -> Result<Movement, LedgerError> {
    let change = amount.minor();
    if change < 0 {
        // A correction may take back only what is neither spent nor reserved; `check_amount`
        // excluded i64::MIN, so the negation is exact.
        require_available(wallet, -change)?;
    } else if wallet.balance.checked_add(change).is_none() {
        return Err(LedgerError::BalanceOverflow {
            balance: wallet.money(wallet.balance),
            requested: amount,
        });
    }
    Ok(balance_movement(
        wallet,
        EntryKind::Correction,
        change.abs(),
        change,
        Counterparty::correction(),
        Some(reason.clone()),
    ))
}

fn reversal(
    wallet: &WalletState,
    amount: Money,
    counterparty: &Counterparty,
) -> Result<Movement, LedgerError> {
    // No freeze check: the provider has already taken the money back, whatever the wallet's
    // state, and a frozen wallet (often frozen because of this very dispute) is exactly where
    // it must be recorded. Only what is available is taken: never below zero (G1), never money
    // open holds reserve for messages already on their way. The caller records the shortfall.
    let available = wallet.available();
    if available <= 0 {
        return Err(LedgerError::InsufficientFunds {
            available: wallet.money(0),
            requested: amount,
        });
    }
    let taken = amount.minor().min(available);
    Ok(balance_movement(
        wallet,
        EntryKind::Reversal,
        taken,
        -taken,
        counterparty.clone(),
        None,
    ))
}

fn balance_movement(
    wallet: &WalletState,
    kind: EntryKind,
    amount: i64,
    balance_change: i64,
    counterparty: Counterparty,
    reason: Option<Reason>,
) -> Movement {
    Movement {
        kind,
        amount,
        balance_change,
        held_change: 0,
        // Callers checked the bounds, so this stays within 0..=i64::MAX.
        balance_after: wallet.balance + balance_change,
        held_after: wallet.held,
        counterparty,
        hold: None,
        reason,
    }
}

pub(crate) mod batch;
mod holds;

use holds::{capture, close_hold, hold};

#[cfg(test)]
mod tests;
