//! Debits, credits and corrections: what they do to the figures, and the limits that refuse
//! them (funds, reserved money, overflow), also under concurrency.

use reqwest::StatusCode;
use serde_json::json;

use testkit::TestDb;

use crate::common::{TestApp, created, key, send};

#[tokio::test]
async fn a_debit_of_the_exact_balance_succeeds_and_one_cent_more_is_refused() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;

    let funded = app.fund(&org.id, "10.00").await;
    let entry = &funded["entry"];
    assert_eq!(entry["kind"], "credit");
    assert_eq!(entry["amount"], "10.00");
    assert_eq!(entry["balance_change"], "10.00");
    assert_eq!(entry["held_change"], "0.00");
    assert_eq!(entry["balance_after"], "10.00");
    assert_eq!(entry["currency"], "USD");
    assert_eq!(entry["counterparty"], "topup:manual");
    assert_eq!(entry["actor"], "admin");
    app.assert_figures(&org.id, "10.00", "0.00", "10.00").await;

    let problem = app
        .refused(
            app.debit(&org, Some(&key()), "10.01"),
            422,
            "INSUFFICIENT_FUNDS",
        )
        .await;
    assert_eq!(problem["available"], "10.00");
    assert_eq!(problem["requested"], "10.01");
    assert_eq!(problem["currency"], "USD");

    let debited = created(app.debit(&org, Some("order-1"), "10.00").await).await;
    let entry = &debited["entry"];
    assert_eq!(entry["kind"], "debit");
    assert_eq!(entry["amount"], "10.00");
    assert_eq!(entry["balance_change"], "-10.00");
    assert_eq!(entry["balance_after"], "0.00");
    assert_eq!(entry["counterparty"], "revenue:messages");
    assert_eq!(entry["reference"], "order-1");
    assert_eq!(entry["actor"], format!("api_key:{}", org.key_id));
    assert!(entry["hold_id"].is_null());
    app.assert_figures(&org.id, "0.00", "0.00", "0.00").await;

    let problem = app
        .refused(
            app.debit(&org, Some(&key()), "0.01"),
            422,
            "INSUFFICIENT_FUNDS",
        )
        .await;
    assert_eq!(problem["available"], "0.00");
    assert_eq!(problem["requested"], "0.01");
    assert_eq!(app.count_entries(&org.id).await, 2);
}

#[tokio::test]
async fn a_debit_names_its_counterparty_and_the_admin_may_debit_too() {
    let (app, org) = TestApp::funded("10.00").await;
    let body = json!({"amount": "1.00", "currency": "USD", "counterparty": "revenue:calls"});
    let receipt =
        created(send(app.wallet_post(&org.id, "/debits", &org.key, Some(&key()), &body)).await)
            .await;
    assert_eq!(receipt["entry"]["counterparty"], "revenue:calls");
    let receipt = created(
        app.admin_post(&org.id, "/debits", Some(&key()), &body)
            .await,
    )
    .await;
    assert_eq!(receipt["entry"]["actor"], "admin");
    app.assert_figures(&org.id, "8.00", "0.00", "8.00").await;
    // The admin's debits obey the same limits as an organization's.
    let body = json!({"amount": "8.01", "currency": "USD"});
    app.refused(
        app.admin_post(&org.id, "/debits", Some(&key()), &body),
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
}

#[tokio::test]
async fn concurrent_debits_and_retries_over_http_never_overdraw_or_double_charge() {
    let (app, org) = TestApp::funded("5.00").await;

    let racing = (0..12).map(|_| {
        let key = key();
        let (app, org) = (&app, &org);
        async move { app.debit(org, Some(&key), "1.00").await.status() }
    });
    let statuses = futures::future::join_all(racing).await;
    let applied = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((applied, refused), (5, 7), "{statuses:?}");
    app.assert_figures(&org.id, "0.00", "0.00", "0.00").await;
    assert_eq!(app.count_entries(&org.id).await, 6);

    app.fund(&org.id, "5.00").await;
    let retries = (0..8).map(|_| {
        let (app, org) = (&app, &org);
        async move { app.debit(org, Some("same-retry"), "1.00").await.status() }
    });
    let statuses = futures::future::join_all(retries).await;
    let applied = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let replayed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((applied, replayed), (1, 7), "{statuses:?}");
    app.assert_figures(&org.id, "4.00", "0.00", "4.00").await;
    assert_eq!(app.count_entries(&org.id).await, 8);
}

/// The wallet routes hold no connection while the ledger's batching writer writes their
/// request, whose batches take connections from the same pool: one connection serves
/// concurrent debits, holds and captures, none waiting for a connection another holds.
#[tokio::test]
async fn a_pool_of_one_connection_serves_concurrent_movements() {
    let app = TestApp::spawn_with(TestDb::new().await, |config| {
        config.database.pool_size = 1;
    })
    .await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "10.00").await;
    let hold_id = app.open_hold(&org, &key(), "4.00").await;
    let other = app.org_with_key("Globex").await;
    app.fund(&other.id, "0.03").await;

    let debits = (0..8).map(|_| async { app.debit(&org, Some(&key()), "1.00").await.status() });
    let captures =
        (0..6).map(|_| async { app.capture(&org, &hold_id, &key(), "1.00").await.status() });
    let holds = (0..5).map(|_| async {
        let body = json!({"amount": "0.01", "currency": "USD"});
        app.hold(&other, &key(), &body).await.status()
    });
    let (debits, captures, holds) = tokio::join!(
        futures::future::join_all(debits),
        futures::future::join_all(captures),
        futures::future::join_all(holds),
    );
    let applied = |statuses: &[StatusCode]| {
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count()
    };
    let all = [&debits, &captures, &holds];
    assert!(
        all.iter()
            .all(|statuses| !statuses.contains(&StatusCode::SERVICE_UNAVAILABLE)),
        "{all:?}"
    );
    assert_eq!(
        (applied(&debits), applied(&captures), applied(&holds)),
        (6, 4, 3),
        "{all:?}"
    );
    app.assert_figures(&org.id, "0.00", "0.00", "0.00").await;
    app.assert_figures(&other.id, "0.03", "0.03", "0.00").await;
}

