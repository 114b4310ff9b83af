//! Probes, metrics and the served OpenAPI document.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use app::config::{AdminTokenSource, Config};
use common::{TestApp, assert_problem};
use db::{DatabaseSettings, DatabaseSource};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use testkit::TestDb;

#[tokio::test]
async fn healthz_and_readyz_are_ok_on_a_migrated_database() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

// Migrating needs the multi-threaded runtime: diesel's migration harness blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_pending_migrations_when_the_migrator_has_not_run() {
    let app = TestApp::spawn_on(TestDb::empty().await).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "alive, just not ready");
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_problem(response, 503, "MIGRATIONS_PENDING").await;

    db::migrations::run_pending(app.conn().await).await.unwrap();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable() {
    // Nothing listens on port 1; the URL carries a password that must not leak.
    let mut database = DatabaseSettings::new(DatabaseSource::Url(SecretString::from(
        "postgres://billing:hunter2@127.0.0.1:1/billing".to_owned(),
    )));
    database.pool_size = 1;
    let config = Config::new(
        database,
        AdminTokenSource::Given(SecretString::from(common::ADMIN_TOKEN.to_owned())),
    );
    let app = app::Application::build(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = client.get(format!("{base}/readyz")).send().await.unwrap();
    let problem = assert_problem(response, 503, "SERVICE_UNAVAILABLE").await;
    assert!(!problem.to_string().contains("hunter2"));
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn served_openapi_document_is_the_generated_one() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().await.unwrap();
    let generated = serde_json::to_value(app::openapi()).unwrap();
    assert_eq!(served, generated);
    for path in [
        "/healthz",
        "/readyz",
        "/v1/organizations",
        "/v1/organizations/{organization_id}",
        "/v1/organizations/{organization_id}/api-keys",
        "/v1/organizations/{organization_id}/api-keys/{key_id}",
        "/metrics",
        "/v1/subscription",
        "/v1/entitlements/{feature}",
        "/v1/admin/organizations/{organization_id}/subscription/manual-payment",
    ] {
        assert!(
            served["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
}

#[tokio::test]
async fn metrics_are_served_to_anyone_in_the_prometheus_text_format() {
    // Two applications in one process share the one global recorder: building the second
    // must not fail, and both serve what the process records.
    let app = TestApp::spawn().await;
    let second = TestApp::spawn().await;
    metrics::counter!("api_health_test_probe_total").increment(3);
    for app in [&app, &second] {
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.unwrap();
        assert!(text.contains("api_health_test_probe_total 3"), "{text}");
    }
}
