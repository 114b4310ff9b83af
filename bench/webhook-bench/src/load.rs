//! The senders: one tokio task per concurrent sender, each posting one delivery at a time over
//! a keep-alive connection (reqwest, HTTP/1.1) and timing each from the request's start to the
//! last byte of the answer.
//!
//! Deliveries are made before the clock starts (signing a PayPal delivery is an RSA signature,
//! about a millisecond of the same two cores the receiver runs on); a sender that runs out makes
//! more on the spot, and the run reports how many (`made_during_run`).

use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use benchkit::stats::{self, Summary};
use chrono::Utc;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    deliveries::{Delivery, Organization, Signer},
    mix::{Duplicates, Kind, Planner},
    usage,
};

/// What every sender's deliveries are made from.
#[derive(Clone)]
pub struct Maker {
    pub signer: Arc<Signer>,
    pub organizations: Arc<Vec<Organization>>,
    /// Unique in the process: every id in every delivery comes from it.
    pub serial: Arc<AtomicU64>,
    pub duplicates_percent: u32,
}

/// One delivery as sent: a first sending, or an identical re-send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub delivery: Delivery,
    pub resend: bool,
}

/// One sender's stream of deliveries about its own organizations.
pub struct Script {
    maker: Maker,
    planner: Planner,
    rng: StdRng,
    duplicates: Duplicates<Delivery>,
    /// The PayPal subscriptions' state as planned so far (by organization index).
    suspended: Vec<bool>,
    ready: VecDeque<Sent>,
    made_during_run: u64,
}

impl Script {
    pub fn new(maker: Maker, owned: &[usize], suspended: Vec<bool>, seed: u64) -> Self {
        let duplicates = Duplicates::new(maker.duplicates_percent);
        Self {
            planner: Planner::new(owned),
            maker,
            rng: StdRng::seed_from_u64(seed),
            duplicates,
            suspended,
            ready: VecDeque::new(),
            made_during_run: 0,
        }
    }

    fn make(&mut self) -> anyhow::Result<Sent> {
        if let Some(delivery) = self.duplicates.due() {
            return Ok(Sent {
                delivery,
                resend: true,
            });
        }
        let planned = self.planner.next(&mut self.rng, &mut self.suspended);
        let organization = self
            .maker
            .organizations
            .get(planned.organization)
            .context("the plan names an organization that was not made")?;
        let serial = self.maker.serial.fetch_add(1, Ordering::Relaxed);
        let delivery =
            self.maker
                .signer
                .sign(planned, organization, serial, Utc::now(), &mut self.rng)?;
        self.duplicates.original(&delivery, &mut self.rng);
        Ok(Sent {
            delivery,
            resend: false,
        })
    }

    /// Makes `count` deliveries ahead, before the clock starts.
    pub fn prepare(&mut self, count: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            let sent = self.make()?;
            self.ready.push_back(sent);
        }
        Ok(())
    }

    /// The deliveries made ahead, taken out (for sending them some other way).
    pub fn take_ready(&mut self) -> Vec<Sent> {
        self.ready.drain(..).collect()
    }

    fn next(&mut self) -> anyhow::Result<Sent> {
        match self.ready.pop_front() {
            Some(sent) => Ok(sent),
            None => {
                self.made_during_run += 1;
                self.make()
            }
        }
    }

    /// `count` distinct deliveries (no re-sends), for a baseline to send round and round.
    pub fn distinct(&mut self, count: usize) -> anyhow::Result<Vec<Delivery>> {
        let mut made = Vec::with_capacity(count);
        while made.len() < count {
            let sent = self.make()?;
            if !sent.resend {
                made.push(sent.delivery);
            }
        }
        Ok(made)
    }
}

/// Where a sender's deliveries come from.
pub enum Source {
    /// A baseline: the same deliveries again and again (nothing is stored, so nothing is a
    /// duplicate).
    Cycle(Vec<Delivery>),
    /// The intake: each delivery once, re-sends included, every answer recorded.
    Script(Box<Script>),
}

/// The receiver's answer to a stored delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub inbox_id: Uuid,
    pub duplicate: bool,
    pub status: String,
}

/// One delivery sent to the intake and what came back.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Arc<str>,
    pub kind: Kind,
    pub organization: usize,
    pub resend: bool,
    pub top_up_minor: Option<i64>,
    /// `Err`: the transport failed or the answer was not a 200 with the receiver's JSON.
    pub answer: Result<Answer, String>,
}

/// When a run's timing starts (after the warm-up) and when the senders stop.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measure_from: Instant,
    pub end: Instant,
}

impl Window {
    pub fn starting_now(warmup: Duration, seconds: Duration) -> Self {
        let start = Instant::now();
        Self {
            measure_from: start + warmup,
            end: start + warmup + seconds,
        }
    }
}

/// What one sender did.
#[derive(Default)]
pub struct SenderResult {
    /// Requests started inside the measured window that were answered 200.
    pub latencies_us: Vec<u64>,
    /// Requests started inside the window that failed (transport, non-200, unreadable answer).
    pub errors: usize,
    /// Failed requests, warm-up included.
    pub errors_total: usize,
    pub error_samples: Vec<String>,
    pub records: Vec<Record>,
    pub made_during_run: u64,
    /// Requests sent, warm-up included.
    pub sent: usize,
}

/// One sender: one request at a time until the window ends.
pub struct Sender {
    pub client: reqwest::Client,
    pub base_url: String,
    pub window: Window,
}

/// One request; the answer's body as bytes.
async fn post(
    client: &reqwest::Client,
    url: &str,
    delivery: &Delivery,
) -> Result<axum::body::Bytes, String> {
    let response = client
        .post(url)
        .headers(delivery.headers.clone())
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status != reqwest::StatusCode::OK {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(format!("HTTP {status}: {text}"));
    }
    Ok(body)
}

