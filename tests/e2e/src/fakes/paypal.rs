//! PayPal's REST API on loopback: OAuth2 client credentials and the subscription view the
//! binaries ask for (`GET /v1/billing/subscriptions/{id}`), which a test sets per subscription.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use super::{Recorded, basic_auth, recorded};

pub const CLIENT_ID: &str = "AeE2eClientId-e2e-0123456789";
pub const CLIENT_SECRET: &str = "EKe2eClientSecret-e2e-0123456789";
/// The access token the fake issues.
pub const ACCESS_TOKEN: &str = "A21AAe2e-access-token";

type Views = Arc<Mutex<HashMap<String, Value>>>;

/// Answers `GET /v1/billing/subscriptions/{id}` from the views the test set; 404 otherwise, and
/// 503 while PayPal is down.
struct SubscriptionViews {
    views: Views,
    down: Arc<AtomicBool>,
}

impl Respond for SubscriptionViews {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503).set_body_json(json!({
                "name": "SERVICE_UNAVAILABLE",
                "message": "Service Unavailable.",
                "debug_id": "e2e0000000503",
            }));
        }
        let id = request
            .url
            .path()
            .trim_start_matches("/v1/billing/subscriptions/");
        let view = self
            .views
            .lock()
            .unwrap_or_else(|e| panic!("fake PayPal: {e}"))
            .get(id)
            .cloned();
        match view {
            Some(view) => ResponseTemplate::new(200).set_body_json(view),
            None => ResponseTemplate::new(404).set_body_json(json!({
                "name": "RESOURCE_NOT_FOUND",
                "message": "The specified resource does not exist.",
                "debug_id": "e2e0000000001",
                "details": [{
                    "issue": "INVALID_RESOURCE_ID",
                    "description": "Requested resource ID was not found."
                }],
            })),
        }
    }
}

pub struct FakePayPal {
    server: MockServer,
    views: Views,
    down: Arc<AtomicBool>,
}

impl FakePayPal {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let views = Views::default();
        let down = Arc::new(AtomicBool::new(false));
        Mock::given(matchers::method("POST"))
            .and(matchers::path("/v1/oauth2/token"))
            .and(matchers::header(
                "authorization",
                basic_auth(CLIENT_ID, CLIENT_SECRET).as_str(),
            ))
            .and(matchers::body_string("grant_type=client_credentials"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "scope": "https://uri.paypal.com/services/subscriptions",
                "access_token": ACCESS_TOKEN,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": 32400,
                "nonce": "2026-01-15T11:55:00ZE2E",
            })))
            .mount(&server)
            .await;
        Mock::given(matchers::method("GET"))
            .and(matchers::path_regex(
                r"^/v1/billing/subscriptions/[A-Za-z0-9-]+$",
            ))
            .and(matchers::header(
                "authorization",
                format!("Bearer {ACCESS_TOKEN}").as_str(),
            ))
            .respond_with(SubscriptionViews {
                views: views.clone(),
                down: down.clone(),
            })
            .mount(&server)
            .await;
        // Anything else (a wrong credential, an unknown route) is PayPal's 401.
        Mock::given(matchers::any())
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            })))
            .with_priority(10)
            .mount(&server)
            .await;
        Self {
            server,
            views,
            down,
        }
    }

    /// While `down`, subscription reads answer 503 (PayPal's outage).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// What `GET /v1/billing/subscriptions/{id}` answers from now on.
    pub fn set_subscription(&self, view: &PayPalSubscriptionView) {
        self.views
            .lock()
            .unwrap_or_else(|e| panic!("fake PayPal: {e}"))
            .insert(view.id.clone(), view.to_json());
    }

    pub async fn requests(&self) -> Vec<Recorded> {
        recorded(&self.server).await
    }

    /// The `GET`s of subscription `id`.
    pub async fn subscription_fetches(&self, id: &str) -> Vec<Recorded> {
        let path = format!("/v1/billing/subscriptions/{id}");
        self.requests()
            .await
            .into_iter()
            .filter(|request| request.method == "GET" && request.path == path)
            .collect()
    }
}

/// A subscription as PayPal's `GET /v1/billing/subscriptions/{id}` shows it (the shape of its
/// API reference; also the resource of `BILLING.SUBSCRIPTION.*` events).
#[derive(Debug, Clone)]
pub struct PayPalSubscriptionView {
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `APPROVAL_PENDING` ...
    pub status: String,
    /// Our organization id.
    pub custom_id: String,
    /// `"29.00"`.
    pub outstanding: String,
    pub currency: String,
    pub next_billing_time: Option<DateTime<Utc>>,
    pub failed_payments_count: u32,
    pub updated_at: DateTime<Utc>,
}

impl PayPalSubscriptionView {
    pub fn to_json(&self) -> Value {
        let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut billing_info = json!({
            "outstanding_balance": {"currency_code": self.currency, "value": self.outstanding},
            "cycle_executions": [{
                "tenure_type": "REGULAR",
                "sequence": 1,
                "cycles_completed": 1,
                "cycles_remaining": 0,
                "current_pricing_scheme_version": 1,
                "total_cycles": 0,
            }],
            "failed_payments_count": self.failed_payments_count,
        });
        if let Some(next) = self.next_billing_time {
            billing_info["next_billing_time"] = json!(time(next));
        }
        json!({
            "id": self.id,
            "plan_id": "P-5ML4271244454362WXNWU5NQ",
            "status": self.status,
            "status_update_time": time(self.updated_at),
            "custom_id": self.custom_id,
            "start_time": time(self.updated_at - chrono::Duration::days(1)),
            "quantity": "1",
            "shipping_amount": {"currency_code": self.currency, "value": "0.0"},
            "subscriber": {
                "name": {"given_name": "Acme", "surname": "Ltd"},
                "email_address": "billing@acme.example",
                "payer_id": "2J6QB8YJQSJRJ",
            },
            "billing_info": billing_info,
            "create_time": time(self.updated_at - chrono::Duration::days(1)),
            "update_time": time(self.updated_at),
            "plan_overridden": false,
            "links": [{
                "href": format!("https://api-m.paypal.com/v1/billing/subscriptions/{}", self.id),
                "rel": "self",
                "method": "GET",
            }],
        })
    }
}
