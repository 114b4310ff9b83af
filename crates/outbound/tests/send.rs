//! The send loop against servers on loopback: what is retried, what never is, how long it
//! waits, and what its log lines show.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderName, Method, StatusCode};
use outbound::{Client, OutboundError, Request, RetryPolicy};
use secrecy::SecretString;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Distinctive, so a leak is easy to search for.
const SECRET: &str = "sk_live_outbound_secret_never_logged_4242";
const PHONE: &str = "+94771234567";

/// Fast backoff, a cap well above it.
const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(2),
    max_delay: Duration::from_secs(5),
};

fn client(base: &str, policy: RetryPolicy) -> Client {
    Client::new("test", base, Duration::from_secs(5), policy).unwrap()
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// Answers `first` `times` times, then 200.
async fn failing_then_ok(server: &MockServer, first: ResponseTemplate, times: u64) {
    Mock::given(path("/r"))
        .respond_with(first)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(path("/r"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(server)
        .await;
}

fn charge() -> Request {
    Request::new(Method::POST, "/r").json(serde_json::json!({"amount": 100}))
}

#[tokio::test]
async fn a_read_is_retried_through_5xx_until_it_succeeds() {
    let server = MockServer::start().await;
    failing_then_ok(&server, ResponseTemplate::new(503), 2).await;
    let response = client(&server.uri(), FAST)
        .send(&Request::new(Method::GET, "/r"))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn a_keyed_write_is_retried_with_the_same_key_and_body() {
    let server = MockServer::start().await;
    failing_then_ok(&server, ResponseTemplate::new(500), 1).await;
    let request = charge()
        .idempotency_key(HeaderName::from_static("idempotency-key"), "charge-1")
        .unwrap();
    client(&server.uri(), FAST).send(&request).await.unwrap();
    let seen = server.received_requests().await.unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|r| r.headers["idempotency-key"] == "charge-1")
    );
    assert_eq!(seen[0].body, seen[1].body);
}

#[tokio::test]
async fn attempts_stop_at_the_policy_and_the_last_answer_comes_back() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let response = client(&server.uri(), FAST)
        .send(&Request::new(Method::GET, "/r"))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::BAD_GATEWAY);
    assert_eq!(requests(&server).await, FAST.max_attempts as usize);
}

#[tokio::test]
async fn a_call_that_could_charge_twice_is_not_retried_after_a_5xx() {
    let server = MockServer::start().await;
    failing_then_ok(&server, ResponseTemplate::new(500), 1).await;
    let response = client(&server.uri(), FAST).send(&charge()).await.unwrap();
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_call_that_could_charge_twice_is_not_retried_after_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/r"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .mount(&server)
        .await;
    let slow = Client::new("test", &server.uri(), Duration::from_millis(150), FAST).unwrap();
    let error = slow.send(&charge()).await.unwrap_err();
    assert!(
        matches!(error, OutboundError::Transport { connect: false, .. }),
        "{error:?}"
    );
    assert_eq!(requests(&server).await, 1);
    // The same timeout on a read is retried.
    let error = slow
        .send(&Request::new(Method::GET, "/r"))
        .await
        .unwrap_err();
    assert!(!error.is_connect(), "{error:?}");
    assert_eq!(requests(&server).await, 1 + FAST.max_attempts as usize);
}

#[tokio::test]
async fn a_redirect_comes_back_to_the_caller_and_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/r"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/elsewhere", server.uri())),
        )
        .mount(&server)
        .await;
    let response = client(&server.uri(), FAST).send(&charge()).await.unwrap();
    assert_eq!(response.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_call_that_could_charge_twice_is_retried_after_a_429() {
    let server = MockServer::start().await;
    failing_then_ok(&server, ResponseTemplate::new(429), 1).await;
    let response = client(&server.uri(), FAST).send(&charge()).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_a_charge_and_is_typed() {
    // A port nothing listens on: bound, then released.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = client(&format!("http://{address}"), FAST)
        .send(&charge())
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    // And it really is retried: a server that comes up meanwhile gets the call.
    let policy = RetryPolicy {
        max_attempts: 200,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = std::net::TcpListener::bind(address).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(path("/r"))
            .respond_with(ResponseTemplate::new(201))
            .mount(&server)
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(server);
    });
    let response = client(&format!("http://{address}"), policy)
        .send(&charge())
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::CREATED);
    late.abort();
}

#[tokio::test]
async fn retry_after_in_seconds_is_honoured() {
    let server = MockServer::start().await;
    failing_then_ok(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        1,
    )
    .await;
    let started = Instant::now();
    client(&server.uri(), FAST)
        .send(&Request::new(Method::GET, "/r"))
        .await
        .unwrap();
    // The backoff alone is at most a few milliseconds: only Retry-After explains a second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let server = MockServer::start().await;
    // Whole seconds: two seconds ahead is at least one second's wait.
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    failing_then_ok(
        &server,
        ResponseTemplate::new(503).insert_header("Retry-After", at.as_str()),
        1,
    )
    .await;
    let started = Instant::now();
    client(&server.uri(), FAST)
        .send(&Request::new(Method::GET, "/r"))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn the_cap_holds_over_a_long_retry_after() {
    let server = MockServer::start().await;
    failing_then_ok(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "3600"),
        2,
    )
    .await;
    let capped = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(100),
    };
    let started = Instant::now();
    client(&server.uri(), capped)
        .send(&Request::new(Method::GET, "/r"))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(requests(&server).await, 3);
}

/// A writer the log lines of one test land in.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_lines_and_debug_name_the_call_but_no_secret_or_customer_data() {
    let server = MockServer::start().await;
    failing_then_ok(&server, ResponseTemplate::new(503), 1).await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let request = Request::new(Method::POST, format!("/r?to={PHONE}"))
        .bearer(&SecretString::from(SECRET))
        .unwrap()
        .form(vec![
            ("To".to_owned(), PHONE.to_owned()),
            ("Token".to_owned(), SECRET.to_owned()),
        ])
        .repeatable();
    let response = client(&server.uri(), FAST).send(&request).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    // The secret did go out, so the test would see it if it leaked.
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent[0].headers["authorization"], format!("Bearer {SECRET}"));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("outbound call retried"), "{logs}");
    for named in [
        "method=POST",
        "path=\"/r\"",
        "status=503",
        "attempt=1",
        "127.0.0.1",
    ] {
        assert!(logs.contains(named), "{named} missing from {logs}");
    }
    let shown = format!("{logs}\n{request:?}\n{request:#?}\n{response:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains(&SECRET[8..24]), "{shown}");
    assert!(!shown.contains(PHONE), "{shown}");
    assert!(!shown.contains("94771234567"), "{shown}");
}
