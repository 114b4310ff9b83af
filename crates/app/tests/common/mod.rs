//! A running api on a free port over a fresh database, a client for it, and the requests the
//! wallet tests send again and again. The one helper module of every api test binary.

use std::{future::IntoFuture, sync::Arc};

use app::{
    AppState, Application,
    config::{AdminTokenSource, Config},
};
use chrono::{SubsecRound, Utc};
use db::{
    AsyncPgConnection,
    schema::{api_keys, holds, ledger_entries, organizations, wallet_freeze_events, wallets},
};
use db::{DatabaseSettings, DatabaseSource};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use jobs::{Intervals, JobsConfig};
use primitives::ManualClock;
use reqwest::{Client, RequestBuilder, Response, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::TestDb;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghij";
pub const BODY_LIMIT: usize = 4096;
/// The content type of a JSON body, for [`TestApp::post_raw`].
pub const JSON: Option<&str> = Some("application/json");

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: TestDb,
    /// The ledger's and the subscriptions' clock: tests move it to expire holds or to age
    /// events instead of sleeping.
    pub clock: ManualClock,
    /// The running app's state, for tests that drive the domain directly (applying
    /// subscription events through its enforcer, say) and then look over HTTP.
    pub state: AppState,
    _stop: oneshot::Sender<()>,
}

/// An organization with a key of its own.
pub struct Org {
    pub id: String,
    pub key_id: String,
    pub key: String,
}

/// A money-moving route of an organization's wallet: a body it would apply, and the credential
/// it needs.
pub struct Movement {
    pub name: &'static str,
    pub path: String,
    pub token: String,
    pub body: Value,
}

impl Movement {
    /// Every route that moves an amount (1.00 USD): debit, credit, hold, capture of `hold_id`
    /// and correction.
    pub fn with_amounts(org: &Org, hold_id: &str) -> Vec<Self> {
        let usd = |extra: Value| {
            let mut body = json!({"amount": "1.00", "currency": "USD"});
            if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
                body.extend(extra);
            }
            body
        };
        let movement = |name, path: String, token: &str, body| Self {
            name,
            path,
            token: token.to_owned(),
            body,
        };
        vec![
            movement("debit", "/debits".into(), &org.key, usd(json!({}))),
            movement(
                "credit",
                "/credits".into(),
                ADMIN_TOKEN,
                usd(json!({"counterparty": "topup:manual"})),
            ),
            movement("hold", "/holds".into(), &org.key, usd(json!({}))),
            movement(
                "capture",
                format!("/holds/{hold_id}/captures"),
                &org.key,
                usd(json!({})),
            ),
            movement(
                "correction",
                "/corrections".into(),
                ADMIN_TOKEN,
                usd(json!({"reason": "test"})),
            ),
        ]
    }

    /// The body with `member` set to `value`.
    pub fn with(&self, member: &str, value: Value) -> Value {
        let mut body = self.body.clone();
        body[member] = value;
        body
    }

    /// The body without `member`.
    pub fn without(&self, member: &str) -> Value {
        let mut body = self.body.clone();
        body.as_object_mut().unwrap().remove(member);
        body
    }

    /// Whether a negative amount is a valid request (a correction that takes money back).
    pub fn signed(&self) -> bool {
        self.name == "correction"
    }
}

