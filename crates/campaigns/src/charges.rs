//! A settled batch's charge, kept as a durable intent until it is booked (docs/campaigns.md,
//! "The charge intent").
//!
//! The settlement records the recipients' outcomes and what the batch costs
//! (`charge_state = 'due'`, `charge_due`) in one transaction, without calling the ledger. Right
//! after that commit the settling worker books the charge through the ledger's batching writer
//! and records how it went ([`settle`]); recording also completes the campaign, or releases its
//! hold, if that was only waiting for this charge. A charge still due `charge_grace` after its settlement (the
//! worker died, or the ledger was unavailable) is booked by recovery ([`redrive`]); resolving
//! one of its recipients books it first, on the resolution's own transaction
//! ([`book_in_place`]).
//!
//! Exactly once: every booking of a batch's charge uses the reference
//! `campaign:{id}:batch:{batch}`, so a second booking finds the first (a replay, see
//! `funds::book`), and [`record`] changes the batch only while it is still due. The one booking
//! that writes nothing is "uncharged" (nothing could pay); should an overlapping booking still
//! move money under that reference afterwards (the wallet was unfrozen or topped up in
//! between), its record finds the batch uncharged and gives the money back (reference
//! `...:void`, so that happens once however many bookings find it), and the ledger agrees with
//! what was recorded.
//!
//! The booking never runs inside a transaction: the writer locks the wallet on its own
//! connection, and a transaction of ours waiting for it could hold what that lock waits for.

use chrono::{DateTime, Duration, Utc};
use db::{
    AsyncPgConnection, DbPool,
    schema::{campaign_batches as batches, campaign_recipients as recipients},
};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName,
    sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::{CreditRequest, LedgerWriter};
use primitives::{HoldId, Money, OrganizationId};
use uuid::Uuid;

use crate::{
    CampaignId, Campaigns, CampaignsError, RecipientStatus,
    campaign::Campaign,
    funds::{self, Books, ChargeRequest, Charged},
    store,
};

/// Due charges one recovery pass takes at most; the rest wait for the next pass.
const REDRIVE_LIMIT: i64 = 100;

/// Where a batch's charge is (`campaign_batches.charge_state`; none: nothing to charge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChargeState {
    /// Decided by the settlement, not booked yet.
    Due,
    Captured,
    Debited,
    Uncharged,
}

impl ChargeState {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Due => "due",
            Self::Captured => "captured",
            Self::Debited => "debited",
            Self::Uncharged => "uncharged",
        }
    }

    pub(crate) fn parse(value: &str) -> Option<Self> {
        [Self::Due, Self::Captured, Self::Debited, Self::Uncharged]
            .into_iter()
            .find(|state| state.as_str() == value)
    }

    const fn of(charged: Charged) -> Self {
        match charged {
            Charged::Captured => Self::Captured,
            Charged::Debited => Self::Debited,
            Charged::Uncharged { .. } => Self::Uncharged,
        }
    }

    /// Whether money moved for the batch.
    const fn is_paid(self) -> bool {
        matches!(self, Self::Captured | Self::Debited)
    }
}

/// A batch's due charge: what to book, and for which batch.
#[derive(Debug, Clone)]
pub(crate) struct DueCharge {
    pub batch: Uuid,
    pub request: ChargeRequest,
}

impl DueCharge {
    pub(crate) fn new(
        campaign: CampaignId,
        batch: Uuid,
        wallet_id: primitives::WalletId,
        hold_id: HoldId,
        amount: Money,
    ) -> Self {
        Self {
            batch,
            request: ChargeRequest {
                campaign,
                wallet_id,
                hold_id,
                amount,
                reference: format!("campaign:{campaign}:batch:{batch}"),
            },
        }
    }
}

/// What [`record`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Recorded now, as this booking went.
    Now(Charged),
    /// Another booking had recorded it already.
    Already(ChargeState),
    /// Money moved under the reference after the charge had been recorded as uncharged: given
    /// back.
    Voided,
}

impl Recorded {
    /// Whether the batch's messages are paid for.
    pub(crate) fn is_paid(self) -> bool {
        match self {
            Self::Now(charged) => charged.is_paid(),
            Self::Already(state) => state.is_paid(),
            Self::Voided => false,
        }
    }
}

