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
