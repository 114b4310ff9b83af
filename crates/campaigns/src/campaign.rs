//! The campaign vocabulary: ids, statuses, pause reasons and the stored campaign.

use std::fmt;

use chrono::{DateTime, Utc};
use db::schema::campaigns;
use diesel::{Queryable, Selectable};
use primitives::{Currency, HoldId, Money, OrganizationId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{BrandId, CampaignsError, Sender, segments::Encoding};

pub use primitives::CampaignId;

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignStatus {
    /// Being prepared: recipients may be added; nothing is reserved.
    Draft,
    /// Its hold is placed and the dispatcher sends it.
    Running,
    /// Stopped with a [`PauseReason`]; its hold is released once no batch is in flight.
    Paused,
    /// Every recipient was tried.
    Completed,
    /// Stopped for good; recipients not yet sent are `canceled`.
    Canceled,
}

impl CampaignStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Running,
            Self::Paused,
            Self::Completed,
            Self::Canceled,
        ]
        .into_iter()
        .find(|status| status.as_str() == value)
    }

    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled)
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a campaign is paused. Every reason but [`PauseReason::Manual`] is a billing reason: the
/// campaign resumes by itself once it clears, while a person's pause waits for a person.
/// Stored and sent (the `reason` of [`crate::CampaignControl`]) as [`PauseReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    SubscriptionInactive,
    WalletFrozen,
    MessagingSuspended,
    InsufficientFunds,
    Manual,
}

impl PauseReason {
    pub const ALL: [Self; 5] = [
        Self::SubscriptionInactive,
        Self::WalletFrozen,
        Self::MessagingSuspended,
        Self::InsufficientFunds,
        Self::Manual,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SubscriptionInactive => "subscription_inactive",
            Self::WalletFrozen => "wallet_frozen",
            Self::MessagingSuspended => "messaging_suspended",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Manual => "manual",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == value)
    }

    pub const fn is_billing(self) -> bool {
        !matches!(self, Self::Manual)
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub id: CampaignId,
    pub organization_id: OrganizationId,
    pub brand_id: BrandId,
    pub name: String,
    pub body: String,
    pub sender: Sender,
    pub price_per_segment: Money,
    pub encoding: Encoding,
    pub segments: u32,
    /// `segments x price_per_segment`: what one accepted message costs.
    pub cost_per_message: Money,
    pub status: CampaignStatus,
    pub pause_reason: Option<PauseReason>,
    /// The `Idempotency-Key` the campaign was started with.
    pub start_key: Option<String>,
    /// The open hold paying for it, if any.
    pub hold_id: Option<HoldId>,
    pub hold_seq: i32,
    pub dispatch_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Campaign {
    pub fn currency(&self) -> Currency {
        self.cost_per_message.currency()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = campaigns, check_for_backend(diesel::pg::Pg))]
pub(crate) struct CampaignRow {
    id: Uuid,
    organization_id: Uuid,
    brand_id: Uuid,
    name: String,
    body: String,
    sender_kind: String,
    sender: String,
    currency: String,
    price_per_segment: i64,
    encoding: String,
    segments: i32,
    cost_per_message: i64,
    status: String,
    pause_reason: Option<String>,
    start_key: Option<String>,
    hold_id: Option<Uuid>,
    hold_seq: i32,
    dispatch_after: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<CampaignRow> for Campaign {
    type Error = CampaignsError;

    fn try_from(row: CampaignRow) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| CampaignsError::Corrupt(format!("campaign {}: {what}", row.id));
        let currency =
            primitives::parse_currency(&row.currency).map_err(|_| corrupt("currency"))?;
        let pause_reason = match &row.pause_reason {
            Some(reason) => {
                Some(PauseReason::parse(reason).ok_or_else(|| corrupt("pause_reason"))?)
            }
            None => None,
        };
        Ok(Self {
            id: CampaignId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            brand_id: BrandId::from_uuid(row.brand_id),
            sender: Sender::from_stored(&row.sender_kind, row.sender)
                .ok_or_else(|| corrupt("sender_kind"))?,
            price_per_segment: Money::from_minor(row.price_per_segment, currency),
            encoding: Encoding::parse(&row.encoding).ok_or_else(|| corrupt("encoding"))?,
            segments: u32::try_from(row.segments).map_err(|_| corrupt("segments"))?,
            cost_per_message: Money::from_minor(row.cost_per_message, currency),
            status: CampaignStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            pause_reason,
            name: row.name,
            body: row.body,
            start_key: row.start_key,
            hold_id: row.hold_id.map(HoldId::from_uuid),
            hold_seq: row.hold_seq,
            dispatch_after: row.dispatch_after,
            created_at: row.created_at,
            updated_at: row.updated_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

/// A recipient's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientStatus {
    Pending,
    /// Claimed by a worker, Twilio call in flight.
    Sending,
    /// Twilio accepted it; charged.
    Sent,
    /// Twilio refused it; not charged.
    Failed,
    /// Its worker stopped (or Twilio's answer was lost) after the call may have reached Twilio:
    /// charged as if sent, never resent, until a person resolves it.
    Unconfirmed,
    /// The campaign was canceled before it was sent.
    Canceled,
}

impl RecipientStatus {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Unconfirmed,
        Self::Canceled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Unconfirmed => "unconfirmed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

impl fmt::Display for RecipientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
