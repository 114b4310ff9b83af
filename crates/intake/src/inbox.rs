//! The webhook inbox: every verified delivery, stored before the provider is answered, with its
//! normalized events, its status and, once applied, each event's outcome.
//!
//! Statuses: `received` (stored, not applied yet), `applied`, `ignored` (nothing to do),
//! `unmatched` (no subscription or organization found yet; retried, applied once it exists),
//! `held` (an operator must look: a currency mismatch, a cross-check that failed, a provider
//! whose view was needed but cannot be asked), `failed` (an attempt ended in an error; retried
//! with backoff), `dead` (retries exhausted; alerted). Only `received`, `failed` and `unmatched`
//! are ever picked up again by the background job; an operator can re-apply any of them.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::webhook_inbox};
use diesel::{PgJsonbExpressionMethods, dsl::count_star, prelude::*};
use diesel_async::{AsyncConnection, RunQueryDsl};
use primitives::{OrganizationId, ProviderName, SubscriptionId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{IntakeError, event::StoredEvent};

/// Longest error text kept on a row (the column's limit).
pub const MAX_ERROR_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    Received,
    Applied,
    Ignored,
    Unmatched,
    Held,
    Failed,
    Dead,
}

impl InboxStatus {
    pub const ALL: [Self; 7] = [
        Self::Received,
        Self::Applied,
        Self::Ignored,
        Self::Unmatched,
        Self::Held,
        Self::Failed,
        Self::Dead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Unmatched => "unmatched",
            Self::Held => "held",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// Settled rows are done with: the job never takes them again (an operator may).
    pub const fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Applied | Self::Ignored | Self::Held | Self::Dead
        )
    }
}

/// What applying one normalized event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventResult {
    /// The subscription, wallet or dispute changed.
    Applied,
    /// Nothing to do (the state machine or the mapping says why).
    Ignored,
    /// Already applied under the same id (a re-delivery, or an event about the same payment).
    Duplicate,
    /// Older than what the subscription already saw: changes nothing.
    Stale,
    /// Nothing to apply it to yet.
    Unmatched,
    /// Kept for an operator.
    Held,
}

/// One event's outcome, as stored on the delivery and shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutcome {
    pub event_id: String,
    pub kind: String,
    pub result: EventResult,
    pub detail: String,
}

impl EventOutcome {
    pub fn new(event: &StoredEvent, result: EventResult, detail: impl Into<String>) -> Self {
        Self {
            event_id: event.provider_event_id.clone(),
            kind: event.kind.as_str().to_owned(),
            result,
            detail: detail.into(),
        }
    }
}

/// A delivery as stored (the raw body is not loaded; only its digest and size).
#[derive(Debug, Clone, PartialEq)]
pub struct InboxDelivery {
    pub id: Uuid,
    pub provider: ProviderName,
    pub delivery_id: String,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub body_sha256: Vec<u8>,
    pub body_size: i32,
    pub body_pruned_at: Option<DateTime<Utc>>,
    pub events: Vec<StoredEvent>,
    pub outcomes: Vec<EventOutcome>,
    pub status: InboxStatus,
    pub organization_id: Option<OrganizationId>,
    pub subscription_id: Option<SubscriptionId>,
    pub attempts: i32,
    /// When the job may try it (again): the retry schedule.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// While an attempt holds it: until when.
    pub leased_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub settled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_inbox)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct Row {
    id: Uuid,
    provider: String,
    delivery_id: String,
    event_type: String,
    received_at: DateTime<Utc>,
    body_sha256: Vec<u8>,
    body_size: i32,
    body_pruned_at: Option<DateTime<Utc>>,
    events: serde_json::Value,
    outcomes: serde_json::Value,
    status: String,
    organization_id: Option<Uuid>,
    subscription_id: Option<Uuid>,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    leased_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    settled_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_delivery(self) -> Result<InboxDelivery, IntakeError> {
        let corrupt = |what: &str| IntakeError::Corrupt(format!("inbox row {}: {what}", self.id));
        let provider = ProviderName::parse(&self.provider).ok_or_else(|| corrupt("provider"))?;
        let status = InboxStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?;
        let events: Vec<StoredEvent> =
            serde_json::from_value(self.events.clone()).map_err(|_| corrupt("events"))?;
        let outcomes: Vec<EventOutcome> =
            serde_json::from_value(self.outcomes.clone()).map_err(|_| corrupt("outcomes"))?;
        Ok(InboxDelivery {
            id: self.id,
            provider,
            delivery_id: self.delivery_id,
            event_type: self.event_type,
            received_at: self.received_at,
            body_sha256: self.body_sha256,
            body_size: self.body_size,
            body_pruned_at: self.body_pruned_at,
            events,
            outcomes,
            status,
            organization_id: self.organization_id.map(OrganizationId::from_uuid),
            subscription_id: self.subscription_id.map(SubscriptionId::from_uuid),
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            leased_until: self.leased_until,
            last_error: self.last_error,
            settled_at: self.settled_at,
            updated_at: self.updated_at,
        })
    }
}

