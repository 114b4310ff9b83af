//! Client load for the fault tests: concurrent clients moving money through the api (debits with
//! the organization's key, credits with the admin token) and providers delivering signed
//! top-ups through the receiver, each remembering exactly what it was told.
//!
//! An [`Operation`] carries everything needed to send it again unchanged (the same reference,
//! the same signed bytes), because that is what a client does with a request it got no answer
//! to, and what the books must survive. [`Load`] runs clients until stopped; what the fault
//! tests then check is the log: every acknowledged operation in the books exactly once, and
//! every unacknowledged one, retried identically, applied once.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::{Org, keys::STRIPE_WEBHOOK_SECRET, stack::ADMIN_TOKEN};

/// How long a client waits for one answer before counting it as none.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits before asking again after an answer that said "later".
const RETRY_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `POST .../wallet/debits` with the organization's key.
    Debit,
    /// `POST .../wallet/credits` with the admin token.
    Credit,
    /// A Stripe Checkout top-up (`checkout.session.completed`) delivered to the receiver.
    TopUp,
    /// Another provider delivery to the receiver (it moves no money of its own).
    Delivery,
}

/// What one attempt was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    /// Acknowledged as done by this attempt (201 from the api; a new delivery stored, 200).
    Done,
    /// Acknowledged as done before: the api's replay (200, `replayed`) or the receiver's
    /// duplicate (200, `duplicate`).
    AlreadyDone,
    /// Not done, ask again: 503 or 429 with `Retry-After`.
    Later(u16, String),
    /// No answer (the connection dropped, the client timed out) or a 5xx without a promise:
    /// done or not, nobody knows.
    Unknown(String),
    /// A refusal: the request itself is wrong. Never expected here.
    Refused(u16, String),
}

impl Told {
    pub fn acknowledged(&self) -> bool {
        matches!(self, Self::Done | Self::AlreadyDone)
    }
}

/// One attempt: what it was told and when.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub told: Told,
    pub at: Instant,
}

/// One client operation and every attempt at it.
#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: Kind,
    /// The organization whose wallet it moves.
    pub organization: String,
    /// The client's reference: the `Idempotency-Key`, or for a top-up Stripe's PaymentIntent.
    pub reference: String,
    /// For a top-up, Stripe's event id (the receiver's delivery id).
    pub event_id: Option<String>,
    /// Minor units.
    pub amount: i64,
    pub attempts: Vec<Attempt>,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `minor` USD as the api writes amounts.
