//! Finding subscriptions.

use db::{
    AsyncPgConnection,
    schema::{organizations, subscription_events, subscriptions},
};
use diesel::{OptionalExtension, dsl::exists, prelude::*, select};
use diesel_async::RunQueryDsl;
use primitives::{OrganizationId, SubscriptionId};

use crate::{
    EventId, EventKind, EventSource, SubscriptionError, SubscriptionEvent,
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
        .filter(subscriptions::provider.eq(provider.provider.as_str()))
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

/// An event as recorded, found by its sender's id.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownEvent {
    pub subscription_id: SubscriptionId,
    pub kind: EventKind,
    pub outcome: String,
    /// The event's data as stored (`SubscriptionEvent` serialized).
    pub payload: serde_json::Value,
}

impl KnownEvent {
    /// Whether the stored event is exactly `event` (same kind and same data).
    pub fn is(&self, event: &SubscriptionEvent) -> bool {
        serde_json::to_value(event).is_ok_and(|value| value == self.payload)
    }
}

/// The event recorded under `(source, event_id)`, on whichever subscription.
pub async fn event(
    conn: &mut AsyncPgConnection,
    source: &EventSource,
    event_id: &EventId,
) -> Result<Option<KnownEvent>, SubscriptionError> {
    let row: Option<(uuid::Uuid, String, String, serde_json::Value)> = subscription_events::table
        .filter(subscription_events::source.eq(source.as_str()))
        .filter(subscription_events::event_id.eq(event_id.as_str()))
        .select((
            subscription_events::subscription_id,
            subscription_events::kind,
            subscription_events::outcome,
            subscription_events::payload,
        ))
        .first(conn)
        .await
        .optional()?;
    row.map(|(subscription_id, kind, outcome, payload)| {
        let kind = EventKind::parse(&kind)
            .ok_or_else(|| SubscriptionError::Corrupt(format!("event kind {kind}")))?;
        Ok(KnownEvent {
            subscription_id: SubscriptionId::from_uuid(subscription_id),
            kind,
            outcome,
            payload,
        })
    })
    .transpose()
}
