//! The local webhook tool (`webhook-tool`, docs/local-webhooks.md) against the real services:
//!
//! - the production stack (migrator, webhook-receiver, api, worker) configured with the same
//!   secrets accepts and applies what the tool triggers for Stripe and PayHere, answers a
//!   repeated event id as a duplicate, and serves no raw body to replay from;
//! - the README's quick start, as written, against the api's development mode with nothing
//!   configured: an organization, a subscription, a top-up and a running campaign; a payment
//!   failure pauses the campaign, a payment resumes it; a PayPal delivery signed by the
//!   development CA is accepted there, `replay` is answered as a duplicate, and the same PayPal
//!   delivery is refused by a production webhook-receiver (`WEBHOOK_CERT_CHAIN_INVALID`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use db::embedded::{ClusterOptions, ensure_local_cluster};
use e2e::{
    Stack, StackOptions, eventually,
    keys::{PAYHERE_MERCHANT_ID, PAYHERE_MERCHANT_SECRET, STRIPE_WEBHOOK_SECRET},
    poll::holds,
    process::{Process, free_port},
    stack::{ADMIN_TOKEN, text},
    tool,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::binary::Running;

/// The tool's environment for the stack: the receiver's own secrets.
fn stack_secrets() -> Vec<(&'static str, String)> {
    vec![
        ("STRIPE_WEBHOOK_SECRETS", STRIPE_WEBHOOK_SECRET.to_owned()),
        ("PAYHERE_MERCHANT_ID", PAYHERE_MERCHANT_ID.to_owned()),
        (
            "PAYHERE_MERCHANT_SECRET",
            PAYHERE_MERCHANT_SECRET.to_owned(),
        ),
    ]
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("e2e-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

#[tokio::test]
async fn the_production_receiver_accepts_and_applies_what_the_tool_triggers() {
    let stack = Stack::start(StackOptions::default()).await;
    let dir = scratch("tool");
    let env = stack_secrets();
    let target = stack.receiver_url.as_str();
    let trigger = async |args: &[&str]| {
        let mut all = vec!["trigger"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--target", target]);
        tool::run(&dir, &env, &all).await
    };
    // Stored and applied at once by the receiver.
    let applied = async |args: &[&str]| {
        let run = trigger(args).await;
        assert_eq!(run.stored()["status"], "applied", "{run:?}");
        run
    };

    // Stripe: a subscription activated, paid for, failed and restored; a top-up, a refund.
    let acme = stack.create_org("Acme", "USD").await;
    stack
        .create_subscription(&acme, "stripe", "sub_tool0001")
        .await;
    let sub = ["--org", acme.id.as_str(), "--subscription", "sub_tool0001"];
    applied(&[&["stripe", "subscription-activated"][..], &sub].concat()).await;
    assert_eq!(stack.subscription(&acme).await["status"], "active");

    let top_up = applied(&[
        "stripe",
        "top-up-completed",
        "--org",
        &acme.id,
        "--amount",
        "25.00",
    ])
    .await;
    assert_eq!(stack.wallet(&acme).await["balance"], "25.00");
    let payment_intent = top_up.printed("payment");

    applied(&[&["stripe", "payment-failed"][..], &sub].concat()).await;
    assert_eq!(stack.subscription(&acme).await["status"], "past_due");
    applied(&[&["stripe", "payment-succeeded"][..], &sub].concat()).await;
    assert_eq!(stack.subscription(&acme).await["status"], "active");

    let refund = applied(&[
        "stripe",
        "refund",
        "--org",
        &acme.id,
        "--payment",
        &payment_intent,
        "--amount",
        "5.00",
    ])
    .await;
    assert_eq!(stack.wallet(&acme).await["balance"], "20.00");

    // The same event id again: the receiver's duplicate answer, nothing applied twice.
    let id = top_up.event_id();
    let again = trigger(&[
        "stripe",
        "top-up-completed",
        "--org",
        &acme.id,
        "--amount",
        "25.00",
        "--payment",
        &payment_intent,
        "--id",
        &id,
    ])
    .await;
    assert_eq!(again.stored()["duplicate"], true, "{again:?}");
    assert_eq!(stack.wallet(&acme).await["balance"], "20.00");

    // PayHere: a checkout subscription bound by its signed order id, a top-up, a chargeback.
    let lanka = stack.create_org("Lanka", "USD").await;
    let order = format!("SUB-{}.local", lanka.id);
    stack.create_subscription(&lanka, "payhere", &order).await;
    applied(&[
        "payhere",
        "subscription-activated",
        "--org",
        &lanka.id,
        "--subscription",
        "420075032",
        "--amount",
        "15.00",
    ])
    .await;
    let subscription = stack.subscription(&lanka).await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(
        subscription["provider"]["subscription_id"], "420075032",
        "{subscription}"
    );
    let top_up_order = format!("TOPUP-{}.e2e0001", lanka.id);
    let top_up = applied(&[
        "payhere",
        "top-up-completed",
        "--order",
        &top_up_order,
        "--amount",
        "12.00",
        "--currency",
        "USD",
    ])
    .await;
    assert_eq!(stack.wallet(&lanka).await["balance"], "12.00");
    let charged_back = trigger(&[
        "payhere",
        "chargeback",
        "--order",
        &top_up_order,
        "--amount",
        "12.00",
        "--currency",
        "USD",
        "--payment",
        &top_up.printed("payment"),
    ])
    .await;
    assert_eq!(
        charged_back.stored()["status"],
        "applied",
        "{charged_back:?}"
    );
    let wallet = stack.wallet(&lanka).await;
    assert_eq!(
        (&wallet["balance"], &wallet["frozen"]),
        (&json!("0.00"), &json!(true)),
        "{wallet}"
    );

    // A refusal is exit status 1 with the receiver's problem: another secret signs nothing valid.
    let forged = tool::run(
        &dir,
        &[(
            "STRIPE_WEBHOOK_SECRETS",
            "whsec_not_the_receivers".to_owned(),
        )],
        &[
            &["trigger", "stripe", "payment-failed", "--target", target][..],
            &sub,
        ]
        .concat(),
    )
    .await;
    assert_eq!(forged.code, 1, "{forged:?}");
    let (status, problem) = forged.answer();
    assert_eq!(
        (status, &problem["code"]),
        (401, &json!("WEBHOOK_BAD_SIGNATURE")),
        "{forged:?}"
    );

    // Production serves no raw body: replay has nothing to send (exit status 2, saying why).
    let inbox_id = text(&refund.stored()["inbox_id"]);
    let replay = tool::run(
        &dir,
        &[("ADMIN_TOKEN", ADMIN_TOKEN.to_owned())],
        &[
            "replay",
            &inbox_id,
            "--target",
            target,
            "--api",
            &stack.api_url,
        ],
    )
    .await;
    assert_eq!(replay.code, 2, "{replay:?}");
    assert!(replay.stderr.contains("404"), "{replay:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The api in its development mode, in a directory of its own (its `.data`), on free ports.
/// Dropping it kills the api and stops its embedded cluster.
struct DevApi {
    dir: PathBuf,
    pg_port: u16,
    url: String,
    token: String,
    client: reqwest::Client,
    process: Option<Running>,
}

impl DevApi {
    async fn start(dir: &Path) -> Self {
        let (api_port, pg_port) = (free_port(), free_port());
        let mut command = Command::new(e2e::process::binary("api"));
        // Nothing configured but where to listen: the README's `cargo run -p api`.
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("API_ADDR", format!("127.0.0.1:{api_port}"))
            .env("EMBEDDED_PG_PORT", pg_port.to_string())
            .env("LOG_FORMAT", "pretty");
        let mut process = Running::start(command, &dir.join("api.log"));
        let url = format!("http://127.0.0.1:{api_port}");
        // A first start creates the cluster (initdb) before it serves.
        process
            .wait_ready(&format!("{url}/readyz"), Duration::from_secs(180))
            .await;
        let token = std::fs::read_to_string(dir.join(".data/admin-token"))
            .unwrap_or_else(|e| panic!("admin token: {e}"))
            .trim()
            .to_owned();
        Self {
            dir: dir.to_owned(),
            pg_port,
            url,
            token,
            client: reqwest::Client::new(),
            process: Some(process),
        }
    }

    /// The embedded cluster's database, as the api uses it.
    fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/billing", self.pg_port)
    }

    /// A call with `token` that must succeed; its JSON body.
    async fn ok(&self, method: Method, path: &str, token: &str) -> Value {
        let response = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

impl Drop for DevApi {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            if std::thread::panicking() {
                eprintln!("----- development api log -----\n{}", process.log());
            }
            drop(process);
        }
        // The cluster outlives the api on purpose; this test's one goes away with the test.
        let (data, port) = (self.dir.join(".data/postgres"), self.pg_port);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(cluster) =
                        ensure_local_cluster(&data, &ClusterOptions::new(port)).await
                    {
                        let _ = cluster.stop().await;
                    }
                });
            }
        })
        .join();
    }
}

