//! The provider sync's SQL: claiming due subscriptions under a lease, settling or releasing
//! them, and what the decision needs to know besides the subscription. Nothing here decides.
//!
//! The lease lives on the subscription row itself, which the claim locks (`FOR UPDATE SKIP
//! LOCKED`): a racing claim either skips the row while it is locked, or, once the first claim
//! has committed, re-checks the row's newest version (PostgreSQL re-evaluates the filter of a
//! locked row that changed) and finds the lease. So two workers never ask about one
//! subscription at once. The dunning runner leases its due actions the same way
//! (`subscriptions::due`).

use ::subscriptions::SubscriptionStatus;
use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{outbox_messages, subscriptions},
};
use diesel::{PgJsonbExpressionMethods, PgSortExpressionMethods, dsl::exists, prelude::*, select};
use diesel_async::{AsyncConnection, RunQueryDsl};
use enforcement::ProviderCommand;
use outbox::Message;
use primitives::{ProviderName, SubscriptionId};
use uuid::Uuid;

use super::{
    decide::{Candidate, DueReason, due_reason},
    policy::SyncPolicy,
};
use crate::{IntakeError, inbox::MAX_ERROR_CHARS};

/// A subscription a round has in hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claimed {
    pub id: SubscriptionId,
    pub provider: ProviderName,
    pub provider_subscription_id: String,
    pub reason: DueReason,
}

type Row = (
    Uuid,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Takes up to `limit` subscriptions due for a sync at `now` (see [`due_reason`]) and bound to
/// one of `providers`, never synced first, then the longest unsynced; leases each until
/// `lease_until`. Rows another transaction holds are skipped.
pub(crate) async fn claim(
    conn: &mut AsyncPgConnection,
    providers: &[ProviderName],
    policy: &SyncPolicy,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Claimed>, IntakeError> {
    let ago = |duration: std::time::Duration| {
        now - chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
    };
    let (recheck, pending, quiet) = (
        ago(policy.recheck_after),
        ago(policy.pending_after),
        ago(policy.quiet_after),
    );
    let names: Vec<&str> = providers.iter().map(|provider| provider.as_str()).collect();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.transaction(async |conn| {
        let rows: Vec<Row> = subscriptions::table
            .filter(subscriptions::provider.eq_any(&names))
            .filter(subscriptions::provider_subscription_id.is_not_null())
            .filter(subscriptions::status.ne_all(["canceled", "expired"]))
            .filter(
                subscriptions::sync_leased_until
                    .is_null()
                    .or(subscriptions::sync_leased_until.le(now)),
            )
            .filter(
                subscriptions::last_synced_at
                    .is_null()
                    .or(subscriptions::last_synced_at.le(recheck)),
            )
            .filter(
                subscriptions::status
                    .eq_any(["past_due", "suspended"])
                    .or(subscriptions::status
                        .eq("pending")
                        .and(subscriptions::created_at.le(pending)))
                    .or(subscriptions::last_event_at
                        .le(quiet)
                        .or(subscriptions::last_event_at
                            .is_null()
                            .and(subscriptions::created_at.le(quiet)))
                        .and(
                            subscriptions::last_synced_at
                                .is_null()
                                .or(subscriptions::last_synced_at.le(quiet)),
                        )),
            )
            .order((
                subscriptions::last_synced_at.asc().nulls_first(),
                subscriptions::id,
            ))
            .select((
                subscriptions::id,
                subscriptions::provider,
                subscriptions::provider_subscription_id,
                subscriptions::status,
                subscriptions::created_at,
                subscriptions::last_event_at,
                subscriptions::last_synced_at,
            ))
            .limit(limit)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for (
            id,
            provider,
            provider_subscription_id,
            status,
            created_at,
            last_event_at,
            last_synced_at,
        ) in rows
        {
            let corrupt = |what: &str| IntakeError::Corrupt(format!("subscription {id}: {what}"));
            let status = SubscriptionStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
            let provider = provider
                .as_deref()
                .and_then(ProviderName::parse)
                .ok_or_else(|| corrupt("provider"))?;
            let provider_subscription_id =
                provider_subscription_id.ok_or_else(|| corrupt("provider subscription id"))?;
            let candidate = Candidate {
                status,
                created_at,
                last_event_at,
                last_synced_at,
            };
            // The SQL above and `due_reason` say the same; should they ever not, the row is
            // simply left for a later round.
            if let Some(reason) = due_reason(&candidate, policy, now) {
                claimed.push(Claimed {
                    id: SubscriptionId::from_uuid(id),
                    provider,
                    provider_subscription_id,
                    reason,
                });
            }
        }
        let ids: Vec<Uuid> = claimed.iter().map(|c| c.id.as_uuid()).collect();
        if !ids.is_empty() {
            diesel::update(subscriptions::table)
                .filter(subscriptions::id.eq_any(&ids))
                .set(subscriptions::sync_leased_until.eq(lease_until))
                .execute(conn)
                .await?;
        }
        Ok(claimed)
    })
    .await
}

/// Lets the subscription go without a sync: the next round takes it again.
pub(crate) async fn release(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<(), IntakeError> {
    diesel::update(subscriptions::table.find(id.as_uuid()))
        .set(subscriptions::sync_leased_until.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a sync: the provider was heard at `now`; `problem` says why a person must look
/// (`None` when the subscription settled by itself).
pub(crate) async fn settle(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
    now: DateTime<Utc>,
    problem: Option<&str>,
) -> Result<(), IntakeError> {
    let problem: Option<String> = problem.map(|text| text.chars().take(MAX_ERROR_CHARS).collect());
    diesel::update(subscriptions::table.find(id.as_uuid()))
        .set((
            subscriptions::sync_leased_until.eq(None::<DateTime<Utc>>),
            subscriptions::last_synced_at.eq(Some(now)),
            subscriptions::last_sync_error.eq(problem),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks the subscription's row for the transaction that applies a sync; whether it exists.
pub(crate) async fn lock(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<bool, IntakeError> {
    let found: Option<Uuid> = subscriptions::table
        .find(id.as_uuid())
        .select(subscriptions::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// Whether a command of ours to the provider about this subscription (a cancellation, a
/// pause, a resume) still waits in the outbox: until it is delivered, the provider's view is
/// about to change.
pub(crate) async fn command_pending(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<bool, IntakeError> {
    let about = serde_json::json!({ "subscription_id": id });
    let topic = ProviderCommand::TOPIC;
    let pending = outbox_messages::table
        .filter(outbox_messages::topic.eq(topic.as_str()))
        .filter(outbox_messages::status.eq(outbox::Status::Pending.as_str()))
        .filter(outbox_messages::payload.contains(about));
    Ok(select(exists(pending)).get_result(conn).await?)
}
