//! One round of the provider sync: claim, ask each provider within its budget, apply.
//!
//! Provider calls happen outside any transaction (a slow provider never holds a row lock); the
//! view is then decided and applied under the subscription's row lock, in one transaction
//! with the sync's own record. The event is stamped with the time the provider was asked, so
//! anything applied since (a webhook, a customer's action) makes it stale instead of being
//! overwritten by an older view (G9).

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use billing::{ProviderError, ProviderName, ProviderSubscription, Providers};
use chrono::{DateTime, Utc};
use db::DbPool;
use diesel_async::AsyncConnection;
use enforcement::Enforcer;
use primitives::Clock;
use subscriptions::{EventEnvelope, EventId, EventSource, Outcome, TimePrecision, lookup};

use super::{
    bucket::TokenBucket,
    decide::{Stored, SyncPlan, decide, event_id},
    policy::SyncPolicy,
    store::{self, Claimed},
};
use crate::{IntakeError, metrics};

/// The source of the events a sync applies.
const SOURCE: &str = "sync";

/// What a sync did with a provider's view it fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Nothing to do: in agreement, or a difference that is not ours to act on.
    InSync,
    /// The event changed the subscription.
    Applied,
    /// The lifecycle ignores the event in the subscription's state.
    Ignored,
    /// Something newer than the view was applied while the provider was asked.
    Stale,
    /// This very view was acted on before.
    Duplicate,
    /// A contradiction left for a person (`last_sync_error` on the subscription says which).
    Held,
}

impl SyncOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "in_sync",
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
            Self::Held => "held",
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub claimed: usize,
    /// Views fetched.
    pub checked: usize,
    pub in_sync: usize,
    pub applied: usize,
    pub ignored: usize,
    pub stale: usize,
    pub duplicate: usize,
    pub held: usize,
    /// Provider errors and failures of our own; the subscription waits for the next round, or
    /// (the provider does not know it, or refused) for a person.
    pub errors: usize,
    /// Left to the next round because a provider's budget was spent or it answered 429.
    pub rate_limited: usize,
}

impl SyncReport {
    fn count(&mut self, outcome: SyncOutcome) {
        let slot = match outcome {
            SyncOutcome::InSync => &mut self.in_sync,
            SyncOutcome::Applied => &mut self.applied,
            SyncOutcome::Ignored => &mut self.ignored,
            SyncOutcome::Stale => &mut self.stale,
            SyncOutcome::Duplicate => &mut self.duplicate,
            SyncOutcome::Held => &mut self.held,
        };
        *slot += 1;
    }
}

/// Why a provider is asked nothing more this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Our budget for it is spent.
    Budget,
    /// It answered 429.
    Provider,
}

impl Stop {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Provider => "provider",
        }
    }
}

/// The provider sync: safe in several workers at once (each claims under a lease), each
/// holding its own budget per provider.
pub struct ProviderSync {
    enforcer: Enforcer,
    providers: Providers,
    clock: Arc<dyn Clock>,
    ask_timeout: Duration,
    policy: SyncPolicy,
    /// Kept across rounds: a round that spent a budget leaves the next one only what refilled.
    buckets: Mutex<BTreeMap<ProviderName, TokenBucket>>,
}

