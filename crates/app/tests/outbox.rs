//! The operator's outbox routes over HTTP, against a real database: messages are enqueued with
//! `outbox::enqueue` and settled through the app's own `Outbox` (on its manual clock), as the
//! domain and the delivery worker do; then listed, counted, read and requeued over HTTP. Every
//! refused request is checked to have changed nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use std::future::IntoFuture;

use chrono::{DateTime, TimeDelta, Utc};
use common::{ADMIN_TOKEN, TestApp, assert_problem, ok, send};
use outbox::{
    DedupeKey, Enqueued, HandlerError, ListFilter, MessageId, NewMessage, OutboxMessage,
    Settlement, Topic,
};
use reqwest::{Method, Response};
use serde_json::{Value, json};

const MAIL: Topic = Topic::from_static("notification");
const SMS: Topic = Topic::from_static("twilio.subaccount");
const BILLING: Topic = Topic::from_static("billing.paypal");

/// The reason the dead message was given up on.
const PERMANENT_ERROR: &str = "550 5.1.1 mailbox unavailable";

/// Four messages in every status, enqueued in this order (so newest first they are `newer`,
/// `dead`, `delivered`, `older`):
/// - `older`, `newer`: pending `notification`s of organization `a`;
/// - `delivered`: a `twilio.subaccount` message of organization `b`, claimed and completed;
/// - `dead`: a `billing.paypal` message of no organization, claimed and failed permanently.
struct Seeded {
    a: String,
    b: String,
    older: MessageId,
    delivered: MessageId,
    dead: MessageId,
    newer: MessageId,
}

impl Seeded {
    async fn new(app: &TestApp) -> Self {
        let a = app.create_organization("Acme").await;
        let b = app.create_organization("Beta").await;
        let older = enqueue(app, MAIL, "payment_failed:1", Some(&a)).await;
        let delivered = enqueue(app, SMS, "suspend:1", Some(&b)).await;
        let dead = enqueue(app, BILLING, "refund:1", None).await;
        let newer = enqueue(app, MAIL, "payment_failed:2", Some(&a)).await;

        let outbox = &app.state.outbox;
        let mut conn = app.conn().await;
        let claimed = outbox.claim(&mut conn, &[SMS], 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let settled = outbox.complete(&mut conn, &claimed[0]).await.unwrap();
        assert_eq!(settled, Settlement::Delivered);
        let claimed = outbox.claim(&mut conn, &[BILLING], 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let error = HandlerError::permanent(PERMANENT_ERROR);
        let settled = outbox.fail(&mut conn, &claimed[0], &error).await.unwrap();
        assert_eq!(settled, Settlement::Dead);
        Self {
            a,
            b,
            older,
            delivered,
            dead,
            newer,
        }
    }
}

/// Enqueues a message due now (the app's clock) with a payload naming its dedupe key.
async fn enqueue(
    app: &TestApp,
    topic: Topic,
    key: &str,
    organization_id: Option<&str>,
) -> MessageId {
    let message = NewMessage {
        organization_id: organization_id.map(|id| id.parse().unwrap()),
        ..NewMessage::new(
            topic,
            DedupeKey::parse(key).unwrap(),
            json!({"kind": "test", "key": key}),
            app.state.outbox.now(),
        )
    };
    match outbox::enqueue_raw(&mut app.conn().await, message)
        .await
        .unwrap()
    {
        Enqueued::New(id) => id,
        Enqueued::Duplicate(id) => panic!("{key} was enqueued already as {id}"),
    }
}

/// Every message, as stored: to prove that a refused request changed nothing.
async fn all_messages(app: &TestApp) -> Vec<OutboxMessage> {
    let every = ListFilter::default().with_limit(ListFilter::MAX_LIMIT);
    outbox::list(&mut app.conn().await, &every).await.unwrap()
}

/// Awaits a request that must be refused: asserts the problem and that no message changed.
async fn refused(
    app: &TestApp,
    request: impl IntoFuture<Output = Response>,
    status: u16,
    code: &str,
) -> Value {
    let before = all_messages(app).await;
    let problem = assert_problem(request.await, status, code).await;
    assert_eq!(
        all_messages(app).await,
        before,
        "refused with {code} but wrote: {problem}"
    );
    problem
}

async fn request(app: &TestApp, method: Method, token: Option<&str>, path: &str) -> Response {
    let request = app.client.request(method, app.url(path));
    send(match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    })
    .await
}

async fn get(app: &TestApp, path: &str) -> Response {
    request(app, Method::GET, Some(ADMIN_TOKEN), path).await
}

async fn retry(app: &TestApp, id: &str) -> Response {
    let path = format!("/v1/admin/outbox/{id}/retry");
    request(app, Method::POST, Some(ADMIN_TOKEN), &path).await
}

/// `GET /v1/admin/outbox{query}` as admin: the ids listed and the `next_cursor`.
async fn list(app: &TestApp, query: &str) -> (Vec<MessageId>, Option<MessageId>) {
    let page = ok(get(app, &format!("/v1/admin/outbox{query}")).await).await;
    let ids = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let cursor = page["next_cursor"]
        .as_str()
        .map(|cursor| cursor.parse().unwrap());
    (ids, cursor)
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap()
}

#[tokio::test]
async fn lists_every_field_newest_first() {
    let app = TestApp::spawn().await;
    assert_eq!(list(&app, "").await, (vec![], None));
    let s = Seeded::new(&app).await;
    let now = app.state.outbox.now();

    let page = ok(get(&app, "/v1/admin/outbox").await).await;
    assert_eq!(page["next_cursor"], Value::Null, "{page}");
    let messages = page["messages"].as_array().unwrap();
    let ids: Vec<String> = messages
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let expected = [s.newer, s.dead, s.delivered, s.older].map(|id| id.to_string());
    assert_eq!(ids, expected);

    let dead = &messages[1];
    assert_eq!(dead["topic"], "billing.paypal");
    assert_eq!(dead["dedupe_key"], "refund:1");
    assert_eq!(dead["organization_id"], Value::Null);
    assert_eq!(dead["status"], "dead");
    assert_eq!(
        (&dead["attempts"], &dead["max_attempts"]),
        (&json!(1), &json!(12))
    );
    assert_eq!(dead["last_error"], PERMANENT_ERROR);
    assert_eq!(dead["claimed_until"], Value::Null);
    assert_eq!(dead["delivered_at"], Value::Null);
    // Written by the database's clock, not the app's.
    assert!(time(&dead["created_at"]) <= time(&messages[0]["created_at"]));
    assert_eq!(dead["payload"], json!({"kind": "test", "key": "refund:1"}));

    let delivered = &messages[2];
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["organization_id"], s.b.as_str());
    assert_eq!(time(&delivered["delivered_at"]), now);
    assert_eq!(delivered["last_error"], Value::Null);

