//! The background jobs and how each one is wired: hold expiry, dunning (retries through each
//! subscription's own billing provider), notification delivery, the campaign, messaging and
//! billing-provider (`billing.provider`) outbox topics, campaign dispatch, the campaign resume
//! sweep, the webhook inbox (retries, unmatched deliveries, retention), the provider sync
//! (stale subscriptions re-fetched), and the lookup of unconfirmed campaign recipients in
//! Twilio's message list.

use std::sync::Arc;

use campaigns::{
    CampaignControlHandler, Campaigns, ControlHandler, Dispatcher, Lookup, SubaccountHandler,
};
use db::DbPool;
use enforcement::{DunningRunner, PaymentRetrier, ProviderCommandHandler, ProviderRetrier};
use ledger::LedgerWriter;
use notifications::{NotificationHandler, Notifier};
use outbox::{Handler, Message, Outbox};
use services::Services;

use twilio::{SubaccountControl, TwilioClient};

use crate::{JobsConfig, periodic::Periodic, sweeper};

/// Notifications delivered per run at most; the rest wait for the next tick.
const NOTIFICATION_BATCH: usize = 100;
/// Messages of one control topic (`messaging.control`, `campaigns.control`,
/// `twilio.subaccount`) delivered per run at most.
const CONTROL_BATCH: usize = 50;
/// `billing.provider` messages delivered per run at most: each is a provider call that may take
/// its timeout and retries, and a batch must finish within the outbox lease.
const PROVIDER_BATCH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("notifications are misconfigured: {0}")]
    Notifier(#[from] notifications::ConfigError),
    #[error("the Twilio client cannot be built: {0}")]
    Twilio(#[from] twilio::TwilioError),
}

/// The jobs one process runs, with the clients they call out through.
pub struct Jobs {
    config: JobsConfig,
    notifier: Arc<dyn Notifier>,
    /// The process's one Twilio client; `None` when Twilio is not configured.
    twilio: Option<Arc<TwilioClient>>,
    /// Development mode without Twilio: where brand subaccount wishes are confirmed instead
    /// ([`Jobs::with_local_subaccounts`]).
    local_subaccounts: Option<Arc<dyn SubaccountControl>>,
    /// Names this process's dispatcher loops (`<name>:<n>`) in logs and on claimed batches.
    name: String,
}

/// The jobs running; [`Running::stop`] ends them.
pub struct Running(Vec<Periodic>);

impl Running {
    /// Stops claiming work and waits for every run in progress to finish what it claimed, so
    /// nothing stays leased after the process ends.
    pub async fn stop(self) {
        for job in self.0 {
            job.stop().await;
        }
    }

    /// The names of the jobs running, for the start-up log line.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(Periodic::name).collect()
    }
}

impl Jobs {
    /// Builds the notifier and the Twilio client; `name` identifies this process (the host and
    /// pid make a good one).
    pub fn new(config: JobsConfig, name: impl Into<String>) -> Result<Self, JobsError> {
        let notifier = config.notifier.clone().build()?;
        let twilio = match &config.twilio {
            None => {
                tracing::warn!(
                    "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): campaigns \
                     are not dispatched and brand subaccounts are not suspended or reactivated \
                     by this process"
                );
                None
            }
            Some(settings) => {
                let client = twilio::TwilioClient::new(settings.clone())?;
                tracing::info!(
                    account_sid = settings.account_sid.as_str(),
                    base_url = settings.base_url.as_str(),
                    dispatch_workers = config.dispatch.workers,
                    "Twilio configured"
                );
                Some(Arc::new(client))
            }
        };
        Ok(Self {
            config,
            notifier,
            twilio,
            local_subaccounts: None,
            name: name.into(),
        })
    }

