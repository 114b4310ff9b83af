//! The binary refuses a configuration that cannot work, naming the variable to fix; with
//! `DATABASE_URL` set it serves the API and runs no background job (the worker does).

use std::{process::Command, time::Duration};

use testkit::binary::{Running, free_port};

const EXE: &str = env!("CARGO_BIN_EXE_api");

#[test]
fn a_bad_value_names_its_variable_without_echoing_it() {
    let db = ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none");
    for (name, value) in [
        ("API_ADDR", "anywhere"),
        ("API_BODY_LIMIT_BYTES", "0"),
        ("DATABASE_POOL_SIZE", "many"),
        ("ADMIN_TOKEN", "short-secret"),
        ("CAMPAIGN_HOLD_TTL_HOURS", "721"),
    ] {
        let (ok, stderr) = testkit::binary::run(EXE, &[db, (name, value)]);
        assert!(!ok, "{name}={value}");
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
        assert!(!stderr.contains("short-secret"), "{stderr}");
    }
}

#[tokio::test]
async fn in_production_it_serves_and_runs_no_job() {
    let db = testkit::TestDb::new().await;
    let port = free_port();
    let mut command = Command::new(EXE);
    command
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_TOKEN", "api-startup-admin-token-0123456789abcdef")
        .env("LOG_FORMAT", "pretty");
    let log = std::env::temp_dir().join(format!("api-startup-{port}.log"));
    let mut api = Running::start(command, &log);
    api.wait_ready(
        &format!("http://127.0.0.1:{port}/readyz"),
        Duration::from_secs(30),
    )
    .await;
    let (status, output) = api.terminate();
    assert!(status.success(), "{status}: {output}");
    assert!(output.contains("api listening"), "{output}");
    assert!(!output.contains("background job started"), "{output}");
}
