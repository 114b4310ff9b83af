//! The request log: one JSON line per request, without credentials or bodies.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::{
    io,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Body, routing::post};
use http::{Request, header};
use http_body_util::BodyExt;
use httpkit::{
    ApiError, ApiJson, server,
    telemetry::{LogFormat, TelemetryConfig},
};
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn router() -> Router {
    let routes = Router::new()
        .route(
            "/things/{id}",
            post(|ApiJson(_): ApiJson<Value>| async { "ok" }),
        )
        .route(
            "/boom",
            post(|| async { ApiError::internal_from(&io::Error::other("disk on fire")) }),
        );
    server::finish(routes, 1024)
}

#[tokio::test]
async fn one_line_per_request_with_route_status_latency_and_id_but_no_secrets() {
    let captured = Captured::default();
    let config = TelemetryConfig {
        format: LogFormat::Json,
        filter: "info".to_owned(),
    };
    // The default (current-thread) test runtime keeps this thread-local subscriber in force.
    let _guard = tracing::subscriber::set_default(config.subscriber(captured.clone()).unwrap());

    let request = Request::post("/things/42")
        .header(header::AUTHORIZATION, "Bearer bsk_super_secret_token")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-1")
        .body(Body::from(r#"{"card":"4242-secret-body"}"#))
        .unwrap();
    let response = router().oneshot(request).await.unwrap();
    let _ = response.into_body().collect().await.unwrap();

    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["target"], "http");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/things/{id}");
    assert_eq!(line["status"], 200);
    assert_eq!(line["request_id"], "req-1");
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    let text = line.to_string();
    assert!(!text.contains("super_secret"), "{text}");
    assert!(!text.contains("secret-body"), "{text}");

    let request = Request::get("/missing").body(Body::empty()).unwrap();
    let _ = router().oneshot(request).await.unwrap();
    let lines = captured.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["route"], "<unmatched>");
    assert_eq!(lines[1]["status"], 404);
}

#[tokio::test]
async fn internal_errors_are_logged_server_side_with_the_request_id() {
    let captured = Captured::default();
    let config = TelemetryConfig::default();
    let _guard = tracing::subscriber::set_default(config.subscriber(captured.clone()).unwrap());

    let request = Request::post("/boom")
        .header("x-request-id", "req-boom")
        .body(Body::empty())
        .unwrap();
    let response = router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 500);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains("disk on fire"));

    let lines = captured.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["error"], "disk on fire");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["spans"][0]["request_id"], "req-boom");
    assert_eq!(lines[1]["status"], 500);
    assert_eq!(lines[1]["level"], "ERROR");
}
