//! Console actions go through the API itself: the form becomes the endpoint's JSON request,
//! sent in-process through the same router as the signed-in session's principal, so an action
//! meets exactly the checks, validation, idempotency and recording its endpoint does. The
//! console adds nothing the API would refuse and skips nothing it checks.

use axum::{Router, body::Body};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use httpkit::Principal;
use primitives::{ApiKeyId, OrganizationId};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tower::ServiceExt;

use crate::access::ActingOperator;

/// The API's router, as the console reaches it.
#[derive(Clone)]
pub struct Api(pub Router);

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api")
    }
}

/// Who a call is made as: the session's principal and, for an operator, their name, which the
/// API records in the actor of what the call writes (`admin:<name>`, through
/// [`ActingOperator`]).
#[derive(Debug, Clone)]
pub enum Caller {
    Customer {
        organization_id: OrganizationId,
        key_id: ApiKeyId,
    },
    /// The operator's name as they signed in with it.
    Operator(String),
}

impl Caller {
    pub fn principal(&self) -> Principal {
        match self {
            Self::Customer {
                organization_id,
                key_id,
            } => Principal::Organization {
                organization_id: *organization_id,
                key_id: *key_id,
            },
            Self::Operator(_) => Principal::Admin,
        }
    }
}

/// An API call on behalf of a session.
#[derive(Debug)]
pub struct Call {
    method: Method,
    path: String,
    caller: Caller,
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
    pub fn post(path: impl Into<String>, caller: impl Into<Caller>) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            caller: caller.into(),
            idempotency_key: None,
            body: None,
        }
    }

    pub fn get(path: impl Into<String>, caller: impl Into<Caller>) -> Self {
        Self {
            method: Method::GET,
            ..Self::post(path, caller)
        }
    }

    pub fn delete(path: impl Into<String>, caller: impl Into<Caller>) -> Self {
        Self {
            method: Method::DELETE,
            ..Self::post(path, caller)
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

    /// Sends the call and reads the answer as the endpoint's response type (`T` is the type
    /// the endpoint answers with, so a field the console reads is named once, there).
    pub async fn send_as<T: DeserializeOwned>(self, api: &Api) -> Result<T, Refusal> {
        let answer = self.send(api).await?;
        serde_json::from_value(answer).map_err(|_| Refusal {
            status: StatusCode::BAD_GATEWAY,
            code: "UNEXPECTED_ANSWER".to_owned(),
            detail: Some("the API's answer is not the body it documents".to_owned()),
        })
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
        request.extensions_mut().insert(self.caller.principal());
        if let Caller::Operator(name) = &self.caller {
            request
                .extensions_mut()
                .insert(ActingOperator(name.clone()));
        }
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
    /// A refusal the console makes itself before calling the API, for a form it cannot turn
    /// into the API's request (a date that is not one, a malformed key): 422 with `code`.
    pub fn here(code: &str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: code.to_owned(),
            detail: Some(detail.into()),
        }
    }

    fn internal(detail: &str) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "INTERNAL".to_owned(),
            detail: Some(detail.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::{Json, routing::get};
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Changed {
        changed: bool,
    }

    fn operator() -> Caller {
        Caller::Operator("Dana Ops".to_owned())
    }

    /// Who the API saw: the principal and the acting operator, from the request's extensions.
    async fn who(request: axum::extract::Request) -> Json<serde_json::Value> {
        let principal = request.extensions().get::<Principal>().copied();
        let operator = request.extensions().get::<ActingOperator>().cloned();
        Json(json!({
            "admin": principal.is_some_and(|p| p.is_admin()),
            "organization": principal.and_then(|p| p.organization_id()).map(|o| o.to_string()),
            "operator": operator.map(|ActingOperator(name)| name),
        }))
    }

    fn api() -> Api {
        Api(Router::new()
            .route("/who", axum::routing::post(who))
            .route(
                "/changed",
                get(|| async { Json(json!({ "changed": false })) }),
            )
            .route(
                "/other",
                get(|| async { Json(json!({ "status": "applied" })) }),
            ))
    }

    #[tokio::test]
    async fn answers_are_read_as_their_type_and_another_body_is_unexpected() {
        let read = Call::get("/changed", operator())
            .send_as::<Changed>(&api())
            .await;
        assert_eq!(read, Ok(Changed { changed: false }));
        let other = Call::get("/other", operator())
            .send_as::<Changed>(&api())
            .await
            .unwrap_err();
        assert_eq!(other.status, StatusCode::BAD_GATEWAY);
        assert_eq!(other.code, "UNEXPECTED_ANSWER");
    }

    #[tokio::test]
    async fn calls_carry_the_sessions_principal_and_an_operators_name() {
        let seen = Call::post("/who", operator()).send(&api()).await.unwrap();
        assert_eq!(
            seen,
            json!({"admin": true, "organization": null, "operator": "Dana Ops"})
        );
        let organization_id = OrganizationId::new();
        let customer = Caller::Customer {
            organization_id,
            key_id: ApiKeyId::new(),
        };
        let seen = Call::post("/who", customer).send(&api()).await.unwrap();
        assert_eq!(
            seen,
            json!({"admin": false, "organization": organization_id.to_string(), "operator": null})
        );
    }
}
