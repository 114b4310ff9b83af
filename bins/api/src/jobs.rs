//! The background jobs the api runs (until the worker binary takes them over) and how each one
//! is wired: hold expiry, dunning, notification delivery.

use std::{sync::Arc, time::Duration};

use enforcement::{DunningRunner, PaymentRetrier, RetryError, RetryRequest, RetryResult};
use notifications::{AnyNotifier, NotificationHandler};

use crate::{AppState, background::Periodic, sweeper};

/// Notifications delivered per run at most; the rest wait for the next tick.
const NOTIFICATION_BATCH: usize = 100;

/// Which jobs run, and how often.
pub struct JobPlan {
    pub hold_expiry: Option<Duration>,
    pub dunning: Option<Duration>,
    pub notifications: Option<(Duration, AnyNotifier)>,
}

impl JobPlan {
    /// Starts every enabled job; stop them with [`stop_all`].
    pub fn start(&self, state: &AppState) -> Vec<Periodic> {
        let mut jobs = Vec::new();
        if let Some(interval) = self.hold_expiry {
            let (pool, ledger) = (state.pool.clone(), state.ledger.clone());
            jobs.push(Periodic::spawn("hold_expiry", interval, move || {
                let (pool, ledger) = (pool.clone(), ledger.clone());
                async move { sweeper::sweep(&pool, &ledger).await }
            }));
        }
        if let Some(interval) = self.dunning {
            let pool = state.pool.clone();
            let runner = Arc::new(DunningRunner::new(
                state.enforcer.clone(),
                UnconfiguredProviders,
            ));
            jobs.push(Periodic::spawn("dunning", interval, move || {
                let (pool, runner) = (pool.clone(), runner.clone());
                async move { run_dunning(&pool, &runner).await }
            }));
        }
        if let Some((interval, notifier)) = &self.notifications {
            let pool = state.pool.clone();
            let outbox = Arc::new(state.outbox.clone());
            let handler = Arc::new(NotificationHandler::new(pool.clone(), notifier.clone()));
            jobs.push(Periodic::spawn("notifications", *interval, move || {
                let (pool, outbox, handler) = (pool.clone(), outbox.clone(), handler.clone());
                async move {
                    match outbox::deliver_batch(&pool, &outbox, &*handler, NOTIFICATION_BATCH).await
                    {
                        Ok(report) if report.claimed > 0 => {
                            tracing::info!(?report, "notifications delivered");
                        }
                        Ok(_) => {}
                        Err(error) => tracing::error!(%error, "notification delivery failed"),
                    }
                }
            }));
        }
        jobs
    }
}

pub async fn stop_all(jobs: Vec<Periodic>) {
    for job in jobs {
        job.stop().await;
    }
}

async fn run_dunning<R: PaymentRetrier>(pool: &db::DbPool, runner: &DunningRunner<R>) {
    match runner.run_once(pool).await {
        Ok(report) if report == enforcement::RunReport::default() => {}
        Ok(report) => tracing::info!(?report, "dunning run"),
        Err(error) => tracing::error!(%error, "dunning run failed"),
    }
}

/// The api has no billing-provider adapters yet (they come with the billing crate), so a retry
/// cannot be made: it is reported as an error, logged, and tried again after its lease, while
/// the schedule's suspension day still comes on time. Never reported as declined or paid.
#[derive(Debug, Clone, Copy)]
pub struct UnconfiguredProviders;

impl PaymentRetrier for UnconfiguredProviders {
    async fn retry_payment(&self, request: &RetryRequest) -> Result<RetryResult, RetryError> {
        let provider = request
            .provider
            .as_ref()
            .map_or("none", |provider| provider.provider.as_str());
        Err(RetryError {
            message: format!("no billing provider adapter is configured for `{provider}`"),
        })
    }
}
