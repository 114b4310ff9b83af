//! Claims whose worker never settled them. Their recipients may or may not have reached
//! Twilio, so they are never resent: they become `unconfirmed`, are charged as if sent (Twilio
//! bills the platform for what it accepted) and wait for a person (docs/campaigns.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection, DbPool,
    schema::{campaign_batches as batches, campaign_recipients as recipients},
};
use diesel::{
    ExpressionMethods, QueryDsl, QueryableByName,
    sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use primitives::HoldId;
use uuid::Uuid;

use crate::{
    CampaignId, Campaigns, CampaignsError, RecipientStatus,
    campaign::Campaign,
    funds::{self, ChargeRequest},
    store,
};

const ABANDONED: &str = "the worker's lease ran out before it recorded Twilio's answer; not resent (see docs/campaigns.md)";

#[derive(QueryableByName)]
struct Abandoned {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    batch_id: Uuid,
}

/// Recovers every campaign with abandoned claims, each in its own transaction (paused and
/// canceled campaigns too: their hold is released once nothing is in flight). Returns how
/// many recipients became unconfirmed.
pub(crate) async fn abandoned_everywhere(
    pool: &DbPool,
    campaigns: &Campaigns,
) -> Result<usize, CampaignsError> {
    let mut conn = pool.get().await?;
    let now = campaigns.now();
    let ids: Vec<Uuid> = recipients::table
        .filter(recipients::status.eq(RecipientStatus::Sending.as_str()))
        .filter(recipients::claimed_until.le(now))
        .select(recipients::campaign_id)
        .distinct()
        .load(&mut conn)
        .await?;
    let mut recovered = 0;
    for id in ids {
        recovered += conn
            .transaction(async move |conn| {
                let campaign = store::lock(conn, None, CampaignId::from_uuid(id)).await?;
                let count = abandoned(conn, campaigns, &campaign, now).await?;
                if campaign.status != crate::CampaignStatus::Running {
                    campaigns.settle_status(conn, &campaign, now).await?;
                }
                Ok::<_, CampaignsError>(count)
            })
            .await?;
    }
    Ok(recovered)
}

/// Marks the locked campaign's recipients whose lease ran out `unconfirmed` and charges them,
/// one charge per batch. Returns how many.
pub(crate) async fn abandoned(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<usize, CampaignsError> {
    let rows: Vec<Abandoned> = diesel::sql_query(
        "UPDATE campaign_recipients SET status = 'unconfirmed', charged = $3, \
             claimed_until = NULL, error = $4, updated_at = $2, unconfirmed_at = $2 \
         WHERE campaign_id = $1 AND status = 'sending' AND claimed_until <= $2 \
         RETURNING id, batch_id",
    )
    .bind::<SqlUuid, _>(campaign.id.as_uuid())
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(campaign.cost_per_message.minor())
    .bind::<Text, _>(ABANDONED)
    .load(conn)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut by_batch: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for row in &rows {
        by_batch.entry(row.batch_id).or_default().push(row.id);
    }
    let wallet_id = campaigns
        .ledger
        .wallet_for_organization(conn, campaign.organization_id)
        .await?;
    for (batch, ids) in by_batch {
        let hold_id: Uuid = batches::table
            .find(batch)
            .select(batches::hold_id)
            .first(conn)
            .await?;
        let count = i64::try_from(ids.len()).map_err(|_| CampaignsError::CostOverflow)?;
        let amount = funds::times(campaign.cost_per_message, count)?;
        let request = ChargeRequest {
            campaign: campaign.id,
            wallet_id,
            hold_id: HoldId::from_uuid(hold_id),
            amount,
            reference: format!("campaign:{}:batch:{batch}:unconfirmed", campaign.id),
        };
        // On the single path, in this transaction: atomic with marking them unconfirmed.
        let charged = funds::charge(conn, &campaigns.ledger, &request).await?;
        if !charged.is_paid() {
            diesel::update(recipients::table.filter(recipients::id.eq_any(&ids)))
                .set(recipients::charged.eq(0))
                .execute(conn)
                .await?;
        }
        let count = i32::try_from(ids.len()).map_err(|_| CampaignsError::CostOverflow)?;
        diesel::update(batches::table.find(batch))
            .set((
                batches::unconfirmed.eq(batches::unconfirmed + count),
                batches::captured
                    .eq(batches::captured + if charged.is_paid() { amount.minor() } else { 0 }),
                batches::settled_at.eq(now),
            ))
            .execute(conn)
            .await?;
        tracing::warn!(
            event = "campaign_recipients_unconfirmed",
            organization = %campaign.organization_id,
            campaign = %campaign.id,
            %batch,
            count,
            "abandoned claim recovered: recipients unconfirmed, charged, not resent"
        );
        metrics::counter!("campaign_recipients_unconfirmed_total")
            .increment(u64::try_from(count).unwrap_or(0));
    }
    Ok(rows.len())
}
