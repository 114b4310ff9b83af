//! The hold-expiry sweeper: until the worker binary exists, the api expires wallet holds whose
//! deadline has passed, every `HOLD_EXPIRY_INTERVAL_SECS`.
//!
//! Several api instances may sweep at once: the ledger makes a second expiry of the same hold a
//! no-op (its reference is `expiry:<hold id>`), so no coordination is needed.

use std::time::Duration;

use db::DbPool;
use ledger::Ledger;
use tokio::{sync::watch, task::JoinHandle, time::MissedTickBehavior};

/// Holds expired per sweep at most; the rest wait for the next tick.
pub const SWEEP_LIMIT: i64 = 1000;

/// A running sweeper; [`Sweeper::stop`] ends it after the sweep in progress, if any.
pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sweeper {
    pub fn spawn(pool: DbPool, ledger: Ledger, interval: Duration) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(pool, ledger, interval, stopped));
        Self { stop, task }
    }

    pub async fn stop(self) {
        // The receiver lives as long as the task; a send error means it has already ended.
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "hold-expiry sweeper failed");
        }
    }
}

async fn run(pool: DbPool, ledger: Ledger, interval: Duration, mut stopped: watch::Receiver<bool>) {
    tracing::info!(
        interval_secs = interval.as_secs(),
        "hold-expiry sweeper started"
    );
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = ticks.tick() => sweep(&pool, &ledger).await,
        }
    }
    tracing::info!("hold-expiry sweeper stopped");
}

/// One sweep. Errors are logged and the next tick tries again: a database outage must not
/// kill the sweeper.
pub async fn sweep(pool: &DbPool, ledger: &Ledger) {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "hold-expiry sweep skipped: no database connection");
            return;
        }
    };
    match ledger.expire_due_holds(&mut conn, SWEEP_LIMIT).await {
        Ok(sweep) if sweep.expired.is_empty() && sweep.failed.is_empty() => {}
        Ok(sweep) => tracing::info!(
            expired = sweep.expired.len(),
            failed = sweep.failed.len(),
            "holds expired"
        ),
        Err(error) => tracing::error!(%error, "hold-expiry sweep failed"),
    }
}
