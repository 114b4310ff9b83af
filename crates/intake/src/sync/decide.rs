//! What the provider sync looks at, and what a provider's view of a subscription means for
//! ours: pure functions of the stored state, the provider's answer and the time it was asked.
//! No I/O here, so every rule below is a unit test; [`super::ProviderSync`] does the fetching
//! and applies the plan through the enforcer.
//!
//! The rules follow the webhook mapping (docs/webhooks.md) for the event that was lost, with
//! guards a webhook does not need, because a view is a state and not a dated event:
//! - a command of ours to the provider still in the outbox (a pause, a resume, a cancellation
//!   the customer asked for) means the provider's view is about to change: nothing is done;
//! - a cancellation at the provider while ours is scheduled for the period's end is that
//!   schedule (the customer keeps what they paid for): nothing is done;
//! - a past-due at the provider while we hold the subscription paid beyond now (a payment made
//!   outside the provider, an operator's word) is a contradiction for a person;
//! - a pause is the customer's: only their resume lifts it, so a provider still collecting from
//!   a paused subscription is a contradiction for a person, never a resume.

use billing::{ProviderSubscription, ProviderSubscriptionStatus as PS};
use chrono::{DateTime, SecondsFormat, Utc};
use primitives::{OrganizationId, SubscriptionId};
use subscriptions::{
    CancelMode, FailureReason, SubscriptionEvent, SubscriptionState, SubscriptionStatus as S,
};
use uuid::Uuid;

use super::policy::SyncPolicy;
use crate::decide::{paid_up, provider_status_name};

/// A subscription as the claim sees it: enough to say whether it is due for a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub status: S,
    pub created_at: DateTime<Utc>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// Why a subscription is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueReason {
    /// Past due or suspended: a payment whose event was lost would restore it (G8).
    Owed,
    /// Still pending long after its creation: its activation may have been lost.
    PendingTooLong,
    /// Nothing heard about it (no event applied, no sync) for long.
    Quiet,
}

impl DueReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owed => "owed",
            Self::PendingTooLong => "pending_too_long",
            Self::Quiet => "quiet",
        }
    }
}

/// Whether a live subscription bound to a provider is due for a sync at `now`, and why. The
/// claim's SQL (`store::claim`) selects the same rows; this says it once more in Rust for
/// the tests and the logs.
pub fn due_reason(
    candidate: &Candidate,
    policy: &SyncPolicy,
    now: DateTime<Utc>,
) -> Option<DueReason> {
    let ago = |duration: std::time::Duration| {
        now - chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
    };
    if candidate.status.is_terminal()
        || candidate
            .last_synced_at
            .is_some_and(|synced| synced > ago(policy.recheck_after))
    {
        return None;
    }
    let quiet_since = ago(policy.quiet_after);
    let heard = candidate.last_event_at.unwrap_or(candidate.created_at);
    match candidate.status {
        S::PastDue | S::Suspended => Some(DueReason::Owed),
        S::Pending if candidate.created_at <= ago(policy.pending_after) => {
            Some(DueReason::PendingTooLong)
        }
        _ if heard <= quiet_since
            && candidate
                .last_synced_at
                .is_none_or(|synced| synced <= quiet_since) =>
        {
            Some(DueReason::Quiet)
        }
        _ => None,
    }
}

/// What we hold about the subscription when its provider's view is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored<'a> {
    pub organization: OrganizationId,
    pub state: &'a SubscriptionState,
    /// A command of ours to the provider about this subscription still waits in the outbox.
    pub command_pending: bool,
}

/// What to do with the provider's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// Apply this event (source `sync`) through the enforcer.
    Apply(SubscriptionEvent),
    /// Nothing to do: in agreement, or a difference that is not ours to act on; why.
    Nothing(String),
    /// A contradiction a person must look at; nothing is changed.
    Hold(String),
}

