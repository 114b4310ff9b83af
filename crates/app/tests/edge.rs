//! What every route shares at the edge, tested from outside as a client sees it: request bodies
//! are objects, validation details name the field in plain words, a query parameter given empty
//! is refused, a refusal before the body was read closes the connection it leaves unusable, and
//! a database connection lost mid-request is a retryable 503, never a 500.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{ADMIN_TOKEN, BODY_LIMIT, JSON, Org, TestApp, assert_problem, key, ok, send};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use testkit::TestDb;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

// ---------------------------------------------------------------------------------------------
// Bodies are objects

#[tokio::test]
async fn a_json_array_is_not_a_body_and_moves_no_money() {
    let (app, org) = TestApp::funded("10.00").await;
    let debits = app.wallet_url(&org.id, "/debits");
    // The report's request: before, this debited 1.00.
    let problem = app
        .refused(
            send(app.post_raw(&debits, &org.key, r#"["1.00","USD",null,"ref-1"]"#, JSON)),
            422,
            "BODY_NOT_OBJECT",
        )
        .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("must be a JSON object"),
        "{problem}"
    );
    app.assert_figures(&org.id, "10.00", "0.00", "10.00").await;

    let organizations = app.url("/v1/organizations");
    let before = app.count_organizations().await;
    let response = send(app.post_raw(&organizations, ADMIN_TOKEN, r#"["Org","USD"]"#, JSON)).await;
    assert_problem(response, 422, "BODY_NOT_OBJECT").await;
    assert_eq!(
        app.count_organizations().await,
        before,
        "an organization was created"
    );

    // The optional body of a release is held to the same rule.
    let hold = app.open_hold(&org, "h-1", "1.00").await;
    let release = app.wallet_url(&org.id, &format!("/holds/{hold}/release"));
    app.refused(
        send(
            app.post_raw(&release, &org.key, r#"["r-1"]"#, JSON)
                .header("Idempotency-Key", key()),
        ),
        422,
        "BODY_NOT_OBJECT",
    )
    .await;
    // An object still works, as does no body at all.
    let applied = send(
        app.post_raw(
            &debits,
            &org.key,
            r#"{"amount":"1.00","currency":"USD"}"#,
            JSON,
        )
        .header("Idempotency-Key", key()),
    )
    .await;
    assert_eq!(applied.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn validation_details_name_the_field_in_plain_words() {
    let (app, org) = TestApp::funded("10.00").await;
    let cases = [
        (
            "/debits",
            json!({"amount": 5, "currency": "USD"}),
            "amount",
            "expected a string",
        ),
        (
            "/holds",
            json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": "soon"}),
            "expires_in_seconds",
            "expected an integer",
        ),
        (
            "/holds",
            json!({"amount": "1.00", "currency": "USD", "expires_in_seconds": 1.5}),
            "expires_in_seconds",
            "expected an integer",
        ),
        (
            "/debits",
            json!({"amount": "1.00", "currency": "USD", "colour": "red"}),
            "colour",
            "unknown field `colour`",
        ),
        (
            "/debits",
            json!({"amount": "1.00"}),
            "currency",
            "missing field `currency`",
        ),
        (
            "/debits",
            json!({"amount": "1.00", "currency": {"code": "USD"}}),
            "currency",
            "got an object, expected a string",
        ),
    ];
    for (path, body, field, words) in cases {
        let request = app.wallet_post(&org.id, path, &org.key, Some(&key()), &body);
        let problem = app.refused(send(request), 422, "VALIDATION_FAILED").await;
        assert_eq!(problem["field"], field, "{body}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{body}: {detail}");
        for rust in ["struct", "Request", "i64", "u32", "elements", "Option"] {
            assert!(!detail.contains(rust), "{rust:?} in {detail}");
        }
    }

    let freeze = json!({"reason": "r", "source": 3});
    let problem = assert_problem(
        send(app.wallet_post(&org.id, "/freeze", ADMIN_TOKEN, None, &freeze)).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(problem["field"], "source", "{problem}");
    assert!(
        !problem["detail"].as_str().unwrap().contains("Wire"),
        "{problem}"
    );
}

// ---------------------------------------------------------------------------------------------
// Query parameters: absent is the default, empty is invalid

#[tokio::test]
async fn a_query_parameter_given_empty_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let base = format!("/v1/organizations/{}", org.id);
    let campaign = uuid::Uuid::now_v7();
    let cases = [
        (
            format!("{base}/wallet/entries?cursor="),
            "INVALID_CURSOR",
            "cursor",
        ),
        (
            format!("{base}/wallet/entries?limit="),
            "INVALID_LIMIT",
            "limit",
        ),
        (
            format!("{base}/wallet/entries?kinds="),
            "INVALID_KIND",
            "kinds",
        ),
        (
            format!("{base}/campaigns?cursor=&limit="),
            "INVALID_LIMIT",
            "limit",
        ),
        (
            format!("{base}/campaigns?cursor="),
            "INVALID_CURSOR",
            "cursor",
        ),
        (
            format!("{base}/campaigns?limit=%20"),
            "INVALID_LIMIT",
            "limit",
        ),
        (
            format!("{base}/send-eligibility?brand_id="),
            "INVALID_BRAND_ID",
            "brand_id",
        ),
        (
            format!("{base}/campaigns/{campaign}/recipients?status="),
            "INVALID_STATUS",
            "status",
        ),
        (
            format!("{base}/campaigns/{campaign}/recipients?after="),
            "INVALID_CURSOR",
            "after",
        ),
        (
            "/v1/subscription/history?limit=".to_owned(),
            "INVALID_LIMIT",
            "limit",
        ),
    ];
    for (path, code, field) in cases {
        let response = send(app.client.get(app.url(&path)).bearer_auth(&org.key)).await;
        let problem = assert_problem(response, 422, code).await;
        assert_eq!(problem["field"], field, "{path}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("is empty"),
            "{path}: {problem}"
        );
    }
    let admin_cases = [
        (
            format!(
                "/v1/admin/organizations/{}/subscription/events?limit=",
                org.id
            ),
            "INVALID_LIMIT",
            "limit",
        ),
        (
            "/v1/admin/outbox?topic=".to_owned(),
            "INVALID_TOPIC",
            "topic",
        ),
        (
            "/v1/admin/webhook-events?provider=".to_owned(),
            "INVALID_PROVIDER",
            "provider",
        ),
    ];
    for (path, code, field) in admin_cases {
        let response = send(app.client.get(app.url(&path)).bearer_auth(ADMIN_TOKEN)).await;
        let problem = assert_problem(response, 422, code).await;
        assert_eq!(problem["field"], field, "{path}: {problem}");
    }

    // Absent, each takes its default.
    for path in [
        format!("{base}/wallet/entries"),
        format!("{base}/campaigns"),
        format!("{base}/send-eligibility"),
    ] {
        ok(send(app.client.get(app.url(&path)).bearer_auth(&org.key)).await).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals before the body is read

/// One HTTP/1.1 exchange on `stream`: writes `request`, reads one response (head and
/// `Content-Length` body). Empty when the server closed the connection without answering.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    if stream.write_all(request).await.is_err() {
        return String::new();
    }
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        let read =
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
                Ok(Ok(read)) => read,
                Ok(Err(_)) | Err(_) => 0,
            };
        if read == 0 {
            return String::from_utf8_lossy(&response).into_owned();
        }
        response.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

fn closes(response: &str) -> bool {
    response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .any(|line| line.to_ascii_lowercase().replace(' ', "") == "connection:close")
}

fn post(path: &str, token: Option<&str>, body: &str) -> String {
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\n{authorization}Content-Type: application/json\r\n\
         Idempotency-Key: {}\r\nContent-Length: {}\r\n\r\n{body}",
        key(),
        body.len()
    )
}

/// Whether a client may go on using the connection after `first`: the server said it closes
/// it, or a second request on it is answered.
async fn usable_or_announced(stream: &mut TcpStream, first: &str) -> bool {
    if closes(first) {
        return true;
    }
    let health = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
    let second = exchange(stream, health.as_bytes()).await;
    second.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn a_refusal_before_the_body_was_read_never_strands_a_keep_alive_client() {
    let (app, org) = TestApp::funded("10.00").await;
    let stranger = app.org_with_key("Globex").await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let debits = format!("/v1/organizations/{}/wallet/debits", org.id);
    let body = r#"{"amount":"1.00","currency":"USD"}"#;
    let oversized = format!(
        r#"{{"amount":"1.00","currency":"USD","x":"{}"}}"#,
        "x".repeat(BODY_LIMIT)
    );
    let cases: [(&str, String, u16); 5] = [
        ("no credential", post(&debits, None, body), 401),
        (
            "an organization key on an admin route",
            post(
                &format!("/v1/organizations/{}/wallet/credits", org.id),
                Some(&org.key),
                body,
            ),
            403,
        ),
        (
            "another organization's wallet",
            post(&debits, Some(&stranger.key), body),
            404,
        ),
        (
            "no such route",
            post("/v1/nowhere", Some(&org.key), body),
            404,
        ),
        (
            "a body over the limit",
            post(&debits, Some(&org.key), &oversized),
            413,
        ),
    ];
    for (name, request, status) in cases {
        // The whole request at once.
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let first = exchange(&mut stream, request.as_bytes()).await;
        assert!(
            first.starts_with(&format!("HTTP/1.1 {status}")),
            "{name}: {first}"
        );
        assert!(
            usable_or_announced(&mut stream, &first).await,
            "{name}: {first}"
        );

        // The head first, the refusal before the body was sent, then the body.
        let (head, rest) = request.split_once("\r\n\r\n").unwrap();
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(format!("{head}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        if status != 413 {
            let first = read_response(&mut stream).await;
            assert!(
                first.starts_with(&format!("HTTP/1.1 {status}")),
                "{name}: {first}"
            );
            assert!(closes(&first), "{name}, answered before its body: {first}");
        }
        let _ = stream.write_all(rest.as_bytes()).await;
    }

    // A body that was read keeps the connection: two debits on one socket.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        let answer = exchange(&mut stream, post(&debits, Some(&org.key), body).as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        assert!(!closes(&answer), "{answer}");
    }
    app.assert_figures(&org.id, "8.00", "0.00", "8.00").await;
}

// ---------------------------------------------------------------------------------------------
// A lost database connection

/// Ends every connection of the api's pool (`application_name = 'api'`) to the test's database,
/// again and again until told to stop; returns how many it ended.
async fn terminate_api_connections(app: &TestApp, stop: Arc<AtomicBool>) -> usize {
    use diesel_async::RunQueryDsl;

    let mut conn = app.conn().await;
    let mut ended = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !AtomicBool::load(&stop, Ordering::Acquire) && Instant::now() < deadline {
        let killed = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'api' AND datname = current_database() \
             AND pid <> pg_backend_pid()",
        )
        .execute(&mut conn)
        .await
        .unwrap_or(0);
        ended += killed;
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    ended
}

/// What one request got: its status and whether it said when to retry.
struct Answer {
    status: StatusCode,
    retry_after: bool,
    body: String,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = send(request).await;
    Answer {
        status: response.status(),
        retry_after: response.headers().contains_key(header::RETRY_AFTER),
        body: response.text().await.unwrap_or_default(),
    }
}

fn debit(app: &TestApp, org: &Org, token: &str, reference: &str) -> reqwest::RequestBuilder {
    let body = json!({"amount": "0.01", "currency": "USD"});
    app.wallet_post(&org.id, "/debits", token, Some(reference), &body)
}

/// Debits, balance and history reads with `token` while the api's connections are ended again
/// and again: no answer is a 500, a 503 says when to retry, and once every debit is retried
/// with its reference the books hold each exactly once.
async fn lose_connections_under_load(token: fn(&Org) -> String) {
    // 600 requests on one key as fast as the api answers: far past a customer's rate limit,
    // which is not what this test is about.
    let app = TestApp::spawn_with(TestDb::new().await, |config| config.rate_limit = None).await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "100.00").await;
    let app = Arc::new(app);
    let org = Arc::new(org);
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
        tokio::spawn(async move { terminate_api_connections(&app, stop).await })
    };

    const WORKERS: usize = 8;
    const DEBITS_EACH: usize = 25;
    let unavailable = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (app, org, unavailable) =
            (Arc::clone(&app), Arc::clone(&org), Arc::clone(&unavailable));
        workers.push(tokio::spawn(async move {
            let token = token(&org);
            let mut references = Vec::new();
            for n in 0..DEBITS_EACH {
                let reference = format!("lost-{worker}-{n}");
                let answers = [
                    answer(debit(&app, &org, &token, &reference)).await,
                    answer(
                        app.client
                            .get(app.wallet_url(&org.id, ""))
                            .bearer_auth(&token),
                    )
                    .await,
                    answer(
                        app.client
                            .get(app.wallet_url(&org.id, "/entries?limit=5"))
                            .bearer_auth(&token),
                    )
                    .await,
                ];
                for answer in &answers {
                    assert_ne!(
                        answer.status,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "a lost connection answered 500: {}",
                        answer.body
                    );
                    if answer.status == StatusCode::SERVICE_UNAVAILABLE {
                        assert!(
                            answer.retry_after,
                            "503 without Retry-After: {}",
                            answer.body
                        );
                        unavailable.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert!(
                            answer.status.is_success(),
                            "{}: {}",
                            answer.status,
                            answer.body
                        );
                    }
                }
                references.push(reference);
            }
            references
        }));
    }
    let mut references = Vec::new();
    for worker in workers {
        references.extend(worker.await.unwrap());
    }
    stop.store(true, Ordering::Release);
    let ended = killer.await.unwrap();
    assert!(
        ended > 0,
        "no connection of the api was ended: the test tested nothing"
    );
    eprintln!(
        "{ended} connections ended, {} answers were 503",
        unavailable.load(Ordering::Relaxed)
    );

    // Each debit retried with its reference is applied exactly once, whether or not its first
    // attempt got through.
    let token = token(&org);
    for reference in &references {
        let retried = answer(debit(&app, &org, &token, reference)).await;
        assert!(
            retried.status == StatusCode::CREATED || retried.status == StatusCode::OK,
            "{reference}: {} {}",
            retried.status,
            retried.body
        );
    }
    let debits = WORKERS * DEBITS_EACH;
    assert_eq!(
        app.count_entries(&org.id).await,
        1 + i64::try_from(debits).unwrap()
    );
    app.assert_figures(&org.id, "98.00", "0.00", "98.00").await;
    let reconciliation = ok(send(
        app.client
            .get(app.wallet_url(&org.id, "/reconciliation"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await)
    .await;
    assert_eq!(
        reconciliation["clean"],
        Value::Bool(true),
        "{reconciliation}"
    );
}

/// The admin credential is checked without the database: every lost connection is the
/// handlers'.
#[tokio::test]
async fn a_database_connection_lost_mid_request_is_a_retryable_503_never_a_500() {
    lose_connections_under_load(|_| ADMIN_TOKEN.to_owned()).await;
}

/// An organization key is looked up in the database first: a connection lost there is a 503
/// too.
#[tokio::test]
async fn a_connection_lost_while_checking_a_key_is_a_retryable_503_never_a_500() {
    lose_connections_under_load(|org| org.key.clone()).await;
}
