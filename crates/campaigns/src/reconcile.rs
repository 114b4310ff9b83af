//! Unconfirmed recipients: listing them and resolving each once it is known whether Twilio
//! sent it: by a person (from Twilio's console or message log, or the recipient), or on their
//! own by a delivery callback ([`crate::delivery`]) or a message lookup ([`crate::lookup`]),
//! all through [`resolve_locked`].
//!
//! - `Sent`: it stays charged (a recipient that could not be charged when it was marked is
//!   debited now) and becomes `sent`.
//! - `NotSent`: what it was charged is credited back (reference
//!   `campaign:{id}:recipient:{n}:refund`) and it becomes `failed`. It is not resent: a person
//!   who wants it sent adds it to a new campaign.

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{campaign_batches as batches, campaign_recipients as recipients},
};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::{Actor, CreditRequest, DebitRequest};
use primitives::{Money, OrganizationId};
use uuid::Uuid;

use crate::{
    CampaignId, Campaigns, CampaignsError, RecipientStatus, campaign::Campaign, charges,
    delivery::DeliveryStatus, funds, input::message_sid, store,
};

/// What is known about an unconfirmed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Twilio sent it; its message SID if known.
    Sent {
        twilio_sid: Option<String>,
    },
    NotSent,
}

/// A recipient as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: i64,
    pub campaign_id: CampaignId,
    pub phone: String,
    pub status: RecipientStatus,
    pub batch_id: Option<Uuid>,
    pub attempts: i32,
    /// What it cost, in the campaign's currency.
    pub charged: Money,
    pub twilio_sid: Option<String>,
    pub twilio_status: Option<String>,
    pub twilio_price: Option<String>,
    pub twilio_price_unit: Option<String>,
    pub error_code: Option<i32>,
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The latest delivery status Twilio reported for its message.
    pub delivery_status: Option<DeliveryStatus>,
    /// Twilio's error code of an undelivered or failed message.
    pub delivery_error_code: Option<i32>,
    pub delivery_updated_at: Option<DateTime<Utc>>,
    /// When it became unconfirmed (kept once resolved).
    pub unconfirmed_at: Option<DateTime<Utc>>,
    /// Why the lookup job has not resolved it (or how it did), for the person who looks.
    pub lookup_note: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = recipients, check_for_backend(diesel::pg::Pg))]
struct RecipientRow {
    id: i64,
    campaign_id: Uuid,
    phone: String,
    status: String,
    batch_id: Option<Uuid>,
    attempts: i32,
    charged: i64,
    twilio_sid: Option<String>,
    twilio_status: Option<String>,
    twilio_price: Option<String>,
    twilio_price_unit: Option<String>,
    error_code: Option<i32>,
    error: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    delivery_status: Option<String>,
    delivery_error_code: Option<i32>,
    delivery_updated_at: Option<DateTime<Utc>>,
    unconfirmed_at: Option<DateTime<Utc>>,
    lookup_note: Option<String>,
}

impl RecipientRow {
    fn into_recipient(self, campaign: &Campaign) -> Result<Recipient, CampaignsError> {
        let status = RecipientStatus::parse(&self.status)
            .ok_or_else(|| CampaignsError::Corrupt(format!("recipient {}: status", self.id)))?;
        let delivery_status = match &self.delivery_status {
            Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
                CampaignsError::Corrupt(format!("recipient {}: delivery_status", self.id))
            })?),
            None => None,
        };
        Ok(Recipient {
            id: self.id,
            campaign_id: CampaignId::from_uuid(self.campaign_id),
            phone: self.phone,
            status,
            batch_id: self.batch_id,
            attempts: self.attempts,
            charged: Money::from_minor(self.charged, campaign.currency()),
            twilio_sid: self.twilio_sid,
            twilio_status: self.twilio_status,
            twilio_price: self.twilio_price,
            twilio_price_unit: self.twilio_price_unit,
            error_code: self.error_code,
            error: self.error,
            sent_at: self.sent_at,
            updated_at: self.updated_at,
            delivery_status,
            delivery_error_code: self.delivery_error_code,
            delivery_updated_at: self.delivery_updated_at,
            unconfirmed_at: self.unconfirmed_at,
            lookup_note: self.lookup_note,
        })
    }
}

