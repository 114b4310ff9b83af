//! The generic delivery loop: claim, decode, call the handler outside any transaction, settle.

use std::{fmt, future::Future};

use db::DbPool;
use futures::{StreamExt, stream};

use crate::{
    error::OutboxError,
    message::Message,
    model::{ClaimedMessage, Settlement},
    outbox::Outbox,
};

/// Delivers the messages of one type, so of one topic (sends the email, calls Twilio...).
///
/// Delivery is at least once: a handler may see a message again after a crash or a lost lease,
/// so it passes the message id on as the idempotency key where the remote side supports one.
pub trait Handler: Send + Sync {
    /// What it delivers; [`deliver_batch`] claims this type's [`Message::TOPIC`].
    type Message: Message;

    /// Delivers one message: `payload` is its payload decoded, `message` the rest (the id, the
    /// organization, when it was enqueued, the attempt). A payload that does not decode never
    /// reaches the handler: the message is dead at once, with the decoding error.
    fn handle(
        &self,
        message: &ClaimedMessage,
        payload: Self::Message,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Whether trying again later may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A timeout, a refused connection, a 4xx SMTP reply, an HTTP 5xx or 429...
    Retryable,
    /// The remote side refused this message for good: retrying cannot help.
    Permanent,
}

/// A failed delivery attempt. The message is stored and logged: never put secrets in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} failure: {message}")]
pub struct HandlerError {
    kind: FailureKind,
    message: String,
}

impl HandlerError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Retryable,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == FailureKind::Retryable
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Retryable => "retryable",
            Self::Permanent => "permanent",
        })
    }
}

/// What one [`deliver_batch`] did. `claimed` is the sum of the other fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    /// Messages whose claim ran out (or was taken over) before they could be settled; they
    /// were not handled, or their settlement was refused.
    pub lost_claims: usize,
    /// Handled, but settling failed (database trouble): redelivered once the lease ends.
    pub unsettled: usize,
}

impl DeliveryReport {
    fn record(&mut self, outcome: Option<Settlement>) {
        match outcome {
            Some(Settlement::Delivered) => self.delivered += 1,
            Some(Settlement::Retrying { .. }) => self.retried += 1,
            Some(Settlement::Dead) => self.dead += 1,
            Some(Settlement::ClaimLost) => self.lost_claims += 1,
            None => self.unsettled += 1,
        }
    }
}

/// Claims up to `limit` due messages of the handler's message type, handles them concurrently with no
/// database connection held, and settles each. Fails only if claiming fails; a message that
/// cannot be settled is logged and redelivered after its lease.
///
/// A batch must finish well within the lease: keep `limit` in line with the pool size and the
/// handler's timeout. A message whose lease has already run out when its turn comes is skipped
/// (another worker may own it by now).
pub async fn deliver_batch<H: Handler>(
    pool: &DbPool,
    outbox: &Outbox,
    handler: &H,
    limit: usize,
) -> Result<DeliveryReport, OutboxError> {
    let claimed = {
        let mut conn = pool.get().await?;
        outbox.claim(&mut conn, &[H::Message::TOPIC], limit).await?
    };
    let mut report = DeliveryReport {
        claimed: claimed.len(),
        ..DeliveryReport::default()
    };
    let outcomes: Vec<_> = stream::iter(claimed)
        .map(|message| deliver_one(pool, outbox, handler, message))
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    for outcome in outcomes {
        report.record(outcome);
    }
    Ok(report)
}

async fn deliver_one<H: Handler>(
    pool: &DbPool,
    outbox: &Outbox,
    handler: &H,
    message: ClaimedMessage,
) -> Option<Settlement> {
    if outbox.now() >= message.lease_until {
        tracing::warn!(
            topic = %message.topic, id = %message.id,
            "outbox lease ran out before delivery started; leaving the message to its next claim"
        );
        return Some(Settlement::ClaimLost);
    }
    let result = match decode::<H::Message>(&message) {
        Ok(payload) => handler.handle(&message, payload).await,
        Err(error) => Err(error),
    };
    let settled = async {
        let mut conn = pool.get().await?;
        match &result {
            Ok(()) => outbox.complete(&mut conn, &message).await,
            Err(error) => outbox.fail(&mut conn, &message, error).await,
        }
    };
    match settled.await {
        Ok(settlement) => Some(settlement),
        Err(error) => {
            tracing::error!(
                topic = %message.topic, id = %message.id, handled_ok = result.is_ok(),
                error = %error,
                "could not settle an outbox message; it will be redelivered after its lease"
            );
            None
        }
    }
}

/// The payload as its type. One that does not decode now never will (the stored JSON does not
/// change), so the failure is permanent: the message goes to a person, not round again.
fn decode<M: Message>(message: &ClaimedMessage) -> Result<M, HandlerError> {
    M::deserialize(&message.payload).map_err(|error| {
        HandlerError::permanent(format!("undecodable {} payload: {error}", message.topic))
    })
}
