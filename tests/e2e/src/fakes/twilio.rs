//! Twilio on loopback: messages are accepted (after a configurable delay, so a campaign keeps
//! running while a test acts on it) and subaccount status changes are applied and echoed. A test
//! may also have it give a subaccount's auth token (as Twilio gives it to the parent account)
//! and refuse a subaccount's next send with a 5xx (the answer a dispatcher cannot trust).
//!
//! It keeps what Twilio itself would know, so fault tests can compare it with the books:
//! - each subaccount's status, as the calls it applied left it;
//! - the messages it took, listed back by `GET .../Messages.json?To=..&From=..` as the lookup
//!   of unconfirmed recipients asks;
//! - what it answered to each request ([`FakeTwilio::exchanges`]).
//!
//! And it can misbehave: an outage ([`FakeTwilio::start_outage`] until
//! [`FakeTwilio::recover`]) answers every request with a fault (a 500, or an answer that comes
//! after the client gave up), each kind of request (status changes, sends, message lists)
//! going through the same list of faults in order; held sends
//! ([`FakeTwilio::hold_sends_after`]) are taken but answered only long after any test ends, so
//! a worker can be killed with a batch in flight.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use super::{Recorded, basic_auth, form, recorded};

/// The parent Twilio account the api authenticates as.
pub const PARENT_SID: &str = "ACe2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0";
pub const AUTH_TOKEN: &str = "e2e-twilio-auth-token";
/// The receiver's route for message status callbacks.
pub const CALLBACK_PATH: &str = "/webhooks/twilio/messages";

/// How late a timed-out answer comes: past the workers' whole-request timeout to Twilio
/// (`twilio::REQUEST_TIMEOUT`, 15 s), so the caller has given up by then.
pub const TIMEOUT_DELAY: Duration = Duration::from_secs(20);
/// How late a held send is answered: after any test has ended.
pub const HELD_DELAY: Duration = Duration::from_secs(300);

const ACCOUNT_PATH: &str = r"^/2010-04-01/Accounts/AC[0-9a-f]{32}\.json$";
const MESSAGES_PATH: &str = r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$";

/// A brand subaccount SID, distinct per `n`.
pub fn subaccount(n: u32) -> String {
    format!("AC{n:032x}")
}

/// The Basic credential of the parent account, as every call must carry it.
pub fn parent_auth() -> String {
    basic_auth(PARENT_SID, AUTH_TOKEN)
}

/// How Twilio fails one request during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 with Twilio's error body; nothing was done.
    ServerError,
    /// The work is done (the status set, the message taken) but the answer comes only after
    /// [`TIMEOUT_DELAY`], when the caller has timed out.
    Timeout,
}

/// What the fake answered to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The normal success answer, at once (or after the message delay).
    Ok,
    Fault(Fault),
    /// A send taken but answered only after [`HELD_DELAY`].
    Held,
}

/// One request and what it was answered, in the order received.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Recorded,
    pub answer: Answer,
}

impl Exchange {
    /// The subaccount a status change or a send is about.
    pub fn account(&self) -> &str {
        account_in(&self.request.path)
    }

    pub fn is_status_change(&self) -> bool {
        self.request.method == "POST" && !self.request.path.ends_with("/Messages.json")
    }

    pub fn is_send(&self) -> bool {
        self.request.method == "POST" && self.request.path.ends_with("/Messages.json")
    }

    /// Whether Twilio did what was asked (the caller may not have heard).
    pub fn applied(&self) -> bool {
        !matches!(self.answer, Answer::Fault(Fault::ServerError))
    }
}

