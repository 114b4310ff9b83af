//! The background jobs the api runs (until the worker binary takes them over) and how each one
//! is wired: hold expiry, dunning (retries through each subscription's own billing provider),
//! notification delivery, the campaign and messaging outbox topics, campaign dispatch, the
//! campaign resume sweep, and the webhook inbox (retries, unmatched deliveries, retention).

use std::{sync::Arc, time::Duration};

use billing::Providers;
use campaigns::{
    CampaignControlHandler, Campaigns, ControlHandler, DispatchConfig, Dispatcher,
    SubaccountHandler,
};
use db::DbPool;
use enforcement::{DunningRunner, PaymentRetrier, ProviderRetrier};
use notifications::{AnyNotifier, NotificationHandler};
use outbox::{Handler, Outbox};
use primitives::Clock;

use crate::{AppState, background::Periodic, sweeper, twilio_client::SharedTwilio};

/// Notifications delivered per run at most; the rest wait for the next tick.
const NOTIFICATION_BATCH: usize = 100;
/// Messages of one control topic (`messaging.control`, `campaigns.control`,
/// `twilio.subaccount`) delivered per run at most.
const CONTROL_BATCH: usize = 50;

/// Which jobs run, and how often.
pub struct JobPlan {
    pub hold_expiry: Option<Duration>,
    pub dunning: Option<Duration>,
    pub notifications: Option<(Duration, AnyNotifier)>,
    /// Delivery of `messaging.control` and `campaigns.control`, and of `twilio.subaccount`
    /// when there is a Twilio client.
    pub messaging_outbox: Option<Duration>,
    /// The sweep resuming campaigns paused for a billing reason that has cleared.
    pub campaign_resume: Option<Duration>,
    /// The dispatcher loops; only with a Twilio client.
    pub dispatch: Option<DispatchPlan>,
    /// The webhook inbox's retries of deliveries not applied at once.
    pub inbox: Option<Duration>,
    /// The pruning of raw webhook bodies past their retention.
    pub inbox_prune: Option<Duration>,
    /// The billing providers dunning retries go through.
    pub providers: Providers,
    /// The process's one Twilio client; `None` when Twilio is not configured.
    pub twilio: Option<SharedTwilio>,
    /// The app's clock, for the subaccount handler's timestamps.
    pub clock: Arc<dyn Clock>,
}

/// The dispatcher loops: one per configuration (each names its worker).
pub struct DispatchPlan {
    pub workers: Vec<DispatchConfig>,
    /// How long an idle loop waits before looking again.
    pub interval: Duration,
}

impl JobPlan {
    /// Starts every enabled job; stop them with [`stop_all`].
    pub fn start(&self, state: &AppState) -> Vec<Periodic> {
        let mut jobs = Vec::new();
        let pool = &state.pool;
        if let Some(interval) = self.hold_expiry {
            let (pool, ledger) = (pool.clone(), state.ledger.clone());
            jobs.push(Periodic::spawn("hold_expiry", interval, move || {
                let (pool, ledger) = (pool.clone(), ledger.clone());
                async move { sweeper::sweep(&pool, &ledger).await }
            }));
        }
        if let Some(interval) = self.dunning {
            let pool = pool.clone();
            let runner = Arc::new(DunningRunner::new(
                state.enforcer.clone(),
                ProviderRetrier::new(self.providers.clone()),
            ));
            jobs.push(Periodic::spawn("dunning", interval, move || {
                let (pool, runner) = (pool.clone(), runner.clone());
                async move { run_dunning(&pool, &runner).await }
            }));
        }
        if let Some((interval, notifier)) = &self.notifications {
            let handler = NotificationHandler::new(pool.clone(), notifier.clone());
            jobs.push(deliver_topic(
                "notifications",
                *interval,
                state,
                handler,
                NOTIFICATION_BATCH,
            ));
        }
        if let Some(interval) = self.messaging_outbox {
            jobs.push(deliver_topic(
                "messaging_control",
                interval,
                state,
                ControlHandler::new(pool.clone()),
                CONTROL_BATCH,
            ));
            jobs.push(deliver_topic(
                "campaigns_control",
                interval,
                state,
                CampaignControlHandler::new(pool.clone(), state.campaigns.clone()),
                CONTROL_BATCH,
            ));
            if let Some(twilio) = &self.twilio {
                let handler =
                    SubaccountHandler::new(pool.clone(), twilio.clone(), self.clock.clone());
                jobs.push(deliver_topic(
                    "twilio_subaccount",
                    interval,
                    state,
                    handler,
                    CONTROL_BATCH,
                ));
            }
        }
        if let Some(interval) = self.inbox {
            let (pool, intake) = (pool.clone(), state.intake.clone());
            jobs.push(Periodic::spawn("inbox", interval, move || {
                let (pool, intake) = (pool.clone(), intake.clone());
                async move { retry_inbox(&pool, &intake).await }
            }));
        }
        if let Some(interval) = self.inbox_prune {
            let (pool, intake) = (pool.clone(), state.intake.clone());
            jobs.push(Periodic::spawn("inbox_prune", interval, move || {
                let (pool, intake) = (pool.clone(), intake.clone());
                async move { prune_inbox(&pool, &intake).await }
            }));
        }
        if let Some(interval) = self.campaign_resume {
            let (pool, campaigns) = (pool.clone(), state.campaigns.clone());
            jobs.push(Periodic::spawn("campaign_resume", interval, move || {
                let (pool, campaigns) = (pool.clone(), campaigns.clone());
                async move { resume_sweep(&pool, &campaigns).await }
            }));
        }
        if let (Some(plan), Some(twilio)) = (&self.dispatch, &self.twilio) {
            for config in &plan.workers {
                let dispatcher = Arc::new(Dispatcher::new(
                    pool.clone(),
                    state.campaigns.clone(),
                    twilio.clone(),
                    config.clone(),
                ));
                jobs.push(Periodic::spawn_draining(
                    "dispatcher",
                    plan.interval,
                    move || {
                        let dispatcher = dispatcher.clone();
                        async move { dispatch_once(&dispatcher).await }
                    },
                ));
            }
        }
        jobs
    }
}

