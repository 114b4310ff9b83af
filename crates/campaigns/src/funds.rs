//! A campaign's money: the holds it places, what batches capture, what is released.
//!
//! References (unique per wallet, so each movement applies at most once, G3):
//! - `campaign:{id}:hold:{n}`: the n-th hold (start is 1; each resume or renewal adds one);
//! - `campaign:{id}:batch:{batch}`: what a batch's accepted messages cost;
//! - `campaign:{id}:batch:{batch}:unconfirmed`: a batch's recipients whose worker stopped;
//! - `campaign:{id}:batch:{batch}:void`: giving back a batch's charge booked after it had been
//!   recorded as uncharged (see `charges`);
//! - `campaign:{id}:release:{n}`: giving back what hold n still reserves.
//!
//! Every function runs on the caller's transaction, under the campaign's row lock, except a
//! [`book`] through the batching writer, which runs on none (see `charges`).

use chrono::{DateTime, Duration, Utc};
use db::AsyncPgConnection;
use ledger::{
    Actor, CaptureRequest, Counterparty, DebitRequest, Entry, EntryKind, HoldRequest, Ledger,
    LedgerError, LedgerWriter, Outcome, Reference, ReleaseRequest,
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
/// settlement will call this again) or a settled batch's charge on it is still due (whoever
/// books it calls this again). Returns whether the campaign now holds nothing.
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
    // Released now, the hold could no longer pay for messages already sent.
    if store::charges_due(conn, campaign.id, Some(hold_id)).await? > 0 {
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
    /// Nothing could pay (`code`: the debit's refusal): the messages went out uncharged (logged,
    /// counted, for a person). Nothing is written in the ledger.
    Uncharged { code: &'static str },
}

impl Charged {
    /// Whether money moved (now or by an earlier booking under the same reference).
    pub(crate) fn is_paid(self) -> bool {
        !matches!(self, Self::Uncharged { .. })
    }
}

/// Where a charge is booked: through the batching writer (its own transaction, after the
/// caller's commit) or on the caller's transaction (atomic with what the caller records).
pub(crate) enum Books<'a> {
    Writer(&'a LedgerWriter),
    InPlace(&'a Ledger, &'a mut AsyncPgConnection),
}

impl Books<'_> {
    async fn capture(&mut self, request: CaptureRequest) -> Result<Outcome<Entry>, LedgerError> {
        match self {
            Self::Writer(writer) => writer.capture(request).await,
            Self::InPlace(ledger, conn) => ledger.capture(conn, request).await,
        }
    }

    async fn debit(&mut self, request: DebitRequest) -> Result<Outcome<Entry>, LedgerError> {
        match self {
            Self::Writer(writer) => writer.debit(request).await,
            Self::InPlace(ledger, conn) => ledger.debit(conn, request).await,
        }
    }
}

/// What one charge is: `amount` for messages that went out (or may have), from `hold_id`,
/// under `reference`.
#[derive(Debug, Clone)]
pub(crate) struct ChargeRequest {
    pub campaign: CampaignId,
    pub wallet_id: WalletId,
    pub hold_id: HoldId,
    pub amount: Money,
    pub reference: String,
}

/// Books a charge. The messages are gone whatever the ledger says, so a refused capture falls
/// back to a debit with the same reference, and a refused debit is reported (`Uncharged`)
/// rather than failing (which would only lose the record of what was sent). Booking the same
/// charge again answers what the first booking did: a capture replays; after a fallback debit,
/// the capture meets the debit's reference and the debit replays.
pub(crate) async fn book(
    books: &mut Books<'_>,
    charge: &ChargeRequest,
) -> Result<Charged, CampaignsError> {
    if charge.amount.minor() == 0 {
        return Ok(Charged::Captured);
    }
    let capture = CaptureRequest {
        wallet_id: charge.wallet_id,
        hold_id: charge.hold_id,
        amount: charge.amount,
        reference: reference(charge.reference.clone())?,
        actor: actor(),
    };
    let refusal = match books.capture(capture).await {
        Ok(_) => return Ok(Charged::Captured),
        Err(error) if capture_falls_back(&error) => error,
        Err(error) => return Err(error.into()),
    };
    if !matches!(refusal, LedgerError::IdempotencyConflict { .. }) {
        tracing::warn!(campaign = %charge.campaign, hold_id = %charge.hold_id, code = refusal.code(),
            "campaign hold could not pay for sent messages; debiting instead");
    }
    let debit = DebitRequest {
        wallet_id: charge.wallet_id,
        amount: charge.amount,
        counterparty: revenue(),
        reference: reference(charge.reference.clone())?,
        actor: actor(),
    };
    match books.debit(debit).await {
        Ok(_) => Ok(Charged::Debited),
        Err(error) if is_refusal(&error) => Ok(Charged::Uncharged { code: error.code() }),
        Err(error) => Err(error.into()),
    }
}

/// Books a charge on the caller's transaction (see [`book`]) and raises the alarm if nothing
/// could pay: for callers that record the result in that same transaction.
pub(crate) async fn charge(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    charge: &ChargeRequest,
) -> Result<Charged, CampaignsError> {
    let charged = book(&mut Books::InPlace(ledger, conn), charge).await?;
    if let Charged::Uncharged { code } = charged {
        alarm_uncharged(charge.campaign, charge.amount, code);
    }
    Ok(charged)
}

/// The error line and metric for messages that went out and could not be charged (runbook).
pub(crate) fn alarm_uncharged(campaign: CampaignId, amount: Money, code: &str) {
    tracing::error!(
        event = "campaign_uncharged_messages",
        %campaign, amount = amount.minor(), code,
        "CAMPAIGN MESSAGES UNCHARGED: sent messages could not be charged"
    );
    metrics::counter!("campaign_uncharged_messages_total").increment(1);
}

/// A capture the ledger refused for the hold's sake, or because the reference already holds
/// this charge's fallback debit: the debit decides.
fn capture_falls_back(error: &LedgerError) -> bool {
    is_refusal(error)
        || matches!(
            error,
            LedgerError::IdempotencyConflict {
                original_kind: EntryKind::Debit,
                ..
            }
        )
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
