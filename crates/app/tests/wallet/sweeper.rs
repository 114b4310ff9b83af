//! Hold deadlines: a hold past its deadline cannot be captured, is expired by the sweep (on
//! request or in the background) exactly once, and can still be released before that.

use std::time::Duration;

use serde_json::json;

use crate::common::{ADMIN_TOKEN, Org, TestApp, created, ok};

/// Holds `amount` USD for a minute; returns the hold's id.
async fn minute_hold(app: &TestApp, org: &Org, amount: &str) -> String {
    let body = json!({"amount": amount, "currency": "USD", "expires_in_seconds": 60});
    let receipt = created(app.hold(org, "minute", &body).await).await;
    receipt["hold"]["id"].as_str().unwrap().to_owned()
}

/// Runs a sweep that must find nothing to expire, and checks it wrote nothing.
async fn assert_nothing_due(app: &TestApp) {
    let before = app.books().await;
    let sweep = ok(app.expire_holds(ADMIN_TOKEN).await).await;
    assert_eq!(sweep, json!({"expired": 0, "failed": 0}));
    assert_eq!(app.books().await, before, "a sweep with nothing due wrote");
}

/// Waits (at most 30 s) until the hold is expired by a sweeper running in the background.
async fn wait_until_expired(app: &TestApp, org: &Org, hold_id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.hold_details(org, hold_id).await["status"] != "expired" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper never expired the hold"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn holds_past_their_deadline_cannot_be_captured_and_are_expired_by_the_sweep() {
    let (app, org) = TestApp::funded("20.00").await;
    let hold_id = minute_hold(&app, &org, "8.00").await;

    // Nothing is due yet; a second before the deadline the hold can still be captured.
    assert_nothing_due(&app).await;
    app.clock.advance(chrono::TimeDelta::seconds(59));
    created(app.capture(&org, &hold_id, "in-time", "1.00").await).await;

    app.clock.advance(chrono::TimeDelta::seconds(2));
    let problem = app
        .refused(
            app.capture(&org, &hold_id, "late", "1.00"),
            409,
            "HOLD_NOT_OPEN",
        )
        .await;
    assert_eq!(problem["hold_status"], "expired");

    // Organization keys may not run the sweep.
    app.refused(app.expire_holds(&org.key), 403, "ADMIN_REQUIRED")
        .await;

    let sweep = ok(app.expire_holds(ADMIN_TOKEN).await).await;
    assert_eq!(sweep, json!({"expired": 1, "failed": 0}));
    let current = app.hold_details(&org, &hold_id).await;
    assert_eq!(current["status"], "expired");
    assert_eq!(current["remaining"], "0.00");
    assert!(current["closed_at"].is_string());
    app.assert_figures(&org.id, "19.00", "0.00", "19.00").await;
    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=expiry", &org.key)
        .await)
    .await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let expiry = &page["entries"][0];
    assert_eq!(expiry["actor"], "system:hold-expiry");
    assert_eq!(expiry["held_change"], "-7.00");
    assert_eq!(expiry["reference"], format!("system:expiry:{hold_id}"));

    // A hold expires once, and then is closed for good.
    assert_nothing_due(&app).await;
    app.refused(
        app.release(&org, &hold_id, "after-expiry"),
        409,
        "HOLD_NOT_OPEN",
    )
    .await;
}

#[tokio::test]
async fn a_hold_past_its_deadline_can_still_be_released_and_is_not_expired_after() {
    let (app, org) = TestApp::funded("20.00").await;
    let hold_id = minute_hold(&app, &org, "8.00").await;
    app.clock.advance(chrono::TimeDelta::seconds(61));

    let released = created(app.release(&org, &hold_id, "late-release").await).await;
    assert_eq!(released["entry"]["amount"], "8.00");
    assert_eq!(app.hold_details(&org, &hold_id).await["status"], "released");
    assert_nothing_due(&app).await;
    app.assert_figures(&org.id, "20.00", "0.00", "20.00").await;
}

#[tokio::test]
async fn the_background_sweeper_expires_due_holds() {
    let app = TestApp::spawn_with(testkit::TestDb::new().await, |config| {
        crate::common::jobs(config).intervals.hold_expiry = Some(Duration::from_secs(1));
    })
    .await;
    let org = app.org_with_key("Acme").await;
    app.fund(&org.id, "20.00").await;
    let hold_id = minute_hold(&app, &org, "8.00").await;
    // Several sweeps run before the deadline without touching the hold.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.hold_details(&org, &hold_id).await["status"], "open");

    app.clock.advance(chrono::TimeDelta::seconds(61));
    wait_until_expired(&app, &org, &hold_id).await;
    app.assert_figures(&org.id, "20.00", "0.00", "20.00").await;
}

#[tokio::test]
async fn the_sweeper_stops_promptly_when_asked() {
    // The app's own sweeper is off; this one shares its database and clock.
    let (app, org) = TestApp::funded("10.00").await;
    let hold_id = minute_hold(&app, &org, "4.00").await;
    app.clock.advance(chrono::TimeDelta::seconds(61));
    let ledger = ledger::Ledger::new(std::sync::Arc::new(app.clock.clone()));
    // A long interval: after its first sweep the sweeper waits an hour for the next one.
    let pool = app.db.pool();
    let sweeper =
        jobs::periodic::Periodic::spawn("hold_expiry", Duration::from_secs(3600), move || {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            async move { jobs::sweeper::sweep(&pool, &ledger).await }
        });

    // It is alive: the first sweep, right at the start, expires the due hold.
    wait_until_expired(&app, &org, &hold_id).await;
    // And it stops while waiting for the next tick, not an hour later.
    tokio::time::timeout(Duration::from_secs(10), sweeper.stop())
        .await
        .unwrap();
    app.assert_figures(&org.id, "10.00", "0.00", "10.00").await;
}
