//! Carrying out a transition's effects on the caller's transaction.
//!
//! Wallet freezes go straight to the ledger (same database, same commit). Notifications and the
//! campaign and messaging effects are enqueued in the outbox, as the message types their
//! consumers define, with a dedupe key derived from the event, so a retried delivery never
//! doubles them.

use campaigns::{
    CampaignAction, CampaignControl, Cause, MessagingAction, MessagingControl, PauseReason,
};
use chrono::{DateTime, Utc};
use db::AsyncPgConnection;
use ledger::{Actor, FreezeRequest, FreezeSource, Ledger, LedgerError, Reason, UnfreezeRequest};
use notifications::Notification;
use outbox::{DedupeKey, Envelope, Message};
use serde_json::json;
use subscriptions::{
    Effect, EventEnvelope, NotificationKind, Subscription, SubscriptionEvent, Transition,
};
use uuid::Uuid;

use crate::EnforcementError;

/// Everything an effect needs to know about where it comes from.
pub(crate) struct Target<'a> {
    pub subscription: &'a Subscription,
    pub transition: &'a Transition,
    pub envelope: &'a EventEnvelope,
    pub event_row_id: Uuid,
    pub now: DateTime<Utc>,
}

pub(crate) async fn carry_out(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    target: &Target<'_>,
) -> Result<(), EnforcementError> {
    for effect in &target.transition.effects {
        match *effect {
            Effect::FreezeWallet => set_wallet_freeze(conn, ledger, target, true).await?,
            Effect::UnfreezeWallet => set_wallet_freeze(conn, ledger, target, false).await?,
            Effect::PauseCampaigns => campaigns(conn, target, CampaignAction::Pause).await?,
            Effect::ResumeCampaigns => campaigns(conn, target, CampaignAction::Resume).await?,
            Effect::SuspendMessaging => messaging(conn, target, MessagingAction::Suspend).await?,
            Effect::ReactivateMessaging => {
                messaging(conn, target, MessagingAction::Reactivate).await?;
            }
            Effect::Notify { notice } => notify(conn, target, notice).await?,
            // Blocks are written by the subscriptions crate; schedules and periods are part of
            // the stored state (next_action_at is derived from it).
            Effect::Block { .. }
            | Effect::Unblock { .. }
            | Effect::ScheduleRetry { .. }
            | Effect::ScheduleGraceEnd { .. }
            | Effect::ScheduleSuspension { .. }
            | Effect::ClearRetries
            | Effect::ExtendPeriod { .. } => {}
        }
    }
    Ok(())
}

