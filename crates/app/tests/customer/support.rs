//! The world of the customer-action tests: the app over a fresh database, a fake Stripe and a
//! fake PayPal (wiremock), PayHere configured for its forms, the plan catalog and top-up
//! limits, an organization with a key, the webhook routes on a listener of their own, and a
//! snapshot of every table a customer action may write.

use std::sync::Arc;

use app::config::Config;
use billing::{Providers, ProvidersConfig, http::RetryPolicy};
use db::schema::{
    access_blocks, customer_requests, outbox_messages, subscription_events, subscriptions, top_ups,
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use enforcement::{
    ProviderCommandHandler,
    customer::{CustomerConfig, PlanCatalog, TopUpLimits},
};
use primitives::Clock;
use reqwest::Response;
use serde_json::{Value, json};
use testkit::TestDb;
use wiremock::{
    Match, Mock, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

use crate::common::{ADMIN_TOKEN, Books, Org, TestApp, send};

pub const STRIPE_SECRET: &str = "sk_test_customer_actions";
pub const STRIPE_WHSEC: &str = "whsec_customer_actions";
pub const PAYPAL_PLAN: &str = "P-5ML4271244454362WXNWU5NQ";
/// `pro` with every provider, `starter` with Stripe only.
pub const PLANS: &str = "pro:stripe=price_pro,paypal=P-5ML4271244454362WXNWU5NQ,payhere=pro_lkr;starter:stripe=price_starter";
pub const RETURN_URL: &str = "https://app.example.com/billing/done";
pub const CANCEL_URL: &str = "https://app.example.com/billing";

pub struct World {
    pub app: TestApp,
    pub stripe: MockServer,
    pub paypal: MockServer,
    /// The adapters, as the worker builds them (for the outbox handler).
    pub providers: Providers,
    pub acme: Org,
    webhooks: String,
}

impl World {
    /// Where the webhook routes listen.
    pub fn webhooks(&self) -> &str {
        &self.webhooks
    }
}

/// Everything a customer action may write, to prove that a refused or failed one wrote
/// nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Written {
    pub books: Books,
    /// (id, status, cancel at period end).
    pub subscriptions: Vec<(uuid::Uuid, String, bool)>,
    pub events: i64,
    pub blocks: Vec<(uuid::Uuid, String)>,
    pub requests: i64,
    pub top_ups: i64,
    pub outbox: i64,
}

/// A form body of exactly these pairs, in any order.
pub struct FormIs(Vec<(String, String)>);

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        got.sort();
        got == self.0
    }
}

pub fn form(pairs: &[(&str, &str)]) -> FormIs {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    pairs.sort();
    FormIs(pairs)
}

