//! The transition function: pure and total. Every (status, event) pair either moves the
//! subscription (possibly to the same status) with a list of effects, or is ignored with a reason.

mod ignore;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use ignore::IgnoreReason;

use crate::{
    CancelMode, DunningEpisode, Effect, LifecyclePolicy, NotificationKind, SubscriptionEvent,
    SubscriptionState, SubscriptionStatus, dunning::NextStep, posture,
};

/// What the function needs besides the state and the event.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// When the event happened (not when it arrived): dunning episodes are anchored to it.
    pub occurred_at: DateTime<Utc>,
    pub policy: &'a LifecyclePolicy,
}

/// A change of state and what must happen because of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: SubscriptionStatus,
    pub to: SubscriptionStatus,
    pub state: SubscriptionState,
    pub effects: Vec<Effect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    Transition(Transition),
    Ignored { reason: IgnoreReason },
}

impl Decision {
    pub fn transition(&self) -> Option<&Transition> {
        match self {
            Self::Transition(transition) => Some(transition),
            Self::Ignored { .. } => None,
        }
    }
}

/// Decides what `event` does to a subscription in `state`.
pub fn decide(
    state: &SubscriptionState,
    event: &SubscriptionEvent,
    context: &Context<'_>,
) -> Decision {
    use SubscriptionEvent as E;
    if state.status.is_terminal() {
        return ignored(IgnoreReason::Terminal);
    }
    match event {
        E::Created => ignored(IgnoreReason::AlreadyCreated),
        E::TrialStarted { trial_end } => start_trial(state, *trial_end),
        E::TrialEndingSoon { .. } => trial_ending_soon(state),
        E::TrialEnded => trial_ended(state, context),
        E::Activated { period_end } => activated(state, *period_end),
        E::Reinstated { period_end } => reinstated(state, *period_end),
        E::PaymentSucceeded { period_end, .. } | E::ManualPaymentReceived { period_end, .. } => {
            paid(state, *period_end)
        }
        E::PaymentFailed { at, .. } => payment_failed(state, *at, context),
        E::RenewalMissed { period_end } => renewal_missed(state, *period_end, context),
        E::RetryFailed { attempt, .. } => retry_failed(state, *attempt, context),
        E::GracePeriodEnded => grace_ended(state, context),
        E::DunningExhausted => dunning_exhausted(state, context),
        E::Paused => paused(state),
        E::Resumed => resumed(state),
        E::SuspendedByProvider => suspended_by_provider(state),
        E::Canceled { mode } => canceled(state, *mode, context),
        E::PeriodEnded => period_ended(state),
        E::Expired => end(
            state,
            SubscriptionStatus::Expired,
            NotificationKind::Expired,
        ),
    }
}

fn ignored(reason: IgnoreReason) -> Decision {
    Decision::Ignored { reason }
}

/// Builds a transition to `next`: the posture effects first, then the event's own effects.
fn to(state: &SubscriptionState, next: SubscriptionState, extra: Vec<Effect>) -> Decision {
    let mut effects = posture::effects_between(state.status, next.status);
    effects.extend(extra);
    Decision::Transition(Transition {
        from: state.status,
        to: next.status,
        state: next,
        effects,
    })
}

fn with_status(state: &SubscriptionState, status: SubscriptionStatus) -> SubscriptionState {
    SubscriptionState { status, ..*state }
}

fn start_trial(state: &SubscriptionState, trial_end: DateTime<Utc>) -> Decision {
    if state.status != SubscriptionStatus::Pending {
        return ignored(IgnoreReason::NotPending);
    }
    let next = SubscriptionState {
        status: SubscriptionStatus::Trialing,
        trial_end: Some(trial_end),
        ..*state
    };
    to(state, next, Vec::new())
}

/// The customer hears once that the trial ends soon, from whichever of our schedule and the
/// provider's notice comes first.
fn trial_ending_soon(state: &SubscriptionState) -> Decision {
    if state.status != SubscriptionStatus::Trialing {
        return ignored(IgnoreReason::NotTrialing);
    }
    if state.trial_ending_notified {
        return ignored(IgnoreReason::AlreadyNotified);
    }
    let next = SubscriptionState {
        trial_ending_notified: true,
        ..*state
    };
    to(
        state,
        next,
        vec![Effect::Notify {
            notice: NotificationKind::TrialEnding,
        }],
    )
}

