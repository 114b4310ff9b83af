//! Brands: who an organization sends as, with the Twilio subaccount its messages go through and
//! the persisted state of messaging suspension: the wish, its version and the status on its way
//! to it. A wish is recorded here, one brand at a time, with its [`SubaccountCall`];
//! [`crate::messaging::request`] records one for a whole organization.

use std::fmt;

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::brands};
use diesel::{
    ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper,
    result::{DatabaseErrorKind, Error as DieselError},
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use outbox::{DedupeKey, Envelope};
use primitives::OrganizationId;
use subscriptions::posture::Posture;
use uuid::Uuid;

use crate::{CampaignsError, topics::SubaccountCall};

pub use primitives::BrandId;

/// A brand's display name: 1 to 200 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandName(String);

impl BrandName {
    pub fn parse(value: &str) -> Result<Self, CampaignsError> {
        crate::input::display_name("name", value).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Twilio (sub)account SID: `AC` and 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubaccountSid(String);

impl SubaccountSid {
    pub fn parse(value: &str) -> Result<Self, CampaignsError> {
        let hex = value.strip_prefix("AC").unwrap_or("");
        if value.starts_with("AC")
            && hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(value.to_owned()))
        } else {
            Err(CampaignsError::InvalidInput {
                field: "twilio_subaccount_sid",
                reason: "must be AC followed by 32 lower-case hex digits",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a brand's subaccount is, or is on its way to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingStatus {
    Active,
    /// Suspension wished; the outbox has not yet confirmed it with Twilio.
    Suspending,
    Suspended,
    /// Reactivation wished; the outbox has not yet confirmed it with Twilio.
    Reactivating,
}

impl MessagingStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspending => "suspending",
            Self::Suspended => "suspended",
            Self::Reactivating => "reactivating",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "suspending" => Some(Self::Suspending),
            "suspended" => Some(Self::Suspended),
            "reactivating" => Some(Self::Reactivating),
            _ => None,
        }
    }
}

impl fmt::Display for MessagingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an organization wants of its subaccounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wish {
    Suspend,
    Reactivate,
}

impl Wish {
    /// The stored `messaging_wish`: the final status wished for.
    pub const fn stored(self) -> &'static str {
        self.final_status().as_str()
    }

    pub(crate) fn parse_stored(value: &str) -> Option<Self> {
        match value {
            "suspended" => Some(Self::Suspend),
            "active" => Some(Self::Reactivate),
            _ => None,
        }
    }

    /// The status once Twilio has confirmed the wish.
    pub const fn final_status(self) -> MessagingStatus {
        match self {
            Self::Suspend => MessagingStatus::Suspended,
            Self::Reactivate => MessagingStatus::Active,
        }
    }

    /// The status while the outbox has yet to apply the wish.
    pub const fn pending_status(self) -> MessagingStatus {
        match self {
            Self::Suspend => MessagingStatus::Suspending,
            Self::Reactivate => MessagingStatus::Reactivating,
        }
    }

    pub const fn subaccount_status(self) -> twilio::SubaccountStatus {
        match self {
            Self::Suspend => twilio::SubaccountStatus::Suspended,
            Self::Reactivate => twilio::SubaccountStatus::Active,
        }
    }
}

/// A brand as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub id: BrandId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub twilio_subaccount_sid: String,
    pub messaging_status: MessagingStatus,
    /// The latest wish, which the outbox applies.
    pub messaging_wish: Wish,
    /// Grows with every wish; each wish has its own outbox message.
    pub messaging_wish_version: i64,
    pub messaging_wish_at: Option<DateTime<Utc>>,
    /// The last Twilio failure (sanitized), cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = brands, check_for_backend(diesel::pg::Pg))]
pub(crate) struct BrandRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    twilio_subaccount_sid: String,
    messaging_status: String,
    messaging_wish: String,
    messaging_wish_version: i64,
    messaging_wish_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl TryFrom<BrandRow> for Brand {
    type Error = CampaignsError;

    fn try_from(row: BrandRow) -> Result<Self, Self::Error> {
        let messaging_status = MessagingStatus::parse(&row.messaging_status).ok_or_else(|| {
            CampaignsError::Corrupt(format!("brand {}: messaging_status", row.id))
        })?;
        let messaging_wish = Wish::parse_stored(&row.messaging_wish)
            .ok_or_else(|| CampaignsError::Corrupt(format!("brand {}: messaging_wish", row.id)))?;
        Ok(Self {
            id: BrandId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            name: row.name,
            twilio_subaccount_sid: row.twilio_subaccount_sid,
            messaging_status,
            messaging_wish,
            messaging_wish_version: row.messaging_wish_version,
            messaging_wish_at: row.messaging_wish_at,
            last_error: row.last_error,
            last_error_at: row.last_error_at,
            updated_at: row.updated_at,
            created_at: row.created_at,
        })
    }
}

/// Creates a brand. It starts `active`, unless the organization's subscription keeps
/// messaging suspended (past due, paused, suspended, canceled, expired): then it starts
/// `suspending` with the Twilio call enqueued, so a new subaccount cannot run up charges that
/// the others may not. A SID already used by another brand is refused.
pub async fn create(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    name: &BrandName,
    sid: &SubaccountSid,
    now: DateTime<Utc>,
) -> Result<Brand, CampaignsError> {
    conn.transaction(async move |conn| {
        let brand = insert(conn, organization, name, sid, now).await?;
        let status = subscriptions::lookup::current_for_organization(conn, organization)
            .await?
            .map(|subscription| subscription.state.status);
        if status.is_some_and(|status| Posture::of(status).messaging_suspended) {
            request_brand(conn, &brand, Wish::Suspend, now).await?;
            return get(conn, brand.id).await;
        }
        Ok(brand)
    })
    .await
}

async fn insert(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    name: &BrandName,
    sid: &SubaccountSid,
    now: DateTime<Utc>,
) -> Result<Brand, CampaignsError> {
    let inserted = diesel::insert_into(brands::table)
        .values((
            brands::id.eq(BrandId::new().as_uuid()),
            brands::organization_id.eq(organization.as_uuid()),
            brands::name.eq(name.as_str()),
            brands::twilio_subaccount_sid.eq(sid.as_str()),
            brands::messaging_status.eq(MessagingStatus::Active.as_str()),
            brands::messaging_wish.eq(Wish::Reactivate.stored()),
            brands::updated_at.eq(now),
            brands::created_at.eq(now),
        ))
        .returning(BrandRow::as_returning())
        .get_result(conn)
        .await;
    match inserted {
        Ok(row) => row.try_into(),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(CampaignsError::SubaccountTaken)
        }
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => Err(
            CampaignsError::Subscription(subscriptions::SubscriptionError::OrganizationNotFound),
        ),
        Err(error) => Err(error.into()),
    }
}

