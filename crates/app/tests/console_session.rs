//! Console sessions and CSRF: what signs a browser in, what ends a session, and that a forged
//! or replayed form changes nothing.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;
#[path = "common/console.rs"]
mod console;

use std::time::Duration;

use chrono::TimeDelta;
use common::{ADMIN_TOKEN, TestApp};
use console::Console;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use testkit::TestDb;

const SESSION_COOKIE: &str = "console_session";

async fn sessions(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.conn().await;
    let count: Count = diesel::sql_query("SELECT count(*) AS n FROM console_sessions")
        .get_result(&mut conn)
        .await
        .unwrap();
    count.n
}

/// Whether the browser's session is live: `/console` sends a live session to its first page
/// and anyone else to the sign-in page.
async fn signed_in(console: &mut Console) -> bool {
    let page = console.get("/console").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    page.location.as_deref() != Some("/console/sign-in")
}

#[tokio::test]
async fn a_key_signs_in_with_a_strict_http_only_cookie_and_never_reaches_the_page() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);

    let form = console.get("/console/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    let sign_in_cookie = form.set_cookie("console_sign_in").unwrap();
    assert!(sign_in_cookie.contains("HttpOnly") && sign_in_cookie.contains("SameSite=Strict"));
    let csrf = form.hidden("csrf").unwrap();

    let signed = console
        .post(
            "/console/sign-in",
            &[("csrf", &csrf), ("api_key", &org.key)],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/console/wallet"));
    let cookie = signed.set_cookie(SESSION_COOKIE).unwrap();
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP in this test: {cookie}"
    );
    assert!(!cookie.contains(&org.key));
    // The sign-in cookie has done its job.
    assert!(
        signed
            .set_cookie("console_sign_in")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(signed_in(&mut console).await);

    // Only the token's digest is stored.
    let token = console
        .cookies
        .iter()
        .find(|(name, _)| name == SESSION_COOKIE)
        .unwrap()
        .1
        .clone();
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.conn().await;
    let found: Found = diesel::sql_query(
        "SELECT count(*) AS n FROM console_sessions \
         WHERE position(convert_to($1, 'UTF8') IN token_hash) > 0 OR csrf_token = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&token)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(found.n, 0);
}

#[tokio::test]
async fn over_tls_the_cookies_are_secure_and_host_bound() {
    let app = TestApp::spawn_with(TestDb::new().await, |config| {
        config.console.secure_cookies = true;
    })
    .await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    let signed = console.sign_in(&org.key).await;
    let cookie = signed.set_cookie("__Host-console_session").unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert!(!cookie.contains("Domain="), "{cookie}");
}

#[tokio::test]
async fn wrong_keys_and_the_admin_token_do_not_sign_a_customer_in() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    for key in [
        "",
        "bsk_not_a_key",
        &format!("{}x", org.key),
        ADMIN_TOKEN,
        &"k".repeat(3_000),
    ] {
        let page = console.sign_in(key).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{key:.20}");
        assert!(page.html.contains("UNAUTHORIZED"));
        assert!(page.set_cookie(SESSION_COOKIE).is_none());
    }
    // Beyond the body limit the form is not read at all.
    let page = console.sign_in(&"k".repeat(10_000)).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn a_sign_in_without_its_form_cookie_or_from_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    let form = console.get("/console/sign-in").await;
    let csrf = form.hidden("csrf").unwrap();

    // Login CSRF: a page elsewhere posts the attacker's key without the victim's form cookie.
    let mut elsewhere = Console::new(&app);
    let page = elsewhere
        .post(
            "/console/sign-in",
            &[("csrf", &csrf), ("api_key", &org.key)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.html.contains("CSRF_REFUSED"));

    let page = console
        .post(
            "/console/sign-in",
            &[("csrf", "made-up"), ("api_key", &org.key)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = console
        .post_from_elsewhere(
            "/console/sign-in",
            &[("csrf", &csrf), ("api_key", &org.key)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(sessions(&app).await, 0);
}

#[tokio::test]
async fn a_forged_form_post_changes_nothing() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    console.sign_in(&org.key).await;
    let csrf = console.csrf().await;

    for fields in [
        vec![],
        vec![("csrf", "")],
        vec![("csrf", "forged-token-of-the-right-size-0123456789abc")],
    ] {
        let page = console.post("/console/sign-out", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(page.html.contains("CSRF_REFUSED"));
        assert!(
            signed_in(&mut console).await,
            "a forged sign-out ended the session"
        );
    }
    // The right token, from another site: the browser says so, and it is refused.
    let page = console
        .post_from_elsewhere("/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(signed_in(&mut console).await);
    // Not a form at all.
    let response = console
        .client
        .post(format!("{}/console/sign-out", console.base))
        .header(
            "cookie",
            format!(
                "{SESSION_COOKIE}={}",
                console
                    .cookies
                    .iter()
                    .find(|c| c.0 == SESSION_COOKIE)
                    .unwrap()
                    .1
            ),
        )
        .json(&serde_json::json!({ "csrf": csrf }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(signed_in(&mut console).await);
}

#[tokio::test]
async fn signing_in_again_ends_the_browsers_previous_session() {
    let app = TestApp::spawn().await;
    let first = app.org_with_key("First").await;
    let second = app.org_with_key("Second").await;
    let mut console = Console::new(&app);
    console.sign_in(&first.key).await;
    let previous = console.cookies.clone();
    let page = console.sign_in(&second.key).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(signed_in(&mut console).await);
    let mut replay = Console::new(&app);
    replay.cookies = previous;
    assert!(!signed_in(&mut replay).await);
}

#[tokio::test]
async fn signing_out_ends_the_session_even_for_a_copied_cookie() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    console.sign_in(&org.key).await;
    let copied = console.cookies.clone();
    let csrf = console.csrf().await;

    let page = console.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/console/sign-in"));
    assert!(
        page.set_cookie(SESSION_COOKIE)
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(!signed_in(&mut console).await);

    let mut thief = Console::new(&app);
    thief.cookies = copied;
    assert!(!signed_in(&mut thief).await);
}

#[tokio::test]
async fn sessions_expire_after_their_lifetime_and_when_idle() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let settings = app.state.console.clone();
    let minutes = |d: Duration| TimeDelta::seconds(i64::try_from(d.as_secs()).unwrap());

    // Activity keeps a session alive past the idle timeout...
    let mut active = Console::new(&app);
    active.sign_in(&org.key).await;
    let step = minutes(settings.idle_timeout) - TimeDelta::seconds(60);
    let mut waited = TimeDelta::zero();
    while waited + step < minutes(settings.session_lifetime) {
        app.clock.advance(step);
        waited += step;
        assert!(
            signed_in(&mut active).await,
            "ended after {waited} of activity"
        );
    }
    // ...but not past its lifetime.
    app.clock
        .advance(minutes(settings.session_lifetime) - waited);
    assert!(!signed_in(&mut active).await);

    // Idle one second too long.
    let mut idle = Console::new(&app);
    idle.sign_in(&org.key).await;
    app.clock
        .advance(minutes(settings.idle_timeout) - TimeDelta::seconds(1));
    assert!(signed_in(&mut idle).await);
    app.clock
        .advance(minutes(settings.idle_timeout) + TimeDelta::seconds(1));
    assert!(!signed_in(&mut idle).await);
}

#[tokio::test]
async fn revoking_the_key_ends_its_sessions() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let other_key = app.issue_key(&org.id).await;
    let mut console = Console::new(&app);
    console.sign_in(&org.key).await;
    let mut other = Console::new(&app);
    other.sign_in(&other_key.1).await;

    let response = app
        .client
        .delete(app.url(&format!(
            "/v1/organizations/{}/api-keys/{}",
            org.id, org.key_id
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&mut console).await);
    // The organization's other key signs its own session, which lives on.
    assert!(signed_in(&mut other).await);
    // And a revoked key cannot sign in again.
    assert_eq!(
        console.sign_in(&org.key).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn operators_sign_in_with_the_admin_token_and_their_name_until_the_token_changes() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);

    let page = console.sign_in_operator_with("alice", &org.key).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = console.sign_in_operator("   ").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.html.contains("INVALID_OPERATOR"));
    assert_eq!(sessions(&app).await, 0);

    let page = console.sign_in_operator("alice").await;
    assert_eq!(page.location.as_deref(), Some("/console/operator"));
    let page = console.get("/console").await;
    assert_eq!(page.location.as_deref(), Some("/console/operator"));

    // The same database served with a new admin token: the old token's sessions are over.
    let url = app.db.url();
    let rotated = TestApp::spawn_with(TestDb::new().await, |config| {
        config.database =
            db::DatabaseSettings::new(db::DatabaseSource::Url(secrecy::SecretString::from(url)));
        config.admin_token = app::config::AdminTokenSource::Given(secrecy::SecretString::from(
            "rotated-admin-token-0123456789abcdefghij".to_owned(),
        ));
    })
    .await;
    let mut moved = Console::new(&rotated);
    moved.cookies = console.cookies.clone();
    assert_eq!(
        moved.get("/console").await.location.as_deref(),
        Some("/console/sign-in")
    );
    // On the instance that still has the old token, the session is as it was.
    assert!(signed_in(&mut console).await);
}

#[tokio::test]
async fn console_pages_carry_the_protective_headers() {
    let app = TestApp::spawn().await;
    let mut console = Console::new(&app);
    let response = console
        .client
        .get(format!("{}/console/sign-in", console.base))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let css = console.get("/console/assets/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    // An address the console does not have is its own 404 page, with the same headers.
    let response = console
        .client
        .get(format!("{}/console/no/such/page", console.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("id=\"problem-code\">NOT_FOUND<")
    );
}

#[tokio::test]
async fn console_pages_spend_the_keys_request_budget() {
    let app = TestApp::spawn_with(TestDb::new().await, |config| {
        config.rate_limit = Some(app::rate_limit::RateLimit::per_second(1, 3));
    })
    .await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    console.sign_in(&org.key).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(console.get("/console/wallet").await.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

/// Every form the console accepts, posted by a signed-in session of the right kind without its
/// CSRF token: refused, whatever the form. A new action route belongs in this list.
#[tokio::test]
async fn every_console_form_refuses_a_post_without_the_sessions_token() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let id = uuid::Uuid::now_v7();
    let mut customer = Console::new(&app);
    customer.sign_in(&org.key).await;
    let mut operator = Console::new(&app);
    operator.sign_in_operator("alice").await;
    let forms: [(bool, String); 12] = [
        (false, format!("/console/campaigns/{id}/start")),
        (false, "/console/subscription/payment-method".into()),
        (false, "/console/top-ups".into()),
        (false, "/console/sign-out".into()),
        (true, format!("/console/operator/inbox/{id}/reapply")),
        (true, format!("/console/operator/outbox/{id}/requeue")),
        (
            true,
            format!("/console/operator/organizations/{}/unfreeze", org.id),
        ),
        (
            true,
            format!(
                "/console/operator/organizations/{}/lift-access-block",
                org.id
            ),
        ),
        (
            true,
            format!("/console/operator/organizations/{}/manual-payment", org.id),
        ),
        (
            true,
            format!("/console/operator/organizations/{}/correction", org.id),
        ),
        (
            true,
            format!(
                "/console/operator/organizations/{}/resolve-recipient",
                org.id
            ),
        ),
        (true, "/console/sign-out".into()),
    ];
    for (as_operator, path) in forms {
        let console = if as_operator {
            &mut operator
        } else {
            &mut customer
        };
        let page = console
            .post(
                &path,
                &[
                    ("csrf", "not-the-token"),
                    ("reason", "x"),
                    ("amount", "1.00"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.html.contains("CSRF_REFUSED"), "{path}");
    }
}

/// What a page shows from its address (an action's outcome) is text, never markup: a crafted
/// link cannot put a script or a form on a console page.
#[tokio::test]
async fn an_outcome_in_the_address_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut console = Console::new(&app);
    console.sign_in(&org.key).await;
    let page = console
        .get("/console/wallet?refused=%3Cscript%3Ealert(1)%3C%2Fscript%3E%3Cform%20action%3D%22x%22%3E")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("<script"), "{}", page.html);
    assert!(!page.html.contains("<form action=\"x\""));
    assert!(
        page.html
            .contains("Refused: &#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        page.html
    );
}
