//! What the campaign tests share: a fake Twilio on loopback (wiremock) that records every
//! request, apps wired to it, the requests every test sends, the subscription driven through
//! the app's own enforcer, and a snapshot of every campaign table to prove that a refused
//! request changed nothing.

use std::{
    collections::BTreeMap,
    future::{Future, IntoFuture},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use app::config::Config;
use base64::Engine;
use campaigns::{DispatchConfig, Dispatcher, RunReport};
use chrono::TimeDelta;
use db::schema::{
    brands, campaign_holds, campaign_recipients, campaigns as campaign_rows, outbox_messages,
};
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use primitives::OrganizationId;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use subscriptions::{
    EventEnvelope, EventId, EventSource, FailureReason, SubscriptionEvent, SubscriptionStatus,
};
use testkit::TestDb;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::common::{ADMIN_TOKEN, Books, Org, TestApp, key, send};

/// The parent Twilio account the api authenticates as.
pub const PARENT_SID: &str = "ACfeedfacefeedfacefeedfacefeedface";
pub const AUTH_TOKEN: &str = "twilio-auth-token-for-tests";
/// The sender of the test campaigns.
pub const FROM: &str = "+14155550199";
pub const BODY: &str = "Spring sale: 20% off until Sunday. Reply STOP to opt out.";

/// A brand subaccount SID, distinct per `n`.
pub fn subaccount(n: u32) -> String {
    format!("AC{n:032x}")
}

/// `n` distinct E.164 numbers.
pub fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1415555{:04}", 100 + i)).collect()
}

// ---------------------------------------------------------------------------------------------
// The fake Twilio

/// Accepts every message with a fresh `SM...` SID.
struct AcceptMessages {
    sent: AtomicUsize,
}

impl Respond for AcceptMessages {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(201).set_body_json(json!({
            "sid": format!("SM{n:032x}"),
            "status": "queued",
            "price": null,
            "price_unit": "USD",
        }))
    }
}

/// Answers a subaccount status change with the status asked for.
struct SetStatus;

impl Respond for SetStatus {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form = form(&request.body);
        let sid = request
            .url
            .path()
            .trim_start_matches("/2010-04-01/Accounts/")
            .trim_end_matches(".json")
            .to_owned();
        ResponseTemplate::new(200).set_body_json(json!({
            "sid": sid,
            "friendly_name": "brand",
            "status": form.get("Status").cloned().unwrap_or_default(),
        }))
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub form: BTreeMap<String, String>,
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Twilio on loopback: messages are accepted (`SM` + a counter), subaccount status changes
/// applied; every request is recorded.
pub struct FakeTwilio {
    pub server: MockServer,
}

impl FakeTwilio {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path_regex(
                r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages\.json$",
            ))
            .respond_with(AcceptMessages {
                sent: AtomicUsize::new(0),
            })
            .with_priority(5)
            .mount(&server)
            .await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path_regex(
                r"^/2010-04-01/Accounts/AC[0-9a-f]{32}\.json$",
            ))
            .respond_with(SetStatus)
            .with_priority(5)
            .mount(&server)
            .await;
        Self { server }
    }

    /// The next `times` sends fail with a 500 (Twilio may or may not have sent them).
    pub async fn fail_next_sends(&self, times: u64) {
        Mock::given(matchers::method("POST"))
            .and(matchers::path_regex(r"/Messages\.json$"))
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({
                "code": 20500, "message": "Internal Server Error", "more_info": null, "status": 500,
            })))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// The settings that point the api at this fake.
    pub fn settings(&self) -> twilio::TwilioConfig {
        let mut settings =
            twilio::TwilioConfig::new(PARENT_SID, SecretString::from(AUTH_TOKEN.to_owned()));
        settings.base_url = self.server.uri();
        settings
    }

    pub async fn requests(&self) -> Vec<Received> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|request| Received {
                method: request.method.to_string(),
                path: request.url.path().to_owned(),
                authorization: request
                    .headers
                    .get("authorization")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
                form: form(&request.body),
            })
            .collect()
    }

    /// The message sends received.
    pub async fn sends(&self) -> Vec<Received> {
        self.requests()
            .await
            .into_iter()
            .filter(|request| request.path.ends_with("/Messages.json"))
            .collect()
    }

    /// The subaccount status changes received.
    pub async fn status_changes(&self) -> Vec<Received> {
        self.requests()
            .await
            .into_iter()
            .filter(|request| !request.path.ends_with("/Messages.json"))
            .collect()
    }

    /// A dispatcher of `app`'s campaigns through this fake, driven by the test.
    pub fn dispatcher(
        &self,
        app: &TestApp,
        concurrency: usize,
    ) -> Dispatcher<std::sync::Arc<twilio::TwilioClient>> {
        let client = twilio::TwilioClient::new(self.settings()).unwrap();
        let config = DispatchConfig {
            batch_size: 100,
            concurrency,
            worker: "test-dispatcher".to_owned(),
            ..DispatchConfig::default()
        };
        Dispatcher::new(
            app.state.pool.clone(),
            app.state.campaigns.clone(),
            std::sync::Arc::new(client),
            config,
        )
    }
}

