//! The loopback servers besides the receiver: the two baselines and a fake PayPal API.
//!
//! - **http**: the same HTTP stack as the receiver (`httpkit::server::finish` and `serve`), a
//!   handler that reads the body and answers 200 with an answer shaped like the receiver's: the
//!   cost of HTTP alone.
//! - **verify**: the same, verifying the delivery's signature with the configured adapters
//!   (`Providers::verify`) before answering: HTTP plus verification, no database.
//! - **fake PayPal**: OAuth tokens and `GET /v1/billing/subscriptions/{id}` answering "active,
//!   nothing outstanding", which the intake asks before reinstating a suspended subscription on
//!   `BILLING.SUBSCRIPTION.ACTIVATED`. It answers at once; the real PayPal takes far longer.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use billing::{Providers, WebhookRequest};
use chrono::{Duration, SecondsFormat, Utc};
use primitives::ProviderName;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A server on a loopback port, stopped by [`Served::stop`].
pub struct Served {
    pub base_url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(router: Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("could not listen on loopback")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(httpkit::server::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            base_url,
            stop,
            task,
        })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// What the baselines answer: the receiver's answer, with a fixed id.
fn answer() -> Json<Value> {
    Json(json!({
        "inbox_id": "0195f3a2-7c1e-7b3a-9f1d-2c4e6a8b0d12",
        "duplicate": false,
        "status": "applied",
    }))
}

fn provider(name: &str) -> Result<ProviderName, StatusCode> {
    ProviderName::parse(name).ok_or(StatusCode::NOT_FOUND)
}

async fn read_only(Path(name): Path<String>, body: Bytes) -> Result<Json<Value>, StatusCode> {
    provider(&name)?;
    // The body is read (the extractor) and looked at, so nothing is skipped.
    std::hint::black_box(body.len());
    Ok(answer())
}

async fn verify_only(
    State(providers): State<Providers>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, StatusCode> {
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    providers
        .verify(provider(&name)?, request)
        .await
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    Ok(answer())
}

/// `body_limit`: the receiver's, so the stacks match.
pub async fn http_baseline(body_limit: usize) -> anyhow::Result<Served> {
    let router = Router::new().route("/webhooks/{provider}", post(read_only));
    Served::start(httpkit::server::finish(router, body_limit)).await
}

pub async fn verify_baseline(providers: Providers, body_limit: usize) -> anyhow::Result<Served> {
    let router = Router::new()
        .route("/webhooks/{provider}", post(verify_only))
        .with_state(providers);
    Served::start(httpkit::server::finish(router, body_limit)).await
}

/// How often the intake asked the fake PayPal.
#[derive(Debug, Default)]
pub struct PayPalCalls {
    pub tokens: AtomicU64,
    pub subscriptions: AtomicU64,
}

async fn token(State(calls): State<Arc<PayPalCalls>>) -> Json<Value> {
    calls.tokens.fetch_add(1, Ordering::Relaxed);
    Json(json!({
        "scope": "https://uri.paypal.com/services/subscriptions",
        "access_token": "A21AAbench",
        "token_type": "Bearer",
        "app_id": "APP-80W284485P519543T",
        "expires_in": 32_400,
        "nonce": "2026-01-01T00:00:00Zbench",
    }))
}

async fn subscription(
    State(calls): State<Arc<PayPalCalls>>,
    Path(id): Path<String>,
) -> Json<Value> {
    calls.subscriptions.fetch_add(1, Ordering::Relaxed);
    let now = Utc::now();
    let time = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    Json(json!({
        "id": id,
        "plan_id": "P-5ML4271244454362WXNWU5NQ",
        "status": "ACTIVE",
        "status_update_time": time(now),
        "billing_info": {
            "outstanding_balance": { "currency_code": "USD", "value": "0.00" },
            "next_billing_time": time(now + Duration::days(30)),
            "failed_payments_count": 0,
        },
        "create_time": time(now - Duration::days(90)),
        "update_time": time(now),
    }))
}

pub async fn fake_paypal(calls: Arc<PayPalCalls>) -> anyhow::Result<Served> {
    let router = Router::new()
        .route("/v1/oauth2/token", post(token))
        .route("/v1/billing/subscriptions/{id}", get(subscription))
        .with_state(calls);
    Served::start(router).await
}