/// What to do with a booking, given the batch's charge state read under the campaign's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Still due: this booking is the one recorded.
    Record(Charged),
    /// Already recorded, and this booking agrees: it replayed that entry, or wrote nothing.
    Keep(ChargeState),
    /// Recorded as uncharged, yet money moved under the reference: give it back.
    Void,
}

/// Pure: how a booking is recorded. `None` (a batch without a charge) is a bug.
fn next(state: Option<ChargeState>, charged: Charged) -> Option<Next> {
    Some(match state? {
        ChargeState::Due => Next::Record(charged),
        ChargeState::Uncharged if charged.is_paid() => Next::Void,
        // Captured or debited: the reference holds that entry, so this booking replayed it.
        state => Next::Keep(state),
    })
}

/// Books `charge` through `writer` (no connection held meanwhile), then records it. The
/// settling worker calls this right after its settlement committed; recovery for charges left
/// due. Also says whether the campaign completed now (it was waiting for this charge).
pub(crate) async fn settle(
    pool: &DbPool,
    campaigns: &Campaigns,
    writer: &LedgerWriter,
    charge: &DueCharge,
) -> Result<(Recorded, bool), CampaignsError> {
    let charged = funds::book(&mut Books::Writer(writer), &charge.request).await?;
    let mut conn = pool.get().await?;
    record(&mut conn, campaigns, charge, charged).await
}

/// Records how `charge` was booked, in one transaction under the campaign's lock; if this
/// booking is the one recorded, settles the campaign's status: a campaign that was waiting for
/// the charge completes, and a hold that was waiting for it is released (returns whether it
/// completed).
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    charge: &DueCharge,
    charged: Charged,
) -> Result<(Recorded, bool), CampaignsError> {
    conn.transaction(async move |conn| {
        let campaign = store::lock(conn, None, charge.request.campaign).await?;
        let recorded = record_locked(conn, campaigns, &campaign, charge, charged).await?;
        let completed = matches!(recorded, Recorded::Now(_))
            && campaigns
                .settle_status(conn, &campaign, campaigns.now())
                .await?;
        Ok((recorded, completed))
    })
    .await
}

/// Books the batch's charge on the caller's transaction (under the campaign's lock) if it is
/// still due, and records it. A resolution calls this before it touches a recipient of the
/// batch, so it always acts on a booked charge (a refund of money not yet taken would be a gift
/// if the charge then went uncharged). Returns whether it booked.
pub(crate) async fn book_in_place(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &Campaign,
    batch: Uuid,
) -> Result<bool, CampaignsError> {
    let due: Option<(Uuid, i64)> = batches::table
        .find(batch)
        .filter(batches::campaign_id.eq(campaign.id.as_uuid()))
        .filter(batches::charge_state.eq(ChargeState::Due.as_str()))
        .select((batches::hold_id, batches::charge_due))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let Some((hold_id, amount)) = due else {
        return Ok(false);
    };
    let wallet_id = campaigns
        .ledger
        .wallet_for_organization(conn, campaign.organization_id)
        .await?;
    let charge = DueCharge::new(
        campaign.id,
        batch,
        wallet_id,
        HoldId::from_uuid(hold_id),
        Money::from_minor(amount, campaign.currency()),
    );
    let charged = funds::book(
        &mut Books::InPlace(&campaigns.ledger, &mut *conn),
        &charge.request,
    )
    .await?;
    record_locked(conn, campaigns, campaign, &charge, charged).await?;
    campaigns
        .settle_status(conn, campaign, campaigns.now())
        .await?;
    Ok(true)
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    hold_id: Uuid,
    #[diesel(sql_type = BigInt)]
    charge_due: i64,
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
    #[diesel(sql_type = Text)]
    currency: String,
}

