//! Building and running the application.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc};

use axum::Router;
use db::{
    DbConfig,
    embedded::{ClusterOptions, DEV_CLUSTER_DIR, EmbeddedError, LocalCluster},
};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use httpkit::Auth;
use primitives::{Clock, SystemClock};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::{
    AppState,
    admin_token::{self, AdminTokenError},
    auth::ApiKeyAuthenticator,
    config::{Config, DatabaseSource},
    jobs::{self, JobPlan},
    prometheus::{self, RecorderError},
    readiness::Readiness,
    routes,
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
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
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
        let state = AppState {
            auth: Auth::new(admin, Arc::new(ApiKeyAuthenticator::new(pool.clone()))),
            readiness: Arc::new(Readiness::new(!config.is_dev_mode())),
            pool,
            enforcer: enforcement::Enforcer::new(subscriptions.clone(), ledger.clone()),
            // The operator routes only requeue (at the clock's now); the policy is unused there.
            outbox: outbox::Outbox::new(clock.clone(), outbox::RetryPolicy::default()),
            ledger,
            subscriptions,
            metrics: prometheus::recorder()?,
        };
        let router = routes::router(state.clone(), config.body_limit_bytes);
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
        tracing::info!(%local_addr, dev_mode = config.is_dev_mode(), "api listening");
        Ok(Self {
            listener,
            local_addr,
            router,
            state,
            jobs: JobPlan {
                hold_expiry: config.hold_expiry_interval,
                dunning: config.dunning_interval,
                notifications: config.notification_interval.map(|every| (every, notifier)),
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
        let upkeep = prometheus::spawn_upkeep(self.state.metrics.clone());
        let served = httpkit::server::serve(self.listener, self.router, shutdown).await;
        upkeep.abort();
        jobs::stop_all(jobs).await;
        served?;
        tracing::info!("api stopped");
        Ok(())
    }
}
