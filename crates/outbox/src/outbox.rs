//! The worker side: claiming due messages under a lease.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName,
    sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{Clock, OrganizationId};
use uuid::Uuid;

use crate::{
    dead_letter::record_dead_letter,
    error::OutboxError,
    input::Topic,
    model::{ClaimedMessage, MessageId},
    policy::{Redelivery, after},
    store,
};

/// Claims, settles and requeues messages. Cheap to clone; holds the clock and retry timing.
#[derive(Debug, Clone)]
pub struct Outbox {
    clock: Arc<dyn Clock>,
    policy: Redelivery,
}

/// Set on a message whose worker stopped during its final attempt: see [`Outbox::claim`].
pub(crate) const LEASE_EXPIRED_ON_FINAL_ATTEMPT: &str =
    "the lease of the final attempt ran out before its worker settled it (worker stopped?)";

/// Marks dead the due messages whose final attempt was claimed but never settled. A partial
/// index holds just the messages on their final attempt, so this costs nothing when all is well.
const EXPIRE_FINAL_ATTEMPTS: &str = "\
UPDATE outbox_messages SET status = 'dead', claim_token = NULL, claimed_until = NULL, last_error = $3
WHERE id IN (
    SELECT id FROM outbox_messages
    WHERE status = 'pending' AND topic = ANY($1) AND next_attempt_at <= $2
      AND attempts >= max_attempts
    FOR UPDATE SKIP LOCKED)
RETURNING id, topic, attempts";

/// Takes the oldest due messages that no other claimer has locked, counts the attempt and
/// moves `next_attempt_at` to the end of the lease. Each topic is scanned on its own, in index
/// order, so a claim stays an index scan however long the backlog; up to `limit` rows of each
/// topic are locked and the oldest `limit` of them overall are taken.
const CLAIM: &str = "\
WITH due AS (
    SELECT c.id, c.due_at FROM unnest($1::text[]) AS t (topic)
    CROSS JOIN LATERAL (
        SELECT id, next_attempt_at AS due_at FROM outbox_messages
        WHERE topic = t.topic AND status = 'pending' AND next_attempt_at <= $2
          AND attempts < max_attempts
        ORDER BY next_attempt_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED) AS c
    ORDER BY c.due_at, c.id
    LIMIT $3)
UPDATE outbox_messages AS m
SET attempts = m.attempts + 1, next_attempt_at = $4, claimed_until = $4, claim_token = $5
FROM due WHERE m.id = due.id
RETURNING m.id, m.topic, m.dedupe_key, m.organization_id, m.payload, m.attempts,
          m.max_attempts, m.last_error, m.created_at, due.due_at";

#[derive(QueryableByName)]
struct ExpiredRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    topic: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    topic: String,
    #[diesel(sql_type = Text)]
    dedupe_key: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    organization_id: Option<Uuid>,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Integer)]
    max_attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    due_at: DateTime<Utc>,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>, policy: Redelivery) -> Self {
        Self { clock, policy }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn policy(&self) -> &Redelivery {
        &self.policy
    }

    /// Claims up to `limit` due messages of `topics`, oldest due first, skipping messages other
    /// workers hold. Each claim counts as an attempt and is leased for [`Redelivery::lease`]:
    /// a message whose worker dies is claimed again once the lease ends, and settling it then
    /// needs the new claim (the old one gets [`crate::Settlement::ClaimLost`]).
    ///
    /// Commits by itself: call it outside any transaction, then make the external call
    /// outside any transaction too. A due message whose final attempt was claimed but never
    /// settled is dead-lettered here instead of being tried beyond its budget.
    pub async fn claim(
        &self,
        conn: &mut AsyncPgConnection,
        topics: &[Topic],
        limit: usize,
    ) -> Result<Vec<ClaimedMessage>, OutboxError> {
        if topics.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let lease_until = after(now, self.policy.lease());
        let token = Uuid::now_v7();
        let mut topics: Vec<&str> = topics.iter().map(Topic::as_str).collect();
        topics.sort_unstable();
        topics.dedup();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (expired, claimed) = conn
            .transaction(async |conn| {
                let expired: Vec<ExpiredRow> = diesel::sql_query(EXPIRE_FINAL_ATTEMPTS)
                    .bind::<Array<Text>, _>(&topics)
                    .bind::<Timestamptz, _>(now)
                    .bind::<Text, _>(LEASE_EXPIRED_ON_FINAL_ATTEMPT)
                    .load(conn)
                    .await?;
                let claimed: Vec<ClaimRow> = diesel::sql_query(CLAIM)
                    .bind::<Array<Text>, _>(&topics)
                    .bind::<Timestamptz, _>(now)
                    .bind::<BigInt, _>(limit)
                    .bind::<Timestamptz, _>(lease_until)
                    .bind::<SqlUuid, _>(token)
                    .load(conn)
                    .await?;
                Ok::<_, OutboxError>((expired, claimed))
            })
            .await?;
        for row in expired {
            record_dead_letter(
                &row.topic,
                MessageId::from_uuid(row.id),
                row.attempts,
                LEASE_EXPIRED_ON_FINAL_ATTEMPT,
            );
        }
        let mut claimed = claimed
            .into_iter()
            .map(|row| {
                let due_at = row.due_at;
                claimed_message(row, token, lease_until).map(|message| (due_at, message))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING has no order; hand messages out in the order they were chosen.
        claimed.sort_by_key(|(due_at, message)| (*due_at, message.id));
        Ok(claimed.into_iter().map(|(_, message)| message).collect())
    }
}

fn claimed_message(
    row: ClaimRow,
    claim_token: Uuid,
    lease_until: DateTime<Utc>,
) -> Result<ClaimedMessage, OutboxError> {
    Ok(ClaimedMessage {
        id: MessageId::from_uuid(row.id),
        topic: store::topic(row.topic)?,
        dedupe_key: store::dedupe_key(row.dedupe_key)?,
        organization_id: row.organization_id.map(OrganizationId::from_uuid),
        payload: row.payload,
        attempt: store::count(row.attempts)?,
        max_attempts: store::count(row.max_attempts)?,
        last_error: row.last_error,
        lease_until,
        created_at: row.created_at,
        claim_token,
    })
}