/// The organization's brands, oldest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
) -> Result<Vec<Brand>, CampaignsError> {
    brands::table
        .filter(brands::organization_id.eq(organization.as_uuid()))
        .order((brands::created_at.asc(), brands::id.asc()))
        .select(BrandRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Brand::try_from)
        .collect()
}

/// One brand.
/// Whether a brand sends through the Twilio (sub)account `sid`: the accounts whose callbacks
/// are ours to verify.
pub async fn has_subaccount(
    conn: &mut AsyncPgConnection,
    sid: &str,
) -> Result<bool, CampaignsError> {
    let found: i64 = brands::table
        .filter(brands::twilio_subaccount_sid.eq(sid))
        .count()
        .get_result(conn)
        .await?;
    Ok(found > 0)
}

pub async fn get(conn: &mut AsyncPgConnection, id: BrandId) -> Result<Brand, CampaignsError> {
    let row = brands::table
        .find(id.as_uuid())
        .select(BrandRow::as_select())
        .first(conn)
        .await;
    match row {
        Ok(row) => row.try_into(),
        Err(DieselError::NotFound) => Err(CampaignsError::BrandNotFound),
        Err(error) => Err(error.into()),
    }
}

/// What [`request_brand`] (and [`crate::messaging::request`], per brand) did to one brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// The wish is recorded and a [`SubaccountCall`] enqueued for this version.
    Enqueued {
        brand_id: BrandId,
        wish_version: i64,
        message: outbox::MessageId,
    },
    /// A wish decided after `decided_at` is already recorded: this older one is ignored.
    Superseded { brand_id: BrandId },
}

/// Records `wish` on one (locked) brand and enqueues its Twilio call; see
/// [`crate::messaging::request`].
pub(crate) async fn request_brand(
    conn: &mut AsyncPgConnection,
    brand: &Brand,
    wish: Wish,
    decided_at: DateTime<Utc>,
) -> Result<Requested, CampaignsError> {
    if brand.messaging_wish_at.is_some_and(|at| at > decided_at) {
        return Ok(Requested::Superseded { brand_id: brand.id });
    }
    let status = if brand.messaging_status == wish.final_status() {
        wish.final_status()
    } else {
        wish.pending_status()
    };
    let version = brand.messaging_wish_version + 1;
    diesel::update(brands::table.find(brand.id.as_uuid()))
        .set((
            brands::messaging_wish.eq(wish.stored()),
            brands::messaging_status.eq(status.as_str()),
            brands::messaging_wish_version.eq(version),
            brands::messaging_wish_at.eq(decided_at),
            brands::updated_at.eq(decided_at),
        ))
        .execute(conn)
        .await?;
    let key = DedupeKey::parse(format!("brand:{}:wish:{version}", brand.id))?;
    let call = SubaccountCall { brand_id: brand.id };
    let envelope = Envelope::new(key, decided_at).for_organization(brand.organization_id);
    let enqueued = outbox::enqueue(conn, &call, envelope).await?;
    Ok(Requested::Enqueued {
        brand_id: brand.id,
        wish_version: version,
        message: enqueued.id(),
    })
}
