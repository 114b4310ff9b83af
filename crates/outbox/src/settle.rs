//! Settling a claimed message: delivered, pending again after a backoff, or dead. Every write is
//! conditional on the claim token, so a claimant whose lease ran out can never settle twice.

use chrono::{DateTime, Utc};
use db::schema::outbox_messages::dsl as m;
use diesel::{
    dsl::{Eq, Filter},
    prelude::*,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{
    dead_letter::record_dead_letter,
    deliver::HandlerError,
    error::OutboxError,
    model::{ClaimedMessage, Settlement, Status},
    outbox::Outbox,
    policy::after,
};

/// `last_error` is cut to this many characters (the column's `CHECK`).
pub const MAX_ERROR_CHARS: usize = 1000;

impl Outbox {
    /// Marks the message delivered, if the claim is still ours.
    pub async fn complete(
        &self,
        conn: &mut AsyncPgConnection,
        message: &ClaimedMessage,
    ) -> Result<Settlement, OutboxError> {
        let now = self.now();
        let updated = diesel::update(still_claimed(message))
            .set((
                m::status.eq(Status::Delivered.as_str()),
                m::delivered_at.eq(now),
                m::claim_token.eq(None::<Uuid>),
                m::claimed_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        if updated == 0 {
            return Ok(claim_lost(message));
        }
        metrics::counter!("outbox_delivered_total", "topic" => message.topic.to_string())
            .increment(1);
        tracing::debug!(
            topic = %message.topic, id = %message.id, attempt = message.attempt,
            "outbox message delivered"
        );
        Ok(Settlement::Delivered)
    }

    /// Records a failed attempt. A retryable failure with attempts left makes the message
    /// pending again after [`crate::Redelivery::backoff`]; a permanent failure or the last
    /// attempt makes it dead.
    ///
    /// The error text is stored, logged and shown to operators: callers must pass a sanitized
    /// message that never contains credentials, tokens or message bodies. It is cut to
    /// [`MAX_ERROR_CHARS`] and control characters become spaces.
    pub async fn fail(
        &self,
        conn: &mut AsyncPgConnection,
        message: &ClaimedMessage,
        error: &HandlerError,
    ) -> Result<Settlement, OutboxError> {
        let text = clean_error(error.message());
        let exhausted = message.attempt >= message.max_attempts;
        if !error.is_retryable() || exhausted {
            let updated = diesel::update(still_claimed(message))
                .set((
                    m::status.eq(Status::Dead.as_str()),
                    m::last_error.eq(&text),
                    m::claim_token.eq(None::<Uuid>),
                    m::claimed_until.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)
                .await?;
            if updated == 0 {
                return Ok(claim_lost(message));
            }
            record_dead_letter(message.topic.as_str(), message.id, message.attempt, &text);
            return Ok(Settlement::Dead);
        }
        let delay = self.policy().backoff(message.attempt, &mut rand::rng());
        let next_attempt_at = after(self.now(), delay);
        let updated = diesel::update(still_claimed(message))
            .set((
                m::next_attempt_at.eq(next_attempt_at),
                m::last_error.eq(&text),
                m::claim_token.eq(None::<Uuid>),
                m::claimed_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        if updated == 0 {
            return Ok(claim_lost(message));
        }
        metrics::counter!("outbox_retries_total", "topic" => message.topic.to_string())
            .increment(1);
        tracing::warn!(
            topic = %message.topic, id = %message.id, attempt = message.attempt,
            max_attempts = message.max_attempts, %next_attempt_at, error = %text,
            "outbox delivery failed; will retry"
        );
        Ok(Settlement::Retrying { next_attempt_at })
    }
}

/// The message, only while this claim holds it.
type StillClaimed = Filter<
    Filter<Filter<m::outbox_messages, Eq<m::id, Uuid>>, Eq<m::claim_token, Uuid>>,
    Eq<m::status, &'static str>,
>;

fn still_claimed(message: &ClaimedMessage) -> StillClaimed {
    m::outbox_messages
        .filter(m::id.eq(message.id.as_uuid()))
        .filter(m::claim_token.eq(message.claim_token))
        .filter(m::status.eq(Status::Pending.as_str()))
}

fn claim_lost(message: &ClaimedMessage) -> Settlement {
    tracing::warn!(
        topic = %message.topic, id = %message.id, attempt = message.attempt,
        "outbox claim lost before settling: the lease ran out and the message was claimed again"
    );
    Settlement::ClaimLost
}

fn clean_error(error: &str) -> String {
    let mut text: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if let Some((cut, _)) = text.char_indices().nth(MAX_ERROR_CHARS) {
        let keep = text[..cut]
            .char_indices()
            .nth(MAX_ERROR_CHARS - 3)
            .map(|(i, _)| i);
        text.truncate(keep.unwrap_or(cut));
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cut_to_the_column_limit_on_char_boundaries() {
        assert_eq!(clean_error("short"), "short");
        assert_eq!(clean_error("line\nbreak\ttab"), "line break tab");
        let exact = "é".repeat(MAX_ERROR_CHARS);
        assert_eq!(clean_error(&exact), exact);
        let long = "é".repeat(MAX_ERROR_CHARS + 1);
        let cut = clean_error(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert!(cut.ends_with("é..."));
    }
}
