//! Abuse at the api's edge, from outside as a client sees it: each organization API key has a
//! request budget (429 `RATE_LIMITED` with `Retry-After` once it is spent, before anything
//! changes), which only that key spends; and the listener refuses an oversized body, header
//! section, header count or query string with its problem, changing nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use std::time::Duration;

use app::rate_limit::RateLimit;
use common::{
    ADMIN_TOKEN, BODY_LIMIT, JSON, TestApp, assert_problem, key, refused_unchanged, send,
};
use httpkit::limits::RequestLimits;
use reqwest::{StatusCode, header};
use serde_json::json;
use testkit::TestDb;

/// Three requests at once, then one an hour: the fourth is refused however slow the machine.
const BURST: u32 = 3;

async fn limited_app() -> TestApp {
    TestApp::spawn_with(TestDb::new().await, |config| {
        config.rate_limit = Some(RateLimit {
            replenish_every: Duration::from_secs(3600),
            burst: BURST,
        });
    })
    .await
}

#[tokio::test]
async fn a_key_over_its_budget_is_refused_with_retry_after_and_nothing_changes() {
    let app = limited_app().await;
    let acme = app.org_with_key("Acme").await;
    app.fund(&acme.id, "10.00").await;
    for _ in 0..BURST - 1 {
        let read = app.wallet_get(&acme.id, "", &acme.key).await;
        assert_eq!(read.status(), StatusCode::OK);
    }
    // The last request of the burst moves money; the next one would, and is refused unread.
    assert_eq!(
        app.debit(&acme, Some(&key()), "1.00").await.status(),
        StatusCode::CREATED
    );
    let reference = key();
    let response = app.debit(&acme, Some(&reference), "1.00").await;
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        response.headers()[header::CONNECTION],
        "close",
        "the body was left unread"
    );
    let before = app.books().await;
    let problem = assert_problem(response, 429, "RATE_LIMITED").await;
    assert_eq!(app.books().await, before);
    // One request an hour: the next is due in (just under) an hour, rounded up.
    assert!((3599..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(problem["retry_after_secs"], retry_after);
    refused_unchanged(
        async || app.books().await,
        app.debit(&acme, Some(&reference), "1.00"),
        429,
        "RATE_LIMITED",
    )
    .await;
    assert_eq!(app.wallet(&acme.id).await["balance"], "9.00");

    // Counted for operators; no organization in the series.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = metrics
        .lines()
        .find(|line| line.starts_with("api_rate_limited_total"))
        .unwrap_or_else(|| panic!("no api_rate_limited_total in:\n{metrics}"));
    assert!(!refused.contains(&acme.id), "{refused}");
}

#[tokio::test]
async fn only_the_key_itself_spends_its_budget() {
    let app = limited_app().await;
    let acme = app.org_with_key("Acme").await;
    let (_, second_key) = app.issue_key(&acme.id).await;
    let other = app.org_with_key("Other").await;

    // Unknown keys, malformed tokens and no credential at all are 401s, never 429s, and spend
    // nothing of anyone's budget.
    let forged = format!("bsk_{}", "A".repeat(43));
    for _ in 0..2 * BURST {
        for token in [forged.as_str(), "not-a-key"] {
            assert_problem(
                app.wallet_get(&acme.id, "", token).await,
                401,
                "UNAUTHORIZED",
            )
            .await;
        }
        let anonymous = app
            .client
            .get(app.wallet_url(&acme.id, ""))
            .send()
            .await
            .unwrap();
        assert_problem(anonymous, 401, "UNAUTHORIZED").await;
    }
    // Another organization's key reaching for Acme's wallet spends its own budget (404s).
    for _ in 0..BURST {
        assert_problem(
            app.wallet_get(&acme.id, "", &other.key).await,
            404,
            "WALLET_NOT_FOUND",
        )
        .await;
    }
    assert_problem(
        app.wallet_get(&acme.id, "", &other.key).await,
        429,
        "RATE_LIMITED",
    )
    .await;

    // Acme's key still has its whole burst.
    for _ in 0..BURST {
        assert_eq!(
            app.wallet_get(&acme.id, "", &acme.key).await.status(),
            StatusCode::OK
        );
    }
    assert_problem(
        app.wallet_get(&acme.id, "", &acme.key).await,
        429,
        "RATE_LIMITED",
    )
    .await;
    // A second key of the same organization has a budget of its own.
    assert_eq!(
        app.wallet_get(&acme.id, "", &second_key).await.status(),
        StatusCode::OK
    );
    // The admin token is not limited.
    for _ in 0..2 * BURST {
        assert_eq!(
            app.wallet_get(&acme.id, "", ADMIN_TOKEN).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn with_the_limit_off_a_key_is_never_refused() {
    let app = TestApp::spawn_with(TestDb::new().await, |config| config.rate_limit = None).await;
    let acme = app.org_with_key("Acme").await;
    for _ in 0..50 {
        assert_eq!(
            app.wallet_get(&acme.id, "", &acme.key).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn oversized_requests_are_refused_by_the_listener_and_change_nothing() {
    let limits = RequestLimits {
        max_header_bytes: 4096,
        max_headers: 24,
        max_query_bytes: 256,
    };
    let app = TestApp::spawn_with(TestDb::new().await, move |config| {
        config.request_limits = limits;
    })
    .await;
    let acme = app.org_with_key("Acme").await;
    app.fund(&acme.id, "10.00").await;
    let debit = |reference: String| {
        app.wallet_post(
            &acme.id,
            "/debits",
            &acme.key,
            Some(&reference),
            &json!({"amount": "1.00", "currency": "USD"}),
        )
    };
    let books = async || app.books().await;

    let problem = refused_unchanged(
        books,
        send(
            app.post_raw(
                &app.wallet_url(&acme.id, "/debits"),
                &acme.key,
                format!(
                    r#"{{"amount": "1.00", "currency": "USD", "pad": "{}"}}"#,
                    "x".repeat(BODY_LIMIT)
                ),
                JSON,
            )
            .header("Idempotency-Key", key()),
        ),
        413,
        "BODY_TOO_LARGE",
    )
    .await;
    assert_eq!(problem["limit_bytes"], BODY_LIMIT);

    let problem = refused_unchanged(
        books,
        send(debit(key()).header("x-padding", "p".repeat(limits.max_header_bytes))),
        431,
        "HEADERS_TOO_LARGE",
    )
    .await;
    assert_eq!(problem["limit_bytes"], limits.max_header_bytes);

    let mut crowded = debit(key());
    for n in 0..limits.max_headers {
        crowded = crowded.header(format!("x-extra-{n}"), "1");
    }
    let problem = refused_unchanged(books, send(crowded), 431, "TOO_MANY_HEADERS").await;
    assert_eq!(problem["limit"], limits.max_headers);

    let long_query = app.wallet_url(
        &acme.id,
        &format!("/debits?pad={}", "q".repeat(limits.max_query_bytes)),
    );
    let problem = refused_unchanged(
        books,
        send(
            app.client
                .post(long_query)
                .bearer_auth(&acme.key)
                .header("Idempotency-Key", key())
                .json(&json!({"amount": "1.00", "currency": "USD"})),
        ),
        414,
        "QUERY_TOO_LONG",
    )
    .await;
    assert_eq!(problem["limit_bytes"], limits.max_query_bytes);

    // Within the limits the same debit goes through.
    assert_eq!(debit(key()).send().await.unwrap().status(), 201);
    assert_eq!(app.wallet(&acme.id).await["balance"], "9.00");
}
