//! The extractors, auth and server layers together, driven through a small router.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{FromRef, State},
    routing::{get, post},
};
use futures::future::BoxFuture;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use httpkit::{
    AdminOnly, AdminToken, ApiBytes, ApiError, ApiJson, ApiPath, ApiQuery, Auth, AuthError,
    Authenticated, Authenticator, IdempotencyKey, OrganizationOnly, Principal, server,
};
use primitives::{ApiKeyId, OrganizationId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-admin-token-admin-token";
const LIMIT: usize = 256;

struct StaticKeys(HashMap<String, Principal>);

impl Authenticator for StaticKeys {
    fn authenticate<'a>(
        &'a self,
        bearer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            if bearer == "broken-store" {
                return Err(AuthError::Unavailable("connection refused".into()));
            }
            Ok(self.0.get(bearer).copied())
        })
    }
}

#[derive(Clone)]
struct AppState {
    auth: Auth,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

#[derive(Debug, Deserialize, Serialize)]
struct Widget {
    name: String,
    count: u32,
}

#[derive(Debug, Deserialize)]
struct Page {
    limit: u32,
}

struct Fixture {
    router: Router,
    member_org: OrganizationId,
}

fn fixture() -> Fixture {
    let member_org = OrganizationId::new();
    let keys = StaticKeys(HashMap::from([(
        "member-key".to_owned(),
        Principal::Organization {
            organization_id: member_org,
            key_id: ApiKeyId::new(),
        },
    )]));
    let admin = AdminToken::new(&SecretString::from(ADMIN.to_owned())).unwrap();
    let state = AppState {
        auth: Auth::new(admin, Arc::new(keys)),
    };
    let routes = Router::new()
        .route(
            "/widgets",
            post(|ApiJson(widget): ApiJson<Widget>| async move { ApiJson(widget) }),
        )
        .route(
            "/raw",
            post(|ApiBytes(bytes): ApiBytes| async move { bytes.len().to_string() }),
        )
        .route(
            "/orgs/{organization_id}",
            get(
                |Authenticated(principal): Authenticated,
                 ApiPath(organization_id): ApiPath<OrganizationId>| async move {
                    if principal.may_access(organization_id) {
                        Ok(organization_id.to_string())
                    } else {
                        Err(ApiError::not_found())
                    }
                },
            ),
        )
        .route("/admin", post(|_: AdminOnly| async { "ok" }))
        .route(
            "/own",
            get(|own: OrganizationOnly| async move { own.organization_id.to_string() }),
        )
        .route(
            "/both",
            get(|_: Authenticated, _: AdminOnly| async { "ok" }),
        )
        .route(
            "/page",
            get(|ApiQuery(page): ApiQuery<Page>| async move { page.limit.to_string() }),
        )
        .route(
            "/charge",
            post(|key: IdempotencyKey| async move { key.into_inner() }),
        )
        .route(
            "/maybe",
            post(|key: Option<IdempotencyKey>| async move {
                key.map_or_else(|| "none".to_owned(), IdempotencyKey::into_inner)
            }),
        )
        .route(
            "/state",
            get(|State(_): State<AppState>| async { "stateful" }),
        );
    Fixture {
        router: server::finish(routes, LIMIT).with_state(state),
        member_org,
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// Asserts a problem response and returns its body.
    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status);
        assert!(
            body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:problem-type:")
        );
        assert!(body["title"].is_string());
        body
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get_with_bearer(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn valid_json_round_trips() {
    let f = fixture();
    let reply = send(
        &f.router,
        post_json("/widgets", r#"{"name":"a","count":2}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"name": "a", "count": 2}));
}

#[tokio::test]
async fn json_rejections_are_problems_with_stable_codes() {
    let f = fixture();
    let reply = send(&f.router, post_json("/widgets", r#"{"name":"a","#)).await;
    reply.problem(400, "MALFORMED_JSON");

    let reply = send(
        &f.router,
        post_json("/widgets", r#"{"name":"a","count":"two"}"#),
    )
    .await;
    let body = reply.problem(422, "VALIDATION_FAILED");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("count"), "{detail}");
    assert!(detail.contains("invalid type"), "{detail}");

    let reply = send(&f.router, post_json("/widgets", r#"{"name":"a"}"#)).await;
    let body = reply.problem(422, "VALIDATION_FAILED");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `count`")
    );

    let no_type = Request::post("/widgets")
        .body(Body::from(r#"{"name":"a","count":2}"#))
        .unwrap();
    send(&f.router, no_type)
        .await
        .problem(415, "UNSUPPORTED_MEDIA_TYPE");
    let wrong_type = Request::post("/widgets")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"name":"a","count":2}"#))
        .unwrap();
    send(&f.router, wrong_type)
        .await
        .problem(415, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_problems() {
    let f = fixture();
    let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(LIMIT));
    let body = send(&f.router, post_json("/widgets", big.clone()))
        .await
        .problem(413, "BODY_TOO_LARGE");
    assert_eq!(body["limit_bytes"], LIMIT);

    // Without Content-Length (streamed), the limit still holds.
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(64)
            .map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = Request::post("/widgets")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap();
    send(&f.router, streamed)
        .await
        .problem(413, "BODY_TOO_LARGE");

    let raw = Request::post("/raw")
        .body(Body::from(vec![b'x'; LIMIT + 1]))
        .unwrap();
    send(&f.router, raw).await.problem(413, "BODY_TOO_LARGE");
    let raw = Request::post("/raw")
        .body(Body::from(vec![b'x'; LIMIT]))
        .unwrap();
    assert_eq!(send(&f.router, raw).await.text(), LIMIT.to_string());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let f = fixture();
    let reply = send(
        &f.router,
        Request::get("/nowhere").body(Body::empty()).unwrap(),
    )
    .await;
    reply.problem(404, "NOT_FOUND");

    let reply = send(
        &f.router,
        Request::get("/widgets").body(Body::empty()).unwrap(),
    )
    .await;
    reply.problem(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_are_401() {
    let f = fixture();
    let uri = format!("/orgs/{}", f.member_org);
    let reply = send(&f.router, Request::get(&uri).body(Body::empty()).unwrap()).await;
    reply.problem(401, "UNAUTHORIZED");
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");

    let basic = Request::get(&uri)
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    send(&f.router, basic).await.problem(401, "UNAUTHORIZED");

    let reply = send(&f.router, get_with_bearer(&uri, "unknown-key")).await;
    reply.problem(401, "UNAUTHORIZED");
    assert_eq!(
        reply.headers[header::WWW_AUTHENTICATE],
        r#"Bearer error="invalid_token""#
    );
    assert!(!reply.text().contains("unknown-key"));
}

#[tokio::test]
async fn organizations_see_only_themselves_and_admin_sees_all() {
    let f = fixture();
    let own = format!("/orgs/{}", f.member_org);
    let other = format!("/orgs/{}", OrganizationId::new());
    let reply = send(&f.router, get_with_bearer(&own, "member-key")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), f.member_org.to_string());
    send(&f.router, get_with_bearer(&other, "member-key"))
        .await
        .problem(404, "NOT_FOUND");
    let reply = send(&f.router, get_with_bearer(&other, ADMIN)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_path_ids_are_404() {
    let f = fixture();
    send(&f.router, get_with_bearer("/orgs/not-a-uuid", ADMIN))
        .await
        .problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn admin_only_refuses_member_keys_with_403() {
    let f = fixture();
    let as_ = |token: Option<&str>| {
        let mut builder = Request::post("/admin");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    };
    send(&f.router, as_(None))
        .await
        .problem(401, "UNAUTHORIZED");
    send(&f.router, as_(Some("member-key")))
        .await
        .problem(403, "ADMIN_REQUIRED");
    let reply = send(&f.router, as_(Some(ADMIN))).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Both extractors in one handler: still one resolution, same answer.
    let reply = send(&f.router, get_with_bearer("/both", ADMIN)).await;
    assert_eq!(reply.status, StatusCode::OK);
    send(&f.router, get_with_bearer("/both", "member-key"))
        .await
        .problem(403, "ADMIN_REQUIRED");
}

#[tokio::test]
async fn organization_only_takes_the_organization_from_the_key() {
    let f = fixture();
    send(&f.router, Request::get("/own").body(Body::empty()).unwrap())
        .await
        .problem(401, "UNAUTHORIZED");
    let reply = send(&f.router, get_with_bearer("/own", "member-key")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, f.member_org.to_string().into_bytes());
    // The admin belongs to no organization.
    send(&f.router, get_with_bearer("/own", ADMIN))
        .await
        .problem(403, "ORGANIZATION_KEY_REQUIRED");
}

#[tokio::test]
async fn an_unavailable_credential_store_is_503_without_details() {
    let f = fixture();
    let reply = send(&f.router, get_with_bearer("/both", "broken-store")).await;
    let body = reply.problem(503, "SERVICE_UNAVAILABLE");
    assert!(!body.to_string().contains("connection refused"));
}

#[tokio::test]
async fn query_rejections_are_422() {
    let f = fixture();
    let reply = send(
        &f.router,
        Request::get("/page?limit=10").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.text(), "10");
    let reply = send(
        &f.router,
        Request::get("/page?limit=ten").body(Body::empty()).unwrap(),
    )
    .await;
    let body = reply.problem(422, "VALIDATION_FAILED");
    assert!(body["detail"].as_str().unwrap().contains("limit"), "{body}");
    send(
        &f.router,
        Request::get("/page").body(Body::empty()).unwrap(),
    )
    .await
    .problem(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn idempotency_keys_required_optional_and_invalid() {
    let f = fixture();
    let with_key = |uri: &str, key: Option<&str>| {
        let mut builder = Request::builder().method(Method::POST).uri(uri);
        if let Some(key) = key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder.body(Body::empty()).unwrap()
    };
    assert_eq!(
        send(&f.router, with_key("/charge", Some("k-1")))
            .await
            .text(),
        "k-1"
    );
    send(&f.router, with_key("/charge", None))
        .await
        .problem(422, "IDEMPOTENCY_KEY_REQUIRED");
    send(&f.router, with_key("/charge", Some("two words")))
        .await
        .problem(422, "INVALID_IDEMPOTENCY_KEY");
    assert_eq!(
        send(&f.router, with_key("/maybe", None)).await.text(),
        "none"
    );
    assert_eq!(
        send(&f.router, with_key("/maybe", Some("k-2")))
            .await
            .text(),
        "k-2"
    );
    send(&f.router, with_key("/maybe", Some(&"k".repeat(201))))
        .await
        .problem(422, "INVALID_IDEMPOTENCY_KEY");
}

#[tokio::test]
async fn request_ids_are_generated_or_propagated() {
    let f = fixture();
    let reply = send(
        &f.router,
        Request::get("/state").body(Body::empty()).unwrap(),
    )
    .await;
    let generated = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&generated).unwrap().get_version_num(),
        7
    );

    let given = Request::get("/state")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let reply = send(&f.router, given).await;
    assert_eq!(reply.headers["x-request-id"], "abc-123");

    let hostile = Request::get("/state")
        .header("x-request-id", "a\"b")
        .body(Body::empty())
        .unwrap();
    let reply = send(&f.router, hostile).await;
    assert_ne!(reply.headers["x-request-id"], "a\"b");
}
