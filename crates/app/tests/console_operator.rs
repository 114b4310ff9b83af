//! The operator's console pages over HTTP, against a real database: signing in with a name and
//! the admin token, the health report as a page, and the runbook's actions (re-apply an inbox
//! delivery, correct a balance, lift a freeze and an access block) sent through the API and
//! recorded with the operator's name, refusals included. A customer session, an organization
//! key and a forged form reach none of it.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;
#[path = "common/console.rs"]
mod console;
#[path = "campaigns/support.rs"]
#[expect(
    dead_code,
    reason = "these tests need only part of the campaign helpers"
)]
mod support;

use billing::{BillingEvent, BillingEventKind, ParsedWebhook};
use chrono::Utc;
use common::{ADMIN_TOKEN, TestApp, ok, send};
use console::{Console, Page};
use diesel_async::RunQueryDsl;
use primitives::ProviderName;
use reqwest::StatusCode;
use serde_json::{Value, json};

const OPERATOR: &str = "Ada Lovelace";

/// Every page an operator has, and one action of each kind.
const PAGES: [&str; 5] = [
    "/console/operator",
    "/console/operator/inbox",
    "/console/operator/outbox",
    "/console/operator/organizations",
    "/console/operator/history",
];

/// A recorded operator action, as the table holds it.
#[derive(Debug, diesel::QueryableByName)]
struct Recorded {
    #[diesel(sql_type = diesel::sql_types::Text)]
    operator: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    target: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    outcome: String,
}

/// Every recorded action, oldest first.
/// The recorded actions, signing in and out left out (`signing_in_and_out_is_recorded`).
async fn recorded(app: &TestApp) -> Vec<Recorded> {
    let mut conn = app.conn().await;
    diesel::sql_query(
        "SELECT operator, action, target, reason, outcome FROM operator_actions \
         WHERE action NOT IN ('sign_in', 'sign_out') ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn signing_in_and_out_is_recorded_and_refused_tokens_are_not() {
    let app = TestApp::spawn().await;
    let mut console = Console::new(&app);
    let refused = console
        .sign_in_operator_with("Mallory", "not-the-admin-token-0123456789abcdef")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let mut console = operator(&app).await;
    let csrf = console.csrf().await;
    let out = console.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/console/operator/sign-in"));

    let mut conn = app.conn().await;
    let all: Vec<Recorded> = diesel::sql_query(
        "SELECT operator, action, target, reason, outcome FROM operator_actions ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = all
        .iter()
        .map(|r| {
            (
                r.operator.as_str(),
                r.action.as_str(),
                r.target.as_str(),
                r.outcome.as_str(),
            )
        })
        .collect();
    // A made-up name with a wrong token writes nothing here (it is counted and logged).
    assert_eq!(
        seen,
        [
            (OPERATOR, "sign_in", "console", "ok"),
            (OPERATOR, "sign_out", "console", "ok"),
        ]
    );
}

/// The action redirected back with `done` (percent-encoded) as its outcome.
fn assert_done(page: &Page, done: &str) {
    let location = page.location.as_deref().unwrap_or_default();
    assert!(location.contains(&format!("?done={done}")), "{location}");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.conn().await;
    let found: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    found.n
}

/// The value of the hidden input `name` inside the form with id `form`.
fn hidden_in(page: &Page, form: &str, name: &str) -> String {
    let start = page
        .html
        .find(&format!("id=\"{form}\""))
        .unwrap_or_else(|| panic!("no form {form}"));
    let scoped = Page {
        status: page.status,
        location: None,
        set_cookies: Vec::new(),
        html: page.html[start..].to_owned(),
    };
    scoped.hidden(name).unwrap()
}

/// An operator signed in through the real form.
async fn operator(app: &TestApp) -> Console {
    let mut console = Console::new(app);
    let signed = console.sign_in_operator(OPERATOR).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/console/operator"));
    console
}

/// Hands a delivery to the app's intake as the receiver does; returns its inbox id.
async fn deliver(app: &TestApp, event: BillingEvent) -> String {
    let body = serde_json::to_vec(&json!({"id": event.provider_event_id})).unwrap();
    let received = app
        .state
        .intake
        .receive(
            &app.state.pool,
            event.provider,
            &body,
            Ok(ParsedWebhook::Events {
                events: vec![event],
            }),
        )
        .await
        .unwrap();
    received.inbox_id.to_string()
}

/// A cancellation of a subscription nobody created yet: unmatched.
fn cancellation(provider_subscription_id: &str) -> BillingEvent {
    BillingEvent {
        provider: ProviderName::Stripe,
        provider_event_id: format!("evt_{provider_subscription_id}"),
        occurred_at: Utc::now(),
        kind: BillingEventKind::SubscriptionCanceled,
        organization_ref: None,
        provider_subscription_id: Some(provider_subscription_id.to_owned()),
        amount: None,
        payment_reference: None,
        period_end: None,
        subscription_status: None,
        trial_end: None,
        failure_reason: None,
        order_reference: None,
        checkout_reference: None,
        provider_event_type: "customer.subscription.deleted".into(),
    }
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    ok(send(app.client.get(app.url(path)).bearer_auth(ADMIN_TOKEN)).await).await
}

#[tokio::test]
async fn an_operator_signs_in_with_a_name_and_the_admin_token_only() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);

    let wrong = console
        .sign_in_operator_with(OPERATOR, "not-the-admin-token")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("UNAUTHORIZED"));
    // An organization's key is not the admin token.
    let key = console.sign_in_operator_with(OPERATOR, &org.key).await;
    assert_eq!(key.status, StatusCode::UNAUTHORIZED);
    let nameless = console.sign_in_operator_with("   ", ADMIN_TOKEN).await;
    assert_eq!(nameless.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(nameless.html.contains("INVALID_OPERATOR"));
    for page in [wrong, key, nameless] {
        assert!(page.set_cookie("console_session").is_none());
    }
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM console_sessions").await,
        0
    );
    for path in PAGES {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location.as_deref(), Some("/console/operator/sign-in"));
    }

    let mut console = operator(&app).await;
    for path in PAGES {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.html
                .contains(&format!("id=\"signed-in-as\">{OPERATOR}<")),
            "{path}"
        );
        // The CSP allows no script and no inline style.
        assert!(!page.html.contains("<script"), "{path}");
        assert!(!page.html.contains(" style="), "{path}");
    }
}

