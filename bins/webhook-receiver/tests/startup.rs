//! The binary refuses to start on a configuration that cannot work, naming the variable to fix,
//! before it touches the network.

/// Runs the binary with exactly `vars` in its environment; returns (success, stderr).
fn run(vars: &[(&str, &str)]) -> (bool, String) {
    testkit::binary::run(env!("CARGO_BIN_EXE_webhook-receiver"), vars)
}

#[test]
fn without_a_database_it_names_database_url() {
    let (ok, stderr) = run(&[]);
    assert!(!ok);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn without_any_provider_it_says_which_variables_configure_one() {
    let (ok, stderr) = run(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none")]);
    assert!(!ok);
    assert!(stderr.contains("STRIPE_WEBHOOK_SECRETS"), "{stderr}");
}

/// Twilio's status callbacks alone are something to receive: it starts (liveness answers; the
/// database it cannot reach only makes it unready) and stops on SIGTERM.
#[tokio::test]
async fn twilio_callbacks_alone_are_something_to_receive() {
    let port = testkit::binary::free_port();
    let log = std::env::temp_dir().join(format!("receiver-twilio-only-{port}.log"));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_webhook-receiver"));
    command.env_clear().envs([
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:9/none".to_owned(),
        ),
        ("WEBHOOK_ADDR", format!("127.0.0.1:{port}")),
        (
            "TWILIO_ACCOUNT_SID",
            "AC00000000000000000000000000000000".to_owned(),
        ),
        ("TWILIO_AUTH_TOKEN", "parent-token".to_owned()),
        (
            "TWILIO_STATUS_CALLBACK_URL",
            "https://hooks.example.com/webhooks/twilio/messages".to_owned(),
        ),
    ]);
    let mut receiver = testkit::binary::Running::start(command, &log);
    receiver
        .wait_ready(
            &format!("http://127.0.0.1:{port}/healthz"),
            std::time::Duration::from_secs(30),
        )
        .await;
    let (status, log_text) = receiver.terminate();
    assert!(status.success(), "{log_text}");
    assert!(log_text.contains("\"twilio\":true"), "{log_text}");
}

#[test]
fn a_half_configured_provider_names_the_missing_variable() {
    let (ok, stderr) = run(&[
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none"),
        ("PAYPAL_CLIENT_ID", "client"),
        ("PAYPAL_CLIENT_SECRET", "secret"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("PAYPAL_WEBHOOK_IDS"), "{stderr}");
    let (ok, stderr) = run(&[
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none"),
        ("STRIPE_WEBHOOK_SECRETS", "whsec_x"),
        ("WEBHOOK_BODY_LIMIT_BYTES", "lots"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("WEBHOOK_BODY_LIMIT_BYTES"), "{stderr}");
}
