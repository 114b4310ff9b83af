//! What a normalized provider event means for the system: pure functions of the event and of
//! what the intake found (the subscription's state, the wallet's currency, a dispute's case, the
//! provider's own view when it had to be asked). No I/O here, so every rule of the mapping table
//! in docs/webhooks.md is a unit test.
//!
//! The intake ([`crate::Intake`]) looks things up, calls these, and carries out the plan.

use billing::{
    BillingEventKind as K, ProviderName, ProviderSubscription, ProviderSubscriptionStatus,
};
use chrono::{DateTime, Utc};
use primitives::{Currency, Money};
use subscriptions::{
    CancelMode, FailureReason, SubscriptionEvent, SubscriptionState, SubscriptionStatus as S,
};

use crate::event::{StoredEvent, digest_id};

/// Which part of the system an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A subscription's lifecycle: found by the provider's subscription id or the organization.
    Subscription,
    /// Money into the wallet.
    TopUp,
    /// Money the provider took back: a refunded top-up, or a chargeback.
    Reversal(ReversalCause),
    /// A dispute's step.
    Dispute(DisputeStep),
    /// A top-up the customer approved, which the provider pays out only once we capture it
    /// (PayPal orders): the capture is enqueued for the `billing.provider` handler.
    Capture,
    /// Recorded, acted on by nobody.
    Ignore(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalCause {
    /// A refund of a top-up (each refund once, even when several share a payment).
    Refund,
    /// The provider reversed a payment (PayPal `*.REVERSED`, PayHere status -3): money gone,
    /// and a sign of risk.
    Chargeback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStep {
    Opened,
    Won,
    Lost,
}

/// Routes an event by its kind (and, for a failed payment, whether it names a subscription).
pub fn route(event: &StoredEvent) -> Route {
    match event.kind {
        K::SubscriptionCreated
        | K::SubscriptionActivated
        | K::SubscriptionUpdated
        | K::TrialWillEnd
        | K::PaymentSucceeded
        | K::SubscriptionPaused
        | K::SubscriptionResumed
        | K::SubscriptionSuspended
        | K::SubscriptionCanceled
        | K::SubscriptionExpired => Route::Subscription,
        K::PaymentFailed if event.provider_subscription_id.is_none() => {
            Route::Ignore("a payment of no subscription failed (a top-up): no money moved")
        }
        K::PaymentFailed => Route::Subscription,
        K::PaymentActionRequired => Route::Ignore(
            "the customer must authenticate the payment; a failure, if it comes, arrives as \
             payment_failed",
        ),
        K::TopUpApproved => Route::Capture,
        K::WalletTopUpCompleted => Route::TopUp,
        K::TopUpRefunded => Route::Reversal(ReversalCause::Refund),
        K::Chargeback => Route::Reversal(ReversalCause::Chargeback),
        K::DisputeOpened => Route::Dispute(DisputeStep::Opened),
        K::DisputeWon => Route::Dispute(DisputeStep::Won),
        K::DisputeLost => Route::Dispute(DisputeStep::Lost),
    }
}

/// What the provider must be asked before a subscription event can be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// An activation arrived while payment is owed: is the subscription really active and paid
    /// up at the provider?
    IsPaidUp,
    /// A payment or activation came without the period it pays for (PayPal sales).
    PeriodEnd,
}

/// What to do with a subscription event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionPlan {
    /// Apply this to the subscription through the enforcer.
    Apply(SubscriptionEvent),
    /// Ask the provider, then decide again with its answer.
    Ask(Question),
    /// Record it; it changes nothing.
    Ignore(String),
    /// Keep it for an operator: acting on it could be wrong.
    Hold(String),
}

