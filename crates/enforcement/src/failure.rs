//! The `payment_failure` log event and metric. Operators grep for "PAYMENT FAILURE", so the
//! message keeps those words.

use subscriptions::{Applied, EventEnvelope, Outcome, SubscriptionEvent};

/// Counter of payment failures, labelled by attempt (0 = the original failure).
pub const PAYMENT_FAILURES_METRIC: &str = "payment_failures_total";

/// Reports a failure once per distinct event: a duplicate delivery is not a new failure.
pub(crate) fn report(applied: &Applied, envelope: &EventEnvelope) {
    let Some((attempt, reason)) = envelope.event.failure() else {
        return;
    };
    if applied.outcome == Outcome::Duplicate {
        return;
    }
    // A provider's failure is a fact whatever our state made of it; a missed renewal is our own
    // conclusion, and a failure only when it took effect (not when a payment came first).
    let concluded = matches!(envelope.event, SubscriptionEvent::RenewalMissed { .. });
    if concluded && !matches!(applied.outcome, Outcome::Applied { .. }) {
        return;
    }
    let subscription = &applied.subscription;
    tracing::warn!(
        event = "payment_failure",
        organization = %subscription.organization_id,
        subscription = %subscription.id,
        attempt,
        reason = %reason,
        source = %envelope.source,
        event_id = %envelope.event_id,
        status = %subscription.state.status,
        "PAYMENT FAILURE: organization {} subscription {} attempt {}: {}",
        subscription.organization_id,
        subscription.id,
        attempt,
        reason,
    );
    metrics::counter!(PAYMENT_FAILURES_METRIC, "attempt" => attempt.to_string()).increment(1);
}
