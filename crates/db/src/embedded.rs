//! The embedded default: with no `DATABASE_URL`, run a private PostgreSQL cluster from the locally
//! installed server binaries, kept in a directory of ours and reused on the next start.
//!
//! ```no_run
//! # async fn run() -> Result<(), db::embedded::EmbeddedError> {
//! // What the binaries do: DATABASE_URL if set, else ./.data/postgres on EMBEDDED_PG_PORT.
//! let resolved = db::embedded::database_url_from_env_or_local().await?;
//! # Ok(()) }
//! ```

mod account;
mod binaries;
mod control;
mod error;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use diesel::{
    QueryableByName,
    sql_types::{Bool, Text},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::SecretString;

pub use self::error::EmbeddedError;
use self::{
    account::Account,
    control::{Layout, Tools},
};

/// Where the binaries keep the development cluster, relative to their working directory.
pub const DEV_CLUSTER_DIR: &str = ".data/postgres";
/// The development cluster's port unless `EMBEDDED_PG_PORT` says otherwise; off the standard 5432
/// so it never collides with a system PostgreSQL.
pub const DEV_PORT: u16 = 54320;
/// The database the binaries use inside the development cluster.
pub const DEV_DATABASE: &str = "billing";

/// How to run a local cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// TCP port on 127.0.0.1. A cluster that is already running keeps the port it has.
    pub port: u16,
    /// Off trades crash safety for speed: right for throwaway test clusters, never for data
    /// anyone wants to keep.
    pub fsync: bool,
    /// A database to create (if missing) and point [`LocalCluster::url`] at; else `postgres`.
    pub database: Option<String>,
    /// How long to wait for the server to start accepting connections.
    pub start_timeout: Duration,
}

impl ClusterOptions {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            fsync: true,
            database: None,
            start_timeout: Duration::from_secs(60),
        }
    }

    /// The development cluster of the binaries: [`DEV_PORT`] or `EMBEDDED_PG_PORT`, fsync on,
    /// database [`DEV_DATABASE`].
    pub fn dev_from_env() -> Result<Self, EmbeddedError> {
        let port = match env_var("EMBEDDED_PG_PORT")? {
            None => DEV_PORT,
            Some(value) => value
                .trim()
                .parse()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| EmbeddedError::InvalidEnv {
                    name: "EMBEDDED_PG_PORT",
                    reason: format!("expected a port number from 1 to 65535, got {value:?}"),
                })?,
        };
        Ok(Self {
            database: Some(DEV_DATABASE.to_owned()),
            ..Self::new(port)
        })
    }
}

/// A running cluster. It is not stopped on drop: it is meant to outlive the process and be
/// reused by the next one.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    tools: Tools,
    layout: Layout,
    port: u16,
    database: String,
}

impl LocalCluster {
    /// URL of the requested database (or `postgres`); no password, the cluster trusts loopback.
    pub fn url(&self) -> String {
        self.url_for(&self.database)
    }

    /// URL of the `postgres` maintenance database, for creating and dropping databases.
    pub fn maintenance_url(&self) -> String {
        self.url_for("postgres")
    }

    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.layout.data
    }

    pub fn log_file(&self) -> &Path {
        &self.layout.log
    }

    /// Shuts the server down (fast mode: open sessions are disconnected).
    pub async fn stop(&self) -> Result<(), EmbeddedError> {
        let _guard = control::lock(&self.layout).await?;
        control::stop(&self.tools, &self.layout).await
    }
}