impl Campaigns {
    /// The campaign's recipients in list order, optionally in one status, after `after` (the
    /// last id of the previous page), at most `limit` (1 to 1000).
    pub async fn recipients(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
        status: Option<RecipientStatus>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Recipient>, CampaignsError> {
        let campaign = store::find(conn, Some(organization), id).await?;
        let mut query = recipients::table
            .filter(recipients::campaign_id.eq(id.as_uuid()))
            .order(recipients::id.asc())
            .limit(i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .select(RecipientRow::as_select())
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(recipients::status.eq(status.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(recipients::id.gt(after));
        }
        query
            .load(conn)
            .await?
            .into_iter()
            .map(|row| row.into_recipient(&campaign))
            .collect()
    }

    /// Resolves an unconfirmed recipient (see the module documentation). Anything else is
    /// `RECIPIENT_NOT_UNCONFIRMED` and changes nothing, so resolving twice is harmless.
    pub async fn resolve_unconfirmed(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
        recipient: i64,
        resolution: &Resolution,
    ) -> Result<Recipient, CampaignsError> {
        conn.transaction(async move |conn| {
            let campaign = store::lock(conn, Some(organization), id).await?;
            resolve_locked(conn, self, &campaign, recipient, resolution, funds::actor()).await
        })
        .await
    }
}

async fn lock_recipient(
    conn: &mut AsyncPgConnection,
    campaign: &Campaign,
    recipient: i64,
) -> Result<Recipient, CampaignsError> {
    recipients::table
        .filter(recipients::campaign_id.eq(campaign.id.as_uuid()))
        .filter(recipients::id.eq(recipient))
        .for_update()
        .select(RecipientRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CampaignsError::RecipientNotFound)?
        .into_recipient(campaign)
}

/// Resolves `recipient` of the locked `campaign`; `actor` is who decided, in the ledger and the
/// log. Stays on the single ledger path, inside the caller's transaction: its refund or debit
/// must commit with the recipient's new status (and resolutions are rare).
pub(crate) async fn resolve_locked(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    campaign: &Campaign,
    recipient: i64,
    resolution: &Resolution,
    actor: Actor,
) -> Result<Recipient, CampaignsError> {
    let mut current = lock_recipient(conn, campaign, recipient).await?;
    if let Some(batch) = current.batch_id
        && current.status == RecipientStatus::Unconfirmed
        && charges::book_in_place(conn, campaigns, campaign, batch).await?
    {
        // Its batch's charge was still due: booked now, on this transaction, so what follows
        // refunds or keeps money actually taken (an uncharged batch set its `charged` to 0).
        current = lock_recipient(conn, campaign, recipient).await?;
    }
    if let Resolution::Sent {
        twilio_sid: Some(sid),
    } = resolution
        && message_sid(sid).is_none()
    {
        return Err(CampaignsError::InvalidInput {
            field: "twilio_sid",
            reason: "must be two capital letters and 32 hex digits (SM...)",
        });
    }
    if current.status != RecipientStatus::Unconfirmed {
        return Err(CampaignsError::NotUnconfirmed {
            status: current.status,
        });
    }
    let now = campaigns.now();
    let wallet_id = campaigns
        .ledger
        .wallet_for_organization(conn, campaign.organization_id)
        .await?;
    let base = format!("campaign:{}:recipient:{recipient}", campaign.id);
    let (status, charged) = match resolution {
        Resolution::Sent { .. } => {
            if current.charged.minor() == 0 {
                let debit = DebitRequest {
                    wallet_id,
                    amount: campaign.cost_per_message,
                    counterparty: funds::revenue(),
                    reference: funds::reference(format!("{base}:charge"))?,
                    actor: actor.clone(),
                };
                campaigns.ledger.debit(conn, debit).await?;
            }
            (RecipientStatus::Sent, campaign.cost_per_message.minor())
        }
        Resolution::NotSent => {
            if current.charged.is_positive() {
                let credit = CreditRequest {
                    wallet_id,
                    amount: current.charged,
                    counterparty: funds::revenue(),
                    reference: funds::reference(format!("{base}:refund"))?,
                    actor: actor.clone(),
                };
                campaigns.ledger.credit(conn, credit).await?;
            }
            (RecipientStatus::Failed, 0)
        }
    };
    let sid = match resolution {
        Resolution::Sent { twilio_sid } => twilio_sid.clone().or(current.twilio_sid.clone()),
        Resolution::NotSent => current.twilio_sid.clone(),
    };
    let row: RecipientRow = diesel::update(recipients::table.find(recipient))
        .set((
            recipients::status.eq(status.as_str()),
            recipients::charged.eq(charged),
            recipients::twilio_sid.eq(sid),
            recipients::sent_at.eq((status == RecipientStatus::Sent).then_some(now)),
            recipients::updated_at.eq(now),
        ))
        .returning(RecipientRow::as_returning())
        .get_result(conn)
        .await?;
    if let Some(batch) = current.batch_id {
        let (sent, failed) = if status == RecipientStatus::Sent {
            (1, 0)
        } else {
            (0, 1)
        };
        diesel::update(batches::table.find(batch))
            .set((
                batches::unconfirmed.eq(batches::unconfirmed - 1),
                batches::sent.eq(batches::sent + sent),
                batches::failed.eq(batches::failed + failed),
            ))
            .execute(conn)
            .await?;
    }
    tracing::info!(
        event = "campaign_recipient_resolved",
        organization = %campaign.organization_id,
        campaign = %campaign.id,
        recipient,
        status = status.as_str(),
        actor = actor.as_str(),
        "unconfirmed recipient resolved"
    );
    row.into_recipient(campaign)
}
