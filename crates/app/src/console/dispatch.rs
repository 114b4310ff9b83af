//! Console actions go through the API itself: the form becomes the endpoint's JSON request,
//! sent in-process through the same router as the signed-in session's principal, so an action
//! meets exactly the checks, validation, idempotency and recording its endpoint does. The
//! console adds nothing the API would refuse and skips nothing it checks.

use axum::{Router, body::Body};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use httpkit::Principal;
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;

/// The API's router, as the console reaches it.
#[derive(Clone)]
pub struct Api(pub Router);

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api")
    }
}

/// An API call on behalf of a session.
#[derive(Debug)]
pub struct Call {
    method: Method,
    path: String,
    principal: Principal,
    idempotency_key: Option<String>,
    body: Option<Value>,
}

/// The API's refusal of a call: its status and problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: String,
    pub detail: Option<String>,
}

impl Call {
    pub fn post(path: impl Into<String>, principal: Principal) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            principal,
            idempotency_key: None,
            body: None,
        }
    }

    pub fn get(path: impl Into<String>, principal: Principal) -> Self {
        Self {
            method: Method::GET,
            ..Self::post(path, principal)
        }
    }

    pub fn delete(path: impl Into<String>, principal: Principal) -> Self {
        Self {
            method: Method::DELETE,
            ..Self::post(path, principal)
        }
    }

    /// The reference a retry of the same form repeats, so a double submit is answered from the
    /// first one instead of acting twice.
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    #[must_use]
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = serde_json::to_value(body).ok();
        self
    }

    /// Sends the call; the answer's JSON body, or the problem it was refused with.
    pub async fn send(self, api: &Api) -> Result<Value, Refusal> {
        let mut request = Request::builder().method(self.method).uri(&self.path);
        if let Some(key) = &self.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let body = match &self.body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let Ok(mut request) = request.body(body) else {
            return Err(Refusal::internal("the console built an invalid request"));
        };
        // Found by `httpkit::Authenticated` exactly as a verified bearer credential would be.
        request.extensions_mut().insert(self.principal);
        let Ok(response) = api.0.clone().oneshot(request).await;
        let status = response.status();
        let bytes = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Err(Refusal::internal("the API's answer could not be read")),
        };
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(Refusal {
            status,
            code: value
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("UNEXPECTED_ANSWER")
                .to_owned(),
            detail: value
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

impl Refusal {
    fn internal(detail: &str) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "INTERNAL".to_owned(),
            detail: Some(detail.to_owned()),
        }
    }
}
