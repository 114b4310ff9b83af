//! The request limits over a real socket, as every listener serves them (`serve_with`): a query,
//! header section or field count over the limit is refused with its problem before any route
//! or fallback runs; a head past hyper's hard bound is cut off by hyper; the body limit stays the
//! extractors'.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Router, routing};
use httpkit::{ApiBytes, limits::RequestLimits, server};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const BODY_LIMIT: usize = 1024;
const LIMITS: RequestLimits = RequestLimits {
    max_header_bytes: 2048,
    max_headers: 16,
    max_query_bytes: 128,
};

/// A server whose one route counts the requests that reached it.
async fn start() -> (SocketAddr, Arc<AtomicUsize>) {
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reached);
    let routes = Router::new().route(
        "/things",
        routing::post(move |ApiBytes(body): ApiBytes| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { body.len().to_string() }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve_with(
        listener,
        server::finish(routes, BODY_LIMIT),
        LIMITS,
        std::future::pending(),
    ));
    (addr, reached)
}

/// What came back: the status line's code, the head (lower-cased) and the body; `None` when the
/// connection was closed or reset before a status line.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// A refusal by the limits: the request's body is left unread, so the connection closes.
    fn refusal(&self, status: u16, code: &str) -> Value {
        assert!(self.head.contains("connection: close"), "{}", self.head);
        self.problem(status, code)
    }

    /// hyper's own 431, bare: the head never reached the service (nor the limits' answer).
    fn cut_off_by_hyper(&self) {
        assert_eq!(self.status, 431, "{}", self.head);
        assert!(
            !self.head.contains("application/problem+json"),
            "answered by the service, not hyper: {}",
            self.head
        );
    }

    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}\n{}", self.head, self.body);
        assert!(
            self.head.contains("content-type: application/problem+json"),
            "{}",
            self.head
        );
        let problem: Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status, "{problem}");
        problem
    }
}

async fn send(addr: SocketAddr, request: Vec<u8>) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read all of a refused request.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => response.extend_from_slice(&buffer[..read]),
        }
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|line| line.strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|length| length.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

fn post(path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn many(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|n| (format!("x-h{n}"), "1".to_owned()))
        .collect()
}

#[tokio::test]
async fn within_every_limit_the_route_answers() {
    let (addr, reached) = start().await;
    let query = "q=".to_owned() + &"a".repeat(LIMITS.max_query_bytes - 2);
    // Host, Content-Type and Content-Length are three of the sixteen.
    let answer = send(
        addr,
        post(&format!("/things?{query}"), &many(13), &[b'x'; BODY_LIMIT]),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, BODY_LIMIT.to_string());
    assert_eq!(reached.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_over_a_limit_gets_its_problem_and_reaches_nothing() {
    let (addr, reached) = start().await;

    let query = "q=".to_owned() + &"a".repeat(LIMITS.max_query_bytes);
    let answer = send(addr, post(&format!("/things?{query}"), &[], b"{}"))
        .await
        .unwrap();
    let problem = answer.refusal(414, "QUERY_TOO_LONG");
    assert_eq!(problem["limit_bytes"], LIMITS.max_query_bytes);

    let answer = send(addr, post("/things", &many(14), b"{}")).await.unwrap();
    let problem = answer.refusal(431, "TOO_MANY_HEADERS");
    assert_eq!(problem["limit"], LIMITS.max_headers);

    let big = vec![("x-big".to_owned(), "v".repeat(LIMITS.max_header_bytes))];
    let answer = send(addr, post("/things", &big, b"{}")).await.unwrap();
    let problem = answer.refusal(431, "HEADERS_TOO_LARGE");
    assert_eq!(problem["limit_bytes"], LIMITS.max_header_bytes);

    // The body limit is the extractor's, read up to the limit only.
    let answer = send(addr, post("/things", &[], &vec![b'x'; BODY_LIMIT + 1]))
        .await
        .unwrap();
    let problem = answer.problem(413, "BODY_TOO_LARGE");
    assert_eq!(problem["limit_bytes"], BODY_LIMIT);

    // An unknown route is refused the same way: the limits come before routing.
    let answer = send(addr, post("/nowhere", &many(14), b"{}"))
        .await
        .unwrap();
    answer.refusal(431, "TOO_MANY_HEADERS");

    assert_eq!(reached.load(Ordering::SeqCst), 0, "a refused request ran");
}

#[tokio::test]
async fn past_the_hard_bound_hyper_cuts_the_request_off_before_anything_runs() {
    let (addr, reached) = start().await;
    let huge = vec![(
        "x-huge".to_owned(),
        "v".repeat(LIMITS.hard_max_head_bytes() + 1),
    )];
    // hyper answers a bare 431 and closes; the peer may also see the close first.
    if let Some(answer) = send(addr, post("/things", &huge, b"{}")).await {
        answer.cut_off_by_hyper();
    }
    let crowd = many(LIMITS.hard_max_headers() + 1);
    if let Some(answer) = send(addr, post("/things", &crowd, b"{}")).await {
        answer.cut_off_by_hyper();
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0);
    // The server still serves.
    let answer = send(addr, post("/things", &[], b"{}")).await.unwrap();
    assert_eq!(answer.status, 200);
}