fn answer(body: &[u8]) -> Result<Answer, String> {
    let received: webhooks::ReceivedResponse =
        serde_json::from_slice(body).map_err(|e| format!("unreadable answer: {e}"))?;
    Ok(Answer {
        inbox_id: received.inbox_id,
        duplicate: received.duplicate,
        status: received.status.as_str().to_owned(),
    })
}

/// Sends one delivery to the intake and records the answer; returns the latency too.
pub async fn send_one(client: &reqwest::Client, base_url: &str, sent: &Sent) -> (Record, Duration) {
    let url = format!("{base_url}{}", sent.delivery.path());
    let started = Instant::now();
    let posted = post(client, &url, &sent.delivery).await;
    let latency = started.elapsed();
    let record = Record {
        key: sent.delivery.key.clone(),
        kind: sent.delivery.kind,
        organization: sent.delivery.organization,
        resend: sent.resend,
        top_up_minor: sent.delivery.top_up_minor,
        answer: posted.and_then(|body| answer(&body)),
    };
    (record, latency)
}

impl Sender {
    pub async fn run(self, mut source: Source) -> SenderResult {
        let mut result = SenderResult::default();
        let mut turn = 0usize;
        while Instant::now() < self.window.end {
            let (outcome, started, latency) = match &mut source {
                Source::Cycle(deliveries) => {
                    let Some(delivery) = deliveries.get(turn % deliveries.len().max(1)) else {
                        break;
                    };
                    turn += 1;
                    let url = format!("{}{}", self.base_url, delivery.path());
                    let started = Instant::now();
                    let posted = post(&self.client, &url, delivery).await;
                    (posted.map(|_| ()), started, started.elapsed())
                }
                Source::Script(script) => {
                    let sent = match script.next() {
                        Ok(sent) => sent,
                        Err(error) => {
                            result.errors_total += 1;
                            result.error_samples.push(format!("making: {error:#}"));
                            break;
                        }
                    };
                    let started = Instant::now();
                    let (record, latency) = send_one(&self.client, &self.base_url, &sent).await;
                    let outcome = record.answer.as_ref().map(|_| ()).map_err(Clone::clone);
                    result.records.push(record);
                    (outcome, started, latency)
                }
            };
            result.sent += 1;
            let measured = started >= self.window.measure_from && started < self.window.end;
            match outcome {
                Ok(()) if measured => result
                    .latencies_us
                    .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
                Ok(()) => {}
                Err(error) => {
                    result.errors_total += 1;
                    if measured {
                        result.errors += 1;
                    }
                    if result.error_samples.len() < 5 {
                        result.error_samples.push(error);
                    }
                }
            }
        }
        if let Source::Script(script) = source {
            result.made_during_run = script.made_during_run;
        }
        result
    }
}

/// What all senders of one run did.
pub struct RunResult {
    pub summary: Summary,
    pub errors: usize,
    pub errors_total: usize,
    pub error_samples: Vec<String>,
    pub records: Vec<Record>,
    pub made_during_run: u64,
    /// Requests sent, warm-up included.
    pub sent: usize,
    /// CPU used by the machine and by this process while the senders ran.
    pub cpu: Value,
}

/// A run's latencies as the `summary` of its `result` line.
pub fn summary_json(summary: &Summary) -> Value {
    json!({
        "requests": summary.count,
        "per_sec": summary.per_sec,
        "mean_ms": summary.mean_ms,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "p999_ms": summary.p999_ms,
        "max_ms": summary.max_ms,
    })
}

/// Runs one sender per source until the window ends.
pub async fn run(
    client: &reqwest::Client,
    base_url: &str,
    sources: Vec<Source>,
    warmup: Duration,
    seconds: Duration,
) -> anyhow::Result<RunResult> {
    let cpu_before = usage::cpu();
    let window = Window::starting_now(warmup, seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for source in sources {
        let sender = Sender {
            client: client.clone(),
            base_url: base_url.to_owned(),
            window,
        };
        tasks.spawn(sender.run(source));
    }
    let mut latencies = Vec::new();
    let mut merged = RunResult {
        summary: stats::summarize(Vec::new(), 1.0),
        errors: 0,
        errors_total: 0,
        error_samples: Vec::new(),
        records: Vec::new(),
        made_during_run: 0,
        sent: 0,
        cpu: Value::Null,
    };
    while let Some(result) = tasks.join_next().await {
        let result = result.context("a sender panicked")?;
        latencies.extend(result.latencies_us);
        merged.errors += result.errors;
        merged.errors_total += result.errors_total;
        for sample in result.error_samples {
            if merged.error_samples.len() < 5 {
                merged.error_samples.push(sample);
            }
        }
        merged.records.extend(result.records);
        merged.made_during_run += result.made_during_run;
        merged.sent += result.sent;
    }
    merged.cpu = usage::per_delivery(cpu_before, usage::cpu(), merged.sent);
    merged.summary = stats::summarize(latencies, seconds.as_secs_f64());
    Ok(merged)
}

/// The PayPal subscriptions' state after a run, from what was actually sent (deliveries made
/// ahead and never sent do not count). Each organization has one sender, whose records are in
/// the order it sent them.
pub fn suspended_after(records: &[Record], mut suspended: Vec<bool>) -> Vec<bool> {
    for record in records.iter().filter(|r| !r.resend) {
        match record.kind {
            Kind::PayPalSuspended => suspended[record.organization] = true,
            Kind::PayPalActivated => suspended[record.organization] = false,
            _ => {}
        }
    }
    suspended
}