pub fn usd(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

impl Operation {
    pub fn debit(api_url: &str, org: &Org, reference: String, amount: i64) -> Self {
        Self::api(
            Kind::Debit,
            format!("{api_url}/v1/organizations/{}/wallet/debits", org.id),
            &org.id,
            &org.key,
            reference,
            amount,
            json!({"amount": usd(amount), "currency": "USD"}),
        )
    }

    pub fn credit(api_url: &str, org: &Org, reference: String, amount: i64) -> Self {
        Self::api(
            Kind::Credit,
            format!("{api_url}/v1/organizations/{}/wallet/credits", org.id),
            &org.id,
            ADMIN_TOKEN,
            reference,
            amount,
            json!({"amount": usd(amount), "currency": "USD", "counterparty": "topup:manual"}),
        )
    }

    fn api(
        kind: Kind,
        url: String,
        organization: &str,
        token: &str,
        reference: String,
        amount: i64,
        body: Value,
    ) -> Self {
        Self {
            kind,
            organization: organization.to_owned(),
            headers: vec![
                ("Authorization".to_owned(), format!("Bearer {token}")),
                ("Idempotency-Key".to_owned(), reference.clone()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ],
            reference,
            event_id: None,
            amount,
            attempts: Vec::new(),
            url,
            body: crate::events::bytes(&body),
        }
    }

    /// A Stripe top-up of `amount` into `organization`'s wallet through PaymentIntent
    /// `payment_intent`, delivered (and redelivered, byte for byte with the same signature) to
    /// `receiver_url` (the receiver's, or a proxy's in front of it).
    pub fn stripe_top_up(
        receiver_url: &str,
        organization: &str,
        payment_intent: &str,
        event_id: &str,
        amount: i64,
    ) -> Self {
        let session = crate::events::stripe::top_up_session(
            &format!("cs_test_{payment_intent}"),
            organization,
            payment_intent,
            amount,
            "usd",
        );
        let now = chrono::Utc::now().timestamp();
        let event =
            crate::events::stripe::checkout(event_id, "checkout.session.completed", now, session);
        Self {
            kind: Kind::TopUp,
            reference: payment_intent.to_owned(),
            amount,
            ..Self::stripe_event(receiver_url, organization, event_id, &event)
        }
    }

    /// Any Stripe event about `organization`, signed now and delivered to `receiver_url`; its
    /// reference is the event id.
    pub fn stripe_event(
        receiver_url: &str,
        organization: &str,
        event_id: &str,
        event: &Value,
    ) -> Self {
        let body = crate::events::bytes(event);
        let signature = testkit::signing::stripe_signature_header(
            STRIPE_WEBHOOK_SECRET,
            chrono::Utc::now().timestamp(),
            &body,
        );
        Self {
            kind: Kind::Delivery,
            organization: organization.to_owned(),
            reference: event_id.to_owned(),
            event_id: Some(event_id.to_owned()),
            amount: 0,
            attempts: Vec::new(),
            url: format!("{receiver_url}/webhooks/stripe"),
            headers: vec![
                ("Stripe-Signature".to_owned(), signature),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ],
            body,
        }
    }

    /// The ledger reference it books under.
    pub fn ledger_reference(&self) -> String {
        match self.kind {
            Kind::Debit | Kind::Credit => self.reference.clone(),
            Kind::TopUp => format!("topup:stripe:{}", self.reference),
            Kind::Delivery => String::new(),
        }
    }

    /// What it does to the balance, in minor units.
    pub fn balance_change(&self) -> i64 {
        match self.kind {
            Kind::Debit => -self.amount,
            Kind::Credit | Kind::TopUp => self.amount,
            Kind::Delivery => 0,
        }
    }

    /// Whether any attempt was acknowledged.
    pub fn acknowledged(&self) -> bool {
        self.attempts
            .iter()
            .any(|attempt| attempt.told.acknowledged())
    }

    /// Whether the first attempt was acknowledged.
    pub fn acknowledged_at_once(&self) -> bool {
        self.attempts
            .first()
            .is_some_and(|attempt| attempt.told.acknowledged())
    }

    /// When it was first acknowledged.
    pub fn acknowledged_at(&self) -> Option<Instant> {
        self.attempts
            .iter()
            .find(|attempt| attempt.told.acknowledged())
            .map(|attempt| attempt.at)
    }

    /// Sends it (again, identically) and records what it was told.
    pub async fn send(&mut self, http: &reqwest::Client) -> Told {
        let mut request = http.post(&self.url).body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let told = match request.send().await {
            Err(error) => Told::Unknown(error.to_string()),
            Ok(response) => {
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                read(self.kind, status, &body)
            }
        };
        self.attempts.push(Attempt {
            told: told.clone(),
            at: Instant::now(),
        });
        told
    }

    /// Sends it again, identically, until it is acknowledged or `until`; whether it was.
    pub async fn retry(&mut self, http: &reqwest::Client, until: Instant) -> bool {
        while !self.acknowledged() {
            if Instant::now() >= until {
                return false;
            }
            if !self.send(http).await.acknowledged() {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
        true
    }
}

fn read(kind: Kind, status: StatusCode, body: &Value) -> Told {
    let code = || body["code"].as_str().unwrap_or_default().to_owned();
    match (kind, status.as_u16()) {
        (Kind::Debit | Kind::Credit, 201) => Told::Done,
        (Kind::Debit | Kind::Credit, 200) if body["replayed"] == true => Told::AlreadyDone,
        (Kind::TopUp | Kind::Delivery, 200) if body["duplicate"] == true => Told::AlreadyDone,
        (Kind::TopUp | Kind::Delivery, 200) => Told::Done,
        (_, status @ (429 | 503)) => Told::Later(status, code()),
        (_, status @ 500..) => Told::Unknown(format!("{status} {}", code())),
        (_, status) => Told::Refused(status, body.to_string()),
    }
}

/// An HTTP client as the load's clients use: no connection kept between requests, so a
/// connection the server dropped is never reused, and a bounded wait.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"))
}

/// What a client sends: its `n`th operation.
pub type Plan = Arc<dyn Fn(usize) -> Operation + Send + Sync>;

/// Clients sending operations one after the other, each without waiting, until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Vec<Operation>>>,
    /// When each acknowledgement came, by kind.
    progress: Arc<std::sync::Mutex<Vec<(Kind, Instant)>>>,
}

impl Load {
    /// One client per plan.
    pub fn start(plans: Vec<Plan>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let progress: Arc<std::sync::Mutex<Vec<(Kind, Instant)>>> = Arc::default();
        let clients = plans
            .into_iter()
            .map(|plan| {
                let stop = Arc::clone(&stop);
                let progress = Arc::clone(&progress);
                tokio::spawn(async move {
                    let http = client();
                    let mut log = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let mut operation = plan(n);
                        let told = operation.send(&http).await;
                        if told.acknowledged() {
                            progress
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push((operation.kind, Instant::now()));
                        } else {
                            // A client that was told "later" or got nothing does not hammer;
                            // it moves on and leaves this one to the retries after the load.
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                        log.push(operation);
                    }
                    log
                })
            })
            .collect();
        Self {
            stop,
            clients,
            progress,
        }
    }

    /// How many operations of `kind` were acknowledged since `since`.
    pub fn acknowledged_since(&self, kind: Kind, since: Instant) -> usize {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(of, at)| *of == kind && *at >= since)
            .count()
    }

    /// Stops every client after its current operation; every operation, in no set order.
    pub async fn stop(self) -> Vec<Operation> {
        self.stop.store(true, Ordering::Release);
        let mut operations = Vec::new();
        for client in self.clients {
            operations.extend(
                client
                    .await
                    .unwrap_or_else(|e| panic!("a load client: {e}")),
            );
        }
        operations
    }
}
