//! Calls to one api process, as every test makes them: a bearer token, an optional
//! `Idempotency-Key`, an optional JSON body; the answer's status and JSON (`Null` when empty).
//! The [`Stack`](crate::Stack) and the failover test's services both talk to their api through it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::stack::{ADMIN_TOKEN, text};

/// An organization and its own API key.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub key: String,
}

/// One api process's base URL and the client that calls it.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub url: String,
}

impl Api {
    /// A request with `token`; returns the status and the JSON body (`Null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        (status, json)
    }

    /// An admin GET that must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, ADMIN_TOKEN, None, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// A POST that must answer `expected`.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, answer) = self.call(Method::POST, path, token, key, body).await;
        assert_eq!(status, expected, "POST {path}: {answer}");
        answer
    }

    /// An organization created by the operator from `body`, with an API key of its own.
    pub async fn create_org_with(&self, body: Value) -> Org {
        let created = self
            .post(
                "/v1/organizations",
                ADMIN_TOKEN,
                None,
                Some(&body),
                StatusCode::CREATED,
            )
            .await;
        let id = text(&created["id"]);
        let issued = self
            .post(
                &format!("/v1/organizations/{id}/api-keys"),
                ADMIN_TOKEN,
                None,
                Some(&json!({"name": "e2e"})),
                StatusCode::CREATED,
            )
            .await;
        Org {
            id,
            key: text(&issued["key"]),
        }
    }
}
