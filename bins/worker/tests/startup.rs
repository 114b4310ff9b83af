//! The binary refuses a configuration that cannot work, naming the variable to fix; on a
//! migrated database it serves its probes and, on SIGTERM, stops and exits 0.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::{
    net::TcpListener,
    process::Command,
    time::{Duration, Instant},
};

/// Runs the binary with exactly `vars` in its environment; returns (success, stderr).
fn run(vars: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .envs(vars.iter().copied())
        .env("LOG_FORMAT", "pretty")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn without_a_database_it_names_database_url() {
    let (ok, stderr) = run(&[]);
    assert!(!ok);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn a_bad_or_inconsistent_value_names_its_variable() {
    let db = ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none");
    for (name, value, named) in [
        ("WORKER_ADDR", "anywhere", "WORKER_ADDR"),
        ("DUNNING_INTERVAL_SECS", "-1", "DUNNING_INTERVAL_SECS"),
        ("DISPATCH_LEASE_SECS", "10", "DISPATCH_LEASE_SECS"),
        (
            "TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
            "TWILIO_AUTH_TOKEN",
        ),
        ("SMTP_HOST", "mail.example.com", "SMTP_FROM"),
        (
            "BILLING_DUNNING_SCHEDULE",
            "3:retry",
            "BILLING_DUNNING_SCHEDULE",
        ),
    ] {
        let (ok, stderr) = run(&[db, (name, value)]);
        assert!(!ok, "{name}={value}");
        assert!(stderr.contains(named), "{name}={value}: {stderr}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serves_its_probes_and_stops_on_sigterm_with_success() {
    let db = testkit::TestDb::new().await;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("worker-startup-{port}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_worker"))
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("WORKER_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "pretty")
        .env("INBOX_INTERVAL_SECS", "1")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status() == 200) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {output}");
    assert!(output.contains("worker running"), "{output}");
    assert!(output.contains("worker stopped"), "{output}");
    let _ = std::fs::remove_file(&log);
}
