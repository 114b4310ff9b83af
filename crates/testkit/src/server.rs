//! The PostgreSQL server tests run against, and the migrated template their databases are
//! cloned from. Both are set up once per process; every step is safe to run from many test
//! processes at once (nextest runs each test in a process of its own).

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use db::embedded::{ClusterOptions, ensure_local_cluster, quote_ident};
use diesel::{
    QueryableByName,
    sql_types::{Bool, Text},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Lowest port of the throwaway test cluster: not 5432 (a system server) nor 54320 (the dev
/// cluster). Each checkout adds its own offset; `TEST_EMBEDDED_PG_PORT` overrides the lot.
const TEST_CLUSTER_PORT: u16 = 54321;
/// Test databases older than this belong to runs that died before dropping them.
const STALE_AFTER: Duration = Duration::from_secs(60 * 60);
/// Serializes template creation across processes: "billing testkit template" in ASCII-ish hex.
const TEMPLATE_LOCK_KEY: i64 = 0x6269_6c6c_746b_7470;
pub(crate) const TEST_DB_PREFIX: &str = "test_";

#[derive(Debug)]
pub(crate) struct Server {
    /// A database to connect to for `CREATE`/`DROP DATABASE`; its URL is also the pattern for
    /// the URLs of the test databases.
    pub(crate) maintenance_url: String,
}

impl Server {
    pub(crate) fn url_for(&self, database: &str) -> String {
        crate::url::with_database(&self.maintenance_url, database)
            .unwrap_or_else(|| panic!("testkit: the database URL must be a postgres:// URL"))
    }
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TEMPLATE: OnceLock<Result<String, String>> = OnceLock::new();

pub(crate) async fn server() -> &'static Server {
    let server = once(&SERVER, || async { start_server().await }).await;
    server
        .as_ref()
        .unwrap_or_else(|message| panic!("testkit: no PostgreSQL for tests: {message}"))
}

/// The name of the migrated template database.
pub(crate) async fn template() -> &'static str {
    let server = server().await;
    let template = once(
        &TEMPLATE,
        move || async move { ensure_template(server).await },
    )
    .await;
    template.as_deref().unwrap_or_else(|message| {
        panic!("testkit: could not build the template database: {message}")
    })
}

/// Runs `init` once per process, on a runtime of its own: the first caller's runtime may be a
/// test's current-thread runtime (migrations need a multi-threaded one), and it ends with that
/// test while the result lives on.
async fn once<T, F, Fut>(
    cell: &'static OnceLock<Result<T, String>>,
    init: F,
) -> &'static Result<T, String>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let blocking = tokio::task::spawn_blocking(move || {
        cell.get_or_init(|| {
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(|e| format!("could not build a tokio runtime: {e}"))?
                    .block_on(init())
            })
            .join()
            .unwrap_or_else(|_| Err("the set-up thread panicked".to_owned()))
        })
    });
    blocking
        .await
        .unwrap_or_else(|e| panic!("testkit: set-up task failed: {e}"))
}

/// `TEST_DATABASE_URL`, else `DATABASE_URL`, else the throwaway cluster in
/// `<workspace>/target/test-postgres`. There is deliberately no way to skip: without PostgreSQL
/// database tests fail, in CI and locally alike.
async fn start_server() -> Result<Server, String> {
    for name in ["TEST_DATABASE_URL", "DATABASE_URL"] {
        if let Ok(url) = std::env::var(name)
            && !url.trim().is_empty()
        {
            return Ok(Server {
                maintenance_url: url,
            });
        }
    }
    let dir = workspace_root()?.join("target").join("test-postgres");
    let ports: Vec<u16> = match std::env::var("TEST_EMBEDDED_PG_PORT") {
        Ok(port) => vec![
            port.trim()
                .parse()
                .map_err(|_| format!("TEST_EMBEDDED_PG_PORT is not a port number: {port:?}"))?,
        ],
        // Each checkout gets its own port, so two checkouts (a developer's and CI's fresh clone)
        // never fight over one; a port taken by something else moves us to the next.
        Err(_) => {
            let base = TEST_CLUSTER_PORT + checkout_offset(&dir);
            (base..base + 16).collect()
        }
    };
    let mut last_error = String::from("no port to try");
    let mut started = None;
    for port in ports {
        let options = ClusterOptions {
            fsync: false,
            ..ClusterOptions::new(port)
        };
        match ensure_local_cluster(&dir, &options).await {
            Ok(cluster) => {
                started = Some(cluster);
                break;
            }
            Err(error @ db::embedded::EmbeddedError::PortInUse { .. }) => {
                last_error = error.to_string();
            }
            Err(error) => return Err(error.to_string()),
        }
    }
    let cluster = started.ok_or(last_error)?;
    Ok(Server {
        maintenance_url: cluster.maintenance_url(),
    })
}