    let newer = &messages[0];
    assert_eq!(newer["status"], "pending");
    assert_eq!(newer["topic"], "notification");
    assert_eq!(newer["organization_id"], s.a.as_str());
    assert_eq!(newer["attempts"], 0);
    assert_eq!(time(&newer["next_attempt_at"]), now);
    assert_eq!(newer["claimed_until"], Value::Null);

    // One message reads the same on its own.
    let one = ok(get(&app, &format!("/v1/admin/outbox/{}", s.dead)).await).await;
    assert_eq!(&one, dead);
}

#[tokio::test]
async fn filters_by_status_topic_and_organization_and_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    let s = Seeded::new(&app).await;
    let (a, b) = (&s.a, &s.b);

    assert_eq!(list(&app, "?status=dead").await, (vec![s.dead], None));
    assert_eq!(
        list(&app, "?status=pending").await,
        (vec![s.newer, s.older], None)
    );
    assert_eq!(
        list(&app, "?status=delivered").await,
        (vec![s.delivered], None)
    );
    assert_eq!(
        list(&app, "?topic=notification").await,
        (vec![s.newer, s.older], None)
    );
    assert_eq!(
        list(&app, &format!("?organization_id={a}")).await,
        (vec![s.newer, s.older], None)
    );
    assert_eq!(
        list(
            &app,
            &format!("?organization_id={b}&status=delivered&topic=twilio.subaccount")
        )
        .await,
        (vec![s.delivered], None)
    );
    assert_eq!(
        list(&app, "?topic=notification&status=dead").await,
        (vec![], None)
    );
    assert_eq!(list(&app, "?topic=no.such_topic").await, (vec![], None));
    let stranger = uuid::Uuid::now_v7();
    assert_eq!(
        list(&app, &format!("?organization_id={stranger}")).await,
        (vec![], None)
    );
    // A parameter given empty is refused with its own code, like any bad value: absent, it
    // filters nothing.
    for (query, code, field) in [
        ("?status=", "INVALID_STATUS", "status"),
        ("?topic=", "INVALID_TOPIC", "topic"),
        (
            "?organization_id=",
            "INVALID_ORGANIZATION_ID",
            "organization_id",
        ),
        ("?cursor=", "INVALID_CURSOR", "cursor"),
        ("?limit=", "INVALID_LIMIT", "limit"),
    ] {
        let path = format!("/v1/admin/outbox{query}");
        let problem = assert_problem(get(&app, &path).await, 422, code).await;
        assert_eq!(problem["field"], field, "{query}");
    }

    // Pages: the cursor is the last id of the page; the last page has none, even when it is
    // exactly full.
    assert_eq!(
        list(&app, "?limit=2").await,
        (vec![s.newer, s.dead], Some(s.dead))
    );
    assert_eq!(
        list(&app, &format!("?limit=2&cursor={}", s.dead)).await,
        (vec![s.delivered, s.older], None)
    );
    assert_eq!(list(&app, "?limit=4").await.1, None);
    assert_eq!(
        list(&app, "?limit=3").await,
        (vec![s.newer, s.dead, s.delivered], Some(s.delivered))
    );
    assert_eq!(
        list(&app, &format!("?limit=3&cursor={}", s.delivered)).await,
        (vec![s.older], None)
    );
    // The cursor pages within the filter.
    assert_eq!(
        list(&app, "?status=pending&limit=1").await,
        (vec![s.newer], Some(s.newer))
    );
    assert_eq!(
        list(&app, &format!("?status=pending&limit=1&cursor={}", s.newer)).await,
        (vec![s.older], None)
    );
    assert_eq!(
        list(&app, &format!("?cursor={}", s.older)).await,
        (vec![], None)
    );
    assert_eq!(list(&app, "?limit=200").await.0.len(), 4);
}

