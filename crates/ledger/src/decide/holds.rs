//! The rules for holds: reserving, capturing and giving back.

use chrono::{DateTime, Utc};
use primitives::{HoldId, Money};

use super::{
    HoldChange, HoldState, MAX_HOLD_TTL, Movement, WalletState, refuse_if_frozen, require_available,
};
use crate::{
    error::LedgerError,
    input::Counterparty,
    model::{EntryKind, HoldStatus},
};

pub(super) fn hold(
    wallet: &WalletState,
    amount: Money,
    counterparty: &Counterparty,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Movement, LedgerError> {
    if expires_at <= now || expires_at > now + MAX_HOLD_TTL {
        return Err(LedgerError::InvalidExpiry {
            max_days: MAX_HOLD_TTL.num_days(),
        });
    }
    refuse_if_frozen(wallet)?;
    require_available(wallet, amount.minor())?;
    Ok(Movement {
        kind: EntryKind::Hold,
        amount: amount.minor(),
        balance_change: 0,
        held_change: amount.minor(),
        balance_after: wallet.balance,
        held_after: wallet.held + amount.minor(),
        counterparty: counterparty.clone(),
        hold: Some(HoldChange::Create {
            id: HoldId::new(),
            expires_at,
        }),
        reason: None,
    })
}

fn open_hold(
    hold_id: HoldId,
    hold: Option<&HoldState>,
    now: DateTime<Utc>,
) -> Result<&HoldState, LedgerError> {
    let hold = hold.ok_or(LedgerError::HoldNotFound { hold_id })?;
    if hold.status != HoldStatus::Open {
        return Err(LedgerError::HoldNotOpen {
            hold_id,
            status: hold.status,
        });
    }
    // Past its deadline a hold is spent-proof even before the sweeper has expired it.
    if now >= hold.expires_at {
        return Err(LedgerError::HoldNotOpen {
            hold_id,
            status: HoldStatus::Expired,
        });
    }
    Ok(hold)
}

pub(super) fn capture(
    wallet: &WalletState,
    hold_id: HoldId,
    hold: Option<&HoldState>,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Movement, LedgerError> {
    // A freeze does not block captures: the reserved money pays for messages already accepted
    // before the freeze, and the dispatcher stops sending new ones on its own (G7).
    let hold = open_hold(hold_id, hold, now)?;
    let amount = amount.minor();
    if amount > hold.remaining() {
        return Err(LedgerError::CaptureExceedsHold {
            hold_id,
            remaining: wallet.money(hold.remaining()),
            requested: wallet.money(amount),
        });
    }
    let captured = hold.captured + amount;
    let status = if captured + hold.released == hold.amount {
        HoldStatus::Captured
    } else {
        HoldStatus::Open
    };
    Ok(Movement {
        kind: EntryKind::Capture,
        amount,
        balance_change: -amount,
        held_change: -amount,
        balance_after: wallet.balance - amount,
        held_after: wallet.held - amount,
        counterparty: hold.counterparty.clone(),
        hold: Some(HoldChange::Update {
            id: hold_id,
            captured,
            released: hold.released,
            status,
        }),
        reason: None,
    })
}

/// Gives back what a hold still reserves, on request (release) or at its deadline (expiry).
pub(super) fn close_hold(
    wallet: &WalletState,
    hold_id: HoldId,
    hold: Option<&HoldState>,
    kind: EntryKind,
) -> Result<Movement, LedgerError> {
    let hold = hold.ok_or(LedgerError::HoldNotFound { hold_id })?;
    if hold.status != HoldStatus::Open {
        return Err(LedgerError::HoldNotOpen {
            hold_id,
            status: hold.status,
        });
    }
    let remaining = hold.remaining();
    let status = if kind == EntryKind::Expiry {
        HoldStatus::Expired
    } else {
        HoldStatus::Released
    };
    Ok(Movement {
        kind,
        amount: remaining,
        balance_change: 0,
        held_change: -remaining,
        balance_after: wallet.balance,
        held_after: wallet.held - remaining,
        counterparty: hold.counterparty.clone(),
        hold: Some(HoldChange::Update {
            id: hold_id,
            captured: hold.captured,
            released: hold.released + remaining,
            status,
        }),
        reason: None,
    })
}
