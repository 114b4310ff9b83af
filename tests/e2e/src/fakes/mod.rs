//! Fake provider APIs on loopback (wiremock). Each records every request it receives, in
//! order, so tests assert on exactly what the binaries sent.

pub mod paypal;
pub mod stripe;
pub mod twilio;

use std::collections::BTreeMap;

pub use paypal::FakePayPal;
pub use stripe::FakeStripe;
pub use twilio::FakeTwilio;

/// A request a fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    /// The body read as a form (empty unless form-encoded).
    pub form: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn from_wiremock(request: &wiremock::Request) -> Self {
        Self {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            authorization: request
                .headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            form: form(&request.body),
            body: request.body.clone(),
        }
    }
}

pub(crate) fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(crate) async fn recorded(server: &wiremock::MockServer) -> Vec<Recorded> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(Recorded::from_wiremock)
        .collect()
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}
