//! Runs real clusters from the installed PostgreSQL binaries, in throwaway directories under
//! `target/tmp`, each on a port of its own.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::{
    net::{Ipv4Addr, TcpListener},
    path::PathBuf,
};

use db::embedded::{ClusterOptions, EmbeddedError, LocalCluster, ensure_local_cluster};
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("embedded-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn options(port: u16) -> ClusterOptions {
    ClusterOptions {
        fsync: false,
        database: Some("app".to_owned()),
        ..ClusterOptions::new(port)
    }
}

/// Stops the cluster even when an assertion fails, so no stray server outlives the test.
struct StopOnDrop(LocalCluster);

impl Drop for StopOnDrop {
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
    }
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn query_text(url: &str, sql: &str) -> String {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let row: Setting = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    row.value
}

#[tokio::test]
async fn creates_starts_restarts_and_reuses_one_cluster() {
    let dir = scratch_dir("lifecycle");
    let port = free_port();

    // Two callers racing on a fresh directory: the lock makes one initdb, the other reuse it.
    let requested = options(port);
    let (first, second) = tokio::join!(
        ensure_local_cluster(&dir, &requested),
        ensure_local_cluster(&dir, &requested),
    );
    let cluster = StopOnDrop(first.unwrap());
    let second = second.unwrap();
    assert_eq!((cluster.0.port(), second.port()), (port, port));
    assert_eq!(
        cluster.0.url(),
        format!("postgres://postgres@127.0.0.1:{port}/app")
    );
    assert!(cluster.0.log_file().is_file());

    let url = cluster.0.url();
    assert_eq!(
        query_text(&url, "SELECT current_database()::text AS value").await,
        "app"
    );
    assert_eq!(
        query_text(&url, "SELECT current_setting('fsync') AS value").await,
        "off"
    );
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("CREATE TABLE survives_restart (id int)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);

    // A running cluster keeps its port whatever the caller asks for.
    let reused = ensure_local_cluster(&dir, &options(free_port()))
        .await
        .unwrap();
    assert_eq!(reused.port(), port);

    // After a stop, the next call starts the same data directory again.
    cluster.0.stop().await.unwrap();
    let restarted = StopOnDrop(ensure_local_cluster(&dir, &options(port)).await.unwrap());
    let found = query_text(
        &restarted.0.url(),
        "SELECT to_regclass('survives_restart')::text AS value",
    )
    .await;
    assert_eq!(found, "survives_restart");

    drop((restarted, cluster));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_port_taken_by_another_program_is_a_clear_error() {
    let dir = scratch_dir("port-taken");
    let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = squatter.local_addr().unwrap().port();

    let error = ensure_local_cluster(&dir, &options(port))
        .await
        .unwrap_err();

    assert!(
        matches!(error, EmbeddedError::PortInUse { port: p } if p == port),
        "{error}"
    );
    assert!(error.to_string().contains(&port.to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
}