#[tokio::test]
async fn the_health_page_shows_every_figure_of_the_report() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "10.00").await;
    deliver(&app, cancellation("sub_nobody")).await;
    let report = admin_get(&app, "/v1/admin/health").await;
    let mut console = operator(&app).await;
    let page = console.get("/console/operator").await;
    assert_eq!(page.status, StatusCode::OK);

    let shows = |id: &str, count: &Value| {
        let cell = format!("id=\"{id}\">{count}</td>");
        assert!(page.html.contains(&cell), "{cell} missing");
    };
    shows(
        "health-negative-balances-wallets",
        &report["wallets_negative"],
    );
    shows("health-drift-wallets", &report["wallets_drifted"]);
    shows(
        "health-subscriptions-in-dunning",
        &report["subscriptions_past_due"],
    );
    shows(
        "health-subscriptions-suspended-for-non-payment",
        &report["subscriptions_suspended"],
    );
    shows("health-campaigns-stalled", &report["campaigns_stalled"]);
    let slug = |key: &str| key.replace(['_', '.'], "-");
    for (member, section) in [
        ("wallets_frozen", "health-frozen"),
        ("subscriptions", "health-subscriptions"),
        ("campaigns_paused", "health-campaigns"),
        ("outbox_pending", "health-outbox-pending"),
        ("outbox_dead", "health-outbox-dead"),
        ("webhook_inbox", "health-inbox"),
    ] {
        let figures = report[member].as_object().unwrap();
        for (key, count) in figures {
            shows(&format!("{section}-{}", slug(key)), count);
        }
    }
    assert_eq!(report["webhook_inbox"]["unmatched"], 1);
    assert!(page.html.contains("id=\"health-inbox\""));
    assert!(page.html.contains("id=\"health-negative-balances\""));
    // The unmatched delivery is drawn as a problem and links to where it is re-applied.
    let row = page.html.find("id=\"health-inbox-unmatched\"").unwrap();
    let start = page.html[..row].rfind("<tr").unwrap();
    assert!(page.html[start..row].contains("level-bad"));
    assert!(page.html[start..row].contains("/console/operator/inbox?status=unmatched"));
    let calm = page
        .html
        .find("id=\"health-negative-balances-wallets\"")
        .unwrap();
    let start = page.html[..calm].rfind("<tr").unwrap();
    assert!(page.html[start..calm].contains("level-calm"));
}