#[tokio::test]
async fn counts_messages_per_topic_and_status() {
    let app = TestApp::spawn().await;
    let empty = ok(get(&app, "/v1/admin/outbox/counts").await).await;
    assert_eq!(empty, json!({"counts": []}));

    Seeded::new(&app).await;
    let counts = ok(get(&app, "/v1/admin/outbox/counts").await).await;
    assert_eq!(
        counts,
        json!({"counts": [
            {"topic": "billing.paypal", "status": "dead", "count": 1},
            {"topic": "notification", "status": "pending", "count": 2},
            {"topic": "twilio.subaccount", "status": "delivered", "count": 1},
        ]})
    );
}

#[tokio::test]
async fn an_unknown_message_is_not_found() {
    let app = TestApp::spawn().await;
    let s = Seeded::new(&app).await;

    let message = ok(get(&app, &format!("/v1/admin/outbox/{}", s.older)).await).await;
    assert_eq!(message["id"], s.older.to_string());
    assert_eq!(message["dedupe_key"], "payment_failed:1");

    let unknown = MessageId::new();
    let problem = assert_problem(
        get(&app, &format!("/v1/admin/outbox/{unknown}")).await,
        404,
        "OUTBOX_MESSAGE_NOT_FOUND",
    )
    .await;
    assert_eq!(problem["message_id"], unknown.to_string());
    // A malformed id names nothing, as on every other route.
    assert_problem(
        get(&app, "/v1/admin/outbox/not-a-uuid").await,
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn retrying_requeues_a_dead_message_due_now_with_a_fresh_budget() {
    let app = TestApp::spawn().await;
    let s = Seeded::new(&app).await;
    // An hour later, after the cause was fixed.
    app.clock.advance(TimeDelta::hours(1));
    let now = app.state.outbox.now();
    let others_before: Vec<OutboxMessage> = all_messages(&app)
        .await
        .into_iter()
        .filter(|m| m.id != s.dead)
        .collect();

    let requeued = ok(retry(&app, &s.dead.to_string()).await).await;
    assert_eq!(requeued["id"], s.dead.to_string());
    assert_eq!(requeued["status"], "pending");
    assert_eq!(requeued["attempts"], 0);
    assert_eq!(requeued["max_attempts"], 12);
    assert_eq!(time(&requeued["next_attempt_at"]), now);
    // The cause stays visible until the next attempt.
    assert_eq!(requeued["last_error"], PERMANENT_ERROR);
    assert_eq!(requeued["claimed_until"], Value::Null);
    assert_eq!(requeued["delivered_at"], Value::Null);
    let read_back = ok(get(&app, &format!("/v1/admin/outbox/{}", s.dead)).await).await;
    assert_eq!(read_back, requeued);
    let others_after: Vec<OutboxMessage> = all_messages(&app)
        .await
        .into_iter()
        .filter(|m| m.id != s.dead)
        .collect();
    assert_eq!(
        others_after, others_before,
        "only the retried message changed"
    );
    assert_eq!(list(&app, "?status=dead").await, (vec![], None));

    // Requeued, it is due at once: the next claim takes it as its first attempt.
    let mut conn = app.conn().await;
    let claimed = app
        .state
        .outbox
        .claim(&mut conn, &[BILLING], 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].id, claimed[0].attempt), (s.dead, 1));
    assert_eq!(claimed[0].last_error.as_deref(), Some(PERMANENT_ERROR));

    // A second retry of the same message is refused: it is no longer dead.
    let problem = refused(
        &app,
        retry(&app, &s.dead.to_string()),
        409,
        "OUTBOX_MESSAGE_NOT_DEAD",
    )
    .await;
    assert_eq!(problem["message_status"], "pending");
}

