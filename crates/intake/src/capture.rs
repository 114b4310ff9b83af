//! A top-up the customer approved (PayPal `CHECKOUT.ORDER.APPROVED`): the provider pays it out
//! only once we capture the order, so the intake asks for the capture through the outbox, in
//! the delivery's own transaction (G10): the `billing.provider` handler makes the call, and the
//! capture's completion, a separate event, credits the wallet.

use chrono::{DateTime, Utc};
use db::AsyncPgConnection;
use enforcement::{ProviderAction, ProviderCommand};
use outbox::{DedupeKey, Enqueued, Envelope};
use primitives::{OrganizationId, ProviderName};

use crate::{
    IntakeError,
    decide::{self, CapturePlan},
    event::StoredEvent,
    inbox::{EventOutcome, EventResult},
};

/// What the provider is told the capture is for.
const REASON: &str = "wallet top-up approved by the customer";

/// Enqueues the capture of the approved order once per order: a repeated or second approval
/// of the same order finds the first command and enqueues nothing.
pub(crate) async fn enqueue(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    event: &StoredEvent,
    organization: OrganizationId,
    now: DateTime<Utc>,
) -> Result<EventOutcome, IntakeError> {
    let (order, key) = match decide::capture_plan(provider, event) {
        CapturePlan::Hold(reason) => {
            return Ok(EventOutcome::new(event, EventResult::Held, reason));
        }
        CapturePlan::Capture { order, key } => (order, key),
    };
    let command = ProviderCommand {
        organization_id: organization,
        subscription_id: None,
        provider,
        target: order.clone(),
        action: ProviderAction::CaptureTopUp,
        reason: REASON.to_owned(),
        idempotency_key: key.clone(),
    };
    // The key is a ledger-style reference: at most 200 visible ASCII characters by construction.
    let dedupe = DedupeKey::parse(key)
        .map_err(|error| IntakeError::Corrupt(format!("capture dedupe key: {error}")))?;
    let envelope = Envelope::new(dedupe, now).for_organization(organization);
    Ok(match outbox::enqueue(conn, &command, envelope).await? {
        Enqueued::New(_) => EventOutcome::new(
            event,
            EventResult::Applied,
            format!("capture of order {order} asked of {provider}"),
        ),
        Enqueued::Duplicate(_) => EventOutcome::new(
            event,
            EventResult::Duplicate,
            format!("the capture of order {order} was already asked of {provider}"),
        ),
    })
}
