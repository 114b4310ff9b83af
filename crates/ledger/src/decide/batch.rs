//! Deciding a batch of requests: each one in arrival order by the same rules as alone
//! ([`decide`]), each seeing the wallets, holds and references its predecessors left.
//!
//! Pure like the rest of `decide`: the writer loads what the batch names under the wallets'
//! locks, this plans every answer and write, and the writer writes the plan in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use primitives::{EntryId, HoldId, Money, WalletId};

use super::{Decision, HoldChange, HoldState, Movement, Request, WalletState, decide};
use crate::{
    error::LedgerError,
    input::{Actor, Reference},
    model::{Entry, Hold, HoldStatus},
    request::MovementCall,
};

/// A hold as loaded (or created) in the batch, with what its API view needs beyond the rules.
#[derive(Debug, Clone)]
pub(crate) struct BatchHold {
    pub state: HoldState,
    pub wallet_id: WalletId,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl BatchHold {
    fn view(&self, wallet: &WalletState) -> Hold {
        let money = |minor| Money::from_minor(minor, wallet.currency);
        let state = &self.state;
        Hold {
            id: state.id,
            wallet_id: self.wallet_id,
            amount: money(state.amount),
            captured: money(state.captured),
            released: money(state.released),
            remaining: money(state.remaining()),
            status: state.status,
            counterparty: state.counterparty.clone(),
            expires_at: state.expires_at,
            created_at: self.created_at,
            closed_at: self.closed_at,
        }
    }
}

/// What the batch's transaction read under the wallets' locks.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub wallets: HashMap<WalletId, WalletState>,
    /// The holds the requests name, and those that replayed hold requests reserved.
    pub holds: HashMap<HoldId, BatchHold>,
    /// The entries already recorded under the batch's references.
    pub entries: HashMap<(WalletId, Reference), Entry>,
}

/// One request's answer, as planned before the write.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Written as `plan.writes[index]`.
    Applied { write: usize, hold: Option<Hold> },
    /// Answered with an entry recorded before this batch.
    Replayed {
        entry: Box<Entry>,
        hold: Option<Hold>,
    },
    /// Answered with the entry an earlier request of this batch writes.
    ReplayedInBatch { write: usize, hold: Option<Hold> },
    /// Refused by the rules; nothing of it is written.
    Refused(LedgerError),
}

/// An entry to append, as its request decided it (`seq` is the database's, known after the write).
#[derive(Debug)]
pub(crate) struct Write {
    pub movement: Movement,
    pub entry: Entry,
}

/// Everything the batch writes, and every request's answer.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub verdicts: Vec<Verdict>,
    /// In arrival order: the order of the entry chain.
    pub writes: Vec<Write>,
    /// Final figures of every wallet an entry moves.
    pub wallets: Vec<WalletState>,
    /// Holds created by the batch, as they stand at its end.
    pub created_holds: Vec<BatchHold>,
    /// Holds loaded and changed by the batch, as they stand at its end.
    pub changed_holds: Vec<BatchHold>,
}

/// Decides every call in order. A refusal touches only its own request.
pub(crate) fn plan(mut loaded: Loaded, calls: &[&MovementCall], now: DateTime<Utc>) -> Plan {
    let mut plan = Plan::default();
    // Where each reference written by this batch is, for a later request reusing it.
    let mut written: HashMap<(WalletId, Reference), usize> = HashMap::new();
    let mut moved: HashSet<WalletId> = HashSet::new();
    let mut created: HashSet<HoldId> = HashSet::new();
    let mut changed: HashSet<HoldId> = HashSet::new();
    for call in calls {
        let verdict = decide_one(&mut loaded, &mut plan.writes, &mut written, call, now);
        if let Verdict::Applied { write, .. } = &verdict {
            let movement = &plan.writes[*write].movement;
            moved.insert(call.wallet_id);
            match &movement.hold {
                Some(HoldChange::Create { id, .. }) => {
                    created.insert(*id);
                }
                Some(HoldChange::Update { id, .. }) if !created.contains(id) => {
                    changed.insert(*id);
                }
                _ => {}
            }
        }
        plan.verdicts.push(verdict);
    }
    plan.wallets = moved
        .iter()
        .filter_map(|id| loaded.wallets.get(id).cloned())
        .collect();
    plan.created_holds = created
        .iter()
        .filter_map(|id| loaded.holds.get(id).cloned())
        .collect();
    plan.changed_holds = changed
        .iter()
        .filter_map(|id| loaded.holds.get(id).cloned())
        .collect();
    plan
}

