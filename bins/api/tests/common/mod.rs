//! A running api on a free port over a fresh database, and a client for it.

use api::{
    Application,
    config::{AdminTokenSource, Config, DatabaseSource},
};
use db::{
    AsyncPgConnection,
    schema::{api_keys, organizations},
};
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use reqwest::{Client, Response, StatusCode, header};
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
    _stop: oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::new().await).await
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        let mut config = Config::new(
            DatabaseSource::Url(SecretString::from(db.url())),
            AdminTokenSource::Given(SecretString::from(ADMIN_TOKEN.to_owned())),
        );
        config.body_limit_bytes = BODY_LIMIT;
        config.pool_size = 4;
        let app = Application::build(config).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: Client::new(),
            db,
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

    /// `POST /v1/organizations` as admin; returns the new id.
    pub async fn create_organization(&self, name: &str) -> String {
        let response = self
            .client
            .post(self.url("/v1/organizations"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": name, "currency": "USD"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
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
