//! Building and running the application.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc};

use axum::Router;
use db::readiness::Readiness;
use db::{
    DbConfig,
    embedded::{ClusterOptions, DEV_CLUSTER_DIR, EmbeddedError, LocalCluster},
};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use httpkit::{
    Auth,
    probes::{self, RecorderError},
};
use primitives::{Clock, SystemClock};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::{
    AppState,
    admin_token::{self, AdminTokenError},
    auth::ApiKeyAuthenticator,
    config::{Config, ConfigError, DatabaseSource},
    jobs::{self, DispatchPlan, JobPlan},
    routes,
    twilio_client::SharedTwilio,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    EmbeddedDatabase(#[from] EmbeddedError),
    #[error(transparent)]
    Pool(#[from] db::pool::PoolBuildError),
    #[error("could not connect to the database to migrate it: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Migration(#[from] db::migrations::MigrationError),
    #[error(transparent)]
    AdminToken(#[from] AdminTokenError),
    #[error(transparent)]
    Metrics(#[from] RecorderError),
    #[error("notifications are misconfigured: {0}")]
    Notifier(#[from] notifications::ConfigError),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("billing providers: {0}")]
    Providers(#[from] billing::ConfigError),
    #[error("the Twilio client cannot be built: {0}")]
    Twilio(#[from] twilio::TwilioError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The process's Twilio client, or `None` (with one warning) when Twilio is not configured.
fn twilio_client(config: &Config) -> Result<Option<SharedTwilio>, StartupError> {
    let Some(settings) = &config.twilio else {
        tracing::warn!(
            "Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): campaigns are not \
             dispatched and brand subaccounts are not suspended or reactivated by this process"
        );
        return Ok(None);
    };
    let client = twilio::TwilioClient::new(settings.client_config())?;
    tracing::info!(
        account_sid = settings.account_sid.as_str(),
        base_url = settings.base_url.as_str(),
        dispatch_workers = config.campaigns.dispatch_workers,
        "Twilio configured"
    );
    Ok(Some(SharedTwilio::new(client)))
}

/// `DISPATCH_WORKERS` loops, each named after this process, when Twilio is configured.
fn dispatch_plan(config: &Config) -> Option<DispatchPlan> {
    let twilio = config.twilio.as_ref()?;
    let count = config.campaigns.dispatch_workers;
    if count == 0 {
        return None;
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "api".to_owned());
    let pid = std::process::id();
    let workers = (1..=count)
        .map(|n| {
            config
                .campaigns
                .dispatch_config(format!("{host}:{pid}:{n}"), twilio)
        })
        .collect();
    Some(DispatchPlan {
        workers,
        interval: config.campaigns.dispatch_interval,
    })
}

/// A bound, ready-to-run api.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    state: AppState,
    jobs: JobPlan,
    /// The development cluster, when there is one; it outlives the process on purpose.
    local_cluster: Option<LocalCluster>,
}

impl Application {
    /// Connects (starting and migrating the development cluster when no `DATABASE_URL` is
    /// configured), provisions the admin credential and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`Application::build`] with the ledger and the subscriptions on the given clock
    /// (tests move a `ManualClock` to expire holds without sleeping).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        // Settings made in code (tests, embedding programs) are held to the same rules as the
        // environment's.
        config.campaigns.validate()?;
        let twilio = twilio_client(&config)?;
        let (url, local_cluster) = match &config.database {
            DatabaseSource::Url(url) => (url.clone(), None),
            DatabaseSource::Embedded => {
                let options = ClusterOptions::dev_from_env()?;
                let cluster =
                    db::embedded::ensure_local_cluster(Path::new(DEV_CLUSTER_DIR), &options)
                        .await?;
                (SecretString::from(cluster.url()), Some(cluster))
            }
        };
        if local_cluster.is_some() {
            // Development only: in production the migrator applies migrations, never a server.
            let conn = AsyncPgConnection::establish(url.expose_secret()).await?;
            let applied = db::migrations::run_pending(conn).await?;
            tracing::info!(?applied, "development database migrated");
        }

        let mut db_config = DbConfig::new(url, "api");
        db_config.max_connections = config.pool_size;
        db_config.statement_timeout = config.statement_timeout;
        let pool = db::connect_pool(&db_config)?;

        let (admin, written_to) = admin_token::provision(&config.admin_token, &config.data_dir)?;
        if let Some(path) = written_to {
            // The only line on stdout outside the logs: where to find the token, never the token.
            println!("admin token written to {}", path.display());
        }

        let notifier = config.notifier.clone().build()?;
        let ledger = ledger::Ledger::new(clock.clone());
        let subscriptions =
            subscriptions::Subscriptions::new(clock.clone(), config.lifecycle.clone());
        let campaigns = campaigns::Campaigns::new(ledger.clone(), config.campaigns.funds_policy());
        let providers = config.providers.clone().build(clock.clone())?;
        if providers.configured().is_empty() {
            tracing::warn!(
                "no billing provider is configured (PAYPAL_*, STRIPE_*, PAYHERE_*): dunning \
                 retries cannot reach a provider and no webhook route is served here"
            );
        }
        let enforcer = enforcement::Enforcer::new(subscriptions.clone(), ledger.clone());
        let intake = intake::Intake::new(
            enforcer.clone(),
            ledger.clone(),
            providers.clone(),
            clock.clone(),
            config.intake.clone(),
        );
        let state = AppState {
            auth: Auth::new(admin, Arc::new(ApiKeyAuthenticator::new(pool.clone()))),
            readiness: Arc::new(Readiness::new(!config.is_dev_mode())),
            pool,
            enforcer,
            // The operator routes only requeue (at the clock's now); the policy is unused there.
            outbox: outbox::Outbox::new(clock.clone(), outbox::RetryPolicy::default()),
            ledger,
            subscriptions,
            campaigns,
            intake,
            metrics: probes::recorder()?,
        };
        // In development one process is the whole system, so it receives webhooks too; in
        // production the webhook-receiver does.
        let serve_webhooks = config.is_dev_mode() && !providers.configured().is_empty();
        let router = routes::router(state.clone(), config.body_limit_bytes, serve_webhooks);
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.addr,
            source,
        })?;
        tracing::info!(
            %local_addr,
            dev_mode = config.is_dev_mode(),
            webhooks = serve_webhooks,
            "api listening"
        );
        Ok(Self {
            listener,
            local_addr,
            router,
            state,
            jobs: JobPlan {
                hold_expiry: config.hold_expiry_interval,
                dunning: config.dunning_interval,
                notifications: config.notification_interval.map(|every| (every, notifier)),
                messaging_outbox: config.campaigns.messaging_outbox_interval,
                campaign_resume: config.campaigns.resume_interval,
                dispatch: dispatch_plan(&config),
                inbox: config.inbox_interval,
                inbox_prune: config.inbox_prune_interval,
                providers,
                twilio,
                clock,
            },
            local_cluster,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_cluster(&self) -> Option<&LocalCluster> {
        self.local_cluster.as_ref()
    }

    /// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(httpkit::server::shutdown_signal()).await
    }

    /// Serves until `shutdown` completes (tests stop servers this way). The background jobs
    /// and the metrics upkeep run alongside and stop with the server.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let jobs = self.jobs.start(&self.state);
        let upkeep = probes::spawn_upkeep(self.state.metrics.clone());
        let served = httpkit::server::serve(self.listener, self.router, shutdown).await;
        upkeep.abort();
        jobs::stop_all(jobs).await;
        served?;
        tracing::info!("api stopped");
        Ok(())
    }
}
