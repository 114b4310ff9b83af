//! Step 3 of a batch: one transaction records every outcome and what the batch's accepted and
//! maybe-sent messages cost, as a charge due (booked right after the commit: `charges`).

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::campaign_batches as batches};
use diesel::{
    ExpressionMethods, QueryDsl, QueryableByName,
    sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{
    Batch, BatchCounts, DispatchConfig,
    outcome::{Outcome, RowUpdate},
};
use crate::{
    Campaigns, CampaignsError, RecipientStatus,
    charges::{ChargeState, DueCharge},
    delivery::DeliveryStatus,
    funds,
    reconcile::{self, Resolution},
    store,
};

/// What a settlement committed.
pub(crate) struct Settled {
    pub counts: BatchCounts,
    /// What the batch costs, due: the caller books it (`charges::settle`) after the commit.
    pub charge: Option<DueCharge>,
}

/// Writes the outcomes of recipients still `sending` in this batch. Those that are not any
/// more had their lease run out and were recovered as unconfirmed: this worker now knows what
/// happened to them, so they are resolved with that knowledge. What the others cost is recorded
/// as the batch's due charge, not booked here: the ledger's batching writer books it after this
/// commit, outside any transaction of ours.
pub(crate) async fn settle(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    config: &DispatchConfig,
    batch: &Batch,
    outcomes: Vec<(i64, Outcome)>,
) -> Result<Settled, CampaignsError> {
    conn.transaction(async move |conn| {
        let now = campaigns.now();
        let campaign = store::lock(conn, None, batch.campaign).await?;
        let rows: Vec<(i64, RowUpdate)> = outcomes
            .iter()
            .map(|(id, outcome)| (*id, outcome.row(batch.cost, now)))
            .collect();
        let on_time = write_rows(conn, batch, &rows, now).await?;
        let mut counts = BatchCounts {
            claimed: batch.recipients.len(),
            recovered: batch.recovered,
            ..BatchCounts::default()
        };
        let mut charge_ids = Vec::new();
        for (id, outcome) in &outcomes {
            if !on_time.contains(id) {
                resolve_late(conn, campaigns, &campaign, *id, outcome).await?;
                continue;
            }
            match outcome.status() {
                RecipientStatus::Sent => counts.sent += 1,
                RecipientStatus::Failed => counts.failed += 1,
                RecipientStatus::Unconfirmed => counts.unconfirmed += 1,
                _ => counts.returned += 1,
            }
            if outcome.is_charged() {
                charge_ids.push(*id);
            }
        }
        let count = i64::try_from(charge_ids.len()).map_err(|_| CampaignsError::CostOverflow)?;
        let amount = funds::times(batch.cost, count)?;
        counts.charge_due = amount.minor();
        let returned = outcomes
            .iter()
            .filter(|(id, outcome)| {
                on_time.contains(id) && outcome.status() == RecipientStatus::Pending
            })
            .map(|(id, _)| *id)
            .min();
        if let Some(first) = returned {
            // Back to pending below the claim cursor: move the cursor back so they are found.
            store::lower_claim_cursor(conn, campaign.id, first - 1).await?;
        }
        record_batch(conn, batch, &counts, now + config.charge_grace, now).await?;
        if outcomes.iter().any(|(_, outcome)| outcome.halts()) {
            store::set_dispatch_after(conn, campaign.id, Some(now + config.trouble_backoff)).await?;
            tracing::warn!(campaign = %campaign.id, batch = %batch.id,
                "batch stopped on a Twilio answer meaning trouble; the campaign waits before its next batch");
        }
        // With a charge due, completing (and releasing the hold) waits for its booking.
        counts.completed = campaigns.settle_status(conn, &campaign, now).await?;
        log_batch(&campaign, batch, &counts);
        let charge = if amount.is_positive() {
            let wallet_id = campaigns
                .ledger
                .wallet_for_organization(conn, campaign.organization_id)
                .await?;
            Some(DueCharge::new(campaign.id, batch.id, wallet_id, batch.hold_id, amount))
        } else {
            None
        };
        Ok(Settled { counts, charge })
    })
    .await
}

#[derive(QueryableByName)]
struct Updated {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// One statement for the whole batch; returns the ids that were still this batch's `sending`.
async fn write_rows(
    conn: &mut AsyncPgConnection,
    batch: &Batch,
    rows: &[(i64, RowUpdate)],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<i64>, CampaignsError> {
    let column = |f: fn(&RowUpdate) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(|(_, row)| f(row)).collect()
    };
    let updated: Vec<Updated> = diesel::sql_query(
        // A status callback may have come before this settlement (Twilio is fast): what it
        // recorded (a later status, the SID) is kept, the send's answer only fills gaps.
        "UPDATE campaign_recipients AS r SET status = u.status, charged = u.charged, \
             twilio_sid = coalesce(u.sid, r.twilio_sid), twilio_status = u.tstatus, \
             twilio_price = u.price, twilio_price_unit = u.unit, error_code = u.code, \
             error = u.error, sent_at = CASE WHEN u.status = 'sent' THEN $2 END, \
             claimed_until = NULL, attempts = r.attempts + u.attempted, updated_at = $2, \
             delivery_status = coalesce(r.delivery_status, u.delivery), \
             delivery_updated_at = CASE WHEN r.delivery_status IS NULL AND u.delivery IS NOT NULL \
                                        THEN $2 ELSE r.delivery_updated_at END, \
             unconfirmed_at = CASE WHEN u.status = 'unconfirmed' THEN $2 END \
         FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], \
                     $9::text[], $10::int[], $11::text[], $12::int[], $13::text[]) \
              AS u (id, status, charged, sid, tstatus, price, unit, code, error, attempted, \
                    delivery) \
         WHERE r.id = u.id AND r.batch_id = $1 AND r.status = 'sending' \
         RETURNING r.id",
    )
    .bind::<SqlUuid, _>(batch.id)
    .bind::<Timestamptz, _>(now)
    .bind::<Array<BigInt>, _>(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        rows.iter()
            .map(|(_, r)| r.status.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|(_, r)| r.charged).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(column(|r| r.sid.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(|r| r.twilio_status.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(|r| r.price.clone()))
    .bind::<Array<Nullable<Text>>, _>(column(|r| r.price_unit.clone()))
    .bind::<Array<Nullable<Integer>>, _>(rows.iter().map(|(_, r)| r.error_code).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(column(|r| r.error.clone()))
    .bind::<Array<Integer>, _>(rows.iter().map(|(_, r)| r.attempted).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(
        rows.iter()
            .map(|(_, r)| r.delivery.map(DeliveryStatus::as_str))
            .collect::<Vec<_>>(),
    )
    .load(conn)
    .await?;
    Ok(updated.into_iter().map(|row| row.id).collect())
}

/// A recipient recovered as unconfirmed (and charged) before this worker settled: what the
/// worker saw decides it now. Accepted: sent. Refused or never sent: refunded and failed.
/// Unknown: it stays unconfirmed.
async fn resolve_late(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &crate::Campaign,
    id: i64,
    outcome: &Outcome,
) -> Result<(), CampaignsError> {
    let resolution = match outcome {
        Outcome::Accepted(message) => Resolution::Sent {
            twilio_sid: Some(message.sid.clone()),
        },
        Outcome::Refused { .. } | Outcome::Unsent { .. } | Outcome::NotAttempted => {
            Resolution::NotSent
        }
        Outcome::Unknown { .. } => return Ok(()),
    };
    tracing::info!(campaign = %campaign.id, recipient = id, ?resolution,
        "late settlement resolves an unconfirmed recipient");
    match reconcile::resolve_locked(conn, campaigns, campaign, id, &resolution, funds::actor())
        .await
    {
        Ok(_) | Err(CampaignsError::NotUnconfirmed { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The batch's counts and its charge, due (`retry_at`: when recovery may book it instead).
async fn record_batch(
    conn: &mut AsyncPgConnection,
    batch: &Batch,
    counts: &BatchCounts,
    retry_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    let n = |count: usize| i32::try_from(count).unwrap_or(i32::MAX);
    let due = counts.charge_due > 0;
    diesel::update(batches::table.find(batch.id))
        .set((
            batches::settled_at.eq(now),
            batches::sent.eq(batches::sent + n(counts.sent)),
            batches::failed.eq(batches::failed + n(counts.failed)),
            batches::unconfirmed.eq(batches::unconfirmed + n(counts.unconfirmed)),
            batches::returned.eq(batches::returned + n(counts.returned)),
            batches::charge_due.eq(counts.charge_due),
            batches::charge_state.eq(due.then_some(ChargeState::Due.as_str())),
            batches::charge_retry_at.eq(due.then_some(retry_at)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

fn log_batch(campaign: &crate::Campaign, batch: &Batch, counts: &BatchCounts) {
    tracing::info!(
        event = "campaign_batch",
        organization = %campaign.organization_id,
        campaign = %campaign.id,
        batch = %batch.id,
        claimed = counts.claimed,
        sent = counts.sent,
        failed = counts.failed,
        unconfirmed = counts.unconfirmed,
        returned = counts.returned,
        charge_due = counts.charge_due,
        "campaign batch settled"
    );
    let n = |count: usize| u64::try_from(count).unwrap_or(u64::MAX);
    metrics::counter!("campaign_messages_sent_total").increment(n(counts.sent));
    metrics::counter!("campaign_messages_failed_total").increment(n(counts.failed));
    metrics::counter!("campaign_messages_unconfirmed_total").increment(n(counts.unconfirmed));
}
