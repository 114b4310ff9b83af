//! Twilio on loopback: messages are accepted (after a configurable delay, so a campaign keeps
//! running while a test acts on it) and subaccount status changes are applied and echoed. A test
//! may also have it give a subaccount's auth token (as Twilio gives it to the parent account)
//! and refuse a subaccount's next send with a 5xx (the answer a dispatcher cannot trust).

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use super::{Recorded, basic_auth, form, recorded};

/// The parent Twilio account the api authenticates as.
pub const PARENT_SID: &str = "ACe2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0";
pub const AUTH_TOKEN: &str = "e2e-twilio-auth-token";
/// The receiver's route for message status callbacks.
pub const CALLBACK_PATH: &str = "/webhooks/twilio/messages";

/// A brand subaccount SID, distinct per `n`.
pub fn subaccount(n: u32) -> String {
    format!("AC{n:032x}")
}

/// The Basic credential of the parent account, as every call must carry it.
pub fn parent_auth() -> String {
    basic_auth(PARENT_SID, AUTH_TOKEN)
}

/// Accepts every message with a fresh `SM...` SID, after `delay`.
struct AcceptMessages {
    sent: AtomicUsize,
    delay: Duration,
}

impl Respond for AcceptMessages {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(201)
            .set_body_json(json!({
                "sid": format!("SM{n:032x}"),
                "status": "queued",
                "price": null,
                "price_unit": "USD",
            }))
            .set_delay(self.delay)
    }
}

/// Answers a subaccount status change with the status asked for, as Twilio does.
struct SetStatus;

impl Respond for SetStatus {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let sid = request
            .url
            .path()
            .trim_start_matches("/2010-04-01/Accounts/")
            .trim_end_matches(".json")
            .to_owned();
        ResponseTemplate::new(200).set_body_json(json!({
            "sid": sid,
            "friendly_name": "brand subaccount",
            "owner_account_sid": PARENT_SID,
            "status": form(&request.body).get("Status").cloned().unwrap_or_default(),
            "type": "Full",
        }))
    }
}

pub struct FakeTwilio {
    server: MockServer,
}

impl FakeTwilio {
    /// Messages are answered after `message_delay`; status changes at once.
    pub async fn start(message_delay: Duration) -> Self {
        let server = MockServer::start().await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path_regex(
                r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$",
            ))
            .respond_with(AcceptMessages {
                sent: AtomicUsize::new(0),
                delay: message_delay,
            })
            .mount(&server)
            .await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path_regex(
                r"^/2010-04-01/Accounts/AC[0-9a-f]{32}\.json$",
            ))
            .respond_with(SetStatus)
            .mount(&server)
            .await;
        Self { server }
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
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({
                "code": 20500,
                "message": "Internal Server Error",
                "status": 500,
            })))
            .up_to_n_times(1)
            // Before the mock that accepts every message.
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Every `GET` of Twilio's API: reads of subaccounts' auth tokens (and nothing else in a
    /// test that gives tokens and lists no messages).
    pub async fn token_reads(&self) -> Vec<Recorded> {
        self.requests()
            .await
            .into_iter()
            .filter(|request| request.method == "GET")
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
            .filter(|request| request.path == path)
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
            .filter(|request| request.path == path)
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
