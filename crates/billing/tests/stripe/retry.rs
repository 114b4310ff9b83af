//! The retry policy as Stripe calls see it: 4xx never retried, 5xx and lost connections on
//! keyed writes retried with the same `Idempotency-Key`, 429 retried after `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use billing::http::RetryPolicy;
use billing::stripe::StripeProvider;
use billing::{BillingProvider, ProviderError};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{FAST, clock_at, config, header, provider_at};

const NOW: i64 = 1_750_000_000;

fn subscription() -> serde_json::Value {
    json!({"id": "sub_1", "object": "subscription", "status": "active", "pause_collection": null})
}

fn keys(requests: &[wiremock::Request]) -> Vec<Option<String>> {
    requests
        .iter()
        .map(|request| header(request, "idempotency-key").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    let (provider, _) = provider_at(&server.uri(), NOW);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"type": "invalid_request_error", "code": "parameter_invalid_empty", "message": "bad"}
        })))
        .mount(&server)
        .await;
    let error = provider.pause("sub_1", "r", "pause-400").await.unwrap_err();
    assert!(
        matches!(&error, ProviderError::Api { status: 400, code, .. } if code == "parameter_invalid_empty")
    );
    assert!(!error.is_transient());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_503_then_200_succeeds_with_the_same_idempotency_key() {
    let server = MockServer::start().await;
    let (provider, _) = provider_at(&server.uri(), NOW);
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription()))
        .mount(&server)
        .await;
    provider.pause("sub_1", "r", "pause-503").await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        keys(&requests),
        vec![Some("pause-503".to_owned()), Some("pause-503".to_owned())]
    );
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn a_5xx_that_persists_stops_after_the_policys_attempts() {
    let server = MockServer::start().await;
    let (provider, _) = provider_at(&server.uri(), NOW);
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let error = provider
        .cancel("sub_1", "", "cancel-500")
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Api { status: 500, .. }));
    assert!(error.is_transient());
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), FAST.max_attempts as usize);
    assert!(
        keys(&requests)
            .iter()
            .all(|key| key.as_deref() == Some("cancel-500"))
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    let mut config = config(&server.uri());
    // A short base delay, and a cap above Retry-After so the header decides the wait.
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(5),
    };
    let provider = StripeProvider::new(config, Arc::new(clock_at(NOW))).unwrap();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscription()))
        .mount(&server)
        .await;
    let started = Instant::now();
    provider.subscription("sub_1").await.unwrap();
    // A lower bound only: the client slept at least what Stripe asked for.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// A one-request-at-a-time HTTP server on loopback: answers `200` with `body` and records each
/// request's `Idempotency-Key`, or, while `drop_first` is left, closes the connection without
/// answering.
async fn raw_server(
    listener: tokio::net::TcpListener,
    mut drop_first: usize,
    body: String,
    seen: Arc<Mutex<Vec<Option<String>>>>,
) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        // Read the head, then as many body bytes as it announces.
        let head_end = loop {
            let read = socket.read(&mut buffer).await.unwrap();
            if read == 0 {
                break None;
            }
            request.extend_from_slice(&buffer[..read]);
            if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break Some(at + 4);
            }
        };
        let Some(head_end) = head_end else { continue };
        let head = String::from_utf8_lossy(&request[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map_or(0, |value| value.trim().parse().unwrap());
        while request.len() < head_end + length {
            let read = socket.read(&mut buffer).await.unwrap();
            if read == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..read]);
        }
        let key = head
            .lines()
            .find_map(|line| line.strip_prefix("idempotency-key:"))
            .map(|value| value.trim().to_owned());
        seen.lock().unwrap().push(key);
        if drop_first > 0 {
            drop_first -= 1;
            drop(socket);
            continue;
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_connection_lost_on_a_keyed_post_is_retried_with_the_same_key() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(raw_server(
        listener,
        1,
        subscription().to_string(),
        seen.clone(),
    ));
    let (provider, _) = provider_at(&format!("http://{address}"), NOW);
    provider.pause("sub_1", "r", "pause-reset").await.unwrap();
    server.abort();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Some("pause-reset".to_owned()),
            Some("pause-reset".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_refused_connection_on_a_keyed_post_is_retried_until_the_server_is_up() {
    // Reserve a free port, then free it: connections are refused until the server binds it.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = config(&format!("http://{address}"));
    // Enough attempts to outlast the start-up below many times over.
    config.retry = RetryPolicy {
        max_attempts: 400,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let provider = StripeProvider::new(config, Arc::new(clock_at(NOW))).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let starting = {
        let seen = seen.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let listener = tokio::net::TcpListener::bind(address).await.unwrap();
            raw_server(listener, 0, subscription().to_string(), seen).await;
        })
    };
    let started = Instant::now();
    provider.pause("sub_1", "r", "pause-refused").await.unwrap();
    // The call could only succeed after the server bound the port.
    assert!(started.elapsed() >= Duration::from_millis(200));
    starting.abort();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some("pause-refused".to_owned())]
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_transport_error_without_the_key() {
    let (provider, _) = provider_at(crate::common::UNREACHABLE, NOW);
    let error = provider
        .pause("sub_1", "r", "pause-down")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Transport { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(!error.to_string().contains(crate::common::SECRET_KEY));
}