/// Books the charges still due `grace` after their settlement (of `scope`, or of every
/// campaign): their settling worker died, or the ledger was unavailable to it. Each is claimed
/// with `FOR UPDATE SKIP LOCKED` and its retry time moved `grace` on, so another recovery leaves
/// it alone meanwhile (overlapping bookings would still book once, see the module). A charge
/// that fails to book is logged and tried again by a later pass. Returns how many were
/// recorded by this pass.
pub(crate) async fn redrive(
    pool: &DbPool,
    campaigns: &Campaigns,
    writer: &LedgerWriter,
    grace: Duration,
    scope: Option<CampaignId>,
) -> Result<usize, CampaignsError> {
    let now = campaigns.now();
    let charges = {
        let mut conn = pool.get().await?;
        claim_due(&mut conn, campaigns, now, grace, scope).await?
    };
    let mut recorded = 0;
    for charge in &charges {
        tracing::warn!(
            event = "campaign_charge_redriven",
            campaign = %charge.request.campaign,
            batch = %charge.batch,
            amount = charge.request.amount.minor(),
            "a settled batch's charge was still due after the grace period; booking it"
        );
        match settle(pool, campaigns, writer, charge).await {
            Ok((Recorded::Now(_), _)) => recorded += 1,
            Ok(_) => {}
            Err(error) => tracing::warn!(
                campaign = %charge.request.campaign, batch = %charge.batch, %error,
                "due charge not booked; a later recovery pass tries again"
            ),
        }
    }
    Ok(recorded)
}

async fn claim_due(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    now: DateTime<Utc>,
    grace: Duration,
    scope: Option<CampaignId>,
) -> Result<Vec<DueCharge>, CampaignsError> {
    let claimed: Vec<Claimed> = diesel::sql_query(
        "WITH picked AS ( \
             SELECT id FROM campaign_batches \
             WHERE charge_state = 'due' AND charge_retry_at <= $1 \
               AND ($3::uuid IS NULL OR campaign_id = $3) \
             ORDER BY charge_retry_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE campaign_batches AS b SET charge_retry_at = $2 \
         FROM picked, campaigns AS c \
         WHERE b.id = picked.id AND c.id = b.campaign_id \
         RETURNING b.id, b.campaign_id, b.hold_id, b.charge_due, c.organization_id, c.currency",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + grace)
    .bind::<Nullable<SqlUuid>, _>(scope.map(|id| id.as_uuid()))
    .bind::<BigInt, _>(REDRIVE_LIMIT)
    .load(conn)
    .await?;
    let mut charges = Vec::with_capacity(claimed.len());
    for row in claimed {
        let currency = primitives::parse_currency(&row.currency).map_err(|_| {
            CampaignsError::Corrupt(format!("campaign {}: currency", row.campaign_id))
        })?;
        let wallet_id = campaigns
            .ledger
            .wallet_for_organization(conn, OrganizationId::from_uuid(row.organization_id))
            .await?;
        charges.push(DueCharge::new(
            CampaignId::from_uuid(row.campaign_id),
            row.id,
            wallet_id,
            HoldId::from_uuid(row.hold_id),
            Money::from_minor(row.charge_due, currency),
        ));
    }
    Ok(charges)
}

/// Reads the batch's charge state, locking its row, and records the booking accordingly.
async fn record_locked(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &Campaign,
    charge: &DueCharge,
    charged: Charged,
) -> Result<Recorded, CampaignsError> {
    let stored: Option<Option<String>> = batches::table
        .find(charge.batch)
        .select(batches::charge_state)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let corrupt = |what: &str| CampaignsError::Corrupt(format!("batch {}: {what}", charge.batch));
    let stored = stored.ok_or_else(|| corrupt("not found"))?;
    let state = match stored.as_deref() {
        Some(text) => Some(ChargeState::parse(text).ok_or_else(|| corrupt("charge_state"))?),
        None => None,
    };
    match next(state, charged).ok_or_else(|| corrupt("booked without a charge"))? {
        Next::Keep(state) => Ok(Recorded::Already(state)),
        Next::Record(charged) => {
            write_booked(conn, campaign, charge, charged).await?;
            Ok(Recorded::Now(charged))
        }
        Next::Void => {
            void(conn, campaigns, charge).await?;
            Ok(Recorded::Voided)
        }
    }
}

