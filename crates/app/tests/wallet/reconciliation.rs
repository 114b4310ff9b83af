//! Reconciliation over HTTP: clean books after every kind of movement, and a drift made behind
//! the ledger's back is reported.

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp, created, ok, send};

/// `GET /v1/admin/reconciliation`: the wallets that drifted.
async fn reconcile_all(app: &TestApp) -> Value {
    ok(send(
        app.client
            .get(app.url("/v1/admin/reconciliation"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await)
    .await
}

#[tokio::test]
async fn reconciliation_is_clean_after_every_kind_of_movement() {
    let (app, org) = TestApp::funded("100.00").await;
    let other = app.org_with_key("Other").await;
    app.fund(&other.id, "1.00").await;
    created(app.debit(&org, Some("d"), "10.00").await).await;
    let hold_id = app.open_hold(&org, "h", "20.00").await;
    created(app.capture(&org, &hold_id, "c", "5.00").await).await;
    app.open_hold(&org, "h2", "7.00").await;
    created(app.release(&org, &hold_id, "r").await).await;
    let body = json!({"amount": "-1.50", "currency": "USD", "reason": "fee reversal"});
    created(
        app.admin_post(&org.id, "/corrections", Some("k"), &body)
            .await,
    )
    .await;
    let body = json!({"amount": "3.00", "currency": "USD", "expires_in_seconds": 60});
    created(app.hold(&org, "h3", &body).await).await;
    app.clock.advance(chrono::TimeDelta::seconds(61));
    assert_eq!(ok(app.expire_holds(ADMIN_TOKEN).await).await["expired"], 1);

    let reconciliation = ok(app
        .wallet_get(&org.id, "/reconciliation", ADMIN_TOKEN)
        .await)
    .await;
    assert_eq!(reconciliation["clean"], true, "{reconciliation}");
    assert_eq!(reconciliation["currency"], "USD");
    assert_eq!(reconciliation["stored_balance"], "83.50");
    assert_eq!(reconciliation["entries_balance"], "83.50");
    assert_eq!(reconciliation["stored_held"], "7.00");
    assert_eq!(reconciliation["entries_held"], "7.00");
    assert_eq!(reconciliation["open_holds_held"], "7.00");
    assert_eq!(reconciliation["chain_breaks"], 0);
    assert_eq!(
        reconciliation["wallet_id"],
        app.wallet(&org.id).await["wallet_id"]
    );

    assert_eq!(reconcile_all(&app).await, json!({"drifts": []}));

    let missing = uuid::Uuid::now_v7().to_string();
    app.refused(
        app.wallet_get(&missing, "/reconciliation", ADMIN_TOKEN),
        404,
        "WALLET_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_balance_changed_behind_the_ledgers_back_is_reported_as_drift() {
    let (app, org) = TestApp::funded("10.00").await;
    let clean = app.org_with_key("Clean").await;
    app.fund(&clean.id, "1.00").await;
    let wallet_id = app.wallet(&org.id).await["wallet_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The schema refuses this at commit; a superuser switching triggers off gets through, and
    // reconciliation is what catches it then.
    let mut conn = app.conn().await;
    diesel::sql_query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    let changed = diesel::sql_query(format!(
        "UPDATE wallets SET balance = balance + 500 WHERE id = '{wallet_id}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(changed, 1);

    let reconciliation = ok(app
        .wallet_get(&org.id, "/reconciliation", ADMIN_TOKEN)
        .await)
    .await;
    assert_eq!(reconciliation["clean"], false, "{reconciliation}");
    assert_eq!(reconciliation["stored_balance"], "15.00");
    assert_eq!(reconciliation["entries_balance"], "10.00");
    let all = reconcile_all(&app).await;
    let drifts = all["drifts"].as_array().unwrap();
    assert_eq!(drifts.len(), 1, "{all}");
    assert_eq!(drifts[0], reconciliation);
}