pub async fn stop_all(jobs: Vec<Periodic>) {
    for job in jobs {
        job.stop().await;
    }
}

/// Delivers `handler`'s topic from the outbox every `interval`, up to `limit` messages a run.
fn deliver_topic<H: Handler + 'static>(
    name: &'static str,
    interval: Duration,
    state: &AppState,
    handler: H,
    limit: usize,
) -> Periodic {
    let pool = state.pool.clone();
    let outbox = Arc::new(state.outbox.clone());
    let handler = Arc::new(handler);
    Periodic::spawn(name, interval, move || {
        let (pool, outbox, handler) = (pool.clone(), outbox.clone(), handler.clone());
        async move { deliver(name, &pool, &outbox, &*handler, limit).await }
    })
}

async fn deliver<H: Handler>(
    name: &'static str,
    pool: &DbPool,
    outbox: &Outbox,
    handler: &H,
    limit: usize,
) {
    match outbox::deliver_batch(pool, outbox, handler, limit).await {
        Ok(report) if report.claimed > 0 => {
            tracing::info!(
                job = name,
                topic = handler.topic().as_str(),
                ?report,
                "outbox messages delivered"
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::error!(job = name, topic = handler.topic().as_str(), %error, "outbox delivery failed");
        }
    }
}

/// One dispatcher pass; whether it did anything (the loop then goes again at once).
async fn dispatch_once(dispatcher: &Dispatcher<SharedTwilio>) -> bool {
    let worker = dispatcher.config().worker.as_str();
    match dispatcher.run_once().await {
        Ok(report) if report.did_work() => {
            tracing::info!(worker, ?report, "campaigns dispatched");
            true
        }
        Ok(_) => false,
        Err(error) => {
            tracing::error!(worker, %error, "campaign dispatch failed");
            false
        }
    }
}

/// Resumes the campaigns paused for a billing reason whose cause has cleared without an event
/// (a top-up, an operator lifting a freeze), organization by organization; one failing
/// organization does not stop the others.
pub async fn resume_sweep(pool: &DbPool, campaigns: &Campaigns) {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "campaign resume sweep skipped: no database connection");
            return;
        }
    };
    let organizations = match campaigns::organizations_with_billing_pauses(&mut conn).await {
        Ok(organizations) => organizations,
        Err(error) => {
            tracing::error!(%error, "campaign resume sweep failed");
            return;
        }
    };
    for organization in organizations {
        match campaigns.resume_if_eligible(&mut conn, organization).await {
            Ok(0) => {}
            Ok(resumed) => tracing::info!(%organization, resumed, "paused campaigns resumed"),
            Err(error) => {
                tracing::error!(%organization, %error, "resuming paused campaigns failed");
            }
        }
    }
}

async fn run_dunning<R: PaymentRetrier>(pool: &db::DbPool, runner: &DunningRunner<R>) {
    match runner.run_once(pool).await {
        Ok(report) if report == enforcement::RunReport::default() => {}
        Ok(report) => tracing::info!(?report, "dunning run"),
        Err(error) => tracing::error!(%error, "dunning run failed"),
    }
}

/// Deliveries tried again per inbox pass at most; the rest wait for the next tick.
const INBOX_BATCH: i64 = 100;
/// Bodies pruned per pass at most, so one pass never holds many row locks.
const PRUNE_BATCH: i64 = 1000;

/// One pass of the inbox: deliveries the receiver could not apply, failed ones whose backoff is
/// over, unmatched ones due for another look.
async fn retry_inbox(pool: &DbPool, intake: &intake::Intake) {
    match intake.run_due(pool, INBOX_BATCH).await {
        Ok(report) if report.claimed > 0 => tracing::info!(?report, "inbox deliveries tried"),
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "inbox pass failed"),
    }
}

async fn prune_inbox(pool: &DbPool, intake: &intake::Intake) {
    match intake.prune(pool, PRUNE_BATCH).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "raw webhook bodies past their retention pruned"),
        Err(error) => tracing::error!(%error, "pruning raw webhook bodies failed"),
    }
}
