//! Finding subscriptions whose scheduled action is due, for the dunning runner.

use chrono::{DateTime, Duration, Utc};
use db::{AsyncPgConnection, schema::subscriptions};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use primitives::SubscriptionId;

use crate::{
    DueAction, LifecyclePolicy, SubscriptionError,
    model::Subscription,
    schedule::{due_now, next_due},
    store::SubscriptionRow,
};

/// A subscription and the action that is due for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWork {
    pub subscription: Subscription,
    pub action: DueAction,
    pub due_at: DateTime<Utc>,
}

/// Up to `limit` subscriptions whose next action is due at `now`, oldest first, skipping rows
/// another runner holds and actions another runner has in hand. Uses the partial index on
/// `next_action_at`.
pub async fn due(
    conn: &mut AsyncPgConnection,
    policy: &LifecyclePolicy,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DueWork>, SubscriptionError> {
    let rows: Vec<SubscriptionRow> = subscriptions::table
        .filter(subscriptions::next_action_at.le(now))
        .filter(
            subscriptions::action_leased_until
                .is_null()
                .or(subscriptions::action_leased_until.le(now)),
        )
        .order(subscriptions::next_action_at.asc())
        .limit(limit.clamp(1, 1_000))
        .select(SubscriptionRow::as_select())
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    let mut work = Vec::with_capacity(rows.len());
    for row in rows {
        let subscription = row.into_subscription()?;
        // The stored time is derived from the state; recomputing guards against a row written
        // by an older policy or marked for a look by a migration.
        match due_now(&subscription.state, policy, now) {
            Some((action, due_at)) => work.push(DueWork {
                subscription,
                action,
                due_at,
            }),
            // Nothing due yet: store the real time, or the row would come back at every pass
            // and crowd out work that is due.
            None => {
                let next = next_due(&subscription.state, policy).map(|(_, at)| at);
                diesel::update(subscriptions::table.find(subscription.id.as_uuid()))
                    .set(subscriptions::next_action_at.eq(next))
                    .execute(conn)
                    .await?;
            }
        }
    }
    Ok(work)
}

/// Marks the due action as in hand until `now + lease`, so no other runner takes it meanwhile.
/// A state change clears the lease; an action that changed nothing (ignored, say) is looked at
/// again only after the lease, so it cannot crowd out the rest of the queue.
pub async fn lease_action(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<(), SubscriptionError> {
    diesel::update(subscriptions::table.find(id.as_uuid()))
        .set(subscriptions::action_leased_until.eq(now + lease))
        .execute(conn)
        .await?;
    Ok(())
}
