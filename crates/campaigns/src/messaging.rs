//! Recording a messaging wish for an organization and enqueueing the Twilio calls.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::brands};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use outbox::{DedupeKey, NewMessage};
use primitives::OrganizationId;
use serde_json::json;

use crate::{
    CampaignsError, SUBACCOUNT_TOPIC,
    brands::{Brand, BrandId, BrandRow, MessagingStatus},
};

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

/// What [`request`] did to one brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// The wish is recorded and a `twilio.subaccount` message enqueued for this version.
    Enqueued {
        brand_id: BrandId,
        wish_version: i64,
        message: outbox::MessageId,
    },
    /// A wish decided after `decided_at` is already recorded: this older one is ignored.
    Superseded { brand_id: BrandId },
}

/// Records `wish` on every brand of the organization and enqueues one outbox message per brand,
/// on the caller's connection (run it inside the transaction that decided the wish).
///
/// Each brand's status becomes `suspending` or `reactivating`, unless it already is in the wished
/// final state; its wish version grows by one and the message's dedupe key carries it, so every
/// wish gets its own message even if an older one is pending or dead. `decided_at` is when the
/// wish was decided: a brand whose recorded wish was decided later keeps it (a delayed older
/// decision never overrides a newer one).
pub async fn request(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    wish: Wish,
    decided_at: DateTime<Utc>,
) -> Result<Vec<Requested>, CampaignsError> {
    let rows: Vec<BrandRow> = brands::table
        .filter(brands::organization_id.eq(organization.as_uuid()))
        .order(brands::id.asc())
        .for_update()
        .select(BrandRow::as_select())
        .load(conn)
        .await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        let brand = Brand::try_from(row)?;
        outcomes.push(request_brand(conn, &brand, wish, decided_at).await?);
    }
    Ok(outcomes)
}

/// Records `wish` on one (locked) brand and enqueues its Twilio call; see [`request`].
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
    let message = NewMessage {
        organization_id: Some(brand.organization_id),
        ..NewMessage::new(
            SUBACCOUNT_TOPIC,
            key,
            json!({ "brand_id": brand.id.as_uuid() }),
            decided_at,
        )
    };
    let enqueued = outbox::enqueue(conn, message).await?;
    Ok(Requested::Enqueued {
        brand_id: brand.id,
        wish_version: version,
        message: enqueued.id(),
    })
}