/// Decides a subscription event for a subscription in `state`. `answer` is the provider's view
/// of the subscription when it was asked (after an earlier [`SubscriptionPlan::Ask`]).
pub fn subscription_plan(
    event: &StoredEvent,
    state: &SubscriptionState,
    answer: Option<&ProviderSubscription>,
) -> SubscriptionPlan {
    use SubscriptionPlan as P;
    let owed = matches!(state.status, S::PastDue | S::Suspended);
    match event.kind {
        K::SubscriptionActivated if owed => confirm_paid_up(answer),
        K::SubscriptionCreated | K::SubscriptionUpdated
            if owed && event.subscription_status == Some(ProviderSubscriptionStatus::Active) =>
        {
            confirm_paid_up(answer)
        }
        K::SubscriptionCreated | K::SubscriptionActivated | K::SubscriptionUpdated => {
            started(event, answer)
        }
        K::TrialWillEnd => match event.trial_end.or(event.period_end) {
            Some(trial_end) => P::Apply(SubscriptionEvent::TrialEndingSoon { trial_end }),
            None => P::Ignore("the trial's end is not in the delivery".to_owned()),
        },
        K::PaymentSucceeded => paid(event, state, answer),
        K::PaymentFailed => P::Apply(SubscriptionEvent::PaymentFailed {
            reason: FailureReason::new(
                event
                    .failure_reason
                    .as_deref()
                    .unwrap_or("the provider declined the payment"),
            ),
            at: event.occurred_at,
        }),
        K::SubscriptionPaused => P::Apply(SubscriptionEvent::Paused),
        K::SubscriptionResumed => P::Apply(SubscriptionEvent::Resumed),
        K::SubscriptionSuspended => P::Apply(SubscriptionEvent::SuspendedByProvider),
        K::SubscriptionCanceled => P::Apply(SubscriptionEvent::Canceled {
            mode: CancelMode::Immediately,
        }),
        K::SubscriptionExpired => P::Apply(SubscriptionEvent::Expired),
        K::PaymentActionRequired
        | K::TopUpApproved
        | K::WalletTopUpCompleted
        | K::TopUpRefunded
        | K::Chargeback
        | K::DisputeOpened
        | K::DisputeWon
        | K::DisputeLost => P::Ignore(format!("{} is not a subscription event", kind_name(event))),
    }
}

/// A creation, activation or update on a subscription that owes nothing: the matching
/// transition (the state machine ignores what does not fit the subscription's status).
fn started(event: &StoredEvent, answer: Option<&ProviderSubscription>) -> SubscriptionPlan {
    use ProviderSubscriptionStatus as PS;
    use SubscriptionPlan as P;
    let activation = event.kind == K::SubscriptionActivated;
    match event.subscription_status {
        Some(PS::Trialing) => match event.trial_end.or(event.period_end) {
            Some(trial_end) => P::Apply(SubscriptionEvent::TrialStarted { trial_end }),
            None => P::Ignore("trialing at the provider, but the trial's end is not said".into()),
        },
        Some(PS::Active) => activate(event, answer),
        None if activation => activate(event, answer),
        Some(status) => P::Ignore(format!(
            "the provider reports the subscription {}: nothing to do until a payment or a \
             status change says more",
            provider_status_name(status)
        )),
        None => P::Ignore(format!(
            "{} changes nothing here: the subscription was created by us",
            kind_name(event)
        )),
    }
}

fn activate(event: &StoredEvent, answer: Option<&ProviderSubscription>) -> SubscriptionPlan {
    match period_end(event, answer) {
        Ok(period_end) => SubscriptionPlan::Apply(SubscriptionEvent::Activated { period_end }),
        Err(plan) => plan,
    }
}

/// The period a payment or activation pays for: the event's, else the provider's answer, else
/// a question.
fn period_end(
    event: &StoredEvent,
    answer: Option<&ProviderSubscription>,
) -> Result<DateTime<Utc>, SubscriptionPlan> {
    if let Some(period_end) = event.period_end {
        return Ok(period_end);
    }
    match answer {
        None => Err(SubscriptionPlan::Ask(Question::PeriodEnd)),
        Some(view) => view.current_period_end.ok_or_else(|| {
            SubscriptionPlan::Hold(format!(
                "neither the delivery nor the provider ({}) says until when the subscription is \
                 paid",
                view.provider_status
            ))
        }),
    }
}

fn paid(
    event: &StoredEvent,
    state: &SubscriptionState,
    answer: Option<&ProviderSubscription>,
) -> SubscriptionPlan {
    let Some(amount) = event.amount() else {
        return SubscriptionPlan::Hold("a payment without an amount".into());
    };
    if !amount.is_positive() && state.status == S::Trialing {
        // Stripe bills a trial with a zero invoice; it pays for nothing and must not end the trial.
        return SubscriptionPlan::Ignore("a zero-amount invoice during the trial".into());
    }
    match period_end(event, answer) {
        Ok(period_end) => {
            SubscriptionPlan::Apply(SubscriptionEvent::PaymentSucceeded { amount, period_end })
        }
        Err(plan) => plan,
    }
}

