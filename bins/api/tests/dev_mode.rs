//! The README's first command: `api` with `DATABASE_URL` unset is the whole system in one
//! process. It starts and migrates the embedded cluster, says it runs the api, the webhook routes
//! and the worker's jobs, receives a signed provider delivery and runs the jobs, then stops on
//! SIGTERM with success.

use std::{process::Command, time::Duration};

use db::embedded::{ClusterOptions, ensure_local_cluster};
use testkit::binary::{Running, free_port};

const STRIPE_SECRET: &str = "whsec_dev_mode_test_secret";

#[tokio::test]
async fn without_database_url_one_process_runs_the_whole_system() {
    let dir = std::env::temp_dir().join(format!("api-dev-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (api_port, pg_port) = (free_port(), free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("API_ADDR", format!("127.0.0.1:{api_port}"))
        .env("EMBEDDED_PG_PORT", pg_port.to_string())
        .env("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET)
        .env("LOG_FORMAT", "pretty")
        .env("INBOX_INTERVAL_SECS", "1");
    let mut api = Running::start(command, &dir.join("api.log"));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api_port}");
    // A first start creates the cluster (initdb) before it serves.
    api.wait_ready(&format!("{base}/readyz"), Duration::from_secs(180))
        .await;

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

    let (status, output) = api.terminate();
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
