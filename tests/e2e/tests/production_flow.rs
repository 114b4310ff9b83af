//! The production sequence across binaries: an api started on an unmigrated database is not
//! ready; `migrator up` makes it ready without a restart; money then moves over HTTP; SIGTERM
//! stops it cleanly.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use e2e::process::{binary, free_port};
use serde_json::{Value, json};
use testkit::TestDb;

const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdefghijklmnop";

struct Api {
    child: Child,
    base: String,
}

impl Api {
    fn start(database_url: &str) -> Self {
        let port = free_port();
        let child = Command::new(binary("api"))
            .env("DATABASE_URL", database_url)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("API_ADDR", format!("127.0.0.1:{port}"))
            .env("HOLD_EXPIRY_INTERVAL_SECS", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGTERM, then wait: graceful shutdown must end the process by itself, with success.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "api ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn wait_until_listening(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the api never started listening");
}

fn migrator(database_url: &str, command: &str) -> std::process::Output {
    Command::new(binary("migrator"))
        .arg(command)
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrator_then_api_then_money_then_sigterm() {
    let db = TestDb::empty().await;
    let url = db.url();
    let api = Api::start(&url);
    let client = reqwest::Client::new();
    wait_until_listening(&client, &api.base).await;

    let ready = client
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let problem: Value = ready.json().await.unwrap();
    assert_eq!(problem["code"], "MIGRATIONS_PENDING");

    let up = migrator(&url, "up");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = migrator(&url, "status");
    assert!(String::from_utf8_lossy(&status.stdout).contains("0 pending"));

    let ready = client
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "ready once migrated, without a restart"
    );

    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(ADMIN_TOKEN);
    let organization: Value = admin(client.post(format!("{}/v1/organizations", api.base)))
        .json(&json!({"name": "E2E Ltd", "currency": "EUR"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wallet = format!(
        "{}/v1/organizations/{}/wallet",
        api.base,
        organization["id"].as_str().expect("organization id")
    );
    let credit = admin(client.post(format!("{wallet}/credits")))
        .header("Idempotency-Key", "e2e-topup-1")
        .json(&json!({"amount": "25.00", "currency": "EUR", "counterparty": "topup:manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(credit.status(), 201);
    for expected in [201, 200] {
        let debit = admin(client.post(format!("{wallet}/debits")))
            .header("Idempotency-Key", "e2e-send-1")
            .json(&json!({"amount": "7.50", "currency": "EUR"}))
            .send()
            .await
            .unwrap();
        assert_eq!(debit.status(), expected, "first applies, the retry replays");
    }
    let balance: Value = admin(client.get(&wallet))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(balance["balance"], "17.50");
    let drifts: Value = admin(client.get(format!("{}/v1/admin/reconciliation", api.base)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(drifts["drifts"], json!([]));

    let status = api.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}