/// A message Twilio took.
#[derive(Debug, Clone)]
struct Taken {
    sid: String,
    account: String,
    to: String,
    from: String,
    body: String,
    created: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    message_delay: Duration,
    /// Messages taken so far (their SIDs count from 1).
    taken: Vec<Taken>,
    /// Each subaccount's status, as the calls applied left it.
    accounts: BTreeMap<String, String>,
    exchanges: Vec<Exchange>,
    /// The faults of an ongoing outage, and how many requests of each kind it answered.
    outage: Option<(Vec<Fault>, BTreeMap<&'static str, usize>)>,
    /// Sends still answered normally before sends are held; `None`: none are held.
    hold_after: Option<usize>,
}

/// Every route of the fake, over one state.
#[derive(Clone)]
struct Twilio(Arc<Mutex<State>>);

impl Twilio {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Respond for Twilio {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.lock();
        let recorded = Recorded::from_wiremock(request);
        let kind = match (
            request.method.as_str(),
            recorded.path.ends_with("/Messages.json"),
        ) {
            ("GET", _) => "list",
            (_, true) => "send",
            (_, false) => "status",
        };
        let fault = state.outage.as_mut().map(|(faults, answered)| {
            let answered = answered.entry(kind).or_default();
            let fault = faults[(*answered).min(faults.len() - 1)];
            *answered += 1;
            fault
        });
        let (answer, response) = match (request.method.as_str(), fault) {
            (_, Some(Fault::ServerError)) => (Answer::Fault(Fault::ServerError), server_error()),
            ("GET", Some(Fault::Timeout)) => (
                Answer::Fault(Fault::Timeout),
                list(&state, &recorded).set_delay(TIMEOUT_DELAY),
            ),
            ("GET", None) => (Answer::Ok, list(&state, &recorded)),
            (_, fault) if recorded.path.ends_with("/Messages.json") => {
                let taken = take(&mut state, &recorded);
                let (answer, delay) = match fault {
                    Some(fault) => (Answer::Fault(fault), TIMEOUT_DELAY),
                    None => match state.hold_after {
                        Some(0) => (Answer::Held, HELD_DELAY),
                        Some(left) => {
                            state.hold_after = Some(left - 1);
                            (Answer::Ok, state.message_delay)
                        }
                        None => (Answer::Ok, state.message_delay),
                    },
                };
                (answer, accepted(&taken).set_delay(delay))
            }
            (_, fault) => {
                let status = recorded.form.get("Status").cloned().unwrap_or_default();
                let account = account_in(&recorded.path).to_owned();
                state.accounts.insert(account.clone(), status.clone());
                let response = ResponseTemplate::new(200).set_body_json(json!({
                    "sid": account,
                    "friendly_name": "brand subaccount",
                    "owner_account_sid": PARENT_SID,
                    "status": status,
                    "type": "Full",
                }));
                match fault {
                    Some(fault) => (Answer::Fault(fault), response.set_delay(TIMEOUT_DELAY)),
                    None => (Answer::Ok, response),
                }
            }
        };
        state.exchanges.push(Exchange {
            request: recorded,
            answer,
        });
        response
    }
}

fn account_in(path: &str) -> &str {
    let rest = path.trim_start_matches("/2010-04-01/Accounts/");
    rest.split(['/', '.']).next().unwrap_or(rest)
}

fn server_error() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_json(json!({
        "code": 20500,
        "message": "Internal Server Error",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500,
    }))
}

/// Takes the message: Twilio has it from now on, whatever the caller hears.
fn take(state: &mut State, request: &Recorded) -> Taken {
    let field = |name: &str| request.form.get(name).cloned().unwrap_or_default();
    let taken = Taken {
        sid: format!("SM{:032x}", state.taken.len() + 1),
        account: account_in(&request.path).to_owned(),
        to: field("To"),
        from: field("From"),
        body: field("Body"),
        created: Utc::now(),
    };
    state.taken.push(taken.clone());
    taken
}

fn accepted(taken: &Taken) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "sid": taken.sid,
        "status": "queued",
        "price": null,
        "price_unit": "USD",
    }))
}

/// One page of the account's messages to `To` (and from `From` when given), newest first.
fn list(state: &State, request: &Recorded) -> ResponseTemplate {
    let query: BTreeMap<String, String> = form(request.query.as_deref().unwrap_or("").as_bytes());
    let account = account_in(&request.path);
    let messages: Vec<Value> = state
        .taken
        .iter()
        .rev()
        .filter(|message| {
            message.account == account
                && query.get("To") == Some(&message.to)
                && query.get("From").is_none_or(|from| *from == message.from)
        })
        .map(|message| {
            json!({
                "sid": message.sid,
                "account_sid": message.account,
                "to": message.to,
                "from": message.from,
                "body": message.body,
                "status": "sent",
                "direction": "outbound-api",
                "messaging_service_sid": null,
                "error_code": null,
                "date_created": message.created.to_rfc2822(),
                "date_sent": message.created.to_rfc2822(),
            })
        })
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "messages": messages,
        "next_page_uri": null,
        "page": 0,
        "page_size": 100,
    }))
}

pub struct FakeTwilio {
    server: MockServer,
    twilio: Twilio,
}

impl FakeTwilio {
    /// Messages are answered after `message_delay`; status changes at once.
    pub async fn start(message_delay: Duration) -> Self {
        let server = MockServer::start().await;
        let twilio = Twilio(Arc::new(Mutex::new(State {
            message_delay,
            ..State::default()
        })));
        for (method, path) in [
            ("POST", MESSAGES_PATH),
            ("POST", ACCOUNT_PATH),
            // Only the message list: reading an account is `serve_auth_token`'s.
            ("GET", MESSAGES_PATH),
        ] {
            Mock::given(matchers::method(method))
                .and(matchers::path_regex(path))
                .respond_with(twilio.clone())
                .mount(&server)
                .await;
        }
        Self { server, twilio }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Answers `GET /2010-04-01/Accounts/{subaccount}.json` with the subaccount and its
    /// `auth_token`, as Twilio answers its parent account. Any caller gets it: tests assert on
    /// the credentials recorded ([`FakeTwilio::token_reads`]), so a wrong one shows up there.
    pub async fn serve_auth_token(&self, subaccount: &str, auth_token: &str) {
        Mock::given(matchers::method("GET"))
            .and(matchers::path(format!(
                "/2010-04-01/Accounts/{subaccount}.json"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sid": subaccount,
                "friendly_name": "brand subaccount",
                "owner_account_sid": PARENT_SID,
                "auth_token": auth_token,
                "status": "active",
                "type": "Full",
            })))
            .mount(&self.server)
            .await;
    }