/// The Basic credential of the parent account.
pub fn parent_basic_auth() -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{PARENT_SID}:{AUTH_TOKEN}"));
    format!("Basic {encoded}")
}

/// Runs the dispatcher until a pass does nothing (as a worker loop does); returns the reports.
pub async fn drain(
    dispatcher: &Dispatcher<std::sync::Arc<twilio::TwilioClient>>,
) -> Vec<RunReport> {
    let mut reports = Vec::new();
    for _ in 0..100 {
        let report = dispatcher.run_once().await.unwrap();
        if !report.did_work() {
            return reports;
        }
        reports.push(report);
    }
    panic!("the dispatcher never ran out of work: {reports:?}");
}

/// Polls until `check` holds: background jobs run on their own tick, so a test waits for their
/// effect rather than sleeping a fixed time. Not a timing assertion: the deadline is generous.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// Apps

/// A campaign's (id, status, pause reason, hold id, updated at).
pub type CampaignRow = (
    uuid::Uuid,
    String,
    Option<String>,
    Option<uuid::Uuid>,
    chrono::DateTime<chrono::Utc>,
);

/// What the campaign tables hold, with the wallet books and the outbox, by id.
#[derive(Debug, PartialEq, Eq)]
pub struct CampaignBooks {
    pub books: Books,
    pub campaigns: Vec<CampaignRow>,
    /// (id, status, charged).
    pub recipients: Vec<(i64, String, i64)>,
    pub campaign_holds: i64,
    /// (id, messaging status, wish version).
    pub brands: Vec<(uuid::Uuid, String, i64)>,
    pub outbox: i64,
}

impl TestApp {
    /// An app without Twilio and without background jobs.
    pub async fn campaigns_app() -> Self {
        Self::spawn().await
    }

    /// An app with Twilio pointed at `fake`, the background jobs off unless `configure` turns
    /// them on (the dispatcher too: `dispatch_workers` is 0).
    pub async fn with_twilio(fake: &FakeTwilio, configure: impl FnOnce(&mut Config)) -> Self {
        let settings = fake.settings();
        Self::spawn_with(TestDb::new().await, move |config| {
            crate::common::jobs(config).twilio = Some(settings);
            crate::common::jobs(config).dispatch.workers = 0;
            configure(config);
        })
        .await
    }

    pub async fn campaign_books(&self) -> CampaignBooks {
        let mut conn = self.conn().await;
        let campaigns: Vec<CampaignRow> = campaign_rows::table
            .select((
                campaign_rows::id,
                campaign_rows::status,
                campaign_rows::pause_reason,
                campaign_rows::hold_id,
                campaign_rows::updated_at,
            ))
            .order(campaign_rows::id)
            .load(&mut conn)
            .await
            .unwrap();
        CampaignBooks {
            books: self.books().await,
            campaigns,
            recipients: campaign_recipients::table
                .select((
                    campaign_recipients::id,
                    campaign_recipients::status,
                    campaign_recipients::charged,
                ))
                .order(campaign_recipients::id)
                .load(&mut conn)
                .await
                .unwrap(),
            campaign_holds: campaign_holds::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            brands: brands::table
                .select((
                    brands::id,
                    brands::messaging_status,
                    brands::messaging_wish_version,
                ))
                .order(brands::id)
                .load(&mut conn)
                .await
                .unwrap(),
            outbox: outbox_messages::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
        }
    }

