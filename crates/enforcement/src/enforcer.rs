//! Applying one event: the subscription's transition and every effect, in one transaction.

use db::AsyncPgConnection;
use diesel_async::AsyncConnection;
use ledger::Ledger;
use primitives::SubscriptionId;
use subscriptions::{Applied, EventEnvelope, Outcome, Subscriptions};

use crate::{EnforcementError, effects, failure};

#[derive(Debug, Clone)]
pub struct Enforcer {
    subscriptions: Subscriptions,
    ledger: Ledger,
}

impl Enforcer {
    pub fn new(subscriptions: Subscriptions, ledger: Ledger) -> Self {
        Self {
            subscriptions,
            ledger,
        }
    }

    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// Applies `envelope` to the subscription and carries out the effects of the transition, all
    /// or nothing: if a wallet freeze or an enqueue fails, the status change rolls back too, and
    /// the event can be delivered again. External calls are only enqueued here (G10).
    pub async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        subscription_id: SubscriptionId,
        envelope: &EventEnvelope,
    ) -> Result<Applied, EnforcementError> {
        let applied = conn
            .transaction(async |conn| {
                let applied = self
                    .subscriptions
                    .apply(conn, subscription_id, envelope)
                    .await?;
                if let (Outcome::Applied { transition }, Some(event_row_id)) =
                    (&applied.outcome, applied.event_row_id)
                {
                    let target = effects::Target {
                        subscription: &applied.subscription,
                        transition,
                        envelope,
                        event_row_id,
                        now: self.subscriptions.now(),
                    };
                    effects::carry_out(conn, &self.ledger, &target).await?;
                }
                Ok::<_, EnforcementError>(applied)
            })
            .await?;
        // Logged after commit: a failure that rolled back did not happen.
        failure::report(&applied, envelope);
        log_outcome(&applied, envelope);
        Ok(applied)
    }
}

fn log_outcome(applied: &Applied, envelope: &EventEnvelope) {
    let subscription = &applied.subscription;
    match &applied.outcome {
        Outcome::Applied { transition } => tracing::info!(
            event = "subscription_transition",
            organization = %subscription.organization_id,
            subscription = %subscription.id,
            from = %transition.from,
            to = %transition.to,
            trigger = %envelope.event.kind(),
            source = %envelope.source,
            event_id = %envelope.event_id,
            "subscription {} -> {}",
            transition.from,
            transition.to,
        ),
        other => tracing::info!(
            event = "subscription_event_not_applied",
            organization = %subscription.organization_id,
            subscription = %subscription.id,
            trigger = %envelope.event.kind(),
            source = %envelope.source,
            event_id = %envelope.event_id,
            outcome = ?other,
            "subscription event changed nothing",
        ),
    }
}
