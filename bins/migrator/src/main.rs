//! `migrator up` / `migrator status`: applies or lists the migrations embedded in the `db` crate.
//!
//! Configuration (environment):
//! - `DATABASE_URL`: the database to migrate. When unset, the development cluster in
//!   `./.data/postgres` is used (created and started if needed), exactly as the servers do.
//! - `EMBEDDED_PG_PORT`: port of that development cluster (default 54320).
//! - `RUST_LOG`: log filter for stderr (default `info`).

mod cli;
mod connect;

use std::process::ExitCode;

use anyhow::Context as _;
use diesel_async::RunQueryDsl as _;
use secrecy::ExposeSecret as _;
use tracing_subscriber::EnvFilter;

use crate::cli::Command;

/// Held while migrating, so two migrators started at once (e.g. by a rolling deploy) apply each
/// migration once instead of racing into "relation already exists".
const MIGRATION_LOCK_KEY: i64 = 0x6d69_6772_6174_6f72;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("migrator: {message}; see `migrator --help`");
            return ExitCode::from(2);
        }
    };
    if command == Command::Help {
        print!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    init_tracing();
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("migrator: {}", one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    // tokio-postgres reports server NOTICEs (e.g. "relation already exists, skipping") at info.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(command: Command) -> anyhow::Result<()> {
    // Multi-threaded: diesel's migration harness blocks in place.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        let database = db::embedded::database_url_from_env_or_local().await?;
        let mut conn = connect::connect(database.url.expose_secret()).await?;
        match command {
            Command::Up => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                    .execute(&mut conn)
                    .await
                    .context("could not take the migration lock")?;
                // The session lock is released when the harness closes the connection.
                let applied = db::migrations::run_pending(conn).await?;
                print!("{}", cli::render_applied(&applied));
            }
            Command::Status => {
                let status = db::migrations::status(conn).await?;
                print!("{}", cli::render_status(&status));
            }
            Command::Help => print!("{}", cli::USAGE),
        }
        Ok(())
    })
}

/// Keeps failures to one line even when a server message carries DETAIL/HINT lines.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