fn trial_ended(state: &SubscriptionState, context: &Context<'_>) -> Decision {
    if state.status != SubscriptionStatus::Trialing {
        return ignored(IgnoreReason::NotTrialing);
    }
    if state.cancel_at_period_end {
        return end(
            state,
            SubscriptionStatus::Canceled,
            NotificationKind::Canceled,
        );
    }
    // No payment arrived by the end of the trial: treat it as the first failure of an episode
    // (or continue the one a failed payment already opened), so a payment that arrives late
    // still restores access and dunning still ends the matter.
    start_dunning(
        state,
        context.occurred_at,
        NotificationKind::TrialEnded,
        context,
    )
}

/// Moves to `past_due`, continuing the open episode or starting one anchored at `started_at`.
fn start_dunning(
    state: &SubscriptionState,
    started_at: DateTime<Utc>,
    notice: NotificationKind,
    context: &Context<'_>,
) -> Decision {
    let episode = state.dunning.unwrap_or(DunningEpisode {
        started_at,
        retries_failed: 0,
    });
    let next = SubscriptionState {
        status: SubscriptionStatus::PastDue,
        dunning: Some(episode),
        ..*state
    };
    let mut extra = vec![schedule_next(&episode, context)];
    extra.push(Effect::Notify { notice });
    to(state, next, extra)
}

fn schedule_next(episode: &DunningEpisode, context: &Context<'_>) -> Effect {
    match context.policy.dunning().next_step(episode) {
        NextStep::Retry { attempt, at } => Effect::ScheduleRetry { attempt, at },
        NextStep::Suspend { at } => Effect::ScheduleSuspension { at },
    }
}

fn activated(state: &SubscriptionState, period_end: DateTime<Utc>) -> Decision {
    use SubscriptionStatus as S;
    match state.status {
        // The pause is the customer's own block: the provider saying the subscription is
        // active (Stripe reports it so while collection is paused) never lifts it; only
        // resuming does.
        S::Paused => stay_paused(state, period_end),
        S::Pending | S::Trialing => {
            let mut next = with_status(state, S::Active);
            let mut extra = Vec::new();
            extend_period(&mut next, period_end, &mut extra);
            to(state, next, extra)
        }
        S::Active => ignored(IgnoreReason::AlreadyActive),
        S::PastDue | S::Suspended => ignored(IgnoreReason::PaymentNeeded),
        S::Canceled | S::Expired => ignored(IgnoreReason::Terminal),
    }
}

/// Moves the period end forward, never back: a late, older payment cannot shorten a period.
fn extend_period(next: &mut SubscriptionState, to: DateTime<Utc>, effects: &mut Vec<Effect>) {
    if next.current_period_end.is_none_or(|current| to > current) {
        next.current_period_end = Some(to);
        effects.push(Effect::ExtendPeriod { to });
    }
}

/// The provider reports the subscription active with nothing outstanding: the same as a payment
/// wherever something was owed or access was off. An active subscription with nothing owed has
/// nothing to restore; one in its grace after a failed payment has its episode cleared, as a
/// payment would (else the grace would end in blocking a customer who owes nothing).
fn reinstated(state: &SubscriptionState, period_end: DateTime<Utc>) -> Decision {
    if state.status == SubscriptionStatus::Active && state.dunning.is_none() {
        return ignored(IgnoreReason::AlreadyActive);
    }
    paid(state, period_end)
}

/// Payment success from any non-terminal status restores access at once (G8), except a
/// pause: that is the customer's own block, which no billing event lifts (only resuming does);
/// the payment still extends the period.
fn paid(state: &SubscriptionState, period_end: DateTime<Utc>) -> Decision {
    if state.status == SubscriptionStatus::Paused {
        return stay_paused(state, period_end);
    }
    let mut next = SubscriptionState {
        status: SubscriptionStatus::Active,
        dunning: None,
        ..*state
    };
    let mut extra = Vec::new();
    if state.dunning.is_some() {
        extra.push(Effect::ClearRetries);
    }
    extend_period(&mut next, period_end, &mut extra);
    let was_unpaid = posture::Posture::of(state.status).billing_block || state.dunning.is_some();
    if was_unpaid {
        extra.push(Effect::Notify {
            notice: NotificationKind::Restored,
        });
    }
    to(state, next, extra)
}