fn workspace_root() -> Result<PathBuf, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| "no Cargo.lock above the testkit crate".to_owned())
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

pub(crate) async fn connect(url: &str) -> Result<AsyncPgConnection, String> {
    AsyncPgConnection::establish(url)
        .await
        .map_err(|e| format!("could not connect to {url}: {e}"))
}

pub(crate) async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> Result<(), String> {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .map(drop)
        .map_err(|e| format!("{sql}: {e}"))
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, String> {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .map(|found| found.exists)
        .map_err(|e| format!("could not look up database {name}: {e}"))
}

/// Named after the migrations' fingerprint, so a changed migration gets a new template rather
/// than tests running against a stale schema.
async fn ensure_template(server: &Server) -> Result<String, String> {
    let template = format!("billing_tpl_{}", db::migrations::FINGERPRINT);
    let mut conn = connect(&server.maintenance_url).await?;
    // The template is published by an atomic rename, so existing means complete.
    if !database_exists(&mut conn, &template).await? {
        execute(
            &mut conn,
            &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"),
        )
        .await?;
        let built = build_template_once(server, &mut conn, &template).await;
        let unlocked = execute(
            &mut conn,
            &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"),
        )
        .await;
        built.and(unlocked)?;
    }
    drop_stale_test_databases(&mut conn).await;
    Ok(template)
}

async fn build_template_once(
    server: &Server,
    conn: &mut AsyncPgConnection,
    template: &str,
) -> Result<(), String> {
    if database_exists(conn, template).await? {
        return Ok(());
    }
    let building = format!("{template}_building");
    execute(
        conn,
        &format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&building)
        ),
    )
    .await?;
    execute(conn, &format!("CREATE DATABASE {}", quote_ident(&building))).await?;

    let migrating = connect(&server.url_for(&building)).await?;
    db::migrations::run_pending(migrating)
        .await
        .map_err(|e| e.to_string())?;

    // The migration connection is closed by now; RENAME waits a few seconds for its backend
    // to exit. Refusing connections afterwards keeps CREATE DATABASE ... TEMPLATE working:
    // it fails while anyone is connected to the template.
    execute(
        conn,
        &format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(template)
        ),
    )
    .await?;
    execute(
        conn,
        &format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            quote_ident(template)
        ),
    )
    .await
}

/// Test databases are named `test_<uuid v7>`, so the name says when it was created. A plain
/// `DROP` (no `FORCE`) leaves alone any database that is somehow still in use.
async fn drop_stale_test_databases(conn: &mut AsyncPgConnection) {
    let Ok(names) = diesel::sql_query(
        "SELECT datname::text AS name FROM pg_database WHERE starts_with(datname, $1)",
    )
    .bind::<Text, _>(TEST_DB_PREFIX)
    .load::<Name>(conn)
    .await
    else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    for Name { name } in names {
        let created = name
            .strip_prefix(TEST_DB_PREFIX)
            .and_then(|id| uuid::Uuid::try_parse(id).ok())
            .and_then(|id| id.get_timestamp())
            .map(|ts| Duration::from_secs(ts.to_unix().0));
        if created.is_some_and(|created| now.saturating_sub(created) > STALE_AFTER) {
            let _ = execute(
                conn,
                &format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)),
            )
            .await;
        }
    }
}

/// A stable offset in 0..400 derived from the cluster directory (FNV-1a of its path).
fn checkout_offset(dir: &std::path::Path) -> u16 {
    let hash = dir
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    u16::try_from(hash % 400).unwrap_or(0)
}