fn decide_one(
    loaded: &mut Loaded,
    writes: &mut Vec<Write>,
    written: &mut HashMap<(WalletId, Reference), usize>,
    call: &MovementCall,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(wallet) = loaded.wallets.get(&call.wallet_id).cloned() else {
        return Verdict::Refused(LedgerError::WalletNotFound);
    };
    let mut request = call.request.clone();
    if let Some(hold_id) = call.hold_id {
        let hold = loaded
            .holds
            .get(&hold_id)
            .filter(|hold| hold.wallet_id == call.wallet_id)
            .map(|hold| hold.state.clone());
        request.attach_hold(hold);
    }
    let key = (call.wallet_id, call.reference.clone());
    let in_batch = written.get(&key).copied();
    let existing = match in_batch {
        Some(index) => writes.get(index).map(|write| &write.entry),
        None => loaded.entries.get(&key),
    };
    let is_hold = matches!(request, Request::Hold { .. });
    match decide(&wallet, existing, &request, now) {
        Err(error) => Verdict::Refused(error),
        Ok(Decision::Replay(entry)) => {
            let hold = if is_hold {
                match replayed_hold(loaded, &wallet, entry.hold_id) {
                    Ok(hold) => Some(hold),
                    Err(error) => return Verdict::Refused(error),
                }
            } else {
                None
            };
            match in_batch {
                Some(write) => Verdict::ReplayedInBatch { write, hold },
                None => Verdict::Replayed { entry, hold },
            }
        }
        Ok(Decision::Apply(movement)) => {
            let entry = provisional_entry(&wallet, &movement, &call.reference, &call.actor, now);
            let after = WalletState {
                balance: movement.balance_after,
                held: movement.held_after,
                ..wallet
            };
            apply_to_holds(loaded, call.wallet_id, &movement, now);
            let hold = movement
                .hold_id()
                .filter(|_| is_hold)
                .and_then(|id| loaded.holds.get(&id))
                .map(|hold| hold.view(&after));
            loaded.wallets.insert(call.wallet_id, after);
            let index = writes.len();
            writes.push(Write { movement, entry });
            written.insert(key, index);
            Verdict::Applied { write: index, hold }
        }
    }
}

/// The hold a replayed hold request answers with, as it stands at this point of the batch.
fn replayed_hold(
    loaded: &Loaded,
    wallet: &WalletState,
    hold_id: Option<HoldId>,
) -> Result<Hold, LedgerError> {
    let hold_id =
        hold_id.ok_or_else(|| LedgerError::Corrupt("hold entry without a hold".into()))?;
    loaded
        .holds
        .get(&hold_id)
        .map(|hold| hold.view(wallet))
        .ok_or(LedgerError::HoldNotFound { hold_id })
}

/// Moves the batch's view of the hold the entry creates or changes.
fn apply_to_holds(
    loaded: &mut Loaded,
    wallet_id: WalletId,
    movement: &Movement,
    now: DateTime<Utc>,
) {
    match &movement.hold {
        Some(HoldChange::Create { id, expires_at }) => {
            loaded.holds.insert(
                *id,
                BatchHold {
                    state: HoldState {
                        id: *id,
                        amount: movement.amount,
                        captured: 0,
                        released: 0,
                        status: HoldStatus::Open,
                        counterparty: movement.counterparty.clone(),
                        expires_at: *expires_at,
                    },
                    wallet_id,
                    created_at: now,
                    closed_at: None,
                },
            );
        }
        Some(HoldChange::Update {
            id,
            captured,
            released,
            status,
        }) => {
            if let Some(hold) = loaded.holds.get_mut(id) {
                hold.state.captured = *captured;
                hold.state.released = *released;
                hold.state.status = *status;
                hold.closed_at = (*status != HoldStatus::Open).then_some(now);
            }
        }
        None => {}
    }
}

fn provisional_entry(
    wallet: &WalletState,
    movement: &Movement,
    reference: &Reference,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Entry {
    let money = |minor| Money::from_minor(minor, wallet.currency);
    Entry {
        id: EntryId::new(),
        wallet_id: wallet.id,
        kind: movement.kind,
        amount: money(movement.amount),
        balance_change: money(movement.balance_change),
        held_change: money(movement.held_change),
        balance_after: money(movement.balance_after),
        held_after: money(movement.held_after),
        counterparty: movement.counterparty.clone(),
        reference: reference.clone(),
        hold_id: movement.hold_id(),
        reason: movement.reason.clone(),
        actor: actor.clone(),
        created_at: now,
        seq: 0,
    }
}

#[cfg(test)]
mod tests;