/// An activation while payment is owed is ambiguous (a provider re-activating after our
/// suspension, a stale re-delivery, a manual reactivation with money still due): only the
/// provider's current view decides. Restored only when it reports the subscription active with
/// nothing outstanding.
fn confirm_paid_up(answer: Option<&ProviderSubscription>) -> SubscriptionPlan {
    let Some(view) = answer else {
        return SubscriptionPlan::Ask(Question::IsPaidUp);
    };
    match paid_up(view) {
        Ok(period_end) => SubscriptionPlan::Apply(SubscriptionEvent::Reinstated { period_end }),
        Err(reason) => SubscriptionPlan::Ignore(reason),
    }
}

/// Whether the provider's view shows a subscription that owes nothing: active, nothing
/// outstanding, and paid until a known time (that time), or why payment is still owed. The
/// one rule by which a provider's word restores access without a payment event (G8).
pub fn paid_up(view: &ProviderSubscription) -> Result<DateTime<Utc>, String> {
    let outstanding = view.outstanding.filter(Money::is_positive);
    match (view.status, outstanding, view.current_period_end) {
        (ProviderSubscriptionStatus::Active, None, Some(period_end)) => Ok(period_end),
        (ProviderSubscriptionStatus::Active, None, None) => Err(
            "the provider reports the subscription active but not until when it is paid; \
             payment is still owed here"
                .into(),
        ),
        (status, Some(owed), _) => Err(format!(
            "the provider reports the subscription {} with {owed} outstanding: payment is still \
             owed",
            provider_status_name(status)
        )),
        (status, None, _) => Err(format!(
            "the provider reports the subscription {}: payment is still owed",
            provider_status_name(status)
        )),
    }
}

/// What to do with money into the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopUpPlan {
    Credit { amount: Money, reference: String },
    Hold(String),
}

/// A completed top-up credits the wallet once per payment (several events about one payment
/// share its reference). A currency other than the wallet's is held for an operator: money is
/// never converted.
pub fn top_up_plan(
    provider: ProviderName,
    event: &StoredEvent,
    wallet_currency: Currency,
) -> TopUpPlan {
    let Some(amount) = event.amount().filter(Money::is_positive) else {
        return TopUpPlan::Hold("a top-up without a positive amount".into());
    };
    let Some(payment) = event.payment_reference.as_deref() else {
        return TopUpPlan::Hold("a top-up without a payment reference".into());
    };
    if amount.currency() != wallet_currency {
        return TopUpPlan::Hold(format!(
            "CURRENCY_MISMATCH: the top-up is {amount}, the wallet holds {}; never converted",
            wallet_currency.code()
        ));
    }
    TopUpPlan::Credit {
        amount,
        reference: ledger_reference("topup", provider, payment),
    }
}

/// What to do about a top-up the customer approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapturePlan {
    /// Ask the provider to capture `order`, once: `key` is both the outbox dedupe key (a
    /// repeated approval enqueues nothing) and the provider's idempotency key (a redelivered
    /// command captures nothing twice).
    Capture {
        order: String,
        key: String,
    },
    Hold(String),
}

/// An approved top-up is captured once per order, whatever the number of approvals delivered:
/// the order id names the capture. Its completion, a separate event, credits the wallet.
pub fn capture_plan(provider: ProviderName, event: &StoredEvent) -> CapturePlan {
    match event.payment_reference.as_deref() {
        Some(order) if !order.trim().is_empty() => CapturePlan::Capture {
            order: order.to_owned(),
            key: ledger_reference("capture", provider, order),
        },
        _ => {
            CapturePlan::Hold("an approved top-up without its order id: nothing to capture".into())
        }
    }
}

/// What to take back from the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalPlan {
    Take {
        /// What the provider took back; the ledger takes at most what is available.
        amount: Money,
        reference: String,
        /// Whether the wallet is frozen (source `risk`) even when it covers the amount.
        freeze: bool,
    },
    Hold(String),
}

