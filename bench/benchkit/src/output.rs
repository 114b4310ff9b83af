//! The benches' output: one JSON object per line on stdout (`type` says what it is), human
//! progress on stderr, and an `error` line with a non-zero exit when a run fails.

use std::{
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use serde_json::{Value, json};

pub use crate::progress::progress;
use crate::{machine::machine, server::Server};

/// One JSON line on stdout.
pub fn emit(line: &Value) {
    println!("{line}");
}

/// The process's exit code for a run's outcome; a failure is also an `error` line on stdout and
/// a message on stderr.
pub fn exit_code(bench: &str, outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            emit(&json!({ "type": "error", "message": format!("{error:#}") }));
            eprintln!("{bench}: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `environment` line's common part: the bench, when it started, the server (where, which
/// version, its settings as [`crate::server::describe`] gives them) and the machine. Each bench adds its own
/// fields (the configuration first of all).
pub fn environment(
    bench: &str,
    started_unix: u64,
    server: &Server,
    address: &str,
    description: &Value,
) -> Value {
    json!({
        "type": "environment",
        "bench": bench,
        "started_at_unix": started_unix,
        "server_version": description["server_version"],
        "fsync": description["fsync"],
        "synchronous_commit": description["synchronous_commit"],
        "server": {
            "source": server.source,
            "address": address,
            "version": description["version"],
            "settings": description["settings"],
        },
        "machine": machine(),
    })
}

/// Logs of the code under test on stderr: `RUST_LOG`, else `default_filter`.
pub fn init_tracing(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
}

/// Seconds since 1970: when the run started, and the suffix of its database's name.
pub fn unix_now() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs())
}
