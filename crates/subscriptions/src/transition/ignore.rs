//! Why an event changed nothing.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    Terminal,
    AlreadyCreated,
    NotPending,
    NotTrialing,
    NotStarted,
    AlreadyActive,
    AlreadyPaused,
    AlreadySuspended,
    NotPaused,
    PaymentNeeded,
    EpisodeOpen,
    NotBilledWhilePaused,
    SuspendedUntilManualPayment,
    NoDunningDue,
    UnexpectedAttempt,
    RetriesRemain,
    CancellationAlreadyScheduled,
    NoCancellationScheduled,
    AlreadyNotified,
    NoRenewalDue,
    PeriodRenewed,
}

impl IgnoreReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Terminal => "terminal",
            Self::AlreadyCreated => "already_created",
            Self::NotPending => "not_pending",
            Self::NotTrialing => "not_trialing",
            Self::NotStarted => "not_started",
            Self::AlreadyActive => "already_active",
            Self::AlreadyPaused => "already_paused",
            Self::AlreadySuspended => "already_suspended",
            Self::NotPaused => "not_paused",
            Self::PaymentNeeded => "payment_needed",
            Self::EpisodeOpen => "episode_open",
            Self::NotBilledWhilePaused => "not_billed_while_paused",
            Self::SuspendedUntilManualPayment => "suspended_until_manual_payment",
            Self::NoDunningDue => "no_dunning_due",
            Self::UnexpectedAttempt => "unexpected_attempt",
            Self::RetriesRemain => "retries_remain",
            Self::CancellationAlreadyScheduled => "cancellation_already_scheduled",
            Self::NoCancellationScheduled => "no_cancellation_scheduled",
            Self::AlreadyNotified => "already_notified",
            Self::NoRenewalDue => "no_renewal_due",
            Self::PeriodRenewed => "period_renewed",
        }
    }

    /// A sentence for the history table and the docs.
    pub const fn explanation(self) -> &'static str {
        match self {
            Self::Terminal => {
                "canceled and expired are final; only a new subscription changes that"
            }
            Self::AlreadyCreated => "the subscription already exists",
            Self::NotPending => "a trial starts only on a new, pending subscription",
            Self::NotTrialing => "the subscription is not in a trial",
            Self::NotStarted => "a pending subscription has nothing to pause yet",
            Self::AlreadyActive => "the subscription is already active",
            Self::AlreadyPaused => "the subscription is already paused",
            Self::AlreadySuspended => "the subscription is already suspended",
            Self::NotPaused => "only a paused subscription can be resumed",
            Self::PaymentNeeded => "an unpaid subscription returns to active only with a payment",
            Self::EpisodeOpen => {
                "a dunning episode is already running; its days count from the first failure"
            }
            Self::NotBilledWhilePaused => "a paused subscription is not billed",
            Self::SuspendedUntilManualPayment => {
                "dunning is over; only a manual payment restores the subscription"
            }
            Self::NoDunningDue => "no dunning episode is waiting for this step",
            Self::UnexpectedAttempt => "the retry attempt is not the one the schedule waits for",
            Self::RetriesRemain => "the schedule still has retries to make",
            Self::CancellationAlreadyScheduled => {
                "a cancellation at period end is already scheduled"
            }
            Self::NoCancellationScheduled => {
                "no cancellation is scheduled; renewals arrive as payments"
            }
            Self::AlreadyNotified => "the customer was already told that the trial ends soon",
            Self::NoRenewalDue => {
                "only an active subscription without a payment problem or a scheduled \
                 cancellation lapses when its period ends unpaid"
            }
            Self::PeriodRenewed => "a payment renewed the period since it was found unpaid",
        }
    }
}
