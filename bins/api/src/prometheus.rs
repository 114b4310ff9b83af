//! The process's Prometheus recorder, rendered by `GET /metrics`.
//!
//! `metrics` has one global recorder per process, and tests build many applications in one
//! process, so it is installed once and every application shares its handle. No listener of the
//! exporter's own: the api serves the text itself, behind the same middleware as every route.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How often histograms are drained and idle series trimmed, as the exporter requires of
/// whoever installs it without its listener.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Another recorder was installed first (by a program embedding the api, say).
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not install the Prometheus metrics recorder: {0}")]
pub struct RecorderError(String);

static RECORDER: OnceLock<Result<PrometheusHandle, RecorderError>> = OnceLock::new();

/// The handle of the process's recorder, installing it on first use.
pub fn recorder() -> Result<PrometheusHandle, RecorderError> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(|error| RecorderError(error.to_string()))
        })
        .clone()
}

/// Runs the recorder's upkeep until the returned task is aborted.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_and_shares_the_handle() {
        let first = recorder().unwrap();
        let second = recorder().unwrap();
        metrics::counter!("prometheus_module_test_total").increment(2);
        let rendered = second.render();
        assert!(
            rendered.contains("prometheus_module_test_total 2"),
            "{rendered}"
        );
        assert_eq!(first.render(), second.render());
    }
}
