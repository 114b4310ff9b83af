//! Rows and the SQL that reads and writes them. Nothing here decides anything.

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{subscription_events, subscription_transitions, subscriptions},
};
use diesel::{OptionalExtension, prelude::*};
use diesel_async::RunQueryDsl;
use primitives::{OrganizationId, SubscriptionId};
use uuid::Uuid;

use crate::{
    DunningEpisode, SubscriptionError, SubscriptionState, SubscriptionStatus,
    model::{PlanCode, ProviderRef, Subscription},
};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub(crate) struct SubscriptionRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub plan: String,
    pub provider: Option<String>,
    pub provider_subscription_id: Option<String>,
    pub status: String,
    pub current_period_end: Option<DateTime<Utc>>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub dunning_started_at: Option<DateTime<Utc>>,
    pub dunning_retries_failed: i32,
    pub next_action_at: Option<DateTime<Utc>>,
    pub action_leased_until: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub trial_ending_notified: bool,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_sync_error: Option<String>,
}

impl SubscriptionRow {
    pub fn into_subscription(self) -> Result<Subscription, SubscriptionError> {
        let corrupt = |what: &str| SubscriptionError::Corrupt(format!("{what} of {}", self.id));
        let status = SubscriptionStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?;
        let retries_failed =
            u32::try_from(self.dunning_retries_failed).map_err(|_| corrupt("retries"))?;
        let plan = PlanCode::parse(&self.plan).map_err(|_| corrupt("plan"))?;
        let provider = match (&self.provider, &self.provider_subscription_id) {
            (Some(provider), Some(id)) => {
                Some(ProviderRef::parse(provider, id).map_err(|_| corrupt("provider"))?)
            }
            _ => None,
        };
        Ok(Subscription {
            id: SubscriptionId::from_uuid(self.id),
            organization_id: OrganizationId::from_uuid(self.organization_id),
            plan,
            provider,
            state: SubscriptionState {
                status,
                current_period_end: self.current_period_end,
                trial_end: self.trial_end,
                cancel_at_period_end: self.cancel_at_period_end,
                dunning: self.dunning_started_at.map(|started_at| DunningEpisode {
                    started_at,
                    retries_failed,
                }),
                trial_ending_notified: self.trial_ending_notified,
            },
            next_action_at: self.next_action_at,
            action_leased_until: self.action_leased_until,
            last_event_at: self.last_event_at,
            last_synced_at: self.last_synced_at,
            last_sync_error: self.last_sync_error,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(crate) async fn lock(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<Subscription, SubscriptionError> {
    subscriptions::table
        .find(id.as_uuid())
        .select(SubscriptionRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(SubscriptionError::NotFound)?
        .into_subscription()
}

pub(crate) async fn load(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<Subscription, SubscriptionError> {
    subscriptions::table
        .find(id.as_uuid())
        .select(SubscriptionRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(SubscriptionError::NotFound)?
        .into_subscription()
}

/// Writes the state a transition produced; returns the subscription as stored now.
pub(crate) async fn save_state(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
    state: &SubscriptionState,
    next_action_at: Option<DateTime<Utc>>,
    last_event_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Subscription, SubscriptionError> {
    let retries = state.dunning.map_or(0, |episode| episode.retries_failed);
    let retries = i32::try_from(retries)
        .map_err(|_| SubscriptionError::Corrupt(format!("retry count {retries}")))?;
    diesel::update(subscriptions::table.find(id.as_uuid()))
        .set((
            subscriptions::status.eq(state.status.as_str()),
            subscriptions::current_period_end.eq(state.current_period_end),
            subscriptions::trial_end.eq(state.trial_end),
            subscriptions::cancel_at_period_end.eq(state.cancel_at_period_end),
            subscriptions::dunning_started_at.eq(state.dunning.map(|episode| episode.started_at)),
            subscriptions::dunning_retries_failed.eq(retries),
            subscriptions::trial_ending_notified.eq(state.trial_ending_notified),
            subscriptions::next_action_at.eq(next_action_at),
            // A new state means any retry in flight belonged to the old one.
            subscriptions::action_leased_until.eq(None::<DateTime<Utc>>),
            subscriptions::last_event_at.eq(last_event_at),
            subscriptions::updated_at.eq(now),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result(conn)
        .await?
        .into_subscription()
}

/// Replaces the provider's subscription id. The pair is unique: taken means
/// [`SubscriptionError::ProviderIdTaken`] (the caller's savepoint rolls the failed statement
/// back).
pub(crate) async fn set_provider_subscription_id(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
    provider_subscription_id: &str,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    use diesel::result::{DatabaseErrorKind, Error};
    diesel::update(subscriptions::table.find(id.as_uuid()))
        .set((
            subscriptions::provider_subscription_id.eq(provider_subscription_id),
            subscriptions::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map_err(|error| match error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                SubscriptionError::ProviderIdTaken
            }
            other => other.into(),
        })?;
    Ok(())
}

#[derive(Debug, Insertable)]
#[diesel(table_name = subscription_events)]
pub(crate) struct NewEventRow<'a> {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub source: &'a str,
    pub event_id: &'a str,
    pub kind: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
    pub payload: serde_json::Value,
}

/// Records an event unless its (source, id) is known; `None` means it was a duplicate.
pub(crate) async fn record_event(
    conn: &mut AsyncPgConnection,
    row: NewEventRow<'_>,
) -> Result<Option<Uuid>, SubscriptionError> {
    Ok(diesel::insert_into(subscription_events::table)
        .values(&row)
        .on_conflict_do_nothing()
        .returning(subscription_events::id)
        .get_result(conn)
        .await
        .optional()?)
}

/// The outcome recorded for a known event: (subscription, outcome).
pub(crate) async fn known_event(
    conn: &mut AsyncPgConnection,
    source: &str,
    event_id: &str,
) -> Result<Option<(Uuid, String)>, SubscriptionError> {
    Ok(subscription_events::table
        .filter(subscription_events::source.eq(source))
        .filter(subscription_events::event_id.eq(event_id))
        .select((
            subscription_events::subscription_id,
            subscription_events::outcome,
        ))
        .first(conn)
        .await
        .optional()?)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = subscription_transitions)]
pub(crate) struct NewTransitionRow<'a> {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_row_id: Uuid,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub event_kind: &'a str,
    pub source: &'a str,
    pub effects: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

pub(crate) async fn record_transition(
    conn: &mut AsyncPgConnection,
    row: NewTransitionRow<'_>,
) -> Result<(), SubscriptionError> {
    diesel::insert_into(subscription_transitions::table)
        .values(&row)
        .execute(conn)
        .await?;
    Ok(())
}
