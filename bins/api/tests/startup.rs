//! The binary refuses a configuration that cannot work, naming the variable to fix; with
//! `DATABASE_URL` set it serves the API and runs no background job (the worker does).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::{
    net::TcpListener,
    process::Command,
    time::{Duration, Instant},
};

fn run(vars: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
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
fn a_bad_value_names_its_variable() {
    let db = ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none");
    for (name, value) in [
        ("API_ADDR", "anywhere"),
        ("API_BODY_LIMIT_BYTES", "0"),
        ("DATABASE_POOL_SIZE", "many"),
        ("ADMIN_TOKEN", "short"),
        ("CAMPAIGN_HOLD_TTL_HOURS", "721"),
    ] {
        let (ok, stderr) = run(&[db, (name, value)]);
        assert!(!ok, "{name}={value}");
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
        assert!(
            !stderr.contains("short") || name != "ADMIN_TOKEN",
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn in_production_it_serves_and_runs_no_job() {
    let db = testkit::TestDb::new().await;
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::env::temp_dir().join(format!("api-startup-{port}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_TOKEN", "api-startup-admin-token-0123456789abcdef")
        .env("LOG_FORMAT", "pretty")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
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
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {output}");
    assert!(output.contains("api listening"), "{output}");
    assert!(!output.contains("background job started"), "{output}");
    let _ = std::fs::remove_file(&log);
}
