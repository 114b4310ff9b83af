//! Recording a messaging wish for a whole organization: every brand, each with its Twilio call
//! enqueued, as the brands module records one for a single brand.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::brands};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use primitives::OrganizationId;

use crate::{
    CampaignsError,
    brands::{Brand, BrandRow, Requested, Wish, request_brand},
};

/// Records `wish` on every brand of the organization and enqueues one [`crate::SubaccountCall`]
/// per brand,
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
