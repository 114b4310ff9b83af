//! A fake Twilio Messages API on loopback: `POST /2010-04-01/Accounts/{sid}/Messages.json`
//! answered at once (or after `--twilio-delay-ms`) with 201 and a Twilio-shaped body.
//!
//! It checks what a real Twilio would refuse (Basic credentials, the account in the path, the
//! form's `To`, `From`/`MessagingServiceSid` and `Body`) and counts every request, so the
//! benchmark can assert that Twilio received exactly one request per recipient.
//!
//! It runs on its own thread and current-thread runtime, so answering never waits for the
//! dispatcher's runtime (they still share the machine's cores).

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::Context;
use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
    serve::ListenerExt,
};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// What the fake Twilio saw since the last [`FakeTwilio::reset`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every request that reached the messages route.
    pub requests: u64,
    /// Answered 201.
    pub accepted: u64,
    pub unauthorized: u64,
    /// A path account other than the brand's subaccount.
    pub wrong_account: u64,
    /// No `To`, no sender or no `Body`.
    pub malformed: u64,
    /// A `To` already accepted since the reset: a recipient sent twice.
    pub duplicates: u64,
    /// Requests to any other route.
    pub unexpected: u64,
}

#[derive(Debug)]
struct Shared {
    expected_auth: String,
    delay: Duration,
    account: Mutex<String>,
    seen: Mutex<HashSet<String>>,
    requests: AtomicU64,
    accepted: AtomicU64,
    unauthorized: AtomicU64,
    wrong_account: AtomicU64,
    malformed: AtomicU64,
    duplicates: AtomicU64,
    unexpected: AtomicU64,
    /// Grows forever, so message SIDs never repeat within a run.
    sids: AtomicU64,
}

pub struct FakeTwilio {
    pub base_url: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTwilio {
    /// Listens on `127.0.0.1:0`; requests must carry Basic `account_sid:auth_token`.
    pub fn start(account_sid: &str, auth_token: &str, delay: Duration) -> anyhow::Result<Self> {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{account_sid}:{auth_token}"));
        let shared = Arc::new(Shared {
            expected_auth: format!("Basic {credentials}"),
            delay,
            account: Mutex::new(String::new()),
            seen: Mutex::new(HashSet::new()),
            requests: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            wrong_account: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            sids: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("could not bind the fake Twilio to loopback")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .fallback(unexpected)
            .with_state(Arc::clone(&shared));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not build the fake Twilio's runtime")?;
        let thread = std::thread::Builder::new()
            .name("fake-twilio".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener.tap_io(|tcp| {
                            // Best effort; without it a split response could wait for an ACK.
                            let _ = tcp.set_nodelay(true);
                        }),
                        Err(error) => {
                            eprintln!("[campaign-bench] fake Twilio: {error}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(error) = served {
                        eprintln!("[campaign-bench] fake Twilio stopped: {error}");
                    }
                });
            })
            .context("could not start the fake Twilio's thread")?;
        Ok(Self {
            base_url: format!("http://{address}"),
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Forgets the counts and the numbers seen; from now on only `account` may send.
    pub fn reset(&self, account: &str) {
        let s = &self.shared;
        *s.account.lock().unwrap_or_else(PoisonError::into_inner) = account.to_owned();
        s.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        for counter in [
            &s.requests,
            &s.accepted,
            &s.unauthorized,
            &s.wrong_account,
            &s.malformed,
            &s.duplicates,
            &s.unexpected,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
    }

    pub fn counts(&self) -> Counts {
        let s = &self.shared;
        let get = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        Counts {
            requests: get(&s.requests),
            accepted: get(&s.accepted),
            unauthorized: get(&s.unauthorized),
            wrong_account: get(&s.wrong_account),
            malformed: get(&s.malformed),
            duplicates: get(&s.duplicates),
            unexpected: get(&s.unexpected),
        }
    }

    /// How many different `To` numbers were accepted since the reset.
    pub fn distinct_recipients(&self) -> usize {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Counts {
    pub fn to_json(self) -> Value {
        json!({
            "requests": self.requests,
            "accepted": self.accepted,
            "unauthorized": self.unauthorized,
            "wrong_account": self.wrong_account,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "unexpected": self.unexpected,
        })
    }
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        == Some(shared.expected_auth.as_str());
    if !authorized {
        shared.unauthorized.fetch_add(1, Ordering::SeqCst);
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let expected_account = sid
        == *shared
            .account
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
    if !expected_account {
        shared.wrong_account.fetch_add(1, Ordering::SeqCst);
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    let form = parse_form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let (Some(to), true, Some(_)) = (
        field("To"),
        field("From").is_some() || field("MessagingServiceSid").is_some(),
        field("Body").filter(|body| !body.is_empty()),
    ) else {
        shared.malformed.fetch_add(1, Ordering::SeqCst);
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number, a sender and a 'Body' are required.",
        );
    };
    let first_time = shared
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(to.to_owned());
    if !first_time {
        shared.duplicates.fetch_add(1, Ordering::SeqCst);
    }
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let n = shared.sids.fetch_add(1, Ordering::SeqCst);
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    let body = format!(
        "{{\"sid\":\"{}\",\"status\":\"queued\",\"price\":null,\"price_unit\":\"USD\"}}",
        message_sid(n)
    );
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn unexpected(State(shared): State<Arc<Shared>>) -> Response {
    shared.unexpected.fetch_add(1, Ordering::SeqCst);
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        "The requested resource was not found",
    )
}

/// `SM` and 32 lower-case hex digits, unique per `n`.
pub fn message_sid(n: u64) -> String {
    format!("SM{n:032x}")
}

/// An `application/x-www-form-urlencoded` body as (name, value) pairs: `+` is a space and
/// `%XX` a byte; pairs that are not UTF-8 after decoding are dropped.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let name = decode_component(parts.next().unwrap_or_default())?;
            let value = decode_component(parts.next().unwrap_or_default())?;
            Some((name, value))
        })
        .collect()
}

fn decode_component(input: &[u8]) -> Option<String> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    input.get(i + 1).copied().and_then(hex),
                    input.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(high), Some(low)) => {
                        out.push(u8::try_from(high * 16 + low).ok()?);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_like_twilio_reads_them() {
        let form =
            parse_form(b"To=%2B14155550100&From=%2B14155550199&Body=Spring+sale%3A+20%25+off");
        assert_eq!(
            form,
            vec![
                ("To".to_owned(), "+14155550100".to_owned()),
                ("From".to_owned(), "+14155550199".to_owned()),
                ("Body".to_owned(), "Spring sale: 20% off".to_owned()),
            ]
        );
        assert_eq!(
            parse_form(b"a=&b&=c&&d=100%"),
            vec![
                ("a".to_owned(), String::new()),
                ("b".to_owned(), String::new()),
                (String::new(), "c".to_owned()),
                ("d".to_owned(), "100%".to_owned()),
            ]
        );
        assert!(parse_form(b"x=%FF").is_empty());
    }

    #[test]
    fn message_sids_have_twilios_shape_and_never_repeat() {
        let sid = message_sid(255);
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("SM"));
        assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(message_sid(1), message_sid(2));
    }
}