    /// The development mode without Twilio: brand subaccount wishes (`twilio.subaccount`) go to
    /// `control`, a local stand-in, so a brand suspended for a failed payment is active again
    /// once it is paid and its campaigns resume, as they would with Twilio. Only used when
    /// Twilio is not configured; never in production.
    #[must_use]
    pub fn with_local_subaccounts(mut self, control: Arc<dyn SubaccountControl>) -> Self {
        self.local_subaccounts = Some(control);
        self
    }

    /// Starts every enabled job over `pool` and `services`.
    pub fn start(&self, pool: &DbPool, services: &Services) -> Running {
        let intervals = &self.config.intervals;
        let mut jobs = Vec::new();
        if let Some(interval) = intervals.hold_expiry {
            let (pool, ledger) = (pool.clone(), services.ledger.clone());
            jobs.push(Periodic::spawn("hold_expiry", interval, move || {
                let (pool, ledger) = (pool.clone(), ledger.clone());
                async move { sweeper::sweep(&pool, &ledger).await }
            }));
        }
        if let Some(interval) = intervals.dunning {
            let pool = pool.clone();
            let runner = Arc::new(DunningRunner::new(
                services.enforcer.clone(),
                ProviderRetrier::new(services.providers.clone()),
            ));
            jobs.push(Periodic::spawn("dunning", interval, move || {
                let (pool, runner) = (pool.clone(), runner.clone());
                async move { run_dunning(&pool, &runner).await }
            }));
        }
        if let Some(interval) = intervals.notifications {
            let handler = NotificationHandler::new(pool.clone(), self.notifier.clone());
            jobs.push(deliver_topic(
                "notifications",
                interval,
                pool,
                services,
                handler,
                NOTIFICATION_BATCH,
            ));
        }
        if let Some(interval) = intervals.messaging_outbox {
            jobs.push(deliver_topic(
                "messaging_control",
                interval,
                pool,
                services,
                ControlHandler::new(pool.clone()),
                CONTROL_BATCH,
            ));
            jobs.push(deliver_topic(
                "campaigns_control",
                interval,
                pool,
                services,
                CampaignControlHandler::new(pool.clone(), services.campaigns.clone()),
                CONTROL_BATCH,
            ));
            // What billing providers must be told (a customer's cancel, pause or resume, a
            // top-up to capture).
            jobs.push(deliver_topic(
                "billing_provider",
                interval,
                pool,
                services,
                ProviderCommandHandler::new(pool.clone(), services.providers.clone()),
                PROVIDER_BATCH,
            ));
            let subaccounts = match &self.twilio {
                Some(twilio) => Some(twilio.clone() as Arc<dyn SubaccountControl>),
                None => self.local_subaccounts.clone(),
            };
            if let Some(subaccounts) = subaccounts {
                let handler =
                    SubaccountHandler::new(pool.clone(), subaccounts, services.clock.clone());
                jobs.push(deliver_topic(
                    "twilio_subaccount",
                    interval,
                    pool,
                    services,
                    handler,
                    CONTROL_BATCH,
                ));
            }
        }
        if let Some(interval) = intervals.inbox {
            let (pool, intake) = (pool.clone(), services.intake.clone());
            jobs.push(Periodic::spawn("inbox", interval, move || {
                let (pool, intake) = (pool.clone(), intake.clone());
                async move { retry_inbox(&pool, &intake).await }
            }));
        }
        if let Some(interval) = intervals.inbox_prune {
            let (pool, intake) = (pool.clone(), services.intake.clone());
            jobs.push(Periodic::spawn("inbox_prune", interval, move || {
                let (pool, intake) = (pool.clone(), intake.clone());
                async move { prune_inbox(&pool, &intake).await }
            }));
        }
        if let Some(interval) = intervals.provider_sync {
            let pool = pool.clone();
            let sync = Arc::new(
                services
                    .intake
                    .provider_sync(self.config.provider_sync.clone()),
            );
            jobs.push(Periodic::spawn("provider_sync", interval, move || {
                let (pool, sync) = (pool.clone(), sync.clone());
                async move { sync_providers(&pool, &sync).await }
            }));
        }
        if let Some(interval) = intervals.campaign_resume {
            let (pool, campaigns) = (pool.clone(), services.campaigns.clone());
            jobs.push(Periodic::spawn("campaign_resume", interval, move || {
                let (pool, campaigns) = (pool.clone(), campaigns.clone());
                async move { resume_sweep(&pool, &campaigns).await }
            }));
        }
        if let Some(twilio) = &self.twilio {
            let dispatch = &self.config.dispatch;
            // One batching writer for the process's dispatchers: their batches' charges share
            // its transactions (group commit). On the campaigns' ledger, so on their clock.
            let writer = LedgerWriter::start(
                pool.clone(),
                services.campaigns.ledger().clone(),
                self.config.ledger_writer.clone(),
            );
            for n in 1..=dispatch.workers {
                let config = dispatch.dispatch_config(format!("{}:{n}", self.name));
                let dispatcher = Arc::new(
                    Dispatcher::new(
                        pool.clone(),
                        services.campaigns.clone(),
                        twilio.clone(),
                        config,
                    )
                    .with_writer(writer.clone()),
                );
                jobs.push(Periodic::spawn_draining(
                    "dispatcher",
                    dispatch.interval,
                    move || {
                        let dispatcher = dispatcher.clone();
                        async move { dispatch_once(&dispatcher).await }
                    },
                ));
            }
        }
        if let (Some(twilio), Some(interval)) = (&self.twilio, intervals.twilio_lookup) {
            let lookup = Arc::new(Lookup::new(
                pool.clone(),
                services.campaigns.clone(),
                twilio.clone(),
                self.config.lookup.clone(),
            ));
            jobs.push(Periodic::spawn_draining(
                "twilio_lookup",
                interval,
                move || {
                    let lookup = lookup.clone();
                    async move { lookup_once(&lookup).await }
                },
            ));
        }
        Running(jobs)
    }
}

