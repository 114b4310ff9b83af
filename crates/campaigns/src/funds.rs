//! A campaign's money: the holds it places, what batches capture, what is released.
//!
//! References (unique per wallet, so each movement applies at most once, G3):
//! - `campaign:{id}:hold:{n}`: the n-th hold (start is 1; each resume or renewal adds one);
//! - `campaign:{id}:batch:{batch}`: what a batch's accepted messages cost;
//! - `campaign:{id}:batch:{batch}:unconfirmed`: a batch's recipients whose worker stopped;
//! - `campaign:{id}:release:{n}`: giving back what hold n still reserves.
//!
//! Every function runs on the caller's transaction, under the campaign's row lock.

use chrono::{DateTime, Duration, Utc};
use db::AsyncPgConnection;
use ledger::{
    Actor, CaptureRequest, Counterparty, DebitRequest, HoldRequest, Ledger, LedgerError, Reference,
    ReleaseRequest,
};
use primitives::{HoldId, Money, WalletId};

use crate::{
    CampaignId, CampaignsError, RecipientStatus,
    campaign::Campaign,
    store::{self},
};

/// How campaign holds are placed.
#[derive(Debug, Clone)]
pub struct FundsPolicy {
    /// How long a hold lasts (at most `ledger::MAX_HOLD_TTL`, 30 days). A running campaign renews its hold
    /// before this runs out, between batches.
    pub hold_ttl: Duration,
    /// A hold closer than this to its deadline is renewed before the next batch; keep it well
    /// above the dispatcher's lease so no batch can outlive its hold.
    pub renew_before: Duration,
    /// Where captured money goes.
    pub counterparty: Counterparty,
}

impl Default for FundsPolicy {
    fn default() -> Self {
        Self {
            hold_ttl: Duration::days(7),
            renew_before: Duration::days(1),
            counterparty: revenue(),
        }
    }
}

/// The system account message revenue goes to.
pub(crate) fn revenue() -> Counterparty {
    // A constant that satisfies the counterparty rules; the fallback is never taken.
    Counterparty::parse("revenue:messages").unwrap_or_else(|_| Counterparty::correction())
}

pub(crate) fn actor() -> Actor {
    Actor::system("campaigns")
}

pub(crate) fn reference(text: String) -> Result<Reference, CampaignsError> {
    Reference::parse(text).map_err(|error| CampaignsError::Ledger(error.into()))
}

/// `count x cost`, or `CostOverflow`.
pub(crate) fn times(cost: Money, count: i64) -> Result<Money, CampaignsError> {
    cost.minor()
        .checked_mul(count)
        .map(|minor| Money::from_minor(minor, cost.currency()))
        .ok_or(CampaignsError::CostOverflow)
}

/// Places the campaign's next hold for `amount` and makes it the open one. A ledger refusal
/// (`INSUFFICIENT_FUNDS`, `FROZEN_WALLET`) is returned as is and writes nothing.
pub(crate) async fn place_hold(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    policy: &FundsPolicy,
    campaign: &Campaign,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<HoldId, CampaignsError> {
    let wallet_id = ledger
        .wallet_for_organization(conn, campaign.organization_id)
        .await?;
    let seq = campaign.hold_seq + 1;
    let request = HoldRequest {
        wallet_id,
        amount,
        counterparty: policy.counterparty.clone(),
        expires_at: now + policy.hold_ttl,
        reference: reference(format!("campaign:{}:hold:{seq}", campaign.id))?,
        actor: actor(),
    };
    let receipt = ledger.hold(conn, request).await?.value;
    store::insert_campaign_hold(conn, campaign.id, receipt.hold.id, seq, now).await?;
    store::set_hold(conn, campaign.id, Some(receipt.hold.id), seq).await?;
    Ok(receipt.hold.id)
}

/// Gives back what the open hold still reserves, unless a batch is still in flight (its
/// settlement will call this again). Returns whether the campaign now holds nothing.
pub(crate) async fn release_if_idle(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    campaign: &Campaign,
) -> Result<bool, CampaignsError> {
    let Some(hold_id) = campaign.hold_id else {
        return Ok(true);
    };
    if store::count_in(conn, campaign.id, RecipientStatus::Sending, Some(1)).await? > 0 {
        return Ok(false);
    }
    release(conn, ledger, campaign, hold_id).await?;
    Ok(true)
}

/// Releases `hold_id` (already closed, e.g. expired, is fine) and forgets it.
pub(crate) async fn release(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    campaign: &Campaign,
    hold_id: HoldId,
) -> Result<(), CampaignsError> {
    let wallet_id = ledger
        .wallet_for_organization(conn, campaign.organization_id)
        .await?;
    let request = ReleaseRequest {
        wallet_id,
        hold_id,
        reference: reference(format!(
            "campaign:{}:release:{}",
            campaign.id, campaign.hold_seq
        ))?,
        actor: actor(),
    };
    match ledger.release(conn, request).await {
        Ok(_) | Err(LedgerError::HoldNotOpen { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    store::set_hold(conn, campaign.id, None, campaign.hold_seq).await
}

/// How a charge was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charged {
    /// From the batch's hold, as planned.
    Captured,
    /// The hold could not pay (closed behind the dispatcher's back): a plain debit did.
    Debited,
    /// Nothing could pay: the messages went out uncharged (logged, counted, for a person).
    Uncharged,
}

/// Charges `amount` for messages that went out (or may have), from `hold_id`. The messages
/// are gone whatever the ledger says, so a refused capture falls back to a debit, and a refused
/// debit is reported rather than failing the settlement (which would only lose the record of
/// what was sent).
pub(crate) async fn charge(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    campaign: CampaignId,
    wallet_id: WalletId,
    hold_id: HoldId,
    amount: Money,
    reference_text: String,
) -> Result<Charged, CampaignsError> {
    if amount.minor() == 0 {
        return Ok(Charged::Captured);
    }
    let capture = CaptureRequest {
        wallet_id,
        hold_id,
        amount,
        reference: reference(reference_text.clone())?,
        actor: actor(),
    };
    let refusal = match ledger.capture(conn, capture).await {
        Ok(_) => return Ok(Charged::Captured),
        Err(error) if is_refusal(&error) => error,
        Err(error) => return Err(error.into()),
    };
    tracing::warn!(%campaign, %hold_id, code = refusal.code(), "campaign hold could not pay for sent messages; debiting instead");
    let debit = DebitRequest {
        wallet_id,
        amount,
        counterparty: revenue(),
        reference: reference(reference_text)?,
        actor: actor(),
    };
    match ledger.debit(conn, debit).await {
        Ok(_) => Ok(Charged::Debited),
        Err(error) if is_refusal(&error) => {
            tracing::error!(
                event = "campaign_uncharged_messages",
                %campaign, amount = amount.minor(), code = error.code(),
                "CAMPAIGN MESSAGES UNCHARGED: sent messages could not be charged"
            );
            metrics::counter!("campaign_uncharged_messages_total").increment(1);
            Ok(Charged::Uncharged)
        }
        Err(error) => Err(error.into()),
    }
}

fn is_refusal(error: &LedgerError) -> bool {
    matches!(
        error,
        LedgerError::HoldNotFound { .. }
            | LedgerError::HoldNotOpen { .. }
            | LedgerError::CaptureExceedsHold { .. }
            | LedgerError::InsufficientFunds { .. }
            | LedgerError::FrozenWallet { .. }
    )
}
