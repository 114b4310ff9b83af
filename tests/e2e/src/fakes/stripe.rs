//! Stripe's API on loopback: `GET /v1/subscriptions/{id}` answers the subscription object a
//! test set (the binaries ask it when an activation arrives while payment is owed).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use super::{Recorded, recorded};

pub const SECRET_KEY: &str = "sk_test_e2e0000000000000000000000000000000000";

type Objects = Arc<Mutex<HashMap<String, Value>>>;

struct Subscriptions {
    objects: Objects,
}

impl Respond for Subscriptions {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().trim_start_matches("/v1/subscriptions/");
        let object = self
            .objects
            .lock()
            .unwrap_or_else(|e| panic!("fake Stripe: {e}"))
            .get(id)
            .cloned();
        match object {
            Some(object) => ResponseTemplate::new(200).set_body_json(object),
            None => ResponseTemplate::new(404).set_body_json(json!({
                "error": {
                    "code": "resource_missing",
                    "message": format!("No such subscription: '{id}'"),
                    "param": "id",
                    "type": "invalid_request_error",
                }
            })),
        }
    }
}

pub struct FakeStripe {
    server: MockServer,
    objects: Objects,
}

impl FakeStripe {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let objects = Objects::default();
        Mock::given(matchers::method("GET"))
            .and(matchers::path_regex(r"^/v1/subscriptions/[A-Za-z0-9_]+$"))
            .and(matchers::header(
                "authorization",
                format!("Bearer {SECRET_KEY}").as_str(),
            ))
            .respond_with(Subscriptions {
                objects: objects.clone(),
            })
            .mount(&server)
            .await;
        Mock::given(matchers::any())
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": {
                    "message": "Invalid API Key provided",
                    "type": "invalid_request_error",
                }
            })))
            .with_priority(10)
            .mount(&server)
            .await;
        Self { server, objects }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// What `GET /v1/subscriptions/{id}` answers from now on (a `subscription` object, see
    /// [`crate::events::stripe::subscription`]).
    pub fn set_subscription(&self, object: Value) {
        let id = object["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a subscription object has an id"))
            .to_owned();
        self.objects
            .lock()
            .unwrap_or_else(|e| panic!("fake Stripe: {e}"))
            .insert(id, object);
    }

    pub async fn requests(&self) -> Vec<Recorded> {
        recorded(&self.server).await
    }
}
