//! The transition history and the event log of a subscription, newest first.

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{subscription_events, subscription_transitions},
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use primitives::SubscriptionId;
use serde::Serialize;

use crate::SubscriptionError;

/// Largest page a caller may ask for.
pub const MAX_PAGE: i64 = 200;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub from: Option<String>,
    pub to: String,
    pub event: String,
    pub source: String,
    pub effects: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub source: String,
    pub event_id: String,
    pub kind: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

type TransitionTuple = (
    Option<String>,
    String,
    String,
    String,
    serde_json::Value,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// The latest `limit` transitions (1..=[`MAX_PAGE`]).
pub async fn transitions(
    conn: &mut AsyncPgConnection,
    subscription_id: SubscriptionId,
    limit: i64,
) -> Result<Vec<HistoryEntry>, SubscriptionError> {
    let rows: Vec<TransitionTuple> = subscription_transitions::table
        .filter(subscription_transitions::subscription_id.eq(subscription_id.as_uuid()))
        .order(subscription_transitions::id.desc())
        .limit(limit.clamp(1, MAX_PAGE))
        .select((
            subscription_transitions::from_status,
            subscription_transitions::to_status,
            subscription_transitions::event_kind,
            subscription_transitions::source,
            subscription_transitions::effects,
            subscription_transitions::occurred_at,
            subscription_transitions::recorded_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(from, to, event, source, effects, occurred_at, recorded_at)| HistoryEntry {
                from,
                to,
                event,
                source,
                effects,
                occurred_at,
                recorded_at,
            },
        )
        .collect())
}

/// The latest `limit` events offered to the subscription, with what became of each.
pub async fn events(
    conn: &mut AsyncPgConnection,
    subscription_id: SubscriptionId,
    limit: i64,
) -> Result<Vec<EventRecord>, SubscriptionError> {
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        DateTime<Utc>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = subscription_events::table
        .filter(subscription_events::subscription_id.eq(subscription_id.as_uuid()))
        .order(subscription_events::id.desc())
        .limit(limit.clamp(1, MAX_PAGE))
        .select((
            subscription_events::source,
            subscription_events::event_id,
            subscription_events::kind,
            subscription_events::outcome,
            subscription_events::detail,
            subscription_events::occurred_at,
            subscription_events::received_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(source, event_id, kind, outcome, detail, occurred_at, received_at)| EventRecord {
                source,
                event_id,
                kind,
                outcome,
                detail,
                occurred_at,
                received_at,
            },
        )
        .collect())
}
