//! The one place a dead letter is announced: operators grep for `OUTBOX DEAD LETTER` and alert
//! on `outbox_dead_letters_total`. Both ways a message dies (settled dead, or its final lease
//! ran out) come through here.

use crate::model::MessageId;

pub(crate) fn record_dead_letter(
    topic: &str,
    id: MessageId,
    attempts: impl Into<i64>,
    error: &str,
) {
    metrics::counter!("outbox_dead_letters_total", "topic" => topic.to_owned()).increment(1);
    tracing::error!(
        topic, id = %id, attempts = attempts.into(), last_error = error,
        "OUTBOX DEAD LETTER"
    );
}