#[tokio::test]
async fn a_failed_delivery_is_reapplied_from_the_inbox_and_the_history_says_who() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let event_id = deliver(&app, cancellation("sub_later")).await;
    // An attempt failed (a database hiccup, say): waiting for its retry.
    let mut conn = app.conn().await;
    diesel::sql_query(
        "UPDATE webhook_inbox SET status = 'failed', attempts = 1, \
         last_error = 'database unavailable', next_attempt_at = now() + interval '1 hour' \
         WHERE id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(&event_id)
    .execute(&mut conn)
    .await
    .unwrap();
    // The cause is fixed: the subscription exists.
    let create = send(
        app.client
            .post(app.url(&format!("/v1/admin/organizations/{}/subscriptions", org.id)))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", "create-sub-later")
            .json(&json!({"plan": "pro", "provider": "stripe", "provider_subscription_id": "sub_later"})),
    )
    .await;
    assert_eq!(create.status(), 201);

    let mut console = operator(&app).await;
    let inbox = console.get("/console/operator/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.html.contains(&format!("id=\"reapply-{event_id}\"")));
    assert!(inbox.html.contains("database unavailable"));
    let csrf = inbox.hidden("csrf").unwrap();

    let done = console
        .post(
            &format!("/console/operator/inbox/{event_id}/reapply"),
            &[("csrf", &csrf), ("status", "")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let back = done.location.unwrap();
    assert!(back.starts_with("/console/operator/inbox?done="), "{back}");
    let shown = console.get(&back).await;
    assert!(
        shown.html.contains("re-applied: now applied"),
        "{}",
        shown.html
    );
    let view = admin_get(&app, &format!("/v1/admin/webhook-events/{event_id}")).await;
    assert_eq!(view["status"], "applied");

    let history = console.get("/console/operator/history").await;
    assert!(
        history
            .html
            .contains(&format!("class=\"operator\">{OPERATOR}<"))
    );
    assert!(history.html.contains("reapply_inbox_event"));
    assert!(history.html.contains(&format!("inbox event {event_id}")));
    let actions = recorded(&app).await;
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].operator, OPERATOR);
    assert_eq!(actions[0].action, "reapply_inbox_event");
    assert_eq!(actions[0].outcome, "ok");

    // A made-up delivery: the API's 404, recorded as refused.
    let unknown = uuid::Uuid::now_v7();
    let refused = console
        .post(
            &format!("/console/operator/inbox/{unknown}/reapply"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        refused.location.as_deref(),
        Some("/console/operator/inbox?refused=WEBHOOK_EVENT_NOT_FOUND")
    );
    assert_eq!(recorded(&app).await[1].outcome, "WEBHOOK_EVENT_NOT_FOUND");
}

