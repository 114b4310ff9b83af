//! The worker service: every enabled job, and `/healthz`, `/readyz`, `/metrics` on a small
//! listener of its own.

use std::{future::Future, net::SocketAddr, sync::Arc};

use db::{DbPool, readiness::Readiness};
use httpkit::probes::{self, RecorderError};
use services::Services;
use tokio::net::TcpListener;

use crate::{Jobs, JobsError};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Jobs(#[from] JobsError),
    #[error(transparent)]
    Metrics(#[from] RecorderError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The probe listener's body limit: its routes take none.
const PROBE_BODY_LIMIT_BYTES: usize = 1024;

/// A bound, ready-to-run worker.
pub struct Worker {
    listener: TcpListener,
    local_addr: SocketAddr,
    pool: DbPool,
    services: Services,
    jobs: Jobs,
}

impl Worker {
    /// Binds the probe listener at `addr`. The pool connects lazily: a database that is down
    /// makes `/readyz` fail and the jobs log and retry, it does not stop the start.
    pub async fn build(
        addr: SocketAddr,
        pool: DbPool,
        services: Services,
        jobs: Jobs,
    ) -> Result<Self, WorkerError> {
        let bind_error = |source| WorkerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self {
            listener,
            local_addr,
            pool,
            services,
            jobs,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(httpkit::server::shutdown_signal()).await
    }

    /// Runs the jobs and serves the probes until `shutdown` completes; then stops claiming,
    /// lets every run in progress finish what it claimed (so no lease outlives the process) and
    /// returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let metrics = probes::recorder().map_err(std::io::Error::other)?;
        let running = self.jobs.start(&self.pool, &self.services);
        tracing::info!(
            local_addr = %self.local_addr,
            jobs = ?running.names(),
            "worker running"
        );
        let upkeep = probes::spawn_upkeep(metrics.clone());
        // Readiness checks migrations: a worker on an old schema must not claim work.
        let probes = probes::router(self.pool.clone(), Arc::new(Readiness::new(true)), metrics);
        // The 404/405 problems and the request log every listener has; the probes read no
        // body, so the smallest limit. `serve` enforces the default header and query limits.
        let router = httpkit::server::finish(probes, PROBE_BODY_LIMIT_BYTES);
        let served = httpkit::server::serve(self.listener, router, shutdown).await;
        tracing::info!("worker stopping: no new work is claimed, runs in progress finish");
        running.stop().await;
        upkeep.abort();
        served?;
        tracing::info!("worker stopped");
        Ok(())
    }
}
