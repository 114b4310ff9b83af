//! A `DATABASE_URL` naming several hosts with `target_session_attrs=read-write`, as after a
//! failover: the pool connects to the node that accepts writes, whichever is listed first and
//! whether the others are down or read-only; and a pooled connection to a node that turned
//! read-only under it (a primary demoted to a standby) is replaced, not handed out again.
//!
//! Two private clusters from the installed PostgreSQL binaries stand for the two nodes; a node
//! is made read-only the way a standby answers writes, with `default_transaction_read_only`
//! (SQLSTATE 25006 either way), set with `ALTER SYSTEM` and a reload so that sessions already
//! open see it too.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::{
    net::{Ipv4Addr, TcpListener},
    path::PathBuf,
    time::{Duration, Instant},
};

use db::{
    DbConfig, DbPool,
    embedded::{ClusterOptions, LocalCluster, ensure_local_cluster},
};
use diesel::{QueryableByName, sql_types::Integer, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::SecretString;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("multi-host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// Stops the cluster even when an assertion fails, so no stray server outlives the test.
struct Node(LocalCluster);

impl Drop for Node {
    fn drop(&mut self) {
        let cluster = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(cluster.stop())
        })
        .join();
        let _ = std::fs::remove_dir_all(self.0.data_dir().parent().unwrap());
    }
}

impl Node {
    async fn start(name: &str) -> Self {
        let options = ClusterOptions {
            fsync: false,
            database: Some("app".to_owned()),
            ..ClusterOptions::new(free_port())
        };
        let node = Self(
            ensure_local_cluster(&scratch_dir(name), &options)
                .await
                .unwrap(),
        );
        node.sql("CREATE TABLE movements (id int)").await;
        node
    }

    fn port(&self) -> u16 {
        self.0.port()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    async fn sql(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.0.url()).await.unwrap();
        conn.batch_execute(sql).await.unwrap();
    }

    /// Refuses writes from now on, in sessions already open too (as a demoted primary does).
    async fn turn_read_only(&self) {
        self.sql("ALTER SYSTEM SET default_transaction_read_only = on")
            .await;
        self.sql("SELECT pg_reload_conf()").await;
        // The reload is asynchronous: wait until a new session sees it.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let mut conn = AsyncPgConnection::establish(&self.0.url()).await.unwrap();
            let shown: Shown = diesel::sql_query("SHOW transaction_read_only")
                .get_result(&mut conn)
                .await
                .unwrap();
            if shown.transaction_read_only == "on" {
                return;
            }
            assert!(Instant::now() < until, "the reload was not seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[derive(QueryableByName)]
struct Shown {
    #[diesel(sql_type = Text)]
    transaction_read_only: String,
}

#[derive(QueryableByName)]
struct Port {
    #[diesel(sql_type = Integer)]
    port: i32,
}

fn url(hosts: &[String], read_write: bool) -> String {
    let attrs = if read_write {
        "?target_session_attrs=read-write"
    } else {
        ""
    };
    format!("postgres://postgres@{}/app{attrs}", hosts.join(","))
}

fn pool(url: &str, size: usize) -> DbPool {
    let mut config = DbConfig::new(SecretString::from(url.to_owned()), "multi-host-test");
    config.max_connections = size;
    db::connect_pool(&config).unwrap()
}

/// The port of the server behind `conn`.
async fn server_port(conn: &mut AsyncPgConnection) -> u16 {
    let row: Port = diesel::sql_query("SELECT inet_server_port() AS port")
        .get_result(conn)
        .await
        .unwrap();
    u16::try_from(row.port).unwrap()
}

async fn write(conn: &mut AsyncPgConnection) -> Result<usize, diesel::result::Error> {
    diesel::sql_query("INSERT INTO movements VALUES (1)")
        .execute(conn)
        .await
}

#[tokio::test]
async fn a_multi_host_url_reaches_the_writable_node_whatever_comes_first() {
    let (standby, primary) = tokio::join!(Node::start("standby"), Node::start("primary"));
    standby.turn_read_only().await;
    let down = format!("127.0.0.1:{}", free_port());

    // The read-only node first, then the writable one.
    let first_read_only = pool(&url(&[standby.host(), primary.host()], true), 2);
    let mut conn = first_read_only.get().await.unwrap();
    assert_eq!(server_port(&mut conn).await, primary.port());
    assert_eq!(write(&mut conn).await.unwrap(), 1);

    // A host that refuses connections first.
    let first_down = pool(&url(&[down.clone(), primary.host()], true), 2);
    let mut conn = first_down.get().await.unwrap();
    assert_eq!(server_port(&mut conn).await, primary.port());
    assert_eq!(write(&mut conn).await.unwrap(), 1);

    // Every node either down or read-only: no connection at all, rather than a read-only one.
    let none = pool(&url(&[down, standby.host()], true), 2);
    assert!(none.get().await.is_err());

    // Without `target_session_attrs` the first node that answers is taken, read-only or not:
    // that is why every binary's URL needs it.
    let any = pool(&url(&[standby.host(), primary.host()], false), 2);
    let mut conn = any.get().await.unwrap();
    assert_eq!(server_port(&mut conn).await, standby.port());
    let refused = write(&mut conn).await.unwrap_err();
    assert!(db::connection_lost(&refused), "{refused:?}");
}

#[tokio::test]
async fn a_pooled_connection_to_a_node_that_turned_read_only_is_replaced() {
    let (old, new) = tokio::join!(Node::start("old"), Node::start("new"));
    // Both writable: the pool's connections all go to the first.
    let pool = pool(&url(&[old.host(), new.host()], true), 2);
    {
        let (mut a, mut b) = tokio::join!(pool.get(), pool.get());
        let (a, b) = (a.as_mut().unwrap(), b.as_mut().unwrap());
        assert_eq!(server_port(a).await, old.port());
        assert_eq!(server_port(b).await, old.port());
    }
    assert_eq!(pool.status().size, 2);

    // The first node is demoted under the open connections.
    old.turn_read_only().await;
    {
        let mut conn = pool.get().await.unwrap();
        assert_eq!(server_port(&mut conn).await, old.port(), "not replaced yet");
        let refused = write(&mut conn).await.unwrap_err();
        // A retryable failure (503), not an internal one: nothing was written.
        assert!(db::connection_lost(&refused), "{refused:?}");
        assert_eq!(
            db::error_class(&refused),
            primitives::ErrorClass::Unavailable
        );
    }

    // Both connections opened before the refusal are dropped; new ones find the writable node.
    let (mut a, mut b) = tokio::join!(pool.get(), pool.get());
    for conn in [a.as_mut().unwrap(), b.as_mut().unwrap()] {
        assert_eq!(server_port(conn).await, new.port());
        assert_eq!(write(conn).await.unwrap(), 1);
    }
}
