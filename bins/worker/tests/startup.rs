//! The binary refuses a configuration that cannot work, naming the variable to fix; on a
//! migrated database it serves its probes and, on SIGTERM, stops and exits 0.

use std::{process::Command, time::Duration};

use testkit::binary::{Running, free_port};

const EXE: &str = env!("CARGO_BIN_EXE_worker");

fn run(vars: &[(&str, &str)]) -> (bool, String) {
    testkit::binary::run(EXE, vars)
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

/// The worker on `db` with `env` on top of the minimum, once its `/readyz` says ready; and the
/// base URL of its probe listener.
async fn start_ready(
    db: &testkit::TestDb,
    log_name: &str,
    env: &[(&str, &str)],
) -> (Running, String) {
    let port = free_port();
    let mut command = Command::new(EXE);
    command
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("WORKER_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "pretty")
        .envs(env.iter().copied());
    let log = std::env::temp_dir().join(format!("worker-{log_name}-{port}.log"));
    let mut worker = Running::start(command, &log);
    let base = format!("http://127.0.0.1:{port}");
    worker
        .wait_ready(&format!("{base}/readyz"), Duration::from_secs(30))
        .await;
    (worker, base)
}

#[tokio::test]
async fn serves_its_probes_and_stops_on_sigterm_with_success() {
    let db = testkit::TestDb::new().await;
    let (worker, base) = start_ready(&db, "startup", &[("INBOX_INTERVAL_SECS", "1")]).await;
    let client = reqwest::Client::new();
    for probe in ["/healthz", "/metrics"] {
        let response = client.get(format!("{base}{probe}")).send().await;
        assert!(response.is_ok_and(|r| r.status() == 200), "{probe}");
    }
    let (status, output) = worker.terminate();
    assert!(status.success(), "{status}: {output}");
    assert!(output.contains("worker running"), "{output}");
    assert!(output.contains("worker stopped"), "{output}");
}

#[tokio::test]
async fn its_probe_listener_refuses_oversized_requests_with_problems() {
    let db = testkit::TestDb::new().await;
    let (worker, base) = start_ready(&db, "limits", &[]).await;
    let client = reqwest::Client::new();
    let code = async |request: reqwest::RequestBuilder| {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(content_type, "application/problem+json", "{body}");
        (status, body["code"].as_str().unwrap().to_owned())
    };
    let healthz = format!("{base}/healthz");

    let padded = client
        .get(&healthz)
        .header("x-padding", "p".repeat(16 * 1024));
    assert_eq!(code(padded).await, (431, "HEADERS_TOO_LARGE".to_owned()));
    let mut crowded = client.get(&healthz);
    for n in 0..64 {
        crowded = crowded.header(format!("x-hop-{n}"), "1");
    }
    assert_eq!(code(crowded).await, (431, "TOO_MANY_HEADERS".to_owned()));
    let long_query = client.get(format!("{healthz}?pad={}", "q".repeat(4096)));
    assert_eq!(code(long_query).await, (414, "QUERY_TOO_LONG".to_owned()));
    // The probes take no body: one over the limit is refused unread, like any unknown method.
    // (Small enough to arrive whole before the answer, so the close cannot reset the answer.)
    let body = client.post(&healthz).body(vec![b'x'; 4 * 1024]);
    assert_eq!(code(body).await, (405, "METHOD_NOT_ALLOWED".to_owned()));
    let unknown = client.get(format!("{base}/nowhere"));
    assert_eq!(code(unknown).await, (404, "NOT_FOUND".to_owned()));
    // And it still serves its probes.
    let healthy = client.get(&healthz).send().await.unwrap();
    assert_eq!(healthy.status(), 200);

    let (status, output) = worker.terminate();
    assert!(status.success(), "{status}: {output}");
}
