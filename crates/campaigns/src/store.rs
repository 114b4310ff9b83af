//! SQL for campaigns and recipients. Nothing here decides anything.

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{campaign_holds, campaign_recipients as recipients, campaigns},
};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper,
    dsl::count_star,
    sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use primitives::{HoldId, OrganizationId};
use uuid::Uuid;

use crate::{
    CampaignId, CampaignStatus, CampaignsError, PauseReason, RecipientStatus,
    campaign::{Campaign, CampaignRow},
    delivery::{DeliveryCounts, DeliveryStatus},
};

/// Limits a lookup to one organization's campaigns (`None`: the dispatcher, which serves all).
pub(crate) type Scope = Option<OrganizationId>;

async fn one(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: CampaignId,
    lock: bool,
) -> Result<Campaign, CampaignsError> {
    let query = campaigns::table
        .find(id.as_uuid())
        .select(CampaignRow::as_select());
    let row = if lock {
        query.for_update().first(conn).await
    } else {
        query.first(conn).await
    };
    let campaign: Campaign = row
        .optional()?
        .ok_or(CampaignsError::CampaignNotFound)?
        .try_into()?;
    match scope {
        Some(organization) if campaign.organization_id != organization => {
            Err(CampaignsError::CampaignNotFound)
        }
        _ => Ok(campaign),
    }
}

/// One campaign, or `CampaignNotFound` (also when it belongs to another organization: G11).
pub(crate) async fn find(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: CampaignId,
) -> Result<Campaign, CampaignsError> {
    one(conn, scope, id, false).await
}

/// Like [`find`], locking the row until the end of the transaction. Every change to a campaign,
/// its recipients' states or its hold happens under this lock, taken before the wallet's.
pub(crate) async fn lock(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: CampaignId,
) -> Result<Campaign, CampaignsError> {
    one(conn, scope, id, true).await
}

/// Locks the organization's campaigns in `status`, in id order (the order every multi-campaign
/// transaction locks in, so two of them cannot deadlock).
pub(crate) async fn lock_all(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    status: CampaignStatus,
) -> Result<Vec<Campaign>, CampaignsError> {
    campaigns::table
        .filter(campaigns::organization_id.eq(organization.as_uuid()))
        .filter(campaigns::status.eq(status.as_str()))
        .order(campaigns::id.asc())
        .for_update()
        .select(CampaignRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Campaign::try_from)
        .collect()
}

/// The organization's campaigns, newest first, older than `before` if given.
pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    before: Option<CampaignId>,
    limit: i64,
) -> Result<Vec<Campaign>, CampaignsError> {
    let mut query = campaigns::table
        .filter(campaigns::organization_id.eq(organization.as_uuid()))
        .order(campaigns::id.desc())
        .limit(limit)
        .select(CampaignRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(campaigns::id.lt(before.as_uuid()));
    }
    query
        .load(conn)
        .await?
        .into_iter()
        .map(Campaign::try_from)
        .collect()
}

/// Inserts a draft.
pub(crate) async fn insert_campaign(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    organization: OrganizationId,
    new: &crate::NewCampaign,
    segmentation: crate::segments::Segmentation,
    cost: primitives::Money,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    let segments =
        i32::try_from(segmentation.segments).map_err(|_| CampaignsError::CostOverflow)?;
    let inserted = diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id.as_uuid()),
            campaigns::organization_id.eq(organization.as_uuid()),
            campaigns::brand_id.eq(new.brand_id.as_uuid()),
            campaigns::name.eq(new.name.as_str()),
            campaigns::body.eq(new.body.as_str()),
            campaigns::sender_kind.eq(new.sender.kind()),
            campaigns::sender.eq(new.sender.value()),
            campaigns::currency.eq(new.price_per_segment.currency().code()),
            campaigns::price_per_segment.eq(new.price_per_segment.minor()),
            campaigns::encoding.eq(segmentation.encoding.as_str()),
            campaigns::segments.eq(segments),
            campaigns::cost_per_message.eq(cost.minor()),
            campaigns::status.eq(CampaignStatus::Draft.as_str()),
            campaigns::created_at.eq(now),
            campaigns::updated_at.eq(now),
        ))
        .execute(conn)
        .await;
    match inserted {
        Ok(_) => Ok(()),
        // The composite key (brand, organization): the brand is not this organization's.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Err(CampaignsError::BrandNotFound),
        Err(error) => Err(error.into()),
    }
}

