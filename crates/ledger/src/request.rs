//! What callers ask the ledger to do. Every money movement names its wallet, a reference (the
//! idempotency key, unique per wallet) and the actor doing it.

use chrono::{DateTime, Utc};
use primitives::{HoldId, Money, WalletId};

use crate::{
    input::{Actor, Counterparty, Reason, Reference},
    model::FreezeSource,
};

/// Take money out of a wallet, e.g. for sent messages.
#[derive(Debug, Clone)]
pub struct DebitRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    pub counterparty: Counterparty,
    pub reference: Reference,
    pub actor: Actor,
}

/// Put money into a wallet, e.g. a top-up paid through a provider.
#[derive(Debug, Clone)]
pub struct CreditRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    pub counterparty: Counterparty,
    pub reference: Reference,
    pub actor: Actor,
}

/// Reserve funds until `expires_at`, e.g. a campaign budget.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    /// Where captured money goes, e.g. `revenue:messages`.
    pub counterparty: Counterparty,
    pub expires_at: DateTime<Utc>,
    pub reference: Reference,
    pub actor: Actor,
}

/// Spend part or all of what a hold still reserves.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    pub wallet_id: WalletId,
    pub hold_id: HoldId,
    pub amount: Money,
    pub reference: Reference,
    pub actor: Actor,
}

/// Give back whatever a hold still reserves.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    pub wallet_id: WalletId,
    pub hold_id: HoldId,
    pub reference: Reference,
    pub actor: Actor,
}

/// An audited adjustment of the balance; `amount` is signed.
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    pub reason: Reason,
    pub reference: Reference,
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub struct FreezeRequest {
    pub wallet_id: WalletId,
    pub source: FreezeSource,
    pub reason: Reason,
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub struct UnfreezeRequest {
    pub wallet_id: WalletId,
    pub source: FreezeSource,
    pub reason: Reason,
    pub actor: Actor,
}
