//! The binary refuses to start on a configuration that cannot work, naming the variable to fix,
//! before it touches the network.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::process::Command;

/// Runs the binary with exactly `vars` in its environment; returns (success, stderr).
fn run(vars: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_webhook-receiver"))
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
fn without_any_provider_it_says_which_variables_configure_one() {
    let (ok, stderr) = run(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none")]);
    assert!(!ok);
    assert!(stderr.contains("STRIPE_WEBHOOK_SECRETS"), "{stderr}");
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
