//! The dunning runner: finds subscriptions whose scheduled action is due and turns each into an
//! event. Retries call the provider through [`PaymentRetrier`] outside any transaction, under a
//! lease so two runners never retry the same attempt; every other action is a plain event whose
//! id is derived from the schedule, so two runners applying it change things once.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use db::DbPool;
use diesel_async::AsyncConnection;
use primitives::{Money, OrganizationId, SubscriptionId};
use subscriptions::{
    DueAction, EventEnvelope, EventId, EventSource, FailureReason, Outcome, ProviderRef,
    Subscription, SubscriptionEvent, TimePrecision, due,
};

use crate::{EnforcementError, Enforcer};

/// What the provider is asked to do for a dunning retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRequest {
    pub subscription_id: SubscriptionId,
    pub organization_id: OrganizationId,
    pub provider: Option<ProviderRef>,
    /// 1-based dunning attempt.
    pub attempt: u32,
    /// Stable for this attempt of this episode, so a repeated call never charges twice.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryResult {
    Paid {
        amount: Money,
        period_end: DateTime<Utc>,
    },
    Declined {
        reason: FailureReason,
    },
    /// The provider accepted the request and will report the result by webhook.
    Pending,
}

/// The call could not be made (network, provider outage); the attempt is tried again after the
/// lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RetryError {
    pub message: String,
}

/// Collects an outstanding payment again. The billing-provider adapters implement it.
pub trait PaymentRetrier: Send + Sync {
    fn retry_payment(
        &self,
        request: &RetryRequest,
    ) -> impl Future<Output = Result<RetryResult, RetryError>> + Send;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Scheduled steps (grace end, suspension, trial end and its notice, period end, overdue
    /// renewal) that changed the state.
    pub events_applied: usize,
    /// Scheduled steps the state machine ignored or had already seen.
    pub events_unchanged: usize,
    /// Subscriptions whose step failed (logged); they run again after their lease.
    pub failed: usize,
    pub retries_paid: usize,
    pub retries_declined: usize,
    pub retries_pending: usize,
    pub retries_errored: usize,
}

impl RunReport {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Applied { .. } => self.events_applied += 1,
            _ => self.events_unchanged += 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DunningRunner<R> {
    enforcer: Enforcer,
    retrier: R,
    /// How long a retry in flight keeps other runners away from it.
    lease: Duration,
    batch: i64,
}

impl<R: PaymentRetrier> DunningRunner<R> {
    pub fn new(enforcer: Enforcer, retrier: R) -> Self {
        Self {
            enforcer,
            retrier,
            lease: Duration::minutes(15),
            batch: 100,
        }
    }

    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// One pass: everything due now (up to the batch size). One subscription's failure is
    /// logged and counted, never allowed to stop the others.
    pub async fn run_once(&self, pool: &DbPool) -> Result<RunReport, EnforcementError> {
        let mut report = RunReport::default();
        for work in self.claim(pool).await? {
            if let Err(error) = self.run_one(pool, &work, &mut report).await {
                tracing::error!(
                    event = "dunning_step_failed",
                    organization = %work.subscription.organization_id,
                    subscription = %work.subscription.id,
                    action = work.action.as_str(),
                    %error,
                    "a due subscription step failed; it runs again after its lease",
                );
                report.failed += 1;
            }
        }
        Ok(report)
    }

    async fn run_one(
        &self,
        pool: &DbPool,
        work: &due::DueWork,
        report: &mut RunReport,
    ) -> Result<(), EnforcementError> {
        let subscription = &work.subscription;
        if let DueAction::Retry { attempt } = work.action {
            return self.retry(pool, subscription, attempt, report).await;
        }
        let Some((source, event)) = scheduled_event(work.action, subscription) else {
            return Ok(());
        };
        // The id comes from the schedule, so two runners (or a rerun) apply the step once.
        let event_id = format!(
            "{}:{}:{}",
            work.action.as_str(),
            subscription.id,
            work.due_at.timestamp()
        );
        let outcome = self
            .apply(pool, subscription, source, &event_id, work.due_at, event)
            .await?;
        report.count(&outcome);
        Ok(())
    }