fn providers_config(stripe: &MockServer, paypal: &MockServer) -> ProvidersConfig {
    let pairs = [
        ("STRIPE_WEBHOOK_SECRETS", STRIPE_WHSEC.to_owned()),
        ("STRIPE_SECRET_KEY", STRIPE_SECRET.to_owned()),
        ("STRIPE_API_BASE_URL", stripe.uri()),
        ("PAYPAL_WEBHOOK_IDS", "WH-CUSTOMER-TESTS".to_owned()),
        ("PAYPAL_API_BASE_URL", paypal.uri()),
        ("PAYPAL_CLIENT_ID", "client-id".to_owned()),
        ("PAYPAL_CLIENT_SECRET", "client-secret".to_owned()),
        ("PAYHERE_MERCHANT_ID", "1211149".to_owned()),
        (
            "PAYHERE_MERCHANT_SECRET",
            "payhere-merchant-secret".to_owned(),
        ),
        ("PAYHERE_APP_ID", "payhere-app".to_owned()),
        ("PAYHERE_APP_SECRET", "payhere-app-secret".to_owned()),
        ("PAYHERE_BASE_URL", "https://sandbox.payhere.lk".to_owned()),
        (
            "PAYHERE_NOTIFY_URL",
            "https://api.example.com/webhooks/payhere".to_owned(),
        ),
        (
            "PAYHERE_PLANS",
            "pro_lkr=LKR 2500.00/1 Month/Forever/Pro".to_owned(),
        ),
    ];
    let mut config = ProvidersConfig::from_lookup(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    // One attempt: the tests count every request a provider gets.
    config.stripe.as_mut().unwrap().retry = RetryPolicy::ONCE;
    config.paypal.as_mut().unwrap().retry = RetryPolicy::ONCE;
    config
}

impl World {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(configure: impl FnOnce(&mut Config)) -> Self {
        let stripe = MockServer::start().await;
        let paypal = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "A21AAFakeToken", "token_type": "Bearer", "expires_in": 32400
            })))
            .mount(&paypal)
            .await;
        let providers = providers_config(&stripe, &paypal);
        let for_app = providers.clone();
        let app = TestApp::spawn_with(TestDb::new().await, move |config| {
            config.services.providers = for_app;
            config.services.customer = CustomerConfig {
                plans: PlanCatalog::parse(PLANS).unwrap(),
                top_up_limits: TopUpLimits::parse("USD:5.00-500.00,LKR:1000.00-100000.00").unwrap(),
            };
            configure(config);
        })
        .await;
        let providers = providers.build(Arc::new(app.clock.clone())).unwrap();
        let acme = app.org_with_key("Acme").await;
        // The webhook receiver's routes, as the development mode mounts them.
        let router = app::router(
            app.state.clone(),
            64 * 1024,
            app::DevWebhooks {
                providers: true,
                twilio: None,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhooks = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            app,
            stripe,
            paypal,
            providers,
            acme,
            webhooks,
        }
    }

    pub fn org_uuid(&self, org: &Org) -> uuid::Uuid {
        org.id.parse().unwrap()
    }

    /// A POST with the organization's key, an `Idempotency-Key` and an optional JSON body.
    pub async fn post(&self, org: &Org, path: &str, key: &str, body: Option<&Value>) -> Response {
        self.post_as(&org.key, path, key, body).await
    }

    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Response {
        let request = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key);
        send(match body {
            Some(body) => request.json(body),
            None => request,
        })
        .await
    }

    pub async fn get(&self, org: &Org, path: &str) -> Response {
        send(
            self.app
                .client
                .get(self.app.url(path))
                .bearer_auth(&org.key),
        )
        .await
    }

    pub async fn admin_get(&self, path: &str) -> Response {
        send(
            self.app
                .client
                .get(self.app.url(path))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await
    }

    pub async fn written(&self) -> Written {
        let mut conn = self.app.conn().await;
        Written {
            books: self.app.books().await,
            subscriptions: subscriptions::table
                .select((
                    subscriptions::id,
                    subscriptions::status,
                    subscriptions::cancel_at_period_end,
                ))
                .order(subscriptions::id)
                .load(&mut conn)
                .await
                .unwrap(),
            events: subscription_events::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            blocks: access_blocks::table
                .select((access_blocks::organization_id, access_blocks::source))
                .order((access_blocks::organization_id, access_blocks::source))
                .load(&mut conn)
                .await
                .unwrap(),
            requests: customer_requests::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            top_ups: top_ups::table.count().get_result(&mut conn).await.unwrap(),
            outbox: outbox_messages::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
        }
    }

    /// The `billing.provider` messages of the organization: (action, target, status).
    pub async fn provider_commands(&self, org: &Org) -> Vec<(String, String, String)> {
        let rows: Vec<(Value, String)> = outbox_messages::table
            .filter(outbox_messages::topic.eq("billing.provider"))
            .filter(outbox_messages::organization_id.eq(self.org_uuid(org)))
            .order(outbox_messages::id)
            .select((outbox_messages::payload, outbox_messages::status))
            .load(&mut self.app.conn().await)
            .await
            .unwrap();
        rows.into_iter()
            .map(|(payload, status)| {
                (
                    payload["action"].as_str().unwrap().to_owned(),
                    payload["target"].as_str().unwrap().to_owned(),
                    status,
                )
            })
            .collect()
    }

    /// One pass of the `billing.provider` handler, as the worker runs it.
    pub async fn deliver_provider_commands(&self) -> outbox::DeliveryReport {
        let handler =
            ProviderCommandHandler::new(self.app.state.pool.clone(), self.providers.clone());
        outbox::deliver_batch(&self.app.state.pool, &self.app.state.outbox, &handler, 10)
            .await
            .unwrap()
    }

    /// A Stripe delivery, signed with the endpoint's secret now, to `POST /webhooks/stripe`.
    pub async fn stripe_webhook(&self, event: &Value) -> Response {
        let body = serde_json::to_vec(event).unwrap();
        let signature = testkit::signing::stripe_signature_header(
            STRIPE_WHSEC,
            self.app.clock.now().timestamp(),
            &body,
        );
        send(
            self.app
                .client
                .post(format!("{}/webhooks/stripe", self.webhooks))
                .header("Stripe-Signature", signature)
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await
    }

    /// The requests the fake `server` received at `path` with `method`.
    pub async fn received(server: &MockServer, method: &str, path: &str) -> Vec<Request> {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.method.as_str() == method && request.url.path() == path)
            .collect()
    }

    /// A Stripe subscription the organization started (pending), answered by the fake Stripe.
    pub async fn started_with_stripe(&self, org: &Org, subscription: &str) -> Value {
        Mock::given(method("POST"))
            .and(path("/v1/subscriptions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": subscription, "object": "subscription", "status": "incomplete",
                "customer": "cus_acme",
                "latest_invoice": {"id": "in_first", "hosted_invoice_url":
                    format!("https://invoice.stripe.com/i/{subscription}")}
            })))
            .up_to_n_times(1)
            .mount(&self.stripe)
            .await;
        let body = json!({"plan": "pro", "provider": "stripe", "return_url": RETURN_URL,
                          "cancel_url": CANCEL_URL, "customer_id": "cus_acme"});
        let response = self
            .post(org, "/v1/subscription", &crate::common::key(), Some(&body))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// A Stripe subscription that the provider confirmed: started, then paid (`invoice.paid`
    /// through the webhook route).
    pub async fn active_with_stripe(&self, org: &Org, subscription: &str) {
        self.started_with_stripe(org, subscription).await;
        let paid = self.invoice_paid(org, subscription, "evt_first_payment", 30);
        assert_eq!(self.stripe_webhook(&paid).await.status(), 200);
        assert_eq!(self.status(org).await, "active");
    }

    /// A signed-ready `invoice.paid` of `subscription`, paying `days` ahead.
    pub fn invoice_paid(&self, org: &Org, subscription: &str, event_id: &str, days: i64) -> Value {
        let now = self.app.clock.now().timestamp();
        json!({
            "id": event_id, "object": "event", "type": "invoice.paid", "created": now,
            "data": {"object": {
                "id": format!("in_{event_id}"), "object": "invoice", "status": "paid",
                "currency": "usd", "amount_due": 4900, "amount_paid": 4900,
                "parent": {"subscription_details": {
                    "subscription": subscription,
                    "metadata": {"organization_id": org.id}}},
                "lines": {"object": "list", "data": [{
                    "period": {"start": now, "end": now + days * 86_400},
                    "parent": {"type": "subscription_item_details"}}]}
            }}
        })
    }

    /// The organization's subscription status, as its key reads it.
    pub async fn status(&self, org: &Org) -> String {
        let response = self.get(org, "/v1/subscription").await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["status"].as_str().unwrap().to_owned()
    }

    /// The access blocks' sources in force for the organization.
    pub async fn block_sources(&self, org: &Org) -> Vec<String> {
        let response = self
            .admin_get(&format!("/v1/admin/organizations/{}/access-blocks", org.id))
            .await;
        let body: Value = response.json().await.unwrap();
        body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|block| block["source"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The `Idempotency-Key` header of a received request.
pub fn idempotency_key(request: &Request) -> String {
    request
        .headers
        .get("idempotency-key")
        .or_else(|| request.headers.get("paypal-request-id"))
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

impl World {
    /// An active subscription set up by an operator: created with `provider`'s id (or none),
    /// then paid by hand.
    pub async fn admin_subscribed(&self, org: &Org, provider: Option<(&str, &str)>) {
        let mut body = json!({"plan": "pro"});
        if let Some((name, id)) = provider {
            body["provider"] = json!(name);
            body["provider_subscription_id"] = json!(id);
        }
        let path = format!("/v1/admin/organizations/{}/subscriptions", org.id);
        let response = self
            .post_as(ADMIN_TOKEN, &path, &crate::common::key(), Some(&body))
            .await;
        assert_eq!(response.status(), 201);
        let period_end = self.app.clock.now() + chrono::Duration::days(30);
        let payment = json!({"amount": "49.00", "currency": "USD", "period_end": period_end});
        let path = format!(
            "/v1/admin/organizations/{}/subscription/manual-payment",
            org.id
        );
        let response = self
            .post_as(ADMIN_TOKEN, &path, &crate::common::key(), Some(&payment))
            .await;
        assert_eq!(response.status(), 201);
        assert_eq!(self.status(org).await, "active");
    }

    /// `(status, last_error)` of the organization's `billing.provider` messages.
    pub async fn provider_command_errors(&self, org: &Org) -> Vec<(String, Option<String>, i32)> {
        outbox_messages::table
            .filter(outbox_messages::topic.eq("billing.provider"))
            .filter(outbox_messages::organization_id.eq(self.org_uuid(org)))
            .order(outbox_messages::id)
            .select((
                outbox_messages::status,
                outbox_messages::last_error,
                outbox_messages::attempts,
            ))
            .load(&mut self.app.conn().await)
            .await
            .unwrap()
    }
}
