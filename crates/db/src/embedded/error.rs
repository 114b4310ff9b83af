//! What can go wrong with the embedded cluster; every message is one line that says what to do.

use std::{path::PathBuf, process::ExitStatus, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries not found (initdb, pg_ctl, postgres); install them, e.g. \
         `apt-get install postgresql`, or set DATABASE_URL"
    )]
    BinariesNotFound,
    #[error(
        "running as root, which PostgreSQL refuses, and there is no `postgres` user to run it as; \
         create one (`useradd --system --user-group postgres`) or set DATABASE_URL"
    )]
    NoServiceUser,
    #[error(
        "port {port} on 127.0.0.1 is in use by another program; choose another port for the embedded PostgreSQL"
    )]
    PortInUse { port: u16 },
    #[error("{command} failed ({status}): {detail}")]
    CommandFailed {
        command: String,
        status: ExitStatus,
        detail: String,
    },
    #[error("{path} does not name the server's port; is another program using this directory?")]
    UnreadablePidFile { path: PathBuf },
    #[error("PostgreSQL on port {port} accepted no connection within {waited:?}; see {log}")]
    NotReady {
        port: u16,
        waited: Duration,
        log: PathBuf,
    },
    #[error("could not create database {name:?}: {reason}")]
    CreateDatabase { name: String, reason: String },
    #[error("{name} is invalid: {reason}")]
    InvalidEnv { name: &'static str, reason: String },
    // The io::Error is in the message rather than a `source`, so error chains (`{:#}`) do not
    // print it twice.
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl EmbeddedError {
    pub(super) fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            error,
        }
    }
}