#[tokio::test]
async fn retrying_a_message_that_is_not_dead_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let s = Seeded::new(&app).await;

    let problem = refused(
        &app,
        retry(&app, &s.older.to_string()),
        409,
        "OUTBOX_MESSAGE_NOT_DEAD",
    )
    .await;
    assert_eq!(problem["message_status"], "pending");
    assert_eq!(problem["message_id"], s.older.to_string());
    let problem = refused(
        &app,
        retry(&app, &s.delivered.to_string()),
        409,
        "OUTBOX_MESSAGE_NOT_DEAD",
    )
    .await;
    assert_eq!(problem["message_status"], "delivered");
    let unknown = MessageId::new().to_string();
    refused(&app, retry(&app, &unknown), 404, "OUTBOX_MESSAGE_NOT_FOUND").await;
    refused(&app, retry(&app, "not-a-uuid"), 404, "NOT_FOUND").await;
    // The dead message is still there for a real retry.
    assert_eq!(list(&app, "?status=dead").await, (vec![s.dead], None));
}

#[tokio::test]
async fn bad_list_queries_are_refused_with_stable_codes() {
    let app = TestApp::spawn().await;
    Seeded::new(&app).await;
    let cases = [
        ("status=bogus", "INVALID_STATUS", Some("status")),
        ("status=DEAD", "INVALID_STATUS", Some("status")),
        ("topic=Notification", "INVALID_TOPIC", Some("topic")),
        ("topic=twilio..sms", "INVALID_TOPIC", Some("topic")),
        ("topic=with%20space", "INVALID_TOPIC", Some("topic")),
        (
            "organization_id=42",
            "INVALID_ORGANIZATION_ID",
            Some("organization_id"),
        ),
        ("cursor=page-2", "INVALID_CURSOR", Some("cursor")),
        ("limit=0", "INVALID_LIMIT", Some("limit")),
        ("limit=201", "INVALID_LIMIT", Some("limit")),
        ("limit=-1", "INVALID_LIMIT", Some("limit")),
        ("limit=ten", "INVALID_LIMIT", Some("limit")),
        ("limit=", "INVALID_LIMIT", Some("limit")),
        ("state=dead", "VALIDATION_FAILED", Some("state")),
    ];
    for (query, code, field) in cases {
        let problem = refused(
            &app,
            get(&app, &format!("/v1/admin/outbox?{query}")),
            422,
            code,
        )
        .await;
        match field {
            Some(field) => assert_eq!(problem["field"], field, "{query}: {problem}"),
            None => assert_eq!(problem["field"], Value::Null, "{query}: {problem}"),
        }
    }
}

#[tokio::test]
async fn only_the_admin_may_use_the_outbox_routes() {
    let app = TestApp::spawn().await;
    let s = Seeded::new(&app).await;
    let (_, org_key) = app.issue_key(&s.a).await;
    let dead = s.dead.to_string();
    let routes = [
        (Method::GET, "/v1/admin/outbox".to_owned()),
        // Access is checked before the query and the path are looked at.
        (
            Method::GET,
            "/v1/admin/outbox?status=bogus&limit=0".to_owned(),
        ),
        (Method::GET, "/v1/admin/outbox/counts".to_owned()),
        (Method::GET, format!("/v1/admin/outbox/{dead}")),
        (Method::GET, "/v1/admin/outbox/not-a-uuid".to_owned()),
        (Method::POST, format!("/v1/admin/outbox/{dead}/retry")),
        (
            Method::POST,
            format!("/v1/admin/outbox/{}/retry", MessageId::new()),
        ),
    ];
    for (method, path) in routes {
        let no_credential = request(&app, method.clone(), None, &path);
        refused(&app, no_credential, 401, "UNAUTHORIZED").await;
        let unknown = request(&app, method.clone(), Some("bsk_not-a-real-key"), &path);
        refused(&app, unknown, 401, "UNAUTHORIZED").await;
        let organization = request(&app, method.clone(), Some(&org_key), &path);
        refused(&app, organization, 403, "ADMIN_REQUIRED").await;
    }
    // The dead message waited for the admin.
    assert_eq!(list(&app, "?status=dead").await, (vec![s.dead], None));
}