/// Makes sure a cluster lives in `dir` and is running, creating and starting it as needed, and
/// that the requested database exists. Safe to call from several processes at once.
pub async fn ensure_local_cluster(
    dir: &Path,
    options: &ClusterOptions,
) -> Result<LocalCluster, EmbeddedError> {
    let bin_dir = binaries::find_bin_dir()
        .await
        .ok_or(EmbeddedError::BinariesNotFound)?;
    let tools = Tools {
        bin_dir,
        account: Account::detect().await?,
    };
    std::fs::create_dir_all(dir).map_err(|source| {
        EmbeddedError::io(format!("could not create {}", dir.display()), source)
    })?;
    let root = dir.canonicalize().map_err(|source| {
        EmbeddedError::io(format!("could not resolve {}", dir.display()), source)
    })?;
    let layout = Layout::new(&root);

    let guard = control::lock(&layout).await?;
    let port = match control::running_port(&tools, &layout).await? {
        Some(port) => {
            if port != options.port {
                tracing::info!(
                    port,
                    requested = options.port,
                    "reusing the running cluster's port"
                );
            }
            port
        }
        None => {
            control::ensure_port_free(options.port)?;
            let fresh = !layout.is_initialized();
            layout.create_dirs()?;
            tools
                .account
                .take_ownership(&[&layout.root, &layout.socket_dir], fresh)
                .await?;
            if fresh {
                control::initdb(&tools, &layout, options.fsync).await?;
            }
            control::start(
                &tools,
                &layout,
                options.port,
                options.fsync,
                options.start_timeout,
            )
            .await?;
            options.port
        }
    };
    let cluster = LocalCluster {
        tools,
        layout,
        port,
        database: options
            .database
            .clone()
            .unwrap_or_else(|| "postgres".to_owned()),
    };
    wait_until_ready(&cluster, options.start_timeout).await?;
    if let Some(name) = &options.database {
        create_database_if_missing(&cluster.maintenance_url(), name).await?;
    }
    drop(guard);

    tracing::info!(
        data_dir = %cluster.data_dir().display(),
        log = %cluster.log_file().display(),
        url = %cluster.url(),
        "embedded PostgreSQL is running"
    );
    Ok(cluster)
}

/// A database URL and, when it came from the embedded default, the cluster behind it.
#[derive(Debug, Clone)]
pub struct ResolvedDatabase {
    pub url: SecretString,
    pub local: Option<LocalCluster>,
}

/// What every binary does to find its database: `DATABASE_URL` when set (and not empty), else
/// the development cluster in `./.data/postgres` (see [`ClusterOptions::dev_from_env`]).
pub async fn database_url_from_env_or_local() -> Result<ResolvedDatabase, EmbeddedError> {
    if let Some(url) = env_var("DATABASE_URL")? {
        return Ok(ResolvedDatabase {
            url: url.into(),
            local: None,
        });
    }
    let options = ClusterOptions::dev_from_env()?;
    let cluster = ensure_local_cluster(Path::new(DEV_CLUSTER_DIR), &options).await?;
    Ok(ResolvedDatabase {
        url: cluster.url().into(),
        local: Some(cluster),
    })
}

/// Set and not blank; `VAR=` in a compose file or shell means "unset" to people.
fn env_var(name: &'static str) -> Result<Option<String>, EmbeddedError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(EmbeddedError::InvalidEnv {
            name,
            reason: "not valid UTF-8".to_owned(),
        }),
    }
}

/// `pg_ctl start -w` waits for the server itself, but a cluster started by another process may
/// still be coming up, so check from the client side too.
async fn wait_until_ready(cluster: &LocalCluster, timeout: Duration) -> Result<(), EmbeddedError> {
    let url = cluster.maintenance_url();
    let started = Instant::now();
    loop {
        let attempt =
            tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(&url));
        if let Ok(Ok(_connection)) = attempt.await {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(EmbeddedError::NotReady {
                port: cluster.port,
                waited: timeout,
                log: cluster.layout.log.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn create_database_if_missing(
    maintenance_url: &str,
    name: &str,
) -> Result<(), EmbeddedError> {
    let failed = |reason: String| EmbeddedError::CreateDatabase {
        name: name.to_owned(),
        reason,
    };
    let mut conn = AsyncPgConnection::establish(maintenance_url)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(&mut conn)
            .await
            .map_err(|e| failed(e.to_string()))?;
    if !found.exists {
        tracing::info!(database = name, "creating database");
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
            .execute(&mut conn)
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    Ok(())
}

/// Quotes an SQL identifier; `CREATE DATABASE` cannot take its name as a bind parameter.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("billing"), r#""billing""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }

    #[test]
    fn the_missing_binaries_error_is_one_line_that_says_what_to_install() {
        let message = EmbeddedError::BinariesNotFound.to_string();
        assert!(!message.contains('\n'));
        assert!(message.contains("apt-get install postgresql"));
        assert!(message.contains("DATABASE_URL"));
    }
}
