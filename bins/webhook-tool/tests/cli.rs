//! The command line as a developer uses it: what it lists, how it refuses mistakes, what it
//! posts (checked on a loopback server against the provider's algorithm) and its exit status
//! (0 accepted, 1 refused by the receiver, 2 anything else). Against the real services:
//! `tests/e2e/tests/webhook_tool.rs`.

use std::process::{Command, Output};

use devhooks::signing::stripe_signature;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec_cli_test_secret";

/// Runs the tool off the test's runtime (the loopback receiver answers on it meanwhile).
async fn tool_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tool(&args)
    })
    .await
    .unwrap_or_else(|e| panic!("webhook-tool: {e}"))
}

fn tool(args: &[&str]) -> Output {
    let dir = std::env::temp_dir();
    Command::new(env!("CARGO_BIN_EXE_webhook-tool"))
        .current_dir(dir)
        .env_clear()
        .env("STRIPE_WEBHOOK_SECRETS", SECRET)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("webhook-tool: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn list_names_every_providers_events() {
    let output = tool(&["list"]);
    assert!(output.status.success());
    let listed = text(&output.stdout);
    for expected in [
        "paypal",
        "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
        "invoice.payment_failed",
        "RECURRING_INSTALLMENT_SUCCESS",
        "delivery-status",
    ] {
        assert!(listed.contains(expected), "{expected} missing:\n{listed}");
    }
}

#[test]
fn mistakes_exit_with_2_and_say_what_to_do() {
    for (args, says) in [
        (
            &["trigger", "ebay", "payment-failed"][..],
            "unknown provider ebay",
        ),
        (
            &["trigger", "payhere", "refund", "--org", "o"][..],
            "payhere has no refund event",
        ),
        (
            &["trigger", "stripe", "refund", "--org", "o"][..],
            "pass --payment",
        ),
        (&["trigger", "stripe", "payment-failed"][..], "pass --org"),
        (&["frobnicate"][..], "unknown command"),
    ] {
        let output = tool(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let error = text(&output.stderr);
        assert!(error.contains(says), "{args:?}: {error}");
    }
}

#[tokio::test]
async fn a_trigger_posts_the_event_signed_as_stripe_signs_it_and_exits_by_the_answer() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhooks/stripe"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"inbox_id":"0196f1e2-0000-7000-8000-000000000001","duplicate":false,"status":"applied"}"#,
        ))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(r#"{"code":"WEBHOOK_BAD_SIGNATURE"}"#),
        )
        .mount(&receiver)
        .await;
    let args: Vec<String> = [
        "trigger",
        "stripe",
        "payment-failed",
        "--org",
        "0196f1e2-7a3b-7c4d-8e5f-112233445566",
        "--subscription",
        "sub_cli",
        "--target",
        &receiver.uri(),
    ]
    .map(str::to_owned)
    .to_vec();
    let accepted = tool_async(args.clone()).await;
    let printed = text(&accepted.stdout);
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{printed}{}",
        text(&accepted.stderr)
    );
    assert!(printed.contains("<- 200 {\"inbox_id\""), "{printed}");

    let requests = receiver.received_requests().await.unwrap_or_default();
    let request = &requests[0];
    assert_eq!(request.headers["content-type"], "application/json");
    let header = request.headers["stripe-signature"].to_str().unwrap();
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("{header}"));
    let t: i64 = t.parse().unwrap();
    assert_eq!(v1, stripe_signature(SECRET, t, &request.body));
    let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(event["type"], "invoice.payment_failed");
    assert!(
        printed.starts_with(&format!(
            "stripe invoice.payment_failed {}",
            event["id"].as_str().unwrap()
        )),
        "{printed}"
    );

    // The receiver refuses the next one: exit status 1, its answer shown.
    let refused = tool_async(args).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stdout).contains("<- 401"),
        "{}",
        text(&refused.stdout)
    );
}

#[test]
fn an_unreachable_receiver_exits_with_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap();
    let output = tool(&[
        "trigger",
        "stripe",
        "top-up-completed",
        "--org",
        "o",
        "--target",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(&format!("127.0.0.1:{port}")),
        "{}",
        text(&output.stderr)
    );
}