/// Delivers `handler`'s topic from the outbox every `interval`, up to `limit` messages a run.
fn deliver_topic<H: Handler + 'static>(
    name: &'static str,
    interval: std::time::Duration,
    pool: &DbPool,
    services: &Services,
    handler: H,
    limit: usize,
) -> Periodic {
    let pool = pool.clone();
    let outbox = Arc::new(services.outbox.clone());
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
                topic = H::Message::TOPIC.as_str(),
                ?report,
                "outbox messages delivered"
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::error!(job = name, topic = H::Message::TOPIC.as_str(), %error, "outbox delivery failed");
        }
    }
}

/// One dispatcher pass; whether it did anything (the loop then goes again at once).
async fn dispatch_once(dispatcher: &Dispatcher<Arc<TwilioClient>>) -> bool {
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

/// One pass of the unconfirmed-recipient lookup; whether it claimed any (it goes again at once
/// while it does: each claimed recipient is resolved, rescheduled or left to a person).
async fn lookup_once(lookup: &Lookup<Arc<TwilioClient>>) -> bool {
    match lookup.run_once().await {
        Ok(report) if report.did_work() => {
            tracing::info!(?report, "unconfirmed recipients looked up in Twilio");
            true
        }
        Ok(_) => false,
        Err(error) => {
            tracing::error!(%error, "unconfirmed recipient lookup failed");
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

/// One provider sync round: subscriptions whose state could be stale, re-fetched from their
/// provider within its budget, and any difference applied.
async fn sync_providers(pool: &DbPool, sync: &intake::sync::ProviderSync) {
    match sync.run_once(pool).await {
        Ok(report) if report.claimed > 0 => tracing::info!(?report, "provider sync round"),
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "provider sync round failed"),
    }
}

async fn prune_inbox(pool: &DbPool, intake: &intake::Intake) {
    match intake.prune(pool, PRUNE_BATCH).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "raw webhook bodies past their retention pruned"),
        Err(error) => tracing::error!(%error, "pruning raw webhook bodies failed"),
    }
}