/// A refund takes back its own amount once (its event id is its reference: two partial refunds
/// of one payment are two events); a chargeback or a lost dispute takes back the payment once
/// (they share the payment's reference, so a PayPal reversal and the dispute it ends move money
/// once) and freezes the wallet.
pub fn reversal_plan(
    provider: ProviderName,
    event: &StoredEvent,
    cause: ReversalCause,
    wallet_currency: Currency,
) -> ReversalPlan {
    let Some(amount) = event.amount().filter(Money::is_positive) else {
        return ReversalPlan::Hold("money taken back without a positive amount".into());
    };
    if amount.currency() != wallet_currency {
        return ReversalPlan::Hold(format!(
            "CURRENCY_MISMATCH: {amount} taken back, the wallet holds {}; never converted",
            wallet_currency.code()
        ));
    }
    match cause {
        ReversalCause::Refund => ReversalPlan::Take {
            amount,
            reference: ledger_reference("refund", provider, &event.provider_event_id),
            freeze: false,
        },
        ReversalCause::Chargeback => match event.payment_reference.as_deref() {
            Some(payment) => ReversalPlan::Take {
                amount,
                reference: taken_back_reference(provider, payment),
                freeze: true,
            },
            None => ReversalPlan::Hold("a chargeback without a payment reference".into()),
        },
    }
}

/// The ledger reference of money taken back from a payment by a chargeback or a lost dispute.
pub fn taken_back_reference(provider: ProviderName, payment: &str) -> String {
    ledger_reference("takeback", provider, payment)
}

/// A dispute case as the intake finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    Open,
    Won,
    Lost,
}

/// What a dispute step does, given the case already recorded for the payment (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisputePlan {
    /// Record the case open, freeze the wallet (source `risk`), tell the customer.
    Open,
    /// Close the case won, lift the risk freeze if nothing else needs it, tell the customer.
    Win,
    /// Close the case lost, take the amount back (as a refund would), keep the wallet frozen.
    Lose,
    Ignore(String),
    Hold(String),
}

/// Disputes arrive in any order and more than once: the first final word wins, and a step
/// about a case that already moved past it changes nothing (a loss is carried out again: all
/// its steps are idempotent, and its take-back may have waited for the payment's top-up).
pub fn dispute_plan(step: DisputeStep, case: Option<CaseStatus>) -> DisputePlan {
    use CaseStatus as C;
    use DisputeStep as D;
    match (step, case) {
        (D::Opened, None) => DisputePlan::Open,
        (D::Opened, Some(C::Open)) => DisputePlan::Ignore("the dispute is already open".into()),
        (D::Opened, Some(C::Won | C::Lost)) => {
            DisputePlan::Ignore("the dispute was already resolved (a late opening)".into())
        }
        (D::Won, None | Some(C::Open)) => DisputePlan::Win,
        // Lost again (a re-delivery, or a retry whose take-back waited for its top-up): every
        // step of losing is idempotent, and the take-back may still be owed.
        (D::Lost, None | Some(C::Open | C::Lost)) => DisputePlan::Lose,
        (D::Won, Some(C::Won)) => {
            DisputePlan::Ignore("the dispute was already resolved the same way".into())
        }
        (D::Won, Some(C::Lost)) => DisputePlan::Hold(
            "the provider reports the dispute won, but it was recorded lost and the money taken \
             back: an operator must decide"
                .into(),
        ),
        (D::Lost, Some(C::Won)) => DisputePlan::Hold(
            "the provider reports the dispute lost, but it was recorded won and the freeze \
             lifted: an operator must decide"
                .into(),
        ),
    }
}

/// A ledger reference `{prefix}:{provider}:{id}`. A provider id that would not make a valid
/// reference (too long, spaces, non-ASCII) is replaced by its SHA-256, so it still names the
/// same payment every time.
pub fn ledger_reference(prefix: &str, provider: ProviderName, id: &str) -> String {
    let plain = format!("{prefix}:{provider}:{id}");
    if plain.len() <= 200 && plain.bytes().all(|b| b.is_ascii_graphic()) {
        return plain;
    }
    format!("{prefix}:{provider}:{}", digest_id(id))
}

fn kind_name(event: &StoredEvent) -> &'static str {
    event.kind.as_str()
}

pub(crate) fn provider_status_name(status: ProviderSubscriptionStatus) -> &'static str {
    use ProviderSubscriptionStatus as PS;
    match status {
        PS::Pending => "pending",
        PS::Trialing => "trialing",
        PS::Active => "active",
        PS::PastDue => "past due",
        PS::Paused => "paused",
        PS::Suspended => "suspended",
        PS::Canceled => "canceled",
        PS::Expired => "expired",
    }
}

#[cfg(test)]
mod tests;