/// Decides what the provider's `view` of a subscription, fetched at `asked_at`, means for ours.
pub fn decide(
    stored: &Stored<'_>,
    view: &ProviderSubscription,
    asked_at: DateTime<Utc>,
) -> SyncPlan {
    use SyncPlan::{Apply, Hold, Nothing};
    let ours = stored.state.status;
    let theirs = provider_status_name(view.status);
    if ours.is_terminal() {
        return Nothing(format!("{ours} here: nothing the provider says changes it"));
    }
    if let Some(named) = view
        .organization_ref
        .as_deref()
        .and_then(|reference| Uuid::parse_str(reference).ok())
        .filter(|named| *named != stored.organization.as_uuid())
    {
        return Hold(format!(
            "the provider names organization {named} for this subscription, which belongs to \
             organization {}",
            stored.organization
        ));
    }
    if stored.command_pending {
        return Nothing(
            "a command of ours to the provider is still in the outbox: its view is about to \
             change"
                .into(),
        );
    }
    let agree = || {
        Nothing(format!(
            "{ours} here, {theirs} at the provider: in agreement"
        ))
    };
    match view.status {
        PS::Active => active(stored.state, view).unwrap_or_else(agree),
        PS::Trialing => match ours {
            S::Pending => match view.current_period_end {
                Some(trial_end) => Apply(SubscriptionEvent::TrialStarted { trial_end }),
                None => Nothing("trialing at the provider, but the trial's end is not said".into()),
            },
            S::PastDue | S::Suspended => Nothing(format!(
                "{ours} here, trialing at the provider: payment is still owed here"
            )),
            S::Paused => paused_but_collecting(theirs),
            _ => agree(),
        },
        PS::Pending if ours == S::Pending => agree(),
        PS::Pending => Hold(format!(
            "{ours} here, but the provider still waits for the customer's approval"
        )),
        PS::PastDue => past_due(stored.state, view, asked_at).unwrap_or_else(agree),
        PS::Paused => match ours {
            S::Trialing | S::Active => Apply(SubscriptionEvent::Paused),
            S::Paused => agree(),
            S::Pending => Nothing("paused at the provider before it started here".into()),
            _ => Nothing(format!(
                "{ours} here, paused at the provider: payment is still owed here"
            )),
        },
        // PayPal shows a paused subscription as suspended (our pause is its suspension).
        PS::Suspended if matches!(ours, S::Suspended | S::Paused) => agree(),
        PS::Suspended => Apply(SubscriptionEvent::SuspendedByProvider),
        PS::Canceled if stored.state.cancel_at_period_end => Nothing(format!(
            "canceled at the provider; cancellation at the period's end ({}) is scheduled here",
            stored
                .state
                .cancellation_point()
                .map_or_else(|| "unknown".to_owned(), |at| at.to_rfc3339())
        )),
        PS::Canceled => Apply(SubscriptionEvent::Canceled {
            mode: CancelMode::Immediately,
        }),
        PS::Expired => Apply(SubscriptionEvent::Expired),
    }
}

/// Active at the provider; `None` when we agree.
fn active(state: &SubscriptionState, view: &ProviderSubscription) -> Option<SyncPlan> {
    use SyncPlan::{Apply, Nothing};
    match state.status {
        S::Pending | S::Trialing => Some(match view.current_period_end {
            Some(period_end) => Apply(SubscriptionEvent::Activated { period_end }),
            None => {
                Nothing("active at the provider, but it does not say until when it is paid".into())
            }
        }),
        // Owed here (or in the grace after a failure): restored only as an activation while
        // payment is owed would be, when the provider says it is paid up.
        S::PastDue | S::Suspended => Some(reinstate(view)),
        S::Active if state.dunning.is_some() => Some(reinstate(view)),
        S::Paused => Some(paused_but_collecting("active")),
        S::Active | S::Canceled | S::Expired => None,
    }
}

/// Paused here, collecting at the provider. Only the customer's own resume lifts a pause, so
/// the provider's word does not; and a pause that never reached the provider (its command
/// dead in the outbox) bills a customer who paused: a person must look.
fn paused_but_collecting(theirs: &str) -> SyncPlan {
    SyncPlan::Hold(format!(
        "paused here, but {theirs} at the provider: the pause may not have reached it (see the \
         billing.provider outbox); only the customer's resume lifts a pause"
    ))
}

fn reinstate(view: &ProviderSubscription) -> SyncPlan {
    match paid_up(view) {
        Ok(period_end) => SyncPlan::Apply(SubscriptionEvent::Reinstated { period_end }),
        Err(reason) => SyncPlan::Nothing(reason),
    }
}

/// Past due at the provider; `None` when we agree.
fn past_due(
    state: &SubscriptionState,
    view: &ProviderSubscription,
    asked_at: DateTime<Utc>,
) -> Option<SyncPlan> {
    match state.status {
        S::PastDue | S::Suspended | S::Canceled | S::Expired => None,
        S::Active if state.dunning.is_some() => Some(SyncPlan::Nothing(
            "a failed payment is already being collected here (grace period)".into(),
        )),
        S::Paused => Some(SyncPlan::Hold(
            "paused here, but the provider reports it past due: a person must say which holds"
                .into(),
        )),
        S::Pending | S::Trialing | S::Active => Some(match state.cancellation_point() {
            Some(paid_until) if paid_until > asked_at => SyncPlan::Hold(format!(
                "paid here until {}, but the provider reports it past due: a payment outside \
                 the provider, or a mistake; a person must look",
                paid_until.to_rfc3339()
            )),
            _ => SyncPlan::Apply(SubscriptionEvent::PaymentFailed {
                reason: FailureReason::new(&format!(
                    "the provider reports the subscription past due ({}); its failure was not \
                     delivered",
                    view.provider_status
                )),
                at: asked_at,
            }),
        }),
    }
}

/// The sync event's id: one per subscription, provider status and provider period, so a
/// repeated or concurrent sync of the same view is a duplicate (G3), and a view that one sync
/// acted on is never acted on again (an operator who overrode it stays overridden until the
/// provider says something new).
pub fn event_id(subscription: SubscriptionId, view: &ProviderSubscription) -> String {
    let period = view.current_period_end.map_or_else(
        || "none".to_owned(),
        |at| at.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    format!("sync:{subscription}:{}:{period}", status_key(view.status))
}

fn status_key(status: PS) -> &'static str {
    match status {
        PS::Pending => "pending",
        PS::Trialing => "trialing",
        PS::Active => "active",
        PS::PastDue => "past_due",
        PS::Paused => "paused",
        PS::Suspended => "suspended",
        PS::Canceled => "canceled",
        PS::Expired => "expired",
    }
}

#[cfg(test)]
mod tests;