/// A verified delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub provider: ProviderName,
    pub delivery_id: String,
    pub event_type: String,
    pub body: Vec<u8>,
    pub body_sha256: [u8; 32],
    pub events: Vec<StoredEvent>,
    /// `received` (to be applied), `ignored` (a type nobody acts on) or `held` (verified but
    /// unreadable: a person must look).
    pub status: InboxStatus,
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
    /// For `received`: due at once, but held by the receiver that stores it until
    /// `leased_until`, when the background job may take it if the receiver did not apply it.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub leased_until: Option<DateTime<Utc>>,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new row.
    New { id: Uuid },
    /// The provider sent it before: the stored row, unchanged.
    Duplicate { id: Uuid, status: InboxStatus },
}

impl Stored {
    pub fn id(&self) -> Uuid {
        match *self {
            Self::New { id } | Self::Duplicate { id, .. } => id,
        }
    }
}

/// Stores a delivery unless `(provider, delivery_id)` is already there. One statement, so two
/// racing deliveries store one row.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewDelivery,
) -> Result<Stored, IntakeError> {
    let events = serde_json::to_value(&new.events)
        .map_err(|error| IntakeError::Corrupt(format!("events do not serialize: {error}")))?;
    let settled_at = new.status.is_settled().then_some(new.received_at);
    let body_size = i32::try_from(new.body.len()).unwrap_or(i32::MAX);
    let inserted: Option<Uuid> = diesel::insert_into(webhook_inbox::table)
        .values((
            webhook_inbox::id.eq(Uuid::now_v7()),
            webhook_inbox::provider.eq(new.provider.as_str()),
            webhook_inbox::delivery_id.eq(&new.delivery_id),
            webhook_inbox::event_type.eq(&new.event_type),
            webhook_inbox::received_at.eq(new.received_at),
            webhook_inbox::body.eq(Some(&new.body)),
            webhook_inbox::body_sha256.eq(&new.body_sha256[..]),
            webhook_inbox::body_size.eq(body_size),
            webhook_inbox::events.eq(events),
            webhook_inbox::status.eq(new.status.as_str()),
            webhook_inbox::next_attempt_at.eq(new.next_attempt_at),
            webhook_inbox::leased_until.eq(new.leased_until),
            webhook_inbox::last_error.eq(new.last_error.as_deref().map(truncate_error)),
            webhook_inbox::settled_at.eq(settled_at),
            webhook_inbox::updated_at.eq(new.received_at),
        ))
        .on_conflict((webhook_inbox::provider, webhook_inbox::delivery_id))
        .do_nothing()
        .returning(webhook_inbox::id)
        .get_result(conn)
        .await
        .optional()?;
    if let Some(id) = inserted {
        return Ok(Stored::New { id });
    }
    let (id, status): (Uuid, String) = webhook_inbox::table
        .filter(webhook_inbox::provider.eq(new.provider.as_str()))
        .filter(webhook_inbox::delivery_id.eq(&new.delivery_id))
        .select((webhook_inbox::id, webhook_inbox::status))
        .first(conn)
        .await?;
    let status = InboxStatus::parse(&status)
        .ok_or_else(|| IntakeError::Corrupt(format!("inbox row {id}: status")))?;
    Ok(Stored::Duplicate { id, status })
}

