//! The loop a background job runs in: every interval, or (for a job that can fall behind) again
//! at once while it finds work. A stop request is seen only between runs, so a run always
//! finishes what it claimed.

use std::{future::Future, time::Duration};

use tokio::{sync::watch, task::JoinHandle, time::MissedTickBehavior};

/// A job running every `interval`; [`Periodic::stop`] ends it after the run in progress.
pub struct Periodic {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Periodic {
    /// Starts `job`. A job logs its own errors: a database outage must not end the loop.
    pub fn spawn<F, Fut>(name: &'static str, interval: Duration, job: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            tracing::info!(
                job = name,
                interval_secs = interval.as_secs(),
                "background job started"
            );
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticks.tick() => job().await,
                }
            }
            tracing::info!(job = name, "background job stopped");
        });
        Self { name, stop, task }
    }

    /// Starts `job`, which says whether it did any work: while it does, it runs again at once
    /// (a backlog drains without waiting); otherwise the next run waits `interval`. A stop
    /// request ends it after the run in progress.
    pub fn spawn_draining<F, Fut>(name: &'static str, interval: Duration, job: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            tracing::info!(
                job = name,
                interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
                "background job started"
            );
            loop {
                if *stopped.borrow() {
                    break;
                }
                if job().await {
                    continue;
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(interval) => {}
                }
            }
            tracing::info!(job = name, "background job stopped");
        });
        Self { name, stop, task }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub async fn stop(self) {
        // The receiver lives as long as the task; a send error means it has already ended.
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(job = self.name, %error, "background job failed");
        }
    }
}