/// A payment or activation while the customer has the subscription paused: the period it paid
/// for is kept, the pause stays.
fn stay_paused(state: &SubscriptionState, period_end: DateTime<Utc>) -> Decision {
    let mut next = SubscriptionState {
        dunning: None,
        ..*state
    };
    let mut extra = Vec::new();
    if state.dunning.is_some() {
        extra.push(Effect::ClearRetries);
    }
    extend_period(&mut next, period_end, &mut extra);
    to(state, next, extra)
}

fn payment_failed(state: &SubscriptionState, at: DateTime<Utc>, context: &Context<'_>) -> Decision {
    use SubscriptionStatus as S;
    if state.dunning.is_some() {
        return ignored(IgnoreReason::EpisodeOpen);
    }
    match state.status {
        S::Active | S::Trialing if context.policy.grace() > chrono::Duration::zero() => {
            let next = SubscriptionState {
                dunning: Some(DunningEpisode {
                    started_at: at,
                    retries_failed: 0,
                }),
                ..*state
            };
            let extra = vec![
                Effect::ScheduleGraceEnd {
                    at: at + context.policy.grace(),
                },
                Effect::Notify {
                    notice: NotificationKind::PaymentFailed,
                },
            ];
            to(state, next, extra)
        }
        S::Pending | S::Active | S::Trialing => {
            start_dunning(state, at, NotificationKind::PaymentFailed, context)
        }
        S::PastDue => ignored(IgnoreReason::EpisodeOpen),
        S::Paused => ignored(IgnoreReason::NotBilledWhilePaused),
        S::Suspended => ignored(IgnoreReason::SuspendedUntilManualPayment),
        S::Canceled | S::Expired => ignored(IgnoreReason::Terminal),
    }
}

/// The period ended `renewal_grace` ago and nothing paid for the next one: dunning starts as if
/// the payment due at the period's end had failed there, so its days count from then.
fn renewal_missed(
    state: &SubscriptionState,
    period_end: DateTime<Utc>,
    context: &Context<'_>,
) -> Decision {
    use SubscriptionStatus as S;
    match (state.status, state.current_period_end) {
        (S::Active, _) if state.dunning.is_some() => ignored(IgnoreReason::EpisodeOpen),
        (S::Active, _) if state.cancel_at_period_end => ignored(IgnoreReason::NoRenewalDue),
        (S::Active, Some(current)) if current > period_end => ignored(IgnoreReason::PeriodRenewed),
        (S::Active, Some(current)) if current == period_end => {
            start_dunning(state, period_end, NotificationKind::PaymentFailed, context)
        }
        _ => ignored(IgnoreReason::NoRenewalDue),
    }
}

fn retry_failed(state: &SubscriptionState, attempt: u32, context: &Context<'_>) -> Decision {
    let (SubscriptionStatus::PastDue, Some(episode)) = (state.status, state.dunning) else {
        return ignored(IgnoreReason::NoDunningDue);
    };
    let expected = episode.retries_failed + 1;
    if attempt != expected || expected > context.policy.dunning().retries() {
        return ignored(IgnoreReason::UnexpectedAttempt);
    }
    let episode = DunningEpisode {
        retries_failed: expected,
        ..episode
    };
    let next = SubscriptionState {
        dunning: Some(episode),
        ..*state
    };
    let notice = context
        .policy
        .dunning()
        .notice_after_failed_retry(attempt)
        .unwrap_or(NotificationKind::RetryScheduled);
    let extra = vec![schedule_next(&episode, context), Effect::Notify { notice }];
    to(state, next, extra)
}

fn grace_ended(state: &SubscriptionState, context: &Context<'_>) -> Decision {
    match (state.status, state.dunning) {
        (SubscriptionStatus::Active | SubscriptionStatus::Trialing, Some(episode)) => {
            let next = with_status(state, SubscriptionStatus::PastDue);
            let extra = vec![
                schedule_next(&episode, context),
                Effect::Notify {
                    notice: NotificationKind::RetryScheduled,
                },
            ];
            to(state, next, extra)
        }
        _ => ignored(IgnoreReason::NoDunningDue),
    }
}

