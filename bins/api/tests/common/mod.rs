//! A running api on a free port over a fresh database, and a client for it.

use std::sync::Arc;

use api::{
    Application,
    config::{AdminTokenSource, Config, DatabaseSource},
};
use chrono::{SubsecRound, Utc};
use db::{
    AsyncPgConnection,
    schema::{api_keys, holds, ledger_entries, organizations, wallet_freeze_events, wallets},
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use primitives::ManualClock;
use reqwest::{Client, RequestBuilder, Response, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::TestDb;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghij";
pub const BODY_LIMIT: usize = 4096;

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: TestDb,
    /// The ledger's clock: tests move it to expire holds instead of sleeping.
    pub clock: ManualClock,
    _stop: oneshot::Sender<()>,
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

    /// The hold-expiry sweeper is off unless `configure` turns it on, so tests decide when
    /// holds expire.
    pub async fn spawn_with(db: TestDb, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(
            DatabaseSource::Url(SecretString::from(db.url())),
            AdminTokenSource::Given(SecretString::from(ADMIN_TOKEN.to_owned())),
        );
        config.body_limit_bytes = BODY_LIMIT;
        config.pool_size = 4;
        config.hold_expiry_interval = None;
        configure(&mut config);
        // Whole microseconds, as PostgreSQL stores them, so times read back compare equal.
        let clock = ManualClock::new(Utc::now().trunc_subsecs(6));
        let app = Application::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: Client::new(),
            db,
            clock,
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
        let response = self
            .wallet_post(
                organization_id,
                "/credits",
                ADMIN_TOKEN,
                Some(&reference),
                &json!({"amount": amount, "currency": "USD", "counterparty": "topup:manual"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
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