async fn set_wallet_freeze(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    target: &Target<'_>,
    freeze: bool,
) -> Result<(), EnforcementError> {
    let organization = target.subscription.organization_id;
    let wallet_id = match ledger.wallet_for_organization(conn, organization).await {
        Ok(wallet_id) => wallet_id,
        // No wallet, nothing to freeze: an organization always has one, but the policy must not
        // depend on it.
        Err(LedgerError::WalletNotFound) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let reason = Reason::parse(format!(
        "subscription {} after {} ({})",
        target.transition.to,
        target.envelope.event.kind(),
        target.envelope.event_id
    ))
    .map_err(|error| EnforcementError::Effect(error.to_string()))?;
    let actor = Actor::system("enforcement");
    if freeze {
        let request = FreezeRequest {
            wallet_id,
            source: FreezeSource::Billing,
            reason,
            actor,
        };
        ledger.freeze(conn, request).await?;
    } else {
        let request = UnfreezeRequest {
            wallet_id,
            source: FreezeSource::Billing,
            reason,
            actor,
        };
        ledger.unfreeze(conn, request).await?;
    }
    Ok(())
}

/// Pauses campaigns as `subscription_inactive`: the billing reason a transition stands for.
async fn campaigns(
    conn: &mut AsyncPgConnection,
    target: &Target<'_>,
    action: CampaignAction,
) -> Result<(), EnforcementError> {
    let control = CampaignControl {
        organization_id: target.subscription.organization_id,
        action,
        reason: (action == CampaignAction::Pause).then_some(PauseReason::SubscriptionInactive),
        cause: Some(cause(target)),
    };
    enqueue(conn, target, &control, action.as_str()).await
}

async fn messaging(
    conn: &mut AsyncPgConnection,
    target: &Target<'_>,
    action: MessagingAction,
) -> Result<(), EnforcementError> {
    let control = MessagingControl {
        organization_id: target.subscription.organization_id,
        action,
        cause: Some(cause(target)),
    };
    enqueue(conn, target, &control, action.as_str()).await
}

fn cause(target: &Target<'_>) -> Cause {
    Cause {
        subscription_id: target.subscription.id,
        status: target.transition.to,
        event: target.envelope.event.kind(),
    }
}

/// Enqueues `message` for the organization, once per event and `what`.
async fn enqueue<M: Message>(
    conn: &mut AsyncPgConnection,
    target: &Target<'_>,
    message: &M,
    what: &str,
) -> Result<(), EnforcementError> {
    let envelope = Envelope::new(dedupe(target.event_row_id, what)?, target.now)
        .for_organization(target.subscription.organization_id);
    outbox::enqueue(conn, message, envelope).await?;
    Ok(())
}

async fn notify(
    conn: &mut AsyncPgConnection,
    target: &Target<'_>,
    notice: NotificationKind,
) -> Result<(), EnforcementError> {
    let notification = Notification {
        kind: notice,
        organization_id: target.subscription.organization_id,
        payload: notice_payload(target),
    };
    let key = dedupe(target.event_row_id, notice.as_str())?;
    notifications::enqueue(conn, &notification, key.as_str(), target.now).await?;
    Ok(())
}

/// The facts a notice may mention; rendering picks what it needs.
fn notice_payload(target: &Target<'_>) -> serde_json::Value {
    let state = &target.transition.state;
    let mut payload = json!({
        "subscription_id": target.subscription.id,
        "plan": target.subscription.plan,
        "status": target.transition.to,
        "event": target.envelope.event.kind(),
        "period_end": state.current_period_end,
        "trial_end": state.trial_end,
    });
    let next_retry = target
        .transition
        .effects
        .iter()
        .find_map(|effect| match effect {
            Effect::ScheduleRetry { attempt, at } => Some((Some(*attempt), *at)),
            Effect::ScheduleGraceEnd { at } | Effect::ScheduleSuspension { at } => {
                Some((None, *at))
            }
            _ => None,
        });
    if let (Some(object), Some((attempt, at))) = (payload.as_object_mut(), next_retry) {
        object.insert("next_attempt".into(), json!(attempt));
        object.insert("next_step_at".into(), json!(at));
    }
    if let Some(object) = payload.as_object_mut() {
        match &target.envelope.event {
            SubscriptionEvent::PaymentFailed { reason, .. } => {
                object.insert("reason".into(), json!(reason));
            }
            event @ SubscriptionEvent::RenewalMissed { .. } => {
                if let Some((_, reason)) = event.failure() {
                    object.insert("reason".into(), json!(reason));
                }
            }
            SubscriptionEvent::RetryFailed { attempt, reason } => {
                object.insert("reason".into(), json!(reason));
                object.insert("attempt".into(), json!(attempt));
            }
            SubscriptionEvent::PaymentSucceeded { amount, .. }
            | SubscriptionEvent::ManualPaymentReceived { amount, .. } => {
                object.insert("amount".into(), json!(amount.to_string()));
            }
            _ => {}
        }
    }
    payload
}

fn dedupe(event_row_id: Uuid, what: &str) -> Result<DedupeKey, EnforcementError> {
    DedupeKey::parse(format!("subscription-event:{event_row_id}:{what}"))
        .map_err(|error| EnforcementError::Effect(error.to_string()))
}