/// Sets the status (and the pause reason, which a paused campaign must have and no other may).
pub(crate) async fn set_status(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    status: CampaignStatus,
    reason: Option<PauseReason>,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    let finished_at = status.is_finished().then_some(now);
    diesel::update(campaigns::table.find(id.as_uuid()))
        .set((
            campaigns::status.eq(status.as_str()),
            campaigns::pause_reason.eq(reason.map(PauseReason::as_str)),
            campaigns::finished_at.eq(finished_at),
            campaigns::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn set_started(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    start_key: &str,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    diesel::update(campaigns::table.find(id.as_uuid()))
        .set((
            campaigns::status.eq(CampaignStatus::Running.as_str()),
            campaigns::pause_reason.eq(None::<&str>),
            campaigns::start_key.eq(start_key),
            campaigns::started_at.eq(now),
            campaigns::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the campaign's open hold (`None` once released) and how many it has placed.
pub(crate) async fn set_hold(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    hold: Option<HoldId>,
    seq: i32,
) -> Result<(), CampaignsError> {
    diesel::update(campaigns::table.find(id.as_uuid()))
        .set((
            campaigns::hold_id.eq(hold.map(|hold| hold.as_uuid())),
            campaigns::hold_seq.eq(seq),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn set_dispatch_after(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    at: Option<DateTime<Utc>>,
) -> Result<(), CampaignsError> {
    diesel::update(campaigns::table.find(id.as_uuid()))
        .set(campaigns::dispatch_after.eq(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes sure claims look at recipients above `after` again (see `dispatch::claim`).
pub(crate) async fn lower_claim_cursor(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    after: i64,
) -> Result<(), CampaignsError> {
    diesel::update(campaigns::table.find(id.as_uuid()))
        .filter(campaigns::claim_after.gt(after.max(0)))
        .set(campaigns::claim_after.eq(after.max(0)))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn insert_campaign_hold(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
    hold: HoldId,
    seq: i32,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    diesel::insert_into(campaign_holds::table)
        .values((
            campaign_holds::hold_id.eq(hold.as_uuid()),
            campaign_holds::campaign_id.eq(campaign.as_uuid()),
            campaign_holds::seq.eq(seq),
            campaign_holds::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `hold` was placed by a campaign (such holds are the dispatcher's to capture and
/// release, nobody else's).
pub async fn owns_hold(conn: &mut AsyncPgConnection, hold: HoldId) -> Result<bool, CampaignsError> {
    let found = campaign_holds::table
        .find(hold.as_uuid())
        .select(campaign_holds::campaign_id)
        .first::<Uuid>(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Adds numbers not already in the campaign; returns how many were added.
pub(crate) async fn insert_recipients(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
    phones: &[&str],
    now: DateTime<Utc>,
) -> Result<usize, CampaignsError> {
    let added = diesel::sql_query(
        "INSERT INTO campaign_recipients (campaign_id, phone, updated_at) \
         SELECT $1, phone, $3 FROM unnest($2::text[]) AS t (phone) \
         ON CONFLICT (campaign_id, phone) DO NOTHING",
    )
    .bind::<SqlUuid, _>(campaign.as_uuid())
    .bind::<Array<Text>, _>(phones)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(added)
}

/// How many recipients are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecipientCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub unconfirmed: i64,
    pub canceled: i64,
}

impl RecipientCounts {
    pub fn total(&self) -> i64 {
        self.pending + self.sending + self.sent + self.failed + self.unconfirmed + self.canceled
    }
}

/// The recipients in each status and the messages in each delivery status, in one pass.
pub(crate) async fn counts(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
) -> Result<(RecipientCounts, DeliveryCounts), CampaignsError> {
    let rows: Vec<(String, Option<String>, i64)> = recipients::table
        .filter(recipients::campaign_id.eq(campaign.as_uuid()))
        .group_by((recipients::status, recipients::delivery_status))
        .select((
            recipients::status,
            recipients::delivery_status,
            count_star(),
        ))
        .load(conn)
        .await?;
    let mut counts = RecipientCounts::default();
    let mut deliveries = DeliveryCounts::default();
    for (status, delivery, count) in rows {
        if let Some(delivery) = delivery {
            let delivery = DeliveryStatus::parse(&delivery).ok_or_else(|| {
                CampaignsError::Corrupt(format!("campaign {campaign}: delivery status {delivery}"))
            })?;
            *deliveries.slot(delivery) += count;
        }
        let slot = match RecipientStatus::parse(&status) {
            Some(RecipientStatus::Pending) => &mut counts.pending,
            Some(RecipientStatus::Sending) => &mut counts.sending,
            Some(RecipientStatus::Sent) => &mut counts.sent,
            Some(RecipientStatus::Failed) => &mut counts.failed,
            Some(RecipientStatus::Unconfirmed) => &mut counts.unconfirmed,
            Some(RecipientStatus::Canceled) => &mut counts.canceled,
            None => {
                return Err(CampaignsError::Corrupt(format!(
                    "campaign {campaign}: recipient status {status}"
                )));
            }
        };
        *slot += count;
    }
    Ok((counts, deliveries))
}

/// How many recipients are in `status`, counting at most `cap` (cheap on a long list).
pub(crate) async fn count_in(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
    status: RecipientStatus,
    cap: Option<i64>,
) -> Result<i64, CampaignsError> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let row: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT 1 FROM campaign_recipients \
         WHERE campaign_id = $1 AND status = $2 LIMIT $3) AS t",
    )
    .bind::<SqlUuid, _>(campaign.as_uuid())
    .bind::<Text, _>(status.as_str())
    .bind::<diesel::sql_types::Nullable<BigInt>, _>(cap)
    .get_result(conn)
    .await?;
    Ok(row.n)
}

/// What the campaign's settled batches still owe (charges decided and not yet booked, see
/// `charges`), in minor units; only those to be captured from `hold` when given.
pub(crate) async fn charges_due(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
    hold: Option<HoldId>,
) -> Result<i64, CampaignsError> {
    #[derive(diesel::QueryableByName)]
    struct Due {
        #[diesel(sql_type = BigInt)]
        due: i64,
    }
    let row: Due = diesel::sql_query(
        "SELECT coalesce(sum(charge_due), 0)::bigint AS due FROM campaign_batches \
         WHERE campaign_id = $1 AND charge_state = 'due' AND ($2::uuid IS NULL OR hold_id = $2)",
    )
    .bind::<SqlUuid, _>(campaign.as_uuid())
    .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(hold.map(|hold| hold.as_uuid()))
    .get_result(conn)
    .await?;
    Ok(row.due)
}

/// Pending recipients of a campaign that stops for good become `canceled`.
pub(crate) async fn cancel_pending(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
    now: DateTime<Utc>,
) -> Result<usize, CampaignsError> {
    Ok(diesel::update(
        recipients::table
            .filter(recipients::campaign_id.eq(campaign.as_uuid()))
            .filter(recipients::status.eq(RecipientStatus::Pending.as_str())),
    )
    .set((
        recipients::status.eq(RecipientStatus::Canceled.as_str()),
        recipients::updated_at.eq(now),
    ))
    .execute(conn)
    .await?)
}

/// What the campaign's holds reserved, captured and released, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, diesel::QueryableByName)]
pub(crate) struct HoldTotals {
    #[diesel(sql_type = BigInt)]
    pub held: i64,
    #[diesel(sql_type = BigInt)]
    pub captured: i64,
    #[diesel(sql_type = BigInt)]
    pub released: i64,
}

pub(crate) async fn hold_totals(
    conn: &mut AsyncPgConnection,
    campaign: CampaignId,
) -> Result<HoldTotals, CampaignsError> {
    Ok(diesel::sql_query(
        "SELECT coalesce(sum(h.amount), 0)::bigint AS held, \
                coalesce(sum(h.captured), 0)::bigint AS captured, \
                coalesce(sum(h.released), 0)::bigint AS released \
         FROM campaign_holds AS c JOIN holds AS h ON h.id = c.hold_id WHERE c.campaign_id = $1",
    )
    .bind::<SqlUuid, _>(campaign.as_uuid())
    .get_result(conn)
    .await?)
}