#[tokio::test]
async fn a_correction_posted_twice_moves_money_once_and_a_refused_one_moves_nothing() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "10.00").await;
    let mut console = operator(&app).await;
    let path = format!("/console/operator/organizations/{}", org.id);
    let page = console.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("id=\"wallet-balance\">10.00 USD<"));
    let csrf = page.hidden("csrf").unwrap();
    let key = hidden_in(&page, "correction-form", "idempotency_key");
    let entries = app.count_entries(&org.id).await;

    let reason = "duplicate charge, ticket 4521";
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("amount", "-2.50"),
        ("currency", "USD"),
        ("reason", reason),
    ];
    let action = format!("{path}/correction");
    let first = console.post(&action, &fields).await;
    let second = console.post(&action, &fields).await;
    for answer in [&first, &second] {
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert!(
            answer
                .location
                .as_deref()
                .unwrap()
                .starts_with(&format!("{path}?done="))
        );
    }
    assert!(second.location.unwrap().contains("already%20recorded"));
    assert_eq!(app.wallet(&org.id).await["balance"], "7.50");
    assert_eq!(app.count_entries(&org.id).await, entries + 1);
    // The wallet's own history names the operator, not only "admin".
    let listed = app
        .client
        .get(app.url(&format!(
            "/v1/organizations/{}/wallet/entries?limit=1",
            org.id
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let entry = &listed["entries"][0];
    assert_eq!(entry["kind"], "correction", "{listed}");
    assert_eq!(entry["actor"], format!("admin:{OPERATOR}"), "{listed}");

    // A bad amount: refused by the API, recorded with its code, nothing moves.
    let fresh = console.get(&path).await;
    let key = hidden_in(&fresh, "correction-form", "idempotency_key");
    let refused = console
        .post(
            &action,
            &[
                ("csrf", csrf.as_str()),
                ("idempotency_key", key.as_str()),
                ("amount", "lots"),
                ("currency", "USD"),
                ("reason", reason),
            ],
        )
        .await;
    let back = refused.location.unwrap();
    assert_eq!(back, format!("{path}?refused=INVALID_AMOUNT"));
    assert!(
        console
            .get(&back)
            .await
            .html
            .contains("Refused: INVALID_AMOUNT")
    );
    assert_eq!(app.wallet(&org.id).await["balance"], "7.50");
    assert_eq!(app.count_entries(&org.id).await, entries + 1);

    let actions = recorded(&app).await;
    let outcomes: Vec<&str> = actions.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "INVALID_AMOUNT"]);
    for action in &actions {
        assert_eq!(action.action, "correction");
        assert_eq!(action.operator, OPERATOR);
        assert_eq!(action.target, format!("organization {}", org.id));
        assert_eq!(action.reason.as_deref(), Some(reason));
    }
    // The organization's page lists them, newest first.
    let page = console.get(&path).await;
    let newest = page.html.find("INVALID_AMOUNT").unwrap();
    assert!(newest < page.html.rfind(">ok<").unwrap());
}

#[tokio::test]
async fn freezes_and_access_blocks_are_lifted_with_a_reason() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let freeze = send(
        app.client
            .post(app.url(&format!("/v1/organizations/{}/wallet/freeze", org.id)))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"reason": "chargeback under review"})),
    )
    .await;
    assert_eq!(freeze.status(), 200);
    let block = send(
        app.client
            .post(app.url(&format!("/v1/admin/organizations/{}/access-blocks", org.id)))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"reason": "suspected fraud"})),
    )
    .await;
    assert_eq!(block.status(), 200);

    let mut console = operator(&app).await;
    let path = format!("/console/operator/organizations/{}", org.id);
    let page = console.get(&path).await;
    assert!(page.html.contains("chargeback under review"));
    assert!(page.html.contains("id=\"block-admin\""));
    let csrf = page.hidden("csrf").unwrap();

    // Without a reason the API refuses; nothing is lifted.
    let refused = console
        .post(
            &format!("{path}/unfreeze"),
            &[("csrf", &csrf), ("reason", "")],
        )
        .await;
    assert_eq!(
        refused.location.unwrap(),
        format!("{path}?refused=INVALID_REASON")
    );
    assert_eq!(app.wallet(&org.id).await["frozen"], true);

    let lifted = console
        .post(
            &format!("{path}/unfreeze"),
            &[("csrf", &csrf), ("reason", "chargeback won")],
        )
        .await;
    assert_done(&lifted, "admin%20freeze%20lifted");
    assert_eq!(app.wallet(&org.id).await["frozen"], false);

    let lifted = console
        .post(
            &format!("{path}/lift-access-block"),
            &[("csrf", &csrf), ("reason", "cleared by risk")],
        )
        .await;
    assert_done(&lifted, "admin%20access%20block%20lifted");
    let blocks = admin_get(
        &app,
        &format!("/v1/admin/organizations/{}/access-blocks", org.id),
    )
    .await;
    assert_eq!(blocks["blocks"], json!([]));
    // The freeze's and the block's own audit trails name the operator.
    let by_operator = |table: &str, action: &str| {
        format!(
            "SELECT count(*) AS n FROM {table} WHERE action = '{action}' \
             AND actor = 'admin:{OPERATOR}'"
        )
    };
    assert_eq!(
        count(&app, &by_operator("wallet_freeze_events", "unfreeze")).await,
        1
    );
    assert_eq!(
        count(&app, &by_operator("access_block_events", "unblock")).await,
        1
    );

    let actions: Vec<(String, String)> = recorded(&app)
        .await
        .into_iter()
        .map(|a| (a.action, a.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            ("lift_freeze".into(), "INVALID_REASON".into()),
            ("lift_freeze".into(), "ok".into()),
            ("lift_access_block".into(), "ok".into()),
        ]
    );
}