/// The shell block of the README's quick start, pointed at `api` and the built tool.
struct QuickStart {
    script: String,
    /// What the README says each `show` prints, in order.
    expected: Vec<String>,
}

impl QuickStart {
    fn from_readme(api: &DevApi) -> Self {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap_or_else(|e| panic!("README.md: {e}"));
        let find = |text: &str, what: &str| {
            text.find(what)
                .unwrap_or_else(|| panic!("the README's quick start has no {what:?}"))
        };
        let section = &readme[find(&readme, "### Quick start")..];
        let start = find(section, "```sh\n") + "```sh\n".len();
        let block = &section[start..start + find(&section[start..], "```")];
        let mut script = block.to_owned();
        let tool = e2e::process::binary("webhook-tool");
        let address = api.url.trim_start_matches("http://");
        for (written, here) in [
            ("cargo build --release -p webhook-tool\n", String::new()),
            (
                "hook() { target/release/webhook-tool \"$@\"; }",
                format!(
                    "hook() {{ {} \"$@\" --target {}; }}",
                    tool.display(),
                    api.url
                ),
            ),
            ("API=localhost:8080", format!("API={address}")),
        ] {
            assert_eq!(
                script.matches(written).count(),
                1,
                "the quick start no longer has {written:?}"
            );
            script = script.replace(written, &here);
        }
        script.push_str("echo \"quick-start-org $ORG\"\necho \"quick-start-key $KEY\"\n");
        let expected = block
            .lines()
            .filter(|line| line.starts_with("show") || line.starts_with("watch_for"))
            .filter_map(|line| {
                line.split_once("# ")
                    .map(|(_, shown)| shown.trim().to_owned())
            })
            .collect();
        Self { script, expected }
    }

