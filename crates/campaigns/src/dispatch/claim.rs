//! Step 1 of a batch: one transaction under the campaign's row lock decides whether the
//! campaign may send now and, if so, claims its next recipients.

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{campaign_batches as batches, campaigns},
};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, QueryDsl, QueryableByName,
    sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::{Hold, HoldStatus};
use uuid::Uuid;

use super::{Batch, BatchReport, Claimed, DispatchConfig, recover};
use crate::{
    CampaignId, CampaignStatus, Campaigns, CampaignsError, RecipientStatus, brands,
    campaign::Campaign,
    eligibility::{self, Funding},
    funds,
    lifecycle::Launch,
    store,
};

pub(crate) enum Claim {
    Batch(Batch),
    Report(BatchReport),
}

/// Running campaigns not waiting out a backoff, oldest first.
pub(crate) async fn due_campaigns(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<CampaignId>, CampaignsError> {
    let ids: Vec<Uuid> = campaigns::table
        .filter(campaigns::status.eq(CampaignStatus::Running.as_str()))
        .filter(
            campaigns::dispatch_after
                .is_null()
                .or(campaigns::dispatch_after.le(now)),
        )
        .order(campaigns::id.asc())
        .select(campaigns::id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(CampaignId::from_uuid).collect())
}

pub(crate) async fn claim(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    config: &DispatchConfig,
    id: CampaignId,
) -> Result<Claim, CampaignsError> {
    conn.transaction(async move |conn| {
        let now = campaigns.now();
        let mut campaign = store::lock(conn, None, id).await?;
        let recovered = recover::abandoned(conn, campaigns, &campaign, now).await?;
        if campaign.status != CampaignStatus::Running {
            campaigns.settle_status(conn, &campaign, now).await?;
            return Ok(Claim::Report(BatchReport::Idle));
        }
        if campaign.dispatch_after.is_some_and(|at| at > now) {
            return Ok(Claim::Report(BatchReport::Idle));
        }
        let cap = i64::try_from(config.batch_size.max(1)).unwrap_or(i64::MAX);
        let pending = store::count_in(conn, id, RecipientStatus::Pending, Some(cap)).await?;
        let sending = store::count_in(conn, id, RecipientStatus::Sending, None).await?;
        if pending == 0 {
            let completed = sending == 0 && campaigns.settle_status(conn, &campaign, now).await?;
            let report = if completed { BatchReport::Completed } else { BatchReport::Idle };
            return Ok(Claim::Report(report));
        }
        let mut hold = usable_hold(conn, campaigns, &campaign, now).await?;
        if hold.is_none() {
            // Renewing releases the old hold: only possible with nothing in flight on it and no
            // charge due from it.
            if sending > 0 || store::charges_due(conn, id, campaign.hold_id).await? > 0 {
                return Ok(Claim::Report(BatchReport::Idle));
            }
            let all_pending = store::count_in(conn, id, RecipientStatus::Pending, None).await?;
            if let Launch::Blocked(blockers) =
                campaigns.launch(conn, &campaign, all_pending, now, false).await?
            {
                return pause(conn, campaigns, &campaign, blockers, now).await;
            }
            campaign = store::find(conn, None, id).await?;
            hold = usable_hold(conn, campaigns, &campaign, now).await?;
        }
        let Some(hold) = hold else {
            return Err(CampaignsError::Corrupt(format!("campaign {id}: no hold after renewal")));
        };
        // Charges due are not subtracted: one may already be captured (its booking committed,
        // its record not yet), and the hold covers them anyway, being placed for every
        // recipient it pays for.
        let in_flight = funds::times(campaign.cost_per_message, sending)?;
        let funding = Funding::Hold {
            remaining: hold.remaining.checked_sub(in_flight).map_err(|_| CampaignsError::CostOverflow)?,
            required: funds::times(campaign.cost_per_message, pending)?,
        };
        let facts =
            eligibility::load_facts(conn, &campaigns.ledger, campaign.organization_id, Some(campaign.brand_id))
                .await?;
        let blockers = eligibility::decide(&facts, funding);
        if !blockers.is_empty() {
            return pause(conn, campaigns, &campaign, blockers, now).await;
        }
        let brand = brands::get(conn, campaign.brand_id).await?;
        let batch_id = Uuid::now_v7();
        let recipients =
            take(conn, config, &campaign, hold.id, batch_id, pending, now).await?;
        if recipients.is_empty() {
            return Ok(Claim::Report(BatchReport::Idle));
        }
        tracing::debug!(campaign = %id, batch = %batch_id, size = recipients.len(), "batch claimed");
        Ok(Claim::Batch(Batch {
            id: batch_id,
            campaign: id,
            hold_id: hold.id,
            cost: campaign.cost_per_message,
            account_sid: brand.twilio_subaccount_sid,
            sender: campaign.sender.to_twilio(),
            body: campaign.body,
            recipients,
            recovered,
        }))
    })
    .await
}

/// The campaign's hold if it is open and far enough from its deadline for a batch.
async fn usable_hold(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<Option<Hold>, CampaignsError> {
    let Some(hold_id) = campaign.hold_id else {
        return Ok(None);
    };
    let wallet_id = campaigns
        .ledger
        .wallet_for_organization(conn, campaign.organization_id)
        .await?;
    let hold = campaigns
        .ledger
        .hold_details(conn, wallet_id, hold_id)
        .await?;
    let usable =
        hold.status == HoldStatus::Open && hold.expires_at > now + campaigns.policy.renew_before;
    Ok(usable.then_some(hold))
}

async fn pause(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &Campaign,
    blockers: Vec<eligibility::Blocker>,
    now: DateTime<Utc>,
) -> Result<Claim, CampaignsError> {
    let reason = <[eligibility::Blocker]>::first(&blockers)
        .map(eligibility::Blocker::reason)
        .ok_or_else(|| CampaignsError::Corrupt("pause without a blocker".into()))?;
    campaigns.set_paused(conn, campaign, reason, now).await?;
    Ok(Claim::Report(BatchReport::Paused(blockers)))
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    phone: String,
}

/// One statement: the next `size` pending recipients after the campaign's cursor become
/// `sending` under the batch's lease (skipping rows another transaction holds), and the cursor
/// moves past them.
///
/// Why the cursor: a sent recipient leaves the partial index of pending ones only when vacuum
/// removes its dead entry, so a scan from the campaign's first id steps over every recipient
/// already sent (measured: the claim grew from 5 to 30 ms over 100,000 recipients). The order is
/// spelled `campaign_id, id` so that only that partial index can provide it; by `id` alone the
/// planner may walk the primary key instead.
async fn claim_rows(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
    batch_id: Uuid,
    lease_until: DateTime<Utc>,
    size: i64,
    now: DateTime<Utc>,
) -> Result<Vec<ClaimedRow>, CampaignsError> {
    Ok(diesel::sql_query(
        "WITH picked AS ( \
             SELECT id FROM campaign_recipients \
             WHERE campaign_id = $1 AND status = 'pending' \
               AND id > (SELECT claim_after FROM campaigns WHERE id = $1) \
             ORDER BY campaign_id, id LIMIT $5 FOR UPDATE SKIP LOCKED), \
         cursor AS ( \
             UPDATE campaigns SET claim_after = (SELECT max(id) FROM picked) \
             WHERE id = $1 AND EXISTS (SELECT 1 FROM picked)) \
         UPDATE campaign_recipients AS r \
         SET status = 'sending', batch_id = $2, claimed_until = $3, updated_at = $4 \
         FROM picked WHERE r.id = picked.id \
         RETURNING r.id, r.phone",
    )
    .bind::<SqlUuid, _>(campaign.id.as_uuid())
    .bind::<SqlUuid, _>(batch_id)
    .bind::<Timestamptz, _>(lease_until)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(size)
    .load(conn)
    .await?)
}

/// Records the batch and marks up to `size` pending recipients `sending` under a lease.
async fn take(
    conn: &mut AsyncPgConnection,
    config: &DispatchConfig,
    campaign: &Campaign,
    hold_id: primitives::HoldId,
    batch_id: Uuid,
    size: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Claimed>, CampaignsError> {
    let lease_until = now + config.lease;
    let planned = i32::try_from(size).map_err(|_| CampaignsError::CostOverflow)?;
    diesel::insert_into(batches::table)
        .values((
            batches::id.eq(batch_id),
            batches::campaign_id.eq(campaign.id.as_uuid()),
            batches::hold_id.eq(hold_id.as_uuid()),
            batches::worker.eq(&config.worker),
            batches::size.eq(planned),
            batches::claimed_at.eq(now),
            batches::lease_until.eq(lease_until),
        ))
        .execute(conn)
        .await?;
    let mut rows = claim_rows(conn, campaign, batch_id, lease_until, size, now).await?;
    if rows.is_empty() {
        // The cursor is a shortcut, not the truth: should a pending recipient ever sit below it,
        // start from the beginning once rather than leave it unsent.
        diesel::update(campaigns::table.find(campaign.id.as_uuid()))
            .set(campaigns::claim_after.eq(0))
            .execute(conn)
            .await?;
        rows = claim_rows(conn, campaign, batch_id, lease_until, size, now).await?;
    }
    if rows.len() != usize::try_from(size).unwrap_or(0) {
        let claimed = i32::try_from(rows.len()).map_err(|_| CampaignsError::CostOverflow)?;
        if claimed == 0 {
            diesel::delete(batches::table.find(batch_id))
                .execute(conn)
                .await?;
        } else {
            diesel::update(batches::table.find(batch_id))
                .set(batches::size.eq(claimed))
                .execute(conn)
                .await?;
        }
    }
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|row| Claimed {
            id: row.id,
            phone: row.phone,
        })
        .collect();
    // RETURNING has no order; send in list order.
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}