#[tokio::test]
async fn malformed_and_unknown_organizations_are_the_apis_404() {
    let app = TestApp::spawn().await;
    let mut console = operator(&app).await;
    let malformed = console
        .get("/console/operator/organizations/not-an-id")
        .await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
    assert!(malformed.html.contains(">NOT_FOUND<"));
    let unknown = console
        .get(&format!(
            "/console/operator/organizations/{}",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.html.contains(">ORGANIZATION_NOT_FOUND<"));
    let opened = console
        .get("/console/operator/organizations?organization_id=not-an-id")
        .await;
    assert_eq!(
        opened.location.as_deref(),
        Some("/console/operator/organizations/not-an-id")
    );
    // A crafted id never reaches an API path, and records nothing.
    let csrf = console.csrf().await;
    let crafted = console
        .post(
            "/console/operator/inbox/..%2F..%2Fv1%2Fadmin%2Fhealth/reapply",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(crafted.status, StatusCode::NOT_FOUND);
    assert!(recorded(&app).await.is_empty());
}

#[tokio::test]
async fn a_customer_session_reaches_no_operator_page_or_action() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "10.00").await;
    let mut customer = Console::new(&app);
    let signed = customer.sign_in(&org.key).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    // The customer session's own token: its forms pass the CSRF check, not the operator's.
    let mut conn = app.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Token {
        #[diesel(sql_type = diesel::sql_types::Text)]
        csrf_token: String,
    }
    let csrf = diesel::sql_query("SELECT csrf_token FROM console_sessions WHERE kind = 'customer'")
        .get_result::<Token>(&mut conn)
        .await
        .unwrap()
        .csrf_token;
    for path in PAGES
        .into_iter()
        .map(str::to_owned)
        .chain([format!("/console/operator/organizations/{}", org.id)])
    {
        let page = customer.get(&path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location.as_deref(), Some("/console/operator/sign-in"));
    }
    let posted = customer
        .post(
            &format!("/console/operator/organizations/{}/correction", org.id),
            &[
                ("csrf", &csrf),
                ("idempotency_key", "customer-try"),
                ("amount", "100.00"),
                ("currency", "USD"),
                ("reason", "free money"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        posted.location.as_deref(),
        Some("/console/operator/sign-in")
    );
    assert_eq!(app.wallet(&org.id).await["balance"], "10.00");
    assert!(recorded(&app).await.is_empty());
}

#[tokio::test]
async fn a_forged_form_is_refused_and_records_nothing() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "10.00").await;
    let mut console = operator(&app).await;
    let path = format!("/console/operator/organizations/{}", org.id);
    let page = console.get(&path).await;
    let csrf = page.hidden("csrf").unwrap();
    fn fields(csrf: &str) -> [(&'static str, &str); 5] {
        [
            ("csrf", csrf),
            ("idempotency_key", "forged-correction"),
            ("amount", "-5.00"),
            ("currency", "USD"),
            ("reason", "forged"),
        ]
    }
    let action = format!("{path}/correction");
    for forged in ["", "wrong", &csrf[..csrf.len() - 1]] {
        let refused = console.post(&action, &fields(forged)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{forged}");
        assert!(refused.html.contains(">CSRF_REFUSED<"));
    }
    // The right token, from another site.
    let elsewhere = console.post_from_elsewhere(&action, &fields(&csrf)).await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert!(elsewhere.html.contains(">CSRF_REFUSED<"));
    assert_eq!(app.wallet(&org.id).await["balance"], "10.00");
    assert!(recorded(&app).await.is_empty());
}

#[tokio::test]
async fn manual_payments_and_recipient_resolutions_go_through_the_api() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let create = send(
        app.client
            .post(app.url(&format!("/v1/admin/organizations/{}/subscriptions", org.id)))
            .bearer_auth(ADMIN_TOKEN)
            .header("Idempotency-Key", "create-sub")
            .json(
                &json!({"plan": "pro", "provider": "stripe", "provider_subscription_id": "sub_1"}),
            ),
    )
    .await;
    assert_eq!(create.status(), 201);
    let mut console = operator(&app).await;
    let path = format!("/console/operator/organizations/{}", org.id);
    let page = console.get(&path).await;
    assert!(page.html.contains("id=\"subscription-status\""));
    let csrf = page.hidden("csrf").unwrap();
    let key = hidden_in(&page, "manual-payment-form", "idempotency_key");
    let until = (Utc::now() + chrono::TimeDelta::days(40))
        .format("%Y-%m-%d")
        .to_string();
    async fn pay(console: &mut Console, path: &str, csrf: &str, key: &str, until: &str) -> String {
        let fields = [
            ("csrf", csrf),
            ("idempotency_key", key),
            ("amount", "49.00"),
            ("currency", "USD"),
            ("period_end", until),
        ];
        let page = console
            .post(&format!("{path}/manual-payment"), &fields)
            .await;
        page.location.unwrap()
    }
    let paid = pay(&mut console, &path, &csrf, &key, &until).await;
    assert!(
        paid.starts_with(&format!("{path}?done=manual%20payment")),
        "{paid}"
    );
    let subscription = admin_get(
        &app,
        &format!("/v1/admin/organizations/{}/subscription", org.id),
    )
    .await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    // The same form again is the same payment.
    let again = pay(&mut console, &path, &csrf, &key, &until).await;
    assert!(again.ends_with("%3A%20duplicate"), "{again}");
    let undated = pay(&mut console, &path, &csrf, &key, "next month").await;
    assert_eq!(undated, format!("{path}?refused=INVALID_PERIOD_END"));

    async fn resolve(console: &mut Console, path: &str, csrf: &str, campaign: &str) -> String {
        let fields = [
            ("csrf", csrf),
            ("campaign_id", campaign),
            ("recipient_id", "1"),
            ("outcome", "not_sent"),
        ];
        let page = console
            .post(&format!("{path}/resolve-recipient"), &fields)
            .await;
        page.location.unwrap()
    }
    let campaign = uuid::Uuid::now_v7().to_string();
    let unknown = resolve(&mut console, &path, &csrf, &campaign).await;
    assert_eq!(unknown, format!("{path}?refused=CAMPAIGN_NOT_FOUND"));
    let crafted = resolve(&mut console, &path, &csrf, "../../health").await;
    assert_eq!(crafted, format!("{path}?refused=VALIDATION_FAILED"));

    let actions: Vec<(String, String)> = recorded(&app)
        .await
        .into_iter()
        .map(|a| (a.action, a.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            ("record_manual_payment".into(), "ok".into()),
            ("record_manual_payment".into(), "ok".into()),
            ("record_manual_payment".into(), "INVALID_PERIOD_END".into()),
            ("resolve_recipient".into(), "CAMPAIGN_NOT_FOUND".into()),
            ("resolve_recipient".into(), "VALIDATION_FAILED".into()),
        ]
    );
}

#[tokio::test]
async fn a_dead_letter_is_requeued_from_the_outbox_once() {
    use outbox::{DedupeKey, Enqueued, HandlerError, NewMessage, Settlement, Topic};
    const BILLING: Topic = Topic::from_static("billing.paypal");
    let app = TestApp::spawn().await;
    let message = NewMessage::new(
        BILLING,
        DedupeKey::parse("refund:1").unwrap(),
        json!({"kind": "test"}),
        app.state.outbox.now(),
    );
    let mut conn = app.conn().await;
    let Enqueued::New(id) = outbox::enqueue_raw(&mut conn, message).await.unwrap() else {
        panic!("enqueued twice");
    };
    let claimed = app
        .state
        .outbox
        .claim(&mut conn, &[BILLING], 10)
        .await
        .unwrap();
    let error = HandlerError::permanent("550 mailbox unavailable");
    let settled = app
        .state
        .outbox
        .fail(&mut conn, &claimed[0], &error)
        .await
        .unwrap();
    assert_eq!(settled, Settlement::Dead);

    let mut console = operator(&app).await;
    let dead = console.get("/console/operator/outbox").await;
    assert!(dead.html.contains(&format!("id=\"requeue-{id}\"")));
    assert!(dead.html.contains("550 mailbox unavailable"));
    let csrf = dead.hidden("csrf").unwrap();
    let action = format!("/console/operator/outbox/{id}/requeue");
    let fields = [("csrf", csrf.as_str()), ("status", "dead"), ("topic", "")];
    let requeued = console.post(&action, &fields).await;
    assert!(
        requeued
            .location
            .unwrap()
            .starts_with("/console/operator/outbox?status=dead&done=")
    );
    let view = admin_get(&app, &format!("/v1/admin/outbox/{id}")).await;
    assert_eq!(view["status"], "pending");
    // Only a dead message is requeued: the second press is refused and changes nothing.
    let again = console.post(&action, &fields).await;
    assert_eq!(
        again.location.as_deref(),
        Some("/console/operator/outbox?status=dead&refused=OUTBOX_MESSAGE_NOT_DEAD")
    );
    let outcomes: Vec<String> = recorded(&app)
        .await
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["ok", "OUTBOX_MESSAGE_NOT_DEAD"]);
}