/// Everything money-related in the database, to assert that a refused request changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Books {
    /// (wallet id, balance, held), by id.
    pub wallets: Vec<(uuid::Uuid, i64, i64)>,
    pub entries: i64,
    /// (hold id, captured, released, status), by id.
    pub holds: Vec<(uuid::Uuid, i64, i64, String)>,
    pub freeze_events: i64,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::new().await).await
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// The worker's jobs (hold expiry, dunning, notification delivery, the campaign and
    /// messaging topics, the campaign resume sweep, the webhook inbox) do not run unless
    /// `configure` turns them on with [`jobs`], so tests decide when time-driven steps run.
    /// Twilio is not configured, so nothing is dispatched either.
    pub async fn spawn_with(db: TestDb, configure: impl FnOnce(&mut Config)) -> Self {
        let mut database = DatabaseSettings::new(DatabaseSource::Url(SecretString::from(db.url())));
        database.pool_size = 4;
        let mut config = Config::new(
            database,
            AdminTokenSource::Given(SecretString::from(ADMIN_TOKEN.to_owned())),
        );
        config.body_limit_bytes = BODY_LIMIT;
        // Served over plain HTTP: a Secure cookie would never come back.
        config.console.secure_cookies = false;
        configure(&mut config);
        // Whole microseconds, as PostgreSQL stores them, so times read back compare equal.
        let clock = ManualClock::new(Utc::now().trunc_subsecs(6));
        let app = Application::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: Client::new(),
            db,
            clock,
            state,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        self.db.conn().await
    }

    pub async fn count_organizations(&self) -> i64 {
        organizations::table
            .count()
            .get_result(&mut self.conn().await)
            .await
            .unwrap()
    }

    pub async fn count_api_keys(&self) -> i64 {
        api_keys::table
            .count()
            .get_result(&mut self.conn().await)
            .await
            .unwrap()
    }

    pub async fn books(&self) -> Books {
        let mut conn = self.conn().await;
        Books {
            wallets: wallets::table
                .select((wallets::id, wallets::balance, wallets::held))
                .order(wallets::id)
                .load(&mut conn)
                .await
                .unwrap(),
            entries: ledger_entries::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            holds: holds::table
                .select((holds::id, holds::captured, holds::released, holds::status))
                .order(holds::id)
                .load(&mut conn)
                .await
                .unwrap(),
            freeze_events: wallet_freeze_events::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
        }
    }

    /// Entries of one organization's wallet.
    pub async fn count_entries(&self, organization_id: &str) -> i64 {
        let organization_id: uuid::Uuid = organization_id.parse().unwrap();
        ledger_entries::table
            .inner_join(wallets::table)
            .filter(wallets::organization_id.eq(organization_id))
            .count()
            .get_result(&mut self.conn().await)
            .await
            .unwrap()
    }

    /// `POST /v1/organizations` as admin (USD wallet); returns the new id.
    pub async fn create_organization(&self, name: &str) -> String {
        let body = self.create_organization_in(name, "USD").await;
        body["id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/organizations` as admin; returns the response body.
    pub async fn create_organization_in(&self, name: &str, currency: &str) -> Value {
        let response = self
            .client
            .post(self.url("/v1/organizations"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": name, "currency": currency}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// `.../wallet{path}` of an organization.
    pub fn wallet_url(&self, organization_id: &str, path: &str) -> String {
        self.url(&format!("/v1/organizations/{organization_id}/wallet{path}"))
    }

    /// A POST to the organization's wallet with `token`, an optional `Idempotency-Key` and a
    /// JSON body.
    pub fn wallet_post(
        &self,
        organization_id: &str,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        let request = self
            .client
            .post(self.wallet_url(organization_id, path))
            .bearer_auth(token)
            .json(body);
        match key {
            Some(key) => request.header("Idempotency-Key", key),
            None => request,
        }
    }

    /// A POST of `body` exactly as given, with `token` and `content_type` (if any).
    pub fn post_raw(
        &self,
        url: &str,
        token: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> RequestBuilder {
        let request = self.client.post(url).bearer_auth(token).body(body);
        match content_type {
            Some(content_type) => request.header(header::CONTENT_TYPE, content_type),
            None => request,
        }
    }

    /// A GET of the organization's wallet with `token`.
    pub async fn wallet_get(&self, organization_id: &str, path: &str, token: &str) -> Response {
        self.client
            .get(self.wallet_url(organization_id, path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Credits the wallet as admin (manual top-up); asserts it was applied.
    pub async fn fund(&self, organization_id: &str, amount: &str) -> Value {
        let reference = format!("fund-{}", uuid::Uuid::now_v7());
        let body = json!({"amount": amount, "currency": "USD", "counterparty": "topup:manual"});
        created(
            self.admin_post(organization_id, "/credits", Some(&reference), &body)
                .await,
        )
        .await
    }

    /// The wallet as the admin sees it.
    pub async fn wallet(&self, organization_id: &str) -> Value {
        let response = self.wallet_get(organization_id, "", ADMIN_TOKEN).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Issues a key as admin; returns (key id, secret).
    pub async fn issue_key(&self, organization_id: &str) -> (String, String) {
        let response = self
            .client
            .post(self.url(&format!("/v1/organizations/{organization_id}/api-keys")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "test key"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }
}

/// Awaits a request that must be refused with `status` and `code`, and asserts that `snapshot`
/// (what the test cares about in the database) is the same after as before. Returns the problem.
pub async fn refused_unchanged<B: PartialEq + std::fmt::Debug>(
    snapshot: impl AsyncFn() -> B,
    request: impl IntoFuture<Output = Response>,
    status: u16,
    code: &str,
) -> Value {
    let before = snapshot().await;
    let problem = assert_problem(request.await, status, code).await;
    assert_eq!(
        snapshot().await,
        before,
        "refused with {code} but wrote: {problem}"
    );
    problem
}

/// Asserts a problem+json response with the given status and code; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["type"].is_string(), "{body}");
    body
}

/// A fresh reference, for requests whose reference does not matter.
pub fn key() -> String {
    format!("test-{}", uuid::Uuid::now_v7())
}

/// Sends a request built by hand.
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

/// Asserts a first application (201, `replayed: false`); returns the body.
pub async fn created(response: Response) -> Value {
    let status = response.status();
    let replayed_header = response.headers().contains_key("idempotent-replayed");
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["replayed"], false, "{body}");
    assert!(
        !replayed_header,
        "a first application is not marked replayed"
    );
    body
}

/// Asserts a 200; returns the body.
pub async fn ok(response: Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The wallet requests the tests share. Every `POST` helper returns the response unchecked, so
/// the same helper serves requests that must succeed and requests that must be refused.
impl TestApp {
    /// A fresh app with one organization, "Acme" (USD, with a key), whose wallet holds `amount`.
    pub async fn funded(amount: &str) -> (Self, Org) {
        let app = Self::spawn().await;
        let org = app.org_with_key("Acme").await;
        app.fund(&org.id, amount).await;
        (app, org)
    }

    /// A new organization (USD wallet) with a key of its own.
    pub async fn org_with_key(&self, name: &str) -> Org {
        let id = self.create_organization(name).await;
        let (key_id, key) = self.issue_key(&id).await;
        Org { id, key_id, key }
    }

    /// A USD debit with the organization's key.
    pub async fn debit(&self, org: &Org, key: Option<&str>, amount: &str) -> Response {
        let body = json!({"amount": amount, "currency": "USD"});
        send(self.wallet_post(&org.id, "/debits", &org.key, key, &body)).await
    }

    /// A hold with the organization's key.
    pub async fn hold(&self, org: &Org, key: &str, body: &Value) -> Response {
        send(self.wallet_post(&org.id, "/holds", &org.key, Some(key), body)).await
    }

    /// Holds `amount` USD for a day; asserts it was applied and returns the hold's id.
    pub async fn open_hold(&self, org: &Org, key: &str, amount: &str) -> String {
        let body = json!({"amount": amount, "currency": "USD"});
        let receipt = created(self.hold(org, key, &body).await).await;
        assert_eq!(receipt["hold"]["status"], "open", "{receipt}");
        receipt["hold"]["id"].as_str().unwrap().to_owned()
    }

    /// A USD capture with the organization's key.
    pub async fn capture(&self, org: &Org, hold_id: &str, key: &str, amount: &str) -> Response {
        let path = format!("/holds/{hold_id}/captures");
        let body = json!({"amount": amount, "currency": "USD"});
        send(self.wallet_post(&org.id, &path, &org.key, Some(key), &body)).await
    }

    /// A release with no body at all, the reference in the header.
    pub async fn release(&self, org: &Org, hold_id: &str, key: &str) -> Response {
        let url = self.wallet_url(&org.id, &format!("/holds/{hold_id}/release"));
        send(
            self.client
                .post(url)
                .bearer_auth(&org.key)
                .header("Idempotency-Key", key),
        )
        .await
    }

    /// A POST to the organization's wallet as admin.
    pub async fn admin_post(
        &self,
        organization_id: &str,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Response {
        send(self.wallet_post(organization_id, path, ADMIN_TOKEN, key, body)).await
    }

    /// `POST /v1/admin/holds/expire` with `token`.
    pub async fn expire_holds(&self, token: &str) -> Response {
        send(
            self.client
                .post(self.url("/v1/admin/holds/expire"))
                .bearer_auth(token),
        )
        .await
    }

    /// The hold as its organization sees it.
    pub async fn hold_details(&self, org: &Org, hold_id: &str) -> Value {
        ok(self
            .wallet_get(&org.id, &format!("/holds/{hold_id}"), &org.key)
            .await)
        .await
    }

    /// Asserts the wallet's balance, held and available figures.
    pub async fn assert_figures(
        &self,
        organization_id: &str,
        balance: &str,
        held: &str,
        available: &str,
    ) {
        let wallet = self.wallet(organization_id).await;
        let figures = (&wallet["balance"], &wallet["held"], &wallet["available"]);
        assert_eq!(figures, (&json!(balance), &json!(held), &json!(available)));
    }

    /// Awaits a request that must be refused: asserts the problem and that the books are exactly
    /// as they were before it was sent. Returns the problem.
    pub async fn refused(
        &self,
        request: impl IntoFuture<Output = Response>,
        status: u16,
        code: &str,
    ) -> Value {
        refused_unchanged(async || self.books().await, request, status, code).await
    }

    /// Awaits the retry of a movement that was applied already: asserts a 200 replay of
    /// `original` (header and body say so) that wrote nothing. Returns the body.
    pub async fn replayed(
        &self,
        request: impl IntoFuture<Output = Response>,
        original: &Value,
    ) -> Value {
        let before = self.books().await;
        let response = request.await;
        assert_eq!(
            response
                .headers()
                .get("idempotent-replayed")
                .map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        let body = ok(response).await;
        assert_eq!(body["replayed"], true, "{body}");
        assert_eq!(body["entry"], original["entry"], "not the original entry");
        assert_eq!(self.books().await, before, "a replay wrote");
        body
    }
}

/// The worker's jobs, run in the test's api process: every one off until the test turns it on.
pub fn jobs(config: &mut Config) -> &mut JobsConfig {
    config.jobs.get_or_insert_with(|| JobsConfig {
        intervals: Intervals::NONE,
        ..JobsConfig::default()
    })
}
