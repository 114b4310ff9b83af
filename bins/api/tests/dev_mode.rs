//! The README's first command: `api` with `DATABASE_URL` unset is the whole system in one
//! process. It starts and migrates the embedded cluster, says it runs the api, the webhook routes
//! and the worker's jobs, receives a signed provider delivery and runs the jobs, then stops on
//! SIGTERM with success.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use db::embedded::{ClusterOptions, ensure_local_cluster};

const STRIPE_SECRET: &str = "whsec_dev_mode_test_secret";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn without_database_url_one_process_runs_the_whole_system() {
    let dir = std::env::temp_dir().join(format!("api-dev-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (api_port, pg_port) = (free_port(), free_port());
    let log = dir.join("api.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("API_ADDR", format!("127.0.0.1:{api_port}"))
        .env("EMBEDDED_PG_PORT", pg_port.to_string())
        .env("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
        .env("LOG_FORMAT", "pretty")
        .env("INBOX_INTERVAL_SECS", "1")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api_port}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status() == 200) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "{}", log_of(&log));
        assert!(Instant::now() < deadline, "not ready: {}", log_of(&log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The webhook routes are mounted: a signed delivery about nobody is stored as unmatched.
    let body = br#"{"id":"evt_devmode1","object":"event","api_version":"2025-03-31.basil","created":1760000000,"type":"invoice.paid","data":{"object":{"id":"in_devmode1","object":"invoice"}},"livemode":false}"#;
    let now = chrono::Utc::now().timestamp();
    let response = client
        .post(format!("{base}/webhooks/stripe"))
        .header(
            "Stripe-Signature",
            testkit::signing::stripe_signature_header(STRIPE_SECRET, now, body),
        )
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let output = log_of(&log);
    // The cluster outlives the process on purpose; this test's one goes away with it.
    let cluster = ensure_local_cluster(&dir.join(".data/postgres"), &ClusterOptions::new(pg_port))
        .await
        .unwrap();
    cluster.stop().await.unwrap();
    assert!(status.success(), "{status}: {output}");
    assert!(
        output.contains("this one process runs the api, the webhook routes and the worker's jobs"),
        "{output}"
    );
    for job in [
        "dunning",
        "notifications",
        "inbox",
        "hold_expiry",
        "campaigns_control",
    ] {
        assert!(
            output.contains(job),
            "the {job} job did not start: {output}"
        );
    }
    assert!(output.contains("admin token written to") || dir.join(".data/admin-token").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