    /// The next message sent through `subaccount` is answered 500 (Twilio may or may not have
    /// taken it); later ones are accepted again.
    pub async fn fail_next_send(&self, subaccount: &str) {
        Mock::given(matchers::method("POST"))
            .and(matchers::path(format!(
                "/2010-04-01/Accounts/{subaccount}/Messages.json"
            )))
            .respond_with(server_error())
            .up_to_n_times(1)
            // Before the mock that accepts every message.
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// From now until [`FakeTwilio::recover`], every status change, send and message list is
    /// answered with a fault: the `n`th of each kind with `faults[n]`, the last one repeated
    /// (`[ServerError, Timeout, ServerError]`: one of each kind times out, the rest are 500s).
    pub fn start_outage(&self, faults: &[Fault]) {
        assert!(!faults.is_empty(), "an outage needs faults");
        self.twilio.lock().outage = Some((faults.to_vec(), BTreeMap::new()));
    }

    /// Ends the outage: requests from now on are answered normally. Answers already delayed
    /// still come late.
    pub fn recover(&self) {
        self.twilio.lock().outage = None;
    }

    /// The next `answered` sends are answered as usual; every later one is taken (Twilio has
    /// the message) but answered only after [`HELD_DELAY`], until [`FakeTwilio::release_sends`].
    pub fn hold_sends_after(&self, answered: usize) {
        self.twilio.lock().hold_after = Some(answered);
    }

    /// Sends from now on are answered as usual again.
    pub fn release_sends(&self) {
        self.twilio.lock().hold_after = None;
    }

    /// Every request the fake's own routes answered (not `serve_auth_token`'s nor
    /// `fail_next_send`'s), with the answer, in the order received.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.twilio.lock().exchanges.clone()
    }

    /// The status Twilio holds for `subaccount` (as the applied calls left it); `None` if no
    /// call was ever applied.
    pub fn account_status(&self, subaccount: &str) -> Option<String> {
        self.twilio.lock().accounts.get(subaccount).cloned()
    }

    /// The numbers of the messages Twilio took through `subaccount`, in order.
    pub fn taken_to(&self, subaccount: &str) -> Vec<String> {
        self.twilio
            .lock()
            .taken
            .iter()
            .filter(|message| message.account == subaccount)
            .map(|message| message.to.clone())
            .collect()
    }

    /// Every `GET` of Twilio's API: reads of subaccounts' auth tokens (and nothing else in a
    /// test that gives tokens and lists no messages).
    pub async fn token_reads(&self) -> Vec<Recorded> {
        self.requests()
            .await
            .into_iter()
            .filter(|request| request.method == "GET" && !request.path.ends_with("/Messages.json"))
            .collect()
    }

    /// Every request, in the order received.
    pub async fn requests(&self) -> Vec<Recorded> {
        recorded(&self.server).await
    }

    /// The message sends through `subaccount`, in order.
    pub async fn sends(&self, subaccount: &str) -> Vec<Recorded> {
        let path = format!("/2010-04-01/Accounts/{subaccount}/Messages.json");
        self.requests()
            .await
            .into_iter()
            .filter(|request| request.method == "POST" && request.path == path)
            .collect()
    }

    /// The message sends through `subaccount` to any of `numbers`.
    pub async fn sends_to(&self, subaccount: &str, numbers: &[String]) -> usize {
        self.sends(subaccount)
            .await
            .iter()
            .filter(|send| {
                send.form
                    .get("To")
                    .is_some_and(|to| numbers.iter().any(|n| n == to))
            })
            .count()
    }

    /// The `Status` values posted for `subaccount`, in order.
    pub async fn status_changes(&self, subaccount: &str) -> Vec<Recorded> {
        let path = format!("/2010-04-01/Accounts/{subaccount}.json");
        self.requests()
            .await
            .into_iter()
            .filter(|request| request.method == "POST" && request.path == path)
            .collect()
    }

    /// Just the `Status` values posted for `subaccount`, in order.
    pub async fn statuses(&self, subaccount: &str) -> Vec<String> {
        self.status_changes(subaccount)
            .await
            .iter()
            .map(|request| request.form.get("Status").cloned().unwrap_or_default())
            .collect()
    }
}
