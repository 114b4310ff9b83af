//! One HTTP call to an api process, as every test makes it: a bearer token, an optional
//! `Idempotency-Key`, an optional JSON body; the answer's status and JSON (`Null` when empty).

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// `method` `path` on the api at `api_url` with `token`.
pub async fn call(
    client: &reqwest::Client,
    api_url: &str,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method.clone(), format!("{api_url}{path}"))
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
