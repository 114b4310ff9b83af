//! The receiver as a service: the webhook routes, the probes and the metrics on one listener.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::Router;
use billing::Providers;
use campaigns::{Campaigns, FundsPolicy};
use db::readiness::Readiness;
use enforcement::Enforcer;
use httpkit::{
    limits::RequestLimits,
    probes::{self, RecorderError},
};
use intake::Intake;
use metrics_exporter_prometheus::PrometheusHandle;
use primitives::Clock;
use tokio::net::TcpListener;

use crate::{ReceiverConfig, TwilioCallbacks, TwilioState, WebhookState, routes, twilio_routes};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] db::OpenError),
    #[error(transparent)]
    Metrics(#[from] RecorderError),
    #[error("configuration: {0}")]
    Config(#[from] primitives::config::ConfigError),
    #[error("the Twilio client cannot be built: {0}")]
    Twilio(#[from] twilio::TwilioError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound, ready-to-run receiver.
pub struct Receiver {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    state: WebhookState,
    metrics: PrometheusHandle,
    request_limits: RequestLimits,
}

impl Receiver {
    /// Connects the pool (lazily: a database that is down makes `/readyz` fail, not the start)
    /// and binds the listener.
    pub async fn build(
        config: ReceiverConfig,
        providers: Providers,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        config
            .request_limits
            .validate(&crate::config::LIMIT_VARIABLES)?;
        let pool = config.database.open("webhook-receiver").await?.pool;
        let ledger = ledger::Ledger::new(clock.clone());
        let subscriptions = subscriptions::Subscriptions::new(clock.clone(), config.lifecycle);
        let enforcer = Enforcer::new(subscriptions, ledger.clone());
        let intake = Intake::new(enforcer, ledger.clone(), providers, clock, config.intake);
        // Only resolving unconfirmed recipients runs here, which places no hold: the default
        // hold settings are never used.
        let campaigns = Campaigns::new(ledger, FundsPolicy::default());
        let callbacks = match &config.twilio {
            Some(twilio) => Some(Arc::new(TwilioCallbacks::from_config(twilio)?)),
            None => None,
        };
        let twilio = TwilioState {
            pool: pool.clone(),
            campaigns,
            callbacks,
        };
        let state = WebhookState { pool, intake };
        let metrics = probes::recorder()?;
        let probes = probes::router(
            state.pool.clone(),
            Arc::new(Readiness::new(true)),
            metrics.clone(),
        );
        let router = httpkit::server::finish(
            routes(state.clone())
                .merge(twilio_routes(twilio.clone()))
                .merge(probes),
            config.body_limit_bytes,
        );
        let bind_error = |source| StartupError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let configured: Vec<&str> = state
            .intake
            .providers()
            .configured()
            .into_iter()
            .map(|name| name.as_str())
            .collect();
        tracing::info!(
            %local_addr,
            providers = ?configured,
            twilio = twilio.callbacks.is_some(),
            "webhook receiver listening"
        );
        Ok(Self {
            listener,
            local_addr,
            router,
            state,
            metrics,
            request_limits: config.request_limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn state(&self) -> &WebhookState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, then finishes the deliveries in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(httpkit::server::shutdown_signal()).await
    }

    /// Serves until `shutdown` completes. A delivery in flight is finished (stored and applied)
    /// before the process ends, so a stop never answers a provider without storing.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let upkeep = probes::spawn_upkeep(self.metrics.clone());
        let served =
            httpkit::server::serve_with(self.listener, self.router, self.request_limits, shutdown)
                .await;
        upkeep.abort();
        served?;
        tracing::info!("webhook receiver stopped");
        Ok(())
    }
}
