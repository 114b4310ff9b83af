//! What callers ask the ledger to do. Every money movement names its wallet, a reference (the
//! idempotency key, unique per wallet) and the actor doing it.

use chrono::{DateTime, SubsecRound, Utc};
use primitives::{HoldId, Money, WalletId};

use crate::{
    decide::Request,
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

/// Money a payment provider took back from a top-up: a refund, a chargeback, a lost dispute.
///
/// Not the customer spending, so a freeze does not stop it; but it takes at most what is
/// available (never money reserved by open holds, never below zero). The entry's amount is what
/// was taken: `amount - entry.amount` is the shortfall the caller must record.
#[derive(Debug, Clone)]
pub struct ReversalRequest {
    pub wallet_id: WalletId,
    /// The most to take: what the provider took back.
    pub amount: Money,
    /// The account the money went back to, e.g. `chargeback:stripe`, `refund:paypal`.
    pub counterparty: Counterparty,
    /// Best derived from the provider's payment or dispute id, so two events about one
    /// reversal take money once.
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

/// A money movement as the ledger's single write path (`Ledger::move_money`) takes it.
pub(crate) struct MovementCall {
    pub wallet_id: WalletId,
    /// The hold to load under the wallet lock (captures and releases).
    pub hold_id: Option<HoldId>,
    pub request: Request,
    pub reference: Reference,
    pub actor: Actor,
}

impl From<DebitRequest> for MovementCall {
    fn from(r: DebitRequest) -> Self {
        let request = Request::Debit {
            amount: r.amount,
            counterparty: r.counterparty,
        };
        Self::new(r.wallet_id, None, request, r.reference, r.actor)
    }
}

impl From<CreditRequest> for MovementCall {
    fn from(r: CreditRequest) -> Self {
        let request = Request::Credit {
            amount: r.amount,
            counterparty: r.counterparty,
        };
        Self::new(r.wallet_id, None, request, r.reference, r.actor)
    }
}

impl From<CorrectionRequest> for MovementCall {
    fn from(r: CorrectionRequest) -> Self {
        let request = Request::Correction {
            amount: r.amount,
            reason: r.reason,
        };
        Self::new(r.wallet_id, None, request, r.reference, r.actor)
    }
}

impl From<ReversalRequest> for MovementCall {
    fn from(r: ReversalRequest) -> Self {
        let request = Request::Reversal {
            amount: r.amount,
            counterparty: r.counterparty,
        };
        Self::new(r.wallet_id, None, request, r.reference, r.actor)
    }
}

impl From<HoldRequest> for MovementCall {
    fn from(r: HoldRequest) -> Self {
        let request = Request::Hold {
            amount: r.amount,
            counterparty: r.counterparty,
            // As stored (PostgreSQL keeps microseconds), so the rules judge the deadline the
            // database will hold and an answer equals what is read back.
            expires_at: r.expires_at.trunc_subsecs(6),
        };
        Self::new(r.wallet_id, None, request, r.reference, r.actor)
    }
}

impl From<CaptureRequest> for MovementCall {
    fn from(r: CaptureRequest) -> Self {
        let request = Request::Capture {
            hold_id: r.hold_id,
            hold: None,
            amount: r.amount,
        };
        Self::new(r.wallet_id, Some(r.hold_id), request, r.reference, r.actor)
    }
}

impl From<ReleaseRequest> for MovementCall {
    fn from(r: ReleaseRequest) -> Self {
        let request = Request::Release {
            hold_id: r.hold_id,
            hold: None,
        };
        Self::new(r.wallet_id, Some(r.hold_id), request, r.reference, r.actor)
    }
}

impl MovementCall {
    fn new(
        wallet_id: WalletId,
        hold_id: Option<HoldId>,
        request: Request,
        reference: Reference,
        actor: Actor,
    ) -> Self {
        Self {
            wallet_id,
            hold_id,
            request,
            reference,
            actor,
        }
    }
}