pub async fn get(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<InboxDelivery>, IntakeError> {
    webhook_inbox::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Row::into_delivery)
        .transpose()
}

/// The raw body of delivery `id` exactly as received, with its provider: `Ok(None)` when there is
/// no such delivery, a `None` body once retention pruned it. Only the api's development mode
/// serves it (for replaying a delivery); the operators' views never show it.
pub async fn raw_body(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<(ProviderName, Option<Vec<u8>>)>, IntakeError> {
    let row: Option<(String, Option<Vec<u8>>)> = webhook_inbox::table
        .find(id)
        .select((webhook_inbox::provider, webhook_inbox::body))
        .first(conn)
        .await
        .optional()?;
    row.map(|(provider, body)| {
        let provider = ProviderName::parse(&provider)
            .ok_or_else(|| IntakeError::Corrupt(format!("inbox row {id}: provider")))?;
        Ok((provider, body))
    })
    .transpose()
}

/// The row under its lock, for the transaction that applies it.
pub(crate) async fn lock(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<InboxDelivery>, IntakeError> {
    webhook_inbox::table
        .find(id)
        .select(Row::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .map(Row::into_delivery)
        .transpose()
}

/// How an application attempt ended, for [`settle`].
#[derive(Debug, Clone)]
pub(crate) struct Settlement<'a> {
    pub status: InboxStatus,
    pub outcomes: &'a [EventOutcome],
    pub organization_id: Option<OrganizationId>,
    pub subscription_id: Option<SubscriptionId>,
    /// For `unmatched`: when to look again (`None`: no more automatic attempts).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

pub(crate) async fn settle(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    settlement: &Settlement<'_>,
) -> Result<(), IntakeError> {
    let outcomes = serde_json::to_value(settlement.outcomes)
        .map_err(|error| IntakeError::Corrupt(format!("outcomes do not serialize: {error}")))?;
    let settled_at = settlement.status.is_settled().then_some(settlement.now);
    let next_attempt_at = if settlement.status.is_settled() {
        None
    } else {
        settlement.next_attempt_at
    };
    diesel::update(webhook_inbox::table.find(id))
        .set((
            webhook_inbox::status.eq(settlement.status.as_str()),
            webhook_inbox::outcomes.eq(outcomes),
            webhook_inbox::organization_id.eq(settlement.organization_id.map(|id| id.as_uuid())),
            webhook_inbox::subscription_id.eq(settlement.subscription_id.map(|id| id.as_uuid())),
            webhook_inbox::next_attempt_at.eq(next_attempt_at),
            webhook_inbox::leased_until.eq(None::<DateTime<Utc>>),
            webhook_inbox::settled_at.eq(settled_at),
            webhook_inbox::last_error.eq(None::<String>),
            webhook_inbox::updated_at.eq(settlement.now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a failed attempt: `failed` with its next attempt, or `dead` when `next_attempt_at`
/// is `None` (retries exhausted). Returns the delivery as it is now and the status written, or
/// `None` when the row had been settled meanwhile (by a racing attempt that succeeded).
pub(crate) async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    next_attempt_at: impl FnOnce(i32) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<(InboxDelivery, InboxStatus)>, IntakeError> {
    let Some(mut delivery) = lock(conn, id).await? else {
        return Ok(None);
    };
    if delivery.status.is_settled() {
        return Ok(None);
    }
    let attempts = delivery.attempts.saturating_add(1);
    let next = next_attempt_at(attempts);
    let status = if next.is_some() {
        InboxStatus::Failed
    } else {
        InboxStatus::Dead
    };
    diesel::update(webhook_inbox::table.find(id))
        .set((
            webhook_inbox::status.eq(status.as_str()),
            webhook_inbox::attempts.eq(attempts),
            webhook_inbox::next_attempt_at.eq(next),
            webhook_inbox::leased_until.eq(None::<DateTime<Utc>>),
            webhook_inbox::settled_at.eq((status == InboxStatus::Dead).then_some(now)),
            webhook_inbox::last_error.eq(Some(truncate_error(error))),
            webhook_inbox::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    delivery.attempts = attempts;
    delivery.status = status;
    Ok(Some((delivery, status)))
}

/// Takes up to `limit` due rows that nobody holds for an attempt, leasing each until
/// `lease_until` so no one else starts one meanwhile; oldest due first. Rows another
/// transaction has locked are skipped.
pub(crate) async fn claim_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, IntakeError> {
    conn.transaction(async |conn| {
        let due: Vec<Uuid> = webhook_inbox::table
            .filter(webhook_inbox::next_attempt_at.le(now))
            .filter(free(now))
            .order((webhook_inbox::next_attempt_at, webhook_inbox::id))
            .select(webhook_inbox::id)
            .limit(limit)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(due);
        }
        diesel::update(webhook_inbox::table)
            .filter(webhook_inbox::id.eq_any(&due))
            .set(webhook_inbox::leased_until.eq(lease_until))
            .execute(conn)
            .await?;
        Ok(due)
    })
    .await
}

/// Nobody holds the row: no lease, or one that ran out (its holder died).
fn free(
    now: DateTime<Utc>,
) -> diesel::dsl::Or<
    diesel::dsl::IsNull<webhook_inbox::leased_until>,
    diesel::dsl::LtEq<webhook_inbox::leased_until, DateTime<Utc>>,
> {
    webhook_inbox::leased_until
        .is_null()
        .or(webhook_inbox::leased_until.le(now))
}

/// Takes one row for an attempt now if it still waits (received, failed, unmatched: whatever
/// its schedule) and nobody holds it, leasing it until `lease_until`. Used when a re-delivery
/// finds its row still waiting.
pub(crate) async fn claim_one(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, IntakeError> {
    let claimed = diesel::update(webhook_inbox::table.find(id))
        .filter(webhook_inbox::status.eq_any(WAITING))
        .filter(free(now))
        .set(webhook_inbox::leased_until.eq(lease_until))
        .execute(conn)
        .await?;
    Ok(claimed == 1)
}

/// The statuses whose rows still wait for an attempt.
const WAITING: [&str; 3] = ["received", "failed", "unmatched"];

/// An operator's re-apply: whatever the row's status short of applied or ignored, it becomes
/// `received`, leased until `lease_until` for the attempt that follows. Returns whether it
/// was reopened (an applied or ignored row is left as it is).
pub(crate) async fn reopen(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, IntakeError> {
    let reopened = diesel::update(webhook_inbox::table.find(id))
        .filter(webhook_inbox::status.eq_any([
            InboxStatus::Received.as_str(),
            InboxStatus::Unmatched.as_str(),
            InboxStatus::Held.as_str(),
            InboxStatus::Failed.as_str(),
            InboxStatus::Dead.as_str(),
        ]))
        .set((
            webhook_inbox::status.eq(InboxStatus::Received.as_str()),
            webhook_inbox::next_attempt_at.eq(Some(now)),
            webhook_inbox::leased_until.eq(Some(lease_until)),
            webhook_inbox::settled_at.eq(None::<DateTime<Utc>>),
            webhook_inbox::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(reopened == 1)
}

/// Makes every unmatched delivery of `provider` due now: a subscription that may match them has
/// just been created or bound.
pub async fn wake_unmatched(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    now: DateTime<Utc>,
) -> Result<usize, IntakeError> {
    Ok(diesel::update(webhook_inbox::table)
        .filter(webhook_inbox::status.eq(InboxStatus::Unmatched.as_str()))
        .filter(webhook_inbox::provider.eq(provider.as_str()))
        .set((
            webhook_inbox::next_attempt_at.eq(Some(now)),
            webhook_inbox::updated_at.eq(now),
        ))
        .execute(conn)
        .await?)
}

/// Makes the unmatched deliveries about one payment of `provider` due now: money taken back
/// from it waited for it to be credited, which it just was.
pub(crate) async fn wake_payment(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    payment: &str,
    now: DateTime<Utc>,
) -> Result<usize, IntakeError> {
    let about = serde_json::json!([{ "payment_reference": payment }]);
    Ok(diesel::update(webhook_inbox::table)
        .filter(webhook_inbox::status.eq(InboxStatus::Unmatched.as_str()))
        .filter(webhook_inbox::provider.eq(provider.as_str()))
        .filter(webhook_inbox::events.contains(about))
        .set((
            webhook_inbox::next_attempt_at.eq(Some(now)),
            webhook_inbox::updated_at.eq(now),
        ))
        .execute(conn)
        .await?)
}

/// Drops the raw bodies of deliveries received before `before`, at most `limit` rows; each
/// row, its digest, its events and their outcomes stay. Returns how many were pruned.
pub async fn prune_bodies(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, IntakeError> {
    conn.transaction(async |conn| {
        let old: Vec<Uuid> = webhook_inbox::table
            .filter(webhook_inbox::body.is_not_null())
            .filter(webhook_inbox::received_at.lt(before))
            .order(webhook_inbox::received_at)
            .select(webhook_inbox::id)
            .limit(limit)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        Ok(diesel::update(webhook_inbox::table)
            .filter(webhook_inbox::id.eq_any(&old))
            .set((
                webhook_inbox::body.eq(None::<Vec<u8>>),
                webhook_inbox::body_pruned_at.eq(Some(now)),
            ))
            .execute(conn)
            .await?)
    })
    .await
}

/// Which deliveries an operator lists.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub provider: Option<ProviderName>,
    pub status: Option<InboxStatus>,
    pub organization_id: Option<OrganizationId>,
    /// Only rows with an id below this (the previous page's last id): newest first.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Deliveries, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &ListFilter,
) -> Result<Vec<InboxDelivery>, IntakeError> {
    let mut query = webhook_inbox::table
        .select(Row::as_select())
        .order(webhook_inbox::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(provider) = filter.provider {
        query = query.filter(webhook_inbox::provider.eq(provider.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(webhook_inbox::status.eq(status.as_str()));
    }
    if let Some(organization) = filter.organization_id {
        query = query.filter(webhook_inbox::organization_id.eq(organization.as_uuid()));
    }
    if let Some(before) = filter.before {
        query = query.filter(webhook_inbox::id.lt(before));
    }
    query
        .load::<Row>(conn)
        .await?
        .into_iter()
        .map(Row::into_delivery)
        .collect()
}

/// How many deliveries of each provider are in each status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    pub provider: ProviderName,
    pub status: InboxStatus,
    pub count: i64,
}

pub async fn counts(conn: &mut AsyncPgConnection) -> Result<Vec<StatusCount>, IntakeError> {
    let rows: Vec<(String, String, i64)> = webhook_inbox::table
        .group_by((webhook_inbox::provider, webhook_inbox::status))
        .select((webhook_inbox::provider, webhook_inbox::status, count_star()))
        .order((webhook_inbox::provider, webhook_inbox::status))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(provider, status, count)| {
            let corrupt = || IntakeError::Corrupt(format!("inbox counts: {provider}/{status}"));
            Ok(StatusCount {
                provider: ProviderName::parse(&provider).ok_or_else(corrupt)?,
                status: InboxStatus::parse(&status).ok_or_else(corrupt)?,
                count,
            })
        })
        .collect()
}

fn truncate_error(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}
