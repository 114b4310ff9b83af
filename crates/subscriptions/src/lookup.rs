//! Finding subscriptions.

use db::{
    AsyncPgConnection,
    schema::{organizations, subscriptions},
};
use diesel::{OptionalExtension, dsl::exists, prelude::*, select};
use diesel_async::RunQueryDsl;
use primitives::{OrganizationId, SubscriptionId};

use crate::{
    SubscriptionError,
    model::{ProviderRef, Subscription},
    store::{self, SubscriptionRow},
};

pub async fn get(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<Subscription, SubscriptionError> {
    store::load(conn, id).await
}

/// The organization's live subscription, else its most recent one; `None` if it never had one.
pub async fn current_for_organization(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<Option<Subscription>, SubscriptionError> {
    let live_first =
        diesel::dsl::sql::<diesel::sql_types::Bool>("status IN ('canceled', 'expired')");
    subscriptions::table
        .filter(subscriptions::organization_id.eq(organization_id.as_uuid()))
        .order((live_first.asc(), subscriptions::created_at.desc()))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(SubscriptionRow::into_subscription)
        .transpose()
}

/// Every subscription the organization ever had, newest first.
pub async fn all_for_organization(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<Vec<Subscription>, SubscriptionError> {
    subscriptions::table
        .filter(subscriptions::organization_id.eq(organization_id.as_uuid()))
        .order(subscriptions::created_at.desc())
        .select(SubscriptionRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(SubscriptionRow::into_subscription)
        .collect()
}

pub async fn find_by_provider(
    conn: &mut AsyncPgConnection,
    provider: &ProviderRef,
) -> Result<Option<Subscription>, SubscriptionError> {
    subscriptions::table
        .filter(subscriptions::provider.eq(&provider.provider))
        .filter(subscriptions::provider_subscription_id.eq(&provider.subscription_id))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(SubscriptionRow::into_subscription)
        .transpose()
}

pub(crate) async fn require_organization(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<(), SubscriptionError> {
    let found: bool = select(exists(organizations::table.find(organization_id.as_uuid())))
        .get_result(conn)
        .await?;
    if found {
        Ok(())
    } else {
        Err(SubscriptionError::OrganizationNotFound)
    }
}