impl fmt::Debug for ProviderSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSync")
            .field("providers", &self.providers)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ProviderSync {
    /// `ask_timeout` bounds each provider call (the intake's `PROVIDER_ASK_TIMEOUT_MS`).
    pub fn new(
        enforcer: Enforcer,
        providers: Providers,
        clock: Arc<dyn Clock>,
        ask_timeout: Duration,
        policy: SyncPolicy,
    ) -> Self {
        Self {
            enforcer,
            providers,
            clock,
            ask_timeout,
            policy,
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn policy(&self) -> &SyncPolicy {
        &self.policy
    }

    /// One round: up to a batch of due subscriptions of the providers whose API is configured,
    /// each asked once (within the provider's budget) and settled; one subscription's failure
    /// never stops the others.
    pub async fn run_once(&self, pool: &DbPool) -> Result<SyncReport, IntakeError> {
        let providers: Vec<ProviderName> = self
            .providers
            .configured()
            .into_iter()
            .filter(|name| self.providers.has_api(*name))
            .collect();
        if providers.is_empty() {
            return Ok(SyncReport::default());
        }
        let now = self.clock.now();
        let lease_until = now + chrono_duration(self.policy.lease(self.ask_timeout));
        let claimed = {
            let mut conn = pool.get().await?;
            store::claim(
                &mut conn,
                &providers,
                &self.policy,
                now,
                lease_until,
                self.policy.batch,
            )
            .await?
        };
        let mut report = SyncReport {
            claimed: claimed.len(),
            ..SyncReport::default()
        };
        let mut stopped = BTreeMap::new();
        for subscription in &claimed {
            if let Err(error) = self
                .sync_one(pool, subscription, &mut stopped, &mut report)
                .await
            {
                report.errors += 1;
                metrics::sync_error(subscription.provider, "internal");
                tracing::error!(
                    event = "provider_sync_failed",
                    provider = %subscription.provider,
                    subscription = %subscription.id,
                    %error,
                    "provider sync of a subscription failed; the next round tries again"
                );
                // Its lease would free it anyway; letting go now makes the next round take it.
                if let Err(error) = self.release(pool, subscription).await {
                    tracing::warn!(subscription = %subscription.id, %error, "sync lease kept");
                }
            }
        }
        Ok(report)
    }

    async fn sync_one(
        &self,
        pool: &DbPool,
        claimed: &Claimed,
        stopped: &mut BTreeMap<ProviderName, Stop>,
        report: &mut SyncReport,
    ) -> Result<(), IntakeError> {
        let provider = claimed.provider;
        if let Some(stop) = stopped.get(&provider) {
            metrics::sync_rate_limited(provider, stop.as_str());
            report.rate_limited += 1;
            return self.release(pool, claimed).await;
        }
        match self.take_token(provider) {
            Ok(wait) if wait.is_zero() => {}
            Ok(wait) => tokio::time::sleep(wait).await,
            Err(wait) => {
                tracing::info!(
                    event = "provider_sync_budget_spent",
                    %provider,
                    next_token_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "provider sync budget spent: the rest of {provider}'s subscriptions wait for \
                     the next round"
                );
                stopped.insert(provider, Stop::Budget);
                metrics::sync_rate_limited(provider, Stop::Budget.as_str());
                report.rate_limited += 1;
                return self.release(pool, claimed).await;
            }
        }
        let asked_at = self.clock.now();
        let asked = tokio::time::timeout(
            self.ask_timeout,
            self.providers
                .subscription(provider, &claimed.provider_subscription_id),
        )
        .await;
        let view = match asked {
            Ok(Ok(view)) => view,
            Ok(Err(ProviderError::Api { status: 429, .. })) => {
                self.throttle(provider);
                tracing::warn!(
                    event = "provider_sync_throttled",
                    %provider,
                    cooldown_secs = self.policy.cooldown.as_secs(),
                    "{provider} answered 429 to the provider sync: asked nothing more this round"
                );
                stopped.insert(provider, Stop::Provider);
                metrics::sync_rate_limited(provider, Stop::Provider.as_str());
                report.rate_limited += 1;
                return self.release(pool, claimed).await;
            }
            Ok(Err(error)) if error.is_transient() => {
                return self
                    .try_later(pool, claimed, "transient", &error.to_string(), report)
                    .await;
            }
            Err(_) => {
                let error = format!(
                    "{provider} did not answer within {} ms",
                    self.ask_timeout.as_millis()
                );
                return self
                    .try_later(pool, claimed, "timeout", &error, report)
                    .await;
            }
            Ok(Err(error)) => return self.refused(pool, claimed, &error, report).await,
        };
        metrics::sync_checked(provider);
        report.checked += 1;
        let (outcome, detail) = self.apply(pool, claimed, &view, asked_at).await?;
        report.count(outcome);
        if outcome != SyncOutcome::InSync {
            metrics::sync_change(provider, outcome.as_str());
        }
        match outcome {
            SyncOutcome::Held => tracing::warn!(
                event = "provider_sync_held",
                %provider,
                subscription = %claimed.id,
                provider_status = %view.provider_status,
                reason = %detail,
                "PROVIDER SYNC HELD: subscription {} and {provider}'s view ({}) disagree in a \
                 way a person must settle: {detail}",
                claimed.id,
                view.provider_status,
            ),
            SyncOutcome::InSync => tracing::debug!(
                %provider,
                subscription = %claimed.id,
                due = claimed.reason.as_str(),
                detail = %detail,
                "provider sync: nothing to change"
            ),
            other => tracing::info!(
                event = "provider_sync_applied",
                %provider,
                subscription = %claimed.id,
                due = claimed.reason.as_str(),
                provider_status = %view.provider_status,
                outcome = other.as_str(),
                detail = %detail,
                "provider sync: {provider} reports {}; {detail}",
                view.provider_status,
            ),
        }
        Ok(())
    }

    /// Decides the view against the subscription as it is now (under its row lock) and applies
    /// the plan, recording the sync in the same transaction.
    async fn apply(
        &self,
        pool: &DbPool,
        claimed: &Claimed,
        view: &ProviderSubscription,
        asked_at: DateTime<Utc>,
    ) -> Result<(SyncOutcome, String), IntakeError> {
        let mut conn = pool.get().await?;
        conn.transaction(async |conn| {
            let now = self.clock.now();
            if !store::lock(conn, claimed.id).await? {
                return Err(IntakeError::Changed(format!(
                    "subscription {} is gone",
                    claimed.id
                )));
            }
            let subscription = lookup::get(conn, claimed.id).await?;
            let still_bound = subscription.provider.as_ref().is_some_and(|bound| {
                bound.provider == claimed.provider
                    && bound.subscription_id == claimed.provider_subscription_id
            });
            if !still_bound {
                store::settle(conn, claimed.id, now, None).await?;
                return Ok((
                    SyncOutcome::InSync,
                    "bound to another provider subscription since it was claimed".to_owned(),
                ));
            }
            let stored = Stored {
                organization: subscription.organization_id,
                state: &subscription.state,
                command_pending: store::command_pending(conn, claimed.id).await?,
            };
            let (outcome, detail, problem) = match decide(&stored, view, asked_at) {
                SyncPlan::Nothing(reason) => (SyncOutcome::InSync, reason, None),
                SyncPlan::Hold(reason) => (SyncOutcome::Held, reason.clone(), Some(reason)),
                SyncPlan::Apply(event) => {
                    let envelope = EventEnvelope {
                        source: EventSource::parse(SOURCE)?,
                        event_id: EventId::parse(&event_id(claimed.id, view))?,
                        occurred_at: asked_at,
                        precision: TimePrecision::Microsecond,
                        event,
                    };
                    let applied = self.enforcer.apply(conn, claimed.id, &envelope).await?;
                    let (outcome, detail) = match applied.outcome {
                        Outcome::Applied { transition } => (
                            SyncOutcome::Applied,
                            format!("subscription {} -> {}", transition.from, transition.to),
                        ),
                        Outcome::Ignored { reason } => {
                            (SyncOutcome::Ignored, reason.as_str().to_owned())
                        }
                        Outcome::Stale { last_event_at } => (
                            SyncOutcome::Stale,
                            format!(
                                "an event of {last_event_at}, newer than the provider's view, \
                                 was applied while it was asked"
                            ),
                        ),
                        Outcome::Duplicate => (
                            SyncOutcome::Duplicate,
                            "this view of the provider was acted on before".to_owned(),
                        ),
                    };
                    (outcome, detail, None)
                }
            };
            store::settle(conn, claimed.id, now, problem.as_deref()).await?;
            Ok((outcome, detail))
        })
        .await
    }

    /// A provider error that may pass (an outage, a timeout): counted, logged, and the
    /// subscription let go for the next round.
    async fn try_later(
        &self,
        pool: &DbPool,
        claimed: &Claimed,
        kind: &'static str,
        error: &str,
        report: &mut SyncReport,
    ) -> Result<(), IntakeError> {
        metrics::sync_error(claimed.provider, kind);
        report.errors += 1;
        tracing::warn!(
            event = "provider_sync_provider_error",
            provider = %claimed.provider,
            subscription = %claimed.id,
            kind,
            error,
            "the provider sync could not ask; the next round tries again"
        );
        self.release(pool, claimed).await
    }

    /// The provider will not say (it does not know the subscription, or refuses the call):
    /// held for a person, looked at again only after the recheck interval.
    async fn refused(
        &self,
        pool: &DbPool,
        claimed: &Claimed,
        error: &ProviderError,
        report: &mut SyncReport,
    ) -> Result<(), IntakeError> {
        let provider = claimed.provider;
        let kind = match error {
            ProviderError::Api { status: 404, .. } => "not_found",
            _ => "refused",
        };
        metrics::sync_error(provider, kind);
        report.errors += 1;
        let problem = if kind == "not_found" {
            format!(
                "{provider} does not know subscription {}: {error}",
                claimed.provider_subscription_id
            )
        } else {
            format!("{provider} would not say how the subscription stands: {error}")
        };
        tracing::warn!(
            event = "provider_sync_held",
            %provider,
            subscription = %claimed.id,
            kind,
            reason = %problem,
            "PROVIDER SYNC HELD: subscription {}: {problem}",
            claimed.id,
        );
        let mut conn = pool.get().await?;
        store::settle(&mut conn, claimed.id, self.clock.now(), Some(&problem)).await
    }

    async fn release(&self, pool: &DbPool, claimed: &Claimed) -> Result<(), IntakeError> {
        let mut conn = pool.get().await?;
        store::release(&mut conn, claimed.id).await
    }

    fn take_token(&self, provider: ProviderName) -> Result<Duration, Duration> {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry(provider)
            .or_insert_with(|| TokenBucket::new(self.policy.rate))
            .take(now, self.policy.max_wait)
    }

    fn throttle(&self, provider: ProviderName) {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry(provider)
            .or_insert_with(|| TokenBucket::new(self.policy.rate))
            .throttle(now, self.policy.cooldown);
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