async fn write_booked(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
    charge: &DueCharge,
    charged: Charged,
) -> Result<(), CampaignsError> {
    let amount = charge.request.amount.minor();
    let booked = if charged.is_paid() { amount } else { 0 };
    diesel::update(
        batches::table
            .find(charge.batch)
            .filter(batches::charge_state.eq(ChargeState::Due.as_str())),
    )
    .set((
        batches::charge_state.eq(ChargeState::of(charged).as_str()),
        batches::charge_due.eq(0),
        batches::charge_retry_at.eq(None::<DateTime<Utc>>),
        batches::captured.eq(batches::captured + booked),
    ))
    .execute(conn)
    .await?;
    let Charged::Uncharged { code } = charged else {
        tracing::debug!(campaign = %campaign.id, batch = %charge.batch, amount, ?charged,
            "batch charge booked");
        return Ok(());
    };
    // The charge is every sent or unconfirmed recipient of the batch: a batch recovered by
    // another worker (its `:unconfirmed` charge) settles with nothing to charge, and while the
    // charge was due nobody else changed them (a resolution books the charge first).
    let zeroed = diesel::update(
        recipients::table
            .filter(recipients::campaign_id.eq(campaign.id.as_uuid()))
            .filter(recipients::batch_id.eq(charge.batch))
            .filter(recipients::status.eq_any([
                RecipientStatus::Sent.as_str(),
                RecipientStatus::Unconfirmed.as_str(),
            ]))
            .filter(recipients::charged.gt(0)),
    )
    .set(recipients::charged.eq(0))
    .execute(conn)
    .await?;
    let zeroed = i64::try_from(zeroed).unwrap_or(i64::MAX);
    if zeroed.checked_mul(campaign.cost_per_message.minor()) != Some(amount) {
        tracing::error!(campaign = %campaign.id, batch = %charge.batch, zeroed, amount,
            "uncharged batch: its charged recipients do not add up to the charge (see the runbook)");
    }
    funds::alarm_uncharged(campaign.id, charge.request.amount, code);
    Ok(())
}

/// Gives back a charge booked after the batch was recorded as uncharged (see the module).
async fn void(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    charge: &DueCharge,
) -> Result<(), CampaignsError> {
    let request = &charge.request;
    let credit = CreditRequest {
        wallet_id: request.wallet_id,
        amount: request.amount,
        counterparty: funds::revenue(),
        reference: funds::reference(format!("{}:void", request.reference))?,
        actor: funds::actor(),
    };
    campaigns.ledger.credit(conn, credit).await?;
    tracing::error!(
        event = "campaign_charge_voided",
        campaign = %request.campaign,
        batch = %charge.batch,
        amount = request.amount.minor(),
        "a batch's charge was booked after it had been recorded as uncharged; given back"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNCHARGED: Charged = Charged::Uncharged {
        code: "FROZEN_WALLET",
    };
    const ALL: [Charged; 3] = [Charged::Captured, Charged::Debited, UNCHARGED];

    #[test]
    fn a_due_charge_is_recorded_as_it_was_booked() {
        for charged in ALL {
            assert_eq!(
                next(Some(ChargeState::Due), charged),
                Some(Next::Record(charged))
            );
        }
    }

    #[test]
    fn a_recorded_charge_is_kept() {
        for state in [ChargeState::Captured, ChargeState::Debited] {
            for charged in ALL {
                assert_eq!(next(Some(state), charged), Some(Next::Keep(state)));
            }
        }
        assert_eq!(
            next(Some(ChargeState::Uncharged), UNCHARGED),
            Some(Next::Keep(ChargeState::Uncharged))
        );
    }

    #[test]
    fn money_moved_after_an_uncharged_record_is_given_back() {
        for charged in [Charged::Captured, Charged::Debited] {
            assert_eq!(
                next(Some(ChargeState::Uncharged), charged),
                Some(Next::Void)
            );
        }
    }

    #[test]
    fn a_batch_without_a_charge_cannot_be_booked() {
        assert_eq!(next(None, Charged::Captured), None);
    }

    #[test]
    fn states_round_trip() {
        for state in [
            ChargeState::Due,
            ChargeState::Captured,
            ChargeState::Debited,
            ChargeState::Uncharged,
        ] {
            assert_eq!(ChargeState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ChargeState::parse("paid"), None);
    }
}