    /// Runs it with bash in `dir` (where the api runs), nothing exported but `PATH`.
    async fn run(&self, dir: &Path) -> tool::ToolRun {
        let mut command = Command::new("bash");
        command
            .args(["-e", "-u", "-o", "pipefail", "-c", &self.script])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap_or_else(|e| panic!("bash: {e}"))
            .unwrap_or_else(|e| panic!("bash: {e}"));
        let ran = tool::ToolRun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert_eq!(ran.code, 0, "the quick start failed:\n{ran:?}");
        ran
    }
}

#[tokio::test]
async fn the_readme_quick_start_works_in_development_mode_and_its_paypal_ca_is_refused_in_production()
 {
    let dir = scratch("quick-start");
    let api = DevApi::start(&dir).await;
    // The README's quick start, its commands as written (only the address and the built tool
    // substituted), its claimed outputs checked.
    let quick_start = QuickStart::from_readme(&api);
    let ran = quick_start.run(&dir).await;
    let shown: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|line| line.starts_with("\"status\":"))
        .collect();
    assert_eq!(shown, quick_start.expected, "{ran:?}");
    let org = ran.printed("quick-start-org");
    let key = ran.printed("quick-start-key");
    the_console_shows_the_quick_start(&api, &key).await;

    // `replay`: the last stored delivery (the payment) signed again and sent again, answered as
    // a duplicate.
    let (status, paid) = ran.answer_at(ran.stdout.matches("<- ").count() - 1);
    assert_eq!(status, 200, "{ran:?}");
    let inbox_id = text(&paid["inbox_id"]);
    let replayed = tool::run(&dir, &[], &["replay", &inbox_id, "--target", &api.url]).await;
    let answer = replayed.stored();
    assert_eq!(
        (&answer["inbox_id"], &answer["duplicate"]),
        (&json!(inbox_id), &json!(true)),
        "{replayed:?}"
    );

    // PayPal, signed by the development CA (made on first use): accepted here. The tool runs
    // where the api runs, with nothing exported.
    let paypal_top_up = |target: &str| {
        [
            "trigger",
            "paypal",
            "top-up-completed",
            "--org",
            &org,
            "--amount",
            "7.50",
            "--target",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([target.to_owned()])
        .collect::<Vec<String>>()
    };
    let args = paypal_top_up(&api.url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let accepted = tool::run(&dir, &[], &args).await;
    assert_eq!(accepted.stored()["status"], "applied", "{accepted:?}");
    let wallet = api
        .ok(
            Method::GET,
            &format!("/v1/organizations/{org}/wallet"),
            &key,
        )
        .await;
    assert_eq!(wallet["balance"], "57.50", "{wallet}");

    // A production webhook-receiver with the same webhook id, even holding the development
    // certificate, trusts PayPal's roots only: refused, nothing stored.
    let receiver_port = free_port();
    let receiver_env: Vec<(String, String)> = [
        ("DATABASE_URL", api.database_url()),
        ("WEBHOOK_ADDR", format!("127.0.0.1:{receiver_port}")),
        (
            "PAYPAL_WEBHOOK_IDS",
            devhooks::dev::PAYPAL_WEBHOOK_ID.to_owned(),
        ),
        (
            "PAYPAL_CERT_DIR",
            path(&devhooks::dev::cert_dir(&dir.join(".data"))),
        ),
        ("LOG_FORMAT", "pretty".to_owned()),
    ]
    .map(|(name, value)| (name.to_owned(), value))
    .to_vec();
    let mut receiver = Process::spawn("webhook-receiver", &receiver_env, &dir.join("receiver.log"));
    let receiver_url = format!("http://127.0.0.1:{receiver_port}");
    eventually(
        "the webhook-receiver ready",
        Duration::from_secs(60),
        async || {
            let ready = reqwest::get(format!("{receiver_url}/readyz")).await;
            let status = ready.as_ref().map(|response| response.status());
            holds(
                status.is_ok_and(|status| status == StatusCode::OK) && receiver.exited().is_none(),
                (status.ok(), receiver.exited()),
            )
        },
    )
    .await;
    let args = paypal_top_up(&receiver_url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = tool::run(&dir, &[], &args).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    let (status, problem) = refused.answer();
    assert_eq!(
        (status, &problem["code"]),
        (401, &json!("WEBHOOK_CERT_CHAIN_INVALID")),
        "{refused:?}"
    );
    let paypal_deliveries = api
        .ok(
            Method::GET,
            "/v1/admin/webhook-events?provider=paypal",
            &api.token,
        )
        .await;
    assert_eq!(
        paypal_deliveries["events"].as_array().map(Vec::len),
        Some(1),
        "{paypal_deliveries}"
    );
    drop(receiver);
    drop(api);
    let _ = std::fs::remove_dir_all(&dir);
}

fn path(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
        .to_owned()
}

/// The README's quick start ends in the console: what it made is there, in a browser. These
/// screenshots (development mode, populated by the quick start) are docs/console.md's.
async fn the_console_shows_the_quick_start(api: &DevApi, key: &str) {
    use e2e::browser::{Browser, Screen};
    let browser = Browser::with_screen(
        &api.url,
        Screen {
            width: 1280,
            height: 1100,
            phone: false,
        },
    )
    .await;
    browser.goto("/console").await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser.fill("#api_key", key).await;
    browser.submit("#sign-in-form").await;
    let balance = browser.text("#wallet-balance").await;
    assert!(balance.contains("50.00"), "{balance}");
    browser.screenshot("quick-start-wallet").await;
    browser.goto("/console/campaigns").await;
    browser.click("a[href^='/console/campaigns/']").await;
    browser.find("#start-campaign").await;
    assert!(browser.text("main").await.contains("Spring sale"));
    browser.screenshot("quick-start-send-dialog").await;
    browser.goto("/console/subscription").await;
    let status = browser.text("#subscription-status").await;
    assert!(status.contains("active"), "{status}");
    browser.screenshot("quick-start-subscription").await;
    browser.click("#sign-out").await;

    browser.goto("/console/operator/sign-in").await;
    browser.fill("#operator", "Quick Start").await;
    browser.fill("#admin_token", &api.token).await;
    browser.submit("#sign-in-form").await;
    browser.find("#health-negative-balances").await;
    browser.screenshot("quick-start-operator-health").await;
    browser.goto("/console/operator/inbox?status=applied").await;
    browser.screenshot("quick-start-operator-inbox").await;
    browser.close().await;
}
