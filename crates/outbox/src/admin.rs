//! The operator's side: list messages, count them, requeue dead letters. These replace raw SQL
//! in the runbook (docs/outbox.md); the api serves them under `/v1/admin/outbox`.

use db::schema::outbox_messages::dsl as m;
use diesel::{OptionalExtension, dsl::count_star, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    error::OutboxError,
    model::{ListFilter, MessageId, OutboxMessage, Status, StatusCount},
    outbox::Outbox,
    store::{self, MessageRow},
};

/// Messages matching `filter`, newest first (ids are time-ordered).
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &ListFilter,
) -> Result<Vec<OutboxMessage>, OutboxError> {
    let mut query = m::outbox_messages
        .select(MessageRow::as_select())
        .order(m::id.desc())
        .limit(i64::from(filter.limit.min(ListFilter::MAX_LIMIT)))
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(m::status.eq(status.as_str()));
    }
    if let Some(topic) = &filter.topic {
        query = query.filter(m::topic.eq(topic.as_str().to_owned()));
    }
    if let Some(organization_id) = filter.organization_id {
        query = query.filter(m::organization_id.eq(organization_id.as_uuid()));
    }
    if let Some(before) = filter.before {
        query = query.filter(m::id.lt(before.as_uuid()));
    }
    let rows: Vec<MessageRow> = query.load(conn).await?;
    rows.into_iter().map(OutboxMessage::try_from).collect()
}

/// One message, whatever its status.
pub async fn get(
    conn: &mut AsyncPgConnection,
    id: MessageId,
) -> Result<OutboxMessage, OutboxError> {
    let row: Option<MessageRow> = m::outbox_messages
        .find(id.as_uuid())
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()?;
    row.ok_or(OutboxError::NotFound(id))?.try_into()
}

/// How many messages each topic has in each status, by topic then status.
pub async fn counts(conn: &mut AsyncPgConnection) -> Result<Vec<StatusCount>, OutboxError> {
    let rows: Vec<(String, String, i64)> = m::outbox_messages
        .group_by((m::topic, m::status))
        .select((m::topic, m::status, count_star()))
        .order((m::topic, m::status))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(topic, status, count)| {
            Ok(StatusCount {
                topic: store::topic(topic)?,
                status: store::status(&status)?,
                count: u64::try_from(count).unwrap_or_default(),
            })
        })
        .collect()
}

impl Outbox {
    /// Makes a dead message pending again, due now, with a fresh attempt budget (its last
    /// error stays until the next attempt). For after the cause was fixed: a wrong SMTP
    /// password, a provider outage, a bad address corrected by the customer.
    pub async fn retry_dead_now(
        &self,
        conn: &mut AsyncPgConnection,
        id: MessageId,
    ) -> Result<OutboxMessage, OutboxError> {
        let row: Option<MessageRow> = diesel::update(
            m::outbox_messages
                .filter(m::id.eq(id.as_uuid()))
                .filter(m::status.eq(Status::Dead.as_str())),
        )
        .set((
            m::status.eq(Status::Pending.as_str()),
            m::attempts.eq(0),
            m::next_attempt_at.eq(self.now()),
        ))
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        let Some(row) = row else {
            let existing = get(conn, id).await?;
            return Err(OutboxError::NotDead {
                id,
                status: existing.status,
            });
        };
        let message = OutboxMessage::try_from(row)?;
        tracing::info!(
            topic = %message.topic, id = %id, "dead outbox message requeued by an operator"
        );
        Ok(message)
    }
}