    /// Awaits a request that must be refused: asserts the problem and that no campaign table,
    /// wallet or outbox changed. Returns the problem.
    pub async fn refused_campaigns(
        &self,
        request: impl IntoFuture<Output = Response>,
        status: u16,
        code: &str,
    ) -> Value {
        crate::common::refused_unchanged(
            async || self.campaign_books().await,
            request,
            status,
            code,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Requests

    /// `/v1/organizations/{organization_id}{path}`.
    pub fn org_url(&self, organization_id: &str, path: &str) -> String {
        self.url(&format!("/v1/organizations/{organization_id}{path}"))
    }

    /// A POST of a JSON body to an organization route with `token`.
    pub async fn org_post(
        &self,
        token: &str,
        organization_id: &str,
        path: &str,
        body: &Value,
    ) -> Response {
        send(
            self.client
                .post(self.org_url(organization_id, path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    /// A POST without a body (the campaign's life) with `token` and an optional key.
    pub async fn org_action(
        &self,
        token: &str,
        organization_id: &str,
        path: &str,
        key: Option<&str>,
    ) -> Response {
        let request = self
            .client
            .post(self.org_url(organization_id, path))
            .bearer_auth(token);
        let request = match key {
            Some(key) => request.header("Idempotency-Key", key),
            None => request,
        };
        send(request).await
    }

    /// A GET of an organization route with `token`.
    pub async fn org_get(&self, token: &str, organization_id: &str, path: &str) -> Response {
        send(
            self.client
                .get(self.org_url(organization_id, path))
                .bearer_auth(token),
        )
        .await
    }

    /// Creates a brand with the organization's key; returns it.
    pub async fn create_brand(&self, org: &Org, sid: &str) -> Value {
        let response = self
            .org_post(
                &org.key,
                &org.id,
                "/brands",
                &json!({"name": "Acme Shoes", "twilio_subaccount_sid": sid}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// The body of a campaign of `brand_id` sent from [`FROM`] at 0.05 USD a segment.
    pub fn campaign_body(brand_id: &Value) -> Value {
        json!({
            "brand_id": brand_id,
            "name": "Spring sale",
            "body": BODY,
            "from": FROM,
            "price_per_segment": "0.05",
            "currency": "USD",
        })
    }

    /// Creates a draft campaign of `brand` with the organization's key; returns it.
    pub async fn create_campaign(&self, org: &Org, brand: &Value) -> Value {
        let response = self
            .org_post(
                &org.key,
                &org.id,
                "/campaigns",
                &Self::campaign_body(&brand["id"]),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Adds recipients with the organization's key.
    pub async fn add_recipients(
        &self,
        org: &Org,
        campaign_id: &str,
        numbers: &[String],
    ) -> Response {
        self.org_post(
            &org.key,
            &org.id,
            &format!("/campaigns/{campaign_id}/recipients"),
            &json!({"numbers": numbers}),
        )
        .await
    }

    /// `POST .../start` with the organization's key and `key`.
    pub async fn start(&self, org: &Org, campaign_id: &str, key: &str) -> Response {
        self.org_action(
            &org.key,
            &org.id,
            &format!("/campaigns/{campaign_id}/start"),
            Some(key),
        )
        .await
    }

    /// The campaign's summary as its organization sees it.
    pub async fn summary(&self, org: &Org, campaign_id: &str) -> Value {
        let response = self
            .org_get(&org.key, &org.id, &format!("/campaigns/{campaign_id}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The campaign's recipients (first page of up to 1000) as its organization sees them.
    pub async fn recipients(&self, org: &Org, campaign_id: &str) -> Vec<Value> {
        let response = self
            .org_get(
                &org.key,
                &org.id,
                &format!("/campaigns/{campaign_id}/recipients?limit=1000"),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        page["recipients"].as_array().unwrap().clone()
    }

    /// A subscribed, funded organization with a brand (subaccount `n`) and a draft campaign of
    /// `recipients` numbers at 0.05 USD each.
    pub async fn ready_campaign(
        &self,
        name: &str,
        funds: &str,
        n: u32,
        recipients: usize,
    ) -> (Org, Value, Value) {
        let org = self.subscribed(name).await;
        self.fund(&org.id, funds).await;
        let brand = self.create_brand(&org, &subaccount(n)).await;
        let campaign = self.create_campaign(&org, &brand).await;
        let id = campaign["id"].as_str().unwrap();
        let response = self.add_recipients(&org, id, &numbers(recipients)).await;
        assert_eq!(response.status(), StatusCode::OK);
        (org, brand, campaign)
    }

    // -----------------------------------------------------------------------------------------
    // The subscription, through the app's enforcer

    /// A new organization (USD wallet, a key) with an active subscription on plan `pro`.
    pub async fn subscribed(&self, name: &str) -> Org {
        let org = self.org_with_key(name).await;
        let response = send(
            self.client
                .post(self.url(&format!("/v1/admin/organizations/{}/subscriptions", org.id)))
                .bearer_auth(ADMIN_TOKEN)
                .header("Idempotency-Key", key())
                .json(&json!({"plan": "pro"})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let period_end = self.state.subscriptions.now() + TimeDelta::days(30);
        let status = self
            .apply_event(&org.id, SubscriptionEvent::Activated { period_end })
            .await;
        assert_eq!(status, SubscriptionStatus::Active);
        org
    }

    /// Fails a payment: `past_due` at once, with billing's block, freeze, campaign pause and
    /// messaging suspension.
    pub async fn fail_payment(&self, organization_id: &str) {
        let at = self.state.subscriptions.now();
        let event = SubscriptionEvent::PaymentFailed {
            reason: FailureReason::new("card declined"),
            at,
        };
        let status = self.apply_event(organization_id, event).await;
        assert_eq!(status, SubscriptionStatus::PastDue);
    }

    /// Applies `event` to the organization's subscription as a provider's webhook would; then
    /// moves the clock a minute on, so the next event is newer.
    async fn apply_event(
        &self,
        organization_id: &str,
        event: SubscriptionEvent,
    ) -> SubscriptionStatus {
        let organization_id: OrganizationId = organization_id.parse().unwrap();
        let mut conn = self.conn().await;
        let subscription =
            subscriptions::lookup::current_for_organization(&mut conn, organization_id)
                .await
                .unwrap()
                .unwrap();
        let envelope = EventEnvelope {
            source: EventSource::parse("test").unwrap(),
            event_id: EventId::parse(&key()).unwrap(),
            occurred_at: self.state.subscriptions.now(),
            precision: subscriptions::TimePrecision::Microsecond,
            event,
        };
        let applied = self
            .state
            .enforcer
            .apply(&mut conn, subscription.id, &envelope)
            .await
            .unwrap();
        self.clock.advance(TimeDelta::minutes(1));
        applied.subscription.state.status
    }
}

/// A wallet's reconciliation as the admin sees it.
pub async fn reconciliation(app: &TestApp, organization_id: &str) -> Value {
    let response = app
        .wallet_get(organization_id, "/reconciliation", ADMIN_TOKEN)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Checks the campaign's money: `captured + released = held` and nothing still reserved.
pub fn assert_settled(summary: &Value) {
    let money = &summary["money"];
    let cents = |name: &str| -> i64 {
        let text = money[name].as_str().unwrap();
        let (units, cents) = text.split_once('.').unwrap();
        units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
    };
    assert_eq!(
        cents("captured") + cents("released"),
        cents("held"),
        "{summary}"
    );
    assert_eq!(money["reserved"], "0.00", "{summary}");
}