#[tokio::test]
async fn corrections_are_signed_audited_and_cannot_take_reserved_money() {
    let (app, org) = TestApp::funded("10.00").await;
    app.open_hold(&org, "h", "8.00").await;

    let correction = |amount: &'static str, reason: &'static str| {
        let (app, org) = (&app, &org);
        async move {
            let body = json!({"amount": amount, "currency": "USD", "reason": reason});
            app.admin_post(&org.id, "/corrections", Some(&key()), &body)
                .await
        }
    };
    let added = created(correction("5.00", "goodwill credit, ticket #12").await).await;
    assert_eq!(added["entry"]["kind"], "correction");
    assert_eq!(added["entry"]["balance_change"], "5.00");
    assert_eq!(added["entry"]["reason"], "goodwill credit, ticket #12");
    assert_eq!(added["entry"]["counterparty"], "correction");
    assert_eq!(added["entry"]["actor"], "admin");
    let taken = created(correction("-5.00", "duplicate top-up").await).await;
    assert_eq!(taken["entry"]["balance_change"], "-5.00");
    assert_eq!(taken["entry"]["amount"], "5.00");
    app.assert_figures(&org.id, "10.00", "8.00", "2.00").await;

    let problem = app
        .refused(correction("-2.01", "too much"), 422, "INSUFFICIENT_FUNDS")
        .await;
    assert_eq!(problem["available"], "2.00");
    assert_eq!(problem["requested"], "2.01");
    app.refused(correction("0.00", "nothing"), 422, "INVALID_AMOUNT")
        .await;
    app.refused(correction("-0.00", "nothing"), 422, "INVALID_AMOUNT")
        .await;
    app.refused(correction("-0.001", "too precise"), 422, "INVALID_AMOUNT")
        .await;
    // The most negative amount there is: its size does not fit, so it is refused as an amount.
    app.refused(
        correction("-92233720368547758.08", "i64::MIN"),
        422,
        "INVALID_AMOUNT",
    )
    .await;
    let problem = app
        .refused(correction("1.00", " "), 422, "INVALID_REASON")
        .await;
    assert_eq!(problem["field"], "reason");
    let problem = app
        .refused(
            correction("1.00", "\u{202E}reversed"),
            422,
            "INVALID_REASON",
        )
        .await;
    assert_eq!(problem["field"], "reason");
    let no_reason = json!({"amount": "1.00", "currency": "USD"});
    app.refused(
        app.admin_post(&org.id, "/corrections", Some(&key()), &no_reason),
        422,
        "VALIDATION_FAILED",
    )
    .await;

    created(correction("-2.00", "exactly what is available").await).await;
    app.assert_figures(&org.id, "8.00", "8.00", "0.00").await;
}

#[tokio::test]
async fn credits_beyond_the_largest_amount_overflow_cleanly() {
    let (app, org) = TestApp::funded("92233720368547758.07").await;
    let body = json!({"amount": "0.01", "currency": "USD", "counterparty": "topup:manual"});
    let problem = app
        .refused(
            app.admin_post(&org.id, "/credits", Some(&key()), &body),
            422,
            "BALANCE_OVERFLOW",
        )
        .await;
    assert_eq!(problem["balance"], "92233720368547758.07");
    assert_eq!(problem["requested"], "0.01");
    // A positive correction is held to the same limit.
    let body = json!({"amount": "0.01", "currency": "USD", "reason": "one cent too many"});
    let problem = app
        .refused(
            app.admin_post(&org.id, "/corrections", Some(&key()), &body),
            422,
            "BALANCE_OVERFLOW",
        )
        .await;
    assert_eq!(problem["balance"], "92233720368547758.07");
    app.assert_figures(
        &org.id,
        "92233720368547758.07",
        "0.00",
        "92233720368547758.07",
    )
    .await;
}

#[tokio::test]
async fn a_wallet_in_another_currency_refuses_usd_and_takes_its_own_precision() {
    let app = TestApp::spawn().await;
    let created_org = app.create_organization_in("Tokyo KK", "JPY").await;
    let id = created_org["id"].as_str().unwrap();
    let credit = |amount: &'static str, currency: &'static str| {
        let body = json!({"amount": amount, "currency": currency, "counterparty": "topup:manual"});
        let app = &app;
        async move { app.admin_post(id, "/credits", Some(&key()), &body).await }
    };
    let problem = app
        .refused(credit("100", "USD"), 422, "CURRENCY_MISMATCH")
        .await;
    assert_eq!(problem["wallet_currency"], "JPY");
    assert_eq!(problem["requested_currency"], "USD");
    // JPY has no decimals: "1.5" is malformed for it before the currency is compared.
    app.refused(credit("1.5", "JPY"), 422, "INVALID_AMOUNT")
        .await;
    app.refused(credit("1.00", "JPY"), 422, "INVALID_AMOUNT")
        .await;
    let receipt = created(credit("1500", "JPY").await).await;
    assert_eq!(receipt["entry"]["amount"], "1500");
    assert_eq!(receipt["entry"]["currency"], "JPY");
    let wallet = app.wallet(id).await;
    assert_eq!(wallet["balance"], "1500");
}