#[tokio::test]
async fn an_unconfirmed_recipient_is_resolved_from_the_organizations_page() {
    let twilio = support::FakeTwilio::start().await;
    let app = TestApp::with_twilio(&twilio, |_| {}).await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 2).await;
    let id = campaign["id"].as_str().unwrap();
    assert_eq!(
        app.start(&org, id, "start-1").await.status(),
        StatusCode::CREATED
    );
    // Twilio answers the first send with a 500: the message may have gone out.
    twilio.fail_next_sends(1).await;
    support::drain(&twilio.dispatcher(&app, 1)).await;
    let recipient = app.recipients(&org, id).await[0].clone();
    assert_eq!(recipient["status"], "unconfirmed");
    let recipient_id = recipient["id"].to_string();

    let mut console = operator(&app).await;
    let path = format!("/console/operator/organizations/{}", org.id);
    let page = console.get(&path).await;
    let row = format!("id=\"recipient-{id}-{recipient_id}\"");
    assert!(page.html.contains(&row), "{}", page.html);
    let csrf = page.hidden("csrf").unwrap();
    let done = console
        .post(
            &format!("{path}/resolve-recipient"),
            &[
                ("csrf", csrf.as_str()),
                ("campaign_id", id),
                ("recipient_id", recipient_id.as_str()),
                ("outcome", "not_sent"),
                ("twilio_sid", ""),
            ],
        )
        .await;
    assert!(done.location.unwrap().starts_with(&format!("{path}?done=")));
    // Twilio's log said it never went out: refunded, failed, never resent, and gone from the
    // page; the history names the operator.
    let resolved = app.recipients(&org, id).await[0].clone();
    assert_eq!(resolved["status"], "failed", "{resolved}");
    assert_eq!(resolved["charged"], "0.00", "{resolved}");
    assert!(!console.get(&path).await.html.contains(&row));
    let actions = recorded(&app).await;
    assert_eq!(
        (
            actions[0].operator.as_str(),
            actions[0].action.as_str(),
            actions[0].outcome.as_str()
        ),
        (OPERATOR, "resolve_recipient", "ok")
    );
}