    /// Finds due work and leases it, in one short transaction.
    async fn claim(&self, pool: &DbPool) -> Result<Vec<due::DueWork>, EnforcementError> {
        let mut conn = pool.get().await.map_err(|error| {
            EnforcementError::Effect(format!("no database connection: {error}"))
        })?;
        let subscriptions = self.enforcer.subscriptions();
        let now = subscriptions.now();
        let (policy, lease, batch) = (subscriptions.policy(), self.lease, self.batch);
        let work = conn
            .transaction(async |conn| {
                let work = due::due(conn, policy, now, batch).await?;
                for item in &work {
                    due::lease_action(conn, item.subscription.id, now, lease).await?;
                }
                Ok::<_, EnforcementError>(work)
            })
            .await?;
        Ok(work)
    }

    async fn retry(
        &self,
        pool: &DbPool,
        subscription: &Subscription,
        attempt: u32,
        report: &mut RunReport,
    ) -> Result<(), EnforcementError> {
        let episode = subscription
            .state
            .dunning
            .map_or(0, |episode| episode.started_at.timestamp());
        let key = format!("dunning-{}-{episode}-{attempt}", subscription.id);
        let request = RetryRequest {
            subscription_id: subscription.id,
            organization_id: subscription.organization_id,
            provider: subscription.provider.clone(),
            attempt,
            idempotency_key: key.clone(),
        };
        let now = self.enforcer.subscriptions().now();
        match self.retrier.retry_payment(&request).await {
            Ok(RetryResult::Paid { amount, period_end }) => {
                let event = SubscriptionEvent::PaymentSucceeded { amount, period_end };
                self.apply(
                    pool,
                    subscription,
                    "dunning",
                    &format!("{key}:paid"),
                    now,
                    event,
                )
                .await?;
                report.retries_paid += 1;
            }
            Ok(RetryResult::Declined { reason }) => {
                let event = SubscriptionEvent::RetryFailed { attempt, reason };
                self.apply(
                    pool,
                    subscription,
                    "dunning",
                    &format!("{key}:declined"),
                    now,
                    event,
                )
                .await?;
                report.retries_declined += 1;
            }
            Ok(RetryResult::Pending) => report.retries_pending += 1,
            Err(error) => {
                tracing::warn!(
                    event = "dunning_retry_error",
                    organization = %subscription.organization_id,
                    subscription = %subscription.id,
                    attempt,
                    error = %error,
                    "dunning retry could not be made; it runs again after the lease",
                );
                report.retries_errored += 1;
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        pool: &DbPool,
        subscription: &Subscription,
        source: &str,
        event_id: &str,
        occurred_at: DateTime<Utc>,
        event: SubscriptionEvent,
    ) -> Result<Outcome, EnforcementError> {
        // A clock-driven step is never "out of order": a provider event stamped later (or a
        // provider clock running ahead of ours) must not make it stale and leave it undone.
        let occurred_at = subscription
            .last_event_at
            .map_or(occurred_at, |last| last.max(occurred_at));
        let envelope = EventEnvelope {
            source: EventSource::parse(source)?,
            event_id: EventId::parse(event_id)?,
            occurred_at,
            precision: TimePrecision::Microsecond,
            event,
        };
        let mut conn = pool.get().await.map_err(|error| {
            EnforcementError::Effect(format!("no database connection: {error}"))
        })?;
        let applied = self
            .enforcer
            .apply(&mut conn, subscription.id, &envelope)
            .await?;
        Ok(applied.outcome)
    }
}

/// The event a scheduled action becomes, and who is said to have sent it; retries need the
/// provider first, so they have none. The dates an event carries are the ones the schedule saw,
/// so a payment that moved them meanwhile makes the event ignored rather than wrong.
fn scheduled_event(
    action: DueAction,
    subscription: &Subscription,
) -> Option<(&'static str, SubscriptionEvent)> {
    let state = &subscription.state;
    match action {
        DueAction::GraceEnd => Some(("dunning", SubscriptionEvent::GracePeriodEnded)),
        DueAction::Suspension => Some(("dunning", SubscriptionEvent::DunningExhausted)),
        DueAction::TrialEnd => Some(("scheduler", SubscriptionEvent::TrialEnded)),
        DueAction::PeriodEnd => Some(("scheduler", SubscriptionEvent::PeriodEnded)),
        DueAction::RenewalOverdue => state
            .current_period_end
            .map(|period_end| ("scheduler", SubscriptionEvent::RenewalMissed { period_end })),
        DueAction::TrialEndingNotice => state.trial_end.map(|trial_end| {
            (
                "scheduler",
                SubscriptionEvent::TrialEndingSoon { trial_end },
            )
        }),
        DueAction::Retry { .. } => None,
    }
}
