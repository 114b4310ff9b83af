//! Building and running the application.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::Router;
use db::{embedded::LocalCluster, readiness::Readiness};
use httpkit::{
    Auth,
    limits::RequestLimits,
    probes::{self, RecorderError},
};
use jobs::Jobs;
use primitives::{Clock, SystemClock, config::ConfigError};
use services::Services;
use tokio::net::TcpListener;

use crate::{
    AppState,
    admin_token::{self, AdminTokenError},
    auth::ApiKeyAuthenticator,
    config::Config,
    routes,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] db::OpenError),
    #[error(transparent)]
    AdminToken(#[from] AdminTokenError),
    #[error(transparent)]
    Metrics(#[from] RecorderError),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Jobs(#[from] jobs::JobsError),
    #[error("the Twilio client for status callbacks: {0}")]
    Twilio(#[from] twilio::TwilioError),
    #[error("the PayPal development CA: {0}")]
    DevPayPal(#[from] devhooks::Error),
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
    services: Services,
    /// The worker's jobs, in the development mode (and in tests that ask for them).
    jobs: Option<Jobs>,
    request_limits: RequestLimits,
    /// The development cluster, when there is one; it outlives the process on purpose.
    local_cluster: Option<LocalCluster>,
}

impl Application {
    /// Connects (starting and migrating the development cluster when no `DATABASE_URL` is
    /// configured), provisions the admin credential and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`Application::build`] with the domain on the given clock (tests move a
    /// `ManualClock` to expire holds without sleeping).
    pub async fn build_with_clock(
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        // Settings made in code (tests, embedding programs) are held to the same rules as the
        // environment's.
        config.services.holds.validate()?;
        config.validate()?;
        if let Some(jobs) = &config.jobs {
            jobs.validate(&config.services.holds)?;
        }
        let database = config.database.open("api").await?;
        let pool = database.pool;

        let (admin, written_to) = admin_token::provision(&config.admin_token, &config.data_dir)?;
        if let Some(path) = written_to {
            // The only line on stdout outside the logs: where to find the token, never the token.
            println!("admin token written to {}", path.display());
        }

        if config.dev_paypal && config.is_dev_mode() {
            trust_development_paypal(&mut config, clock.now())?;
        }
        let services = Services::new(clock, &config.services)?;
        if services.providers.configured().is_empty() {
            tracing::warn!(
                "no billing provider is configured (PAYPAL_*, STRIPE_*, PAYHERE_*): dunning \
                 retries cannot reach a provider and no webhook route is served here"
            );
        }
        let api_keys = ApiKeyAuthenticator::new(pool.clone(), config.auth_cache_ttl);
        let state = AppState::new(
            pool,
            Auth::new(admin, Arc::new(api_keys.clone())),
            api_keys,
            Arc::new(Readiness::new(!config.is_dev_mode())),
            &services,
            probes::recorder()?,
            config.ledger_writer.clone(),
        )
        .with_rate_limit(config.rate_limit)
        .with_stalled_campaign_threshold(config.health_stalled_after)
        .with_console(config.console.clone());
        // In development one process is the whole system, so it receives webhooks too; in
        // production the webhook-receiver does.
        let dev_webhooks = match &config.jobs {
            Some(jobs) if config.is_dev_mode() => routes::DevWebhooks {
                providers: !services.providers.configured().is_empty(),
                twilio: twilio_callbacks(jobs)?,
            },
            _ => routes::DevWebhooks::default(),
        };
        let serve_webhooks = dev_webhooks.providers;
        let router = routes::router(state.clone(), config.body_limit_bytes, dev_webhooks);
        let dev_mode = config.is_dev_mode();
        let jobs = match config.jobs {
            Some(jobs) if dev_mode && jobs.twilio.is_none() => {
                let jobs = Jobs::new(jobs, process_name())?
                    .with_local_subaccounts(Arc::new(devhooks::LocalSubaccounts));
                tracing::info!(
                    "development mode without Twilio: brand subaccount suspensions and \
                     reactivations are confirmed here instead (nothing is sent to Twilio), so \
                     campaigns paused for billing resume once paid"
                );
                Some(jobs)
            }
            Some(jobs) => Some(Jobs::new(jobs, process_name())?),
            None => None,
        };
        let bind_error = |source| StartupError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        if dev_mode {
            tracing::info!(
                %local_addr,
                webhooks = serve_webhooks,
                "development mode: this one process runs the api, the webhook routes and the \
                 worker's jobs; production runs the api, webhook-receiver and worker services"
            );
        } else {
            tracing::info!(%local_addr, jobs = jobs.is_some(), "api listening");
        }
        Ok(Self {
            listener,
            local_addr,
            router,
            state,
            services,
            jobs,
            request_limits: config.request_limits,
            local_cluster: database.local,
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

    /// Serves until `shutdown` completes (tests stop servers this way). The jobs (when this
    /// process runs them) and the metrics upkeep run alongside and stop with the server.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let running = self
            .jobs
            .as_ref()
            .map(|jobs| jobs.start(&self.state.pool, &self.services));
        let upkeep = probes::spawn_upkeep(self.state.metrics.clone());
        let served =
            httpkit::server::serve_with(self.listener, self.router, self.request_limits, shutdown)
                .await;
        upkeep.abort();
        if let Some(running) = running {
            running.stop().await;
        }
        served?;
        tracing::info!("api stopped");
        Ok(())
    }
}

/// The development mode's PayPal, running on its defaults: trusts the development CA (made now
/// under the data directory if it is not there yet) besides the configured roots, and reads
/// signing certificates from its directory, where the local webhook tool publishes its own
/// (`devhooks::dev`). Production never gets here, so it never trusts that CA.
fn trust_development_paypal(
    config: &mut Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StartupError> {
    let Some(paypal) = config.services.providers.paypal.as_mut() else {
        return Ok(());
    };
    let ca = devhooks::dev::ensure_ca(&config.data_dir, now)?;
    let roots = paypal
        .trusted_roots_pem
        .as_deref()
        .unwrap_or(billing::paypal::BUNDLED_ROOTS_PEM);
    paypal.trusted_roots_pem = Some(format!("{}\n{ca}", roots.trim_end()));
    let cert_dir = devhooks::dev::cert_dir(&config.data_dir);
    tracing::info!(
        cert_dir = %cert_dir.display(),
        "development mode: PayPal deliveries signed by the development CA are trusted \
         (webhook-tool; docs/local-webhooks.md)"
    );
    paypal.cert_dir = Some(cert_dir);
    Ok(())
}

/// Names this process's dispatcher loops: the host and the pid.
pub fn process_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// The development mode verifies Twilio's status callbacks as the receiver does, when Twilio
/// and the callback URL the dispatcher hands Twilio are both configured.
fn twilio_callbacks(
    jobs: &jobs::JobsConfig,
) -> Result<Option<Arc<webhooks::TwilioCallbacks>>, StartupError> {
    let (Some(client), Some(callback_url)) = (&jobs.twilio, &jobs.dispatch.status_callback) else {
        return Ok(None);
    };
    let config = webhooks::TwilioCallbackConfig {
        client: client.clone(),
        callback_url: callback_url.clone(),
        keys: Default::default(),
    };
    Ok(Some(Arc::new(webhooks::TwilioCallbacks::from_config(
        &config,
    )?)))
}
