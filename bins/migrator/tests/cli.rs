//! Runs the built `migrator` binary the way an operator would.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::{
    net::{Ipv4Addr, TcpListener},
    path::PathBuf,
    process::{Command, Output},
};

use db::embedded::{ClusterOptions, ensure_local_cluster};
use testkit::TestDb;

fn migrator(args: &[&str], configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migrator"));
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("EMBEDDED_PG_PORT");
    configure(&mut command);
    command.output().unwrap()
}

/// The migration directories in the repository, oldest first: what `up` must apply.
fn migration_names() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    names
}

/// `2026-11-22-000001_wallet_ledger` -> `20261122000001`, as diesel reports versions.
fn version(name: &str) -> String {
    name.split('_')
        .next()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// What `up` prints on a fresh database.
fn applied_all() -> String {
    migration_names()
        .iter()
        .map(|name| format!("applied {}\n", version(name)))
        .collect()
}

fn against(url: &str, args: &[&str]) -> (bool, String, String) {
    let output = migrator(args, |command| {
        command.env("DATABASE_URL", url);
    });
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn status_up_up_status_on_a_fresh_database() {
    let db = TestDb::empty().await;
    let url = db.url();

    let (ok, out, err) = against(&url, &["status"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("pending 2026-11-22-000001_wallet_ledger"),
        "{out}"
    );
    let names = migration_names();
    let total = names.len();
    for name in &names {
        assert!(out.contains(&format!("pending {name}")), "{out}");
    }
    assert!(
        out.contains(&format!("0 applied, {total} pending")),
        "{out}"
    );

    let (ok, out, err) = against(&url, &["up"]);
    assert!(ok, "{err}");
    assert_eq!(out, applied_all());

    let (ok, out, err) = against(&url, &["up"]);
    assert!(ok, "{err}");
    assert_eq!(out, "database is up to date\n");

    let (ok, out, err) = against(&url, &["status"]);
    assert!(ok, "{err}");
    for name in &names {
        assert!(out.contains(&format!("applied {}", version(name))), "{out}");
    }
    assert!(
        out.contains(&format!("{total} applied, 0 pending")),
        "{out}"
    );
}

#[test]
fn an_unreachable_or_malformed_database_url_fails_with_one_line() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    for url in ["postgres://postgres@127.0.0.1:1/nope", "not a url"] {
        for command in ["up", "status"] {
            let (ok, out, err) = against(url, &[command]);
            assert!(!ok, "{command} against {url} succeeded");
            assert_eq!(out, "");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("migrator: "), "{err}");
        }
    }
}

#[test]
fn usage_errors_and_help() {
    let help = migrator(&["--help"], |_| {});
    assert!(help.status.success());
    assert!(
        String::from_utf8(help.stdout)
            .unwrap()
            .contains("Usage: migrator")
    );

    let unknown = migrator(&["sideways"], |_| {});
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(unknown.stderr).unwrap().lines().count(),
        1
    );
}

/// Without DATABASE_URL the migrator runs the development cluster in ./.data/postgres, like the
/// servers do. Run in a scratch directory on a free port, then stopped.
#[tokio::test]
async fn without_database_url_it_migrates_the_local_dev_cluster() {
    let workdir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("migrator-dev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&workdir);
    std::fs::create_dir_all(&workdir).unwrap();
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let run = |args: &'static [&'static str]| {
        let workdir = workdir.clone();
        migrator(args, move |command| {
            command
                .current_dir(workdir)
                .env_remove("DATABASE_URL")
                .env("EMBEDDED_PG_PORT", port.to_string());
        })
    };
    let first = run(&["up"]);
    let second = run(&["up"]);

    // Stop the cluster before asserting, so a failure leaves no server behind.
    let options = ClusterOptions {
        database: Some(db::embedded::DEV_DATABASE.to_owned()),
        ..ClusterOptions::new(port)
    };
    let dev_dir = workdir.join(db::embedded::DEV_CLUSTER_DIR);
    let cluster = ensure_local_cluster(&dev_dir, &options).await.unwrap();
    cluster.stop().await.unwrap();

    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&first.stdout), applied_all());
    assert!(
        stderr.contains("embedded PostgreSQL is running"),
        "{stderr}"
    );
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "database is up to date\n"
    );
    assert_eq!(cluster.port(), port);
    std::fs::remove_dir_all(&workdir).unwrap();
}