fn dunning_exhausted(state: &SubscriptionState, context: &Context<'_>) -> Decision {
    let (SubscriptionStatus::PastDue, Some(episode)) = (state.status, state.dunning) else {
        return ignored(IgnoreReason::NoDunningDue);
    };
    let dunning = context.policy.dunning();
    if episode.retries_failed < dunning.retries()
        && context.occurred_at < dunning.suspension_at(&episode)
    {
        return ignored(IgnoreReason::RetriesRemain);
    }
    let next = SubscriptionState {
        status: SubscriptionStatus::Suspended,
        dunning: None,
        ..*state
    };
    let extra = vec![
        Effect::ClearRetries,
        Effect::Notify {
            notice: NotificationKind::Suspended,
        },
    ];
    to(state, next, extra)
}

fn paused(state: &SubscriptionState) -> Decision {
    use SubscriptionStatus as S;
    match state.status {
        S::Active | S::Trialing => to(state, with_status(state, S::Paused), Vec::new()),
        S::Pending => ignored(IgnoreReason::NotStarted),
        S::Paused => ignored(IgnoreReason::AlreadyPaused),
        S::PastDue | S::Suspended => ignored(IgnoreReason::PaymentNeeded),
        S::Canceled | S::Expired => ignored(IgnoreReason::Terminal),
    }
}

fn resumed(state: &SubscriptionState) -> Decision {
    if state.status != SubscriptionStatus::Paused {
        return ignored(IgnoreReason::NotPaused);
    }
    to(
        state,
        with_status(state, SubscriptionStatus::Active),
        Vec::new(),
    )
}

fn suspended_by_provider(state: &SubscriptionState) -> Decision {
    match state.status {
        SubscriptionStatus::Suspended => return ignored(IgnoreReason::AlreadySuspended),
        // A paused subscription is not billed, so nothing can have failed: the provider's
        // suspension is the pause itself (PayPal suspends what the customer paused).
        SubscriptionStatus::Paused => return ignored(IgnoreReason::AlreadyPaused),
        _ => {}
    }
    let next = SubscriptionState {
        status: SubscriptionStatus::Suspended,
        dunning: None,
        ..*state
    };
    let mut extra = Vec::new();
    if state.dunning.is_some() {
        extra.push(Effect::ClearRetries);
    }
    extra.push(Effect::Notify {
        notice: NotificationKind::Suspended,
    });
    to(state, next, extra)
}

fn canceled(state: &SubscriptionState, mode: CancelMode, context: &Context<'_>) -> Decision {
    let later_end = state
        .cancellation_point()
        .filter(|end| *end > context.occurred_at);
    match (mode, later_end) {
        (CancelMode::AtPeriodEnd, _) if state.cancel_at_period_end => {
            ignored(IgnoreReason::CancellationAlreadyScheduled)
        }
        (CancelMode::AtPeriodEnd, Some(_)) if state.status != SubscriptionStatus::Pending => {
            let next = SubscriptionState {
                cancel_at_period_end: true,
                ..*state
            };
            let extra = vec![Effect::Notify {
                notice: NotificationKind::CancellationScheduled,
            }];
            to(state, next, extra)
        }
        // Nothing left of the period (or nothing paid yet): at period end means now.
        _ => end(
            state,
            SubscriptionStatus::Canceled,
            NotificationKind::Canceled,
        ),
    }
}

fn period_ended(state: &SubscriptionState) -> Decision {
    if !state.cancel_at_period_end {
        return ignored(IgnoreReason::NoCancellationScheduled);
    }
    end(
        state,
        SubscriptionStatus::Canceled,
        NotificationKind::Canceled,
    )
}

/// Moves to a terminal status.
fn end(
    state: &SubscriptionState,
    status: SubscriptionStatus,
    notice: NotificationKind,
) -> Decision {
    let next = SubscriptionState {
        status,
        dunning: None,
        ..*state
    };
    let mut extra = Vec::new();
    if state.dunning.is_some() {
        extra.push(Effect::ClearRetries);
    }
    extra.push(Effect::Notify { notice });
    to(state, next, extra)
}

#[cfg(test)]
mod tests;
