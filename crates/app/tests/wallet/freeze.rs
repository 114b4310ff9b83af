//! Freezes: per source, audited, refusing debits and new holds but never money received.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, JSON, TestApp, assert_problem, created, key, ok, send};

#[tokio::test]
async fn a_frozen_wallet_refuses_debits_and_holds_but_records_credits() {
    let (app, org) = TestApp::funded("50.00").await;
    let earlier_id = app.open_hold(&org, "before-freeze", "10.00").await;
    let post = |path: &'static str, body: Value| {
        let (app, org) = (&app, &org);
        async move { app.admin_post(&org.id, path, None, &body).await }
    };
    let freeze = |body| post("/freeze", body);
    let unfreeze = |body| post("/unfreeze", body);

    let before = app.books().await;
    let frozen =
        ok(freeze(json!({"reason": "chargeback under review", "source": "risk"})).await).await;
    assert_eq!(frozen["changed"], true);
    assert_eq!(frozen["wallet"]["frozen"], true);
    let freezes = frozen["wallet"]["freezes"].as_array().unwrap();
    assert_eq!(freezes.len(), 1);
    assert_eq!(freezes[0]["source"], "risk");
    assert_eq!(freezes[0]["reason"], "chargeback under review");
    assert_eq!(freezes[0]["actor"], "admin");
    assert!(freezes[0]["frozen_at"].is_string());
    assert_eq!(app.books().await.freeze_events, before.freeze_events + 1);
    assert_eq!(app.wallet(&org.id).await, frozen["wallet"]);

    // Freezing an already frozen source changes nothing and keeps the original reason.
    let before = app.books().await;
    let again = ok(freeze(json!({"reason": "another reason", "source": "risk"})).await).await;
    assert_eq!(again["changed"], false);
    assert_eq!(again["wallet"], frozen["wallet"]);
    assert_eq!(
        app.books().await,
        before,
        "a freeze that changed nothing wrote"
    );

    let problem = app
        .refused(app.debit(&org, Some(&key()), "1.00"), 409, "FROZEN_WALLET")
        .await;
    assert_eq!(problem["sources"], json!(["risk"]));
    let body = json!({"amount": "1.00", "currency": "USD"});
    let problem = app
        .refused(app.hold(&org, &key(), &body), 409, "FROZEN_WALLET")
        .await;
    assert_eq!(problem["sources"], json!(["risk"]));

    // Money received is recorded, and a hold made before the freeze can still be captured and
    // released.
    let credited = app.fund(&org.id, "5.00").await;
    assert_eq!(credited["entry"]["balance_after"], "55.00");
    created(app.capture(&org, &earlier_id, "cap-frozen", "4.00").await).await;
    app.assert_figures(&org.id, "51.00", "6.00", "45.00").await;

    // Lifting another source's freeze lifts nothing and writes nothing.
    let before = app.books().await;
    let lifted = ok(unfreeze(json!({"reason": "paid"})).await).await;
    assert_eq!(lifted["changed"], false);
    assert_eq!(lifted["wallet"]["frozen"], true);
    assert_eq!(
        app.books().await,
        before,
        "an unfreeze that changed nothing wrote"
    );
    app.refused(app.debit(&org, Some(&key()), "1.00"), 409, "FROZEN_WALLET")
        .await;

    // Billing's freeze follows the subscription: an operator can neither set nor lift it.
    let billing = json!({"reason": "invoice overdue", "source": "billing"});
    let before = app.books().await;
    assert_problem(freeze(billing.clone()).await, 409, "FREEZE_SOURCE_RESERVED").await;
    assert_problem(unfreeze(billing).await, 409, "FREEZE_SOURCE_RESERVED").await;
    assert_eq!(app.books().await, before);

    // Two sources: both must be lifted.
    ok(freeze(json!({"reason": "operator hold", "source": "admin"})).await).await;
    let problem = app
        .refused(app.debit(&org, Some(&key()), "1.00"), 409, "FROZEN_WALLET")
        .await;
    let mut sources: Vec<&str> = problem["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    sources.sort_unstable();
    assert_eq!(sources, ["admin", "risk"]);
    let lifted = ok(unfreeze(json!({"reason": "released", "source": "admin"})).await).await;
    assert_eq!(lifted["changed"], true);
    assert_eq!(lifted["wallet"]["frozen"], true, "risk's freeze stays");

    let before = app.books().await;
    let lifted = ok(unfreeze(json!({"reason": "review passed", "source": "risk"})).await).await;
    assert_eq!(lifted["changed"], true);
    assert_eq!(lifted["wallet"]["frozen"], false);
    assert_eq!(lifted["wallet"]["freezes"], json!([]));
    assert_eq!(app.books().await.freeze_events, before.freeze_events + 1);
    created(app.debit(&org, Some(&key()), "1.00").await).await;
    created(app.release(&org, &earlier_id, &key()).await).await;
    app.assert_figures(&org.id, "50.00", "0.00", "50.00").await;
}

#[tokio::test]
async fn bad_freeze_requests_change_nothing() {
    let (app, org) = TestApp::funded("10.00").await;
    let long_reason = "r".repeat(501);
    let cases: [(&str, Value, &str); 8] = [
        ("/freeze", json!({"reason": "  "}), "INVALID_REASON"),
        (
            "/freeze",
            json!({"reason": "tab\tand\u{0}nul"}),
            "INVALID_REASON",
        ),
        ("/freeze", json!({"reason": long_reason}), "INVALID_REASON"),
        (
            "/freeze",
            json!({"reason": "x", "source": "fraud"}),
            "VALIDATION_FAILED",
        ),
        (
            "/freeze",
            json!({"reason": "x", "source": "Risk"}),
            "VALIDATION_FAILED",
        ),
        ("/freeze", json!({}), "VALIDATION_FAILED"),
        (
            "/freeze",
            json!({"reason": "x", "until": "tomorrow"}),
            "VALIDATION_FAILED",
        ),
        (
            "/unfreeze",
            json!({"reason": " ", "source": "admin"}),
            "INVALID_REASON",
        ),
    ];
    for (path, body, code) in cases {
        let problem = app
            .refused(app.admin_post(&org.id, path, None, &body), 422, code)
            .await;
        if code == "INVALID_REASON" {
            assert_eq!(problem["field"], "reason", "{body}");
        }
    }
    for path in ["/freeze", "/unfreeze"] {
        let url = app.wallet_url(&org.id, path);
        for (body, content_type, status, code) in [
            ("", JSON, 400, "MALFORMED_JSON"),
            ("", None, 415, "UNSUPPORTED_MEDIA_TYPE"),
            (
                r#"{"reason": "x"}"#,
                Some("text/plain"),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (r#"{"reason": "x""#, JSON, 400, "MALFORMED_JSON"),
            ("null", JSON, 422, "BODY_NOT_OBJECT"),
            (r#"["x", "risk"]"#, JSON, 422, "BODY_NOT_OBJECT"),
        ] {
            let request = app.post_raw(&url, ADMIN_TOKEN, body, content_type);
            app.refused(send(request), status, code).await;
        }
    }
    assert_eq!(app.wallet(&org.id).await["frozen"], false);
}

#[tokio::test]
async fn a_frozen_wallet_still_releases_expires_and_takes_corrections() {
    let (app, org) = TestApp::funded("20.00").await;
    let released_id = app.open_hold(&org, "to-release", "5.00").await;
    let body = json!({"amount": "3.00", "currency": "USD", "expires_in_seconds": 60});
    let receipt = created(app.hold(&org, "to-expire", &body).await).await;
    let expiring_id = receipt["hold"]["id"].as_str().unwrap().to_owned();
    let freeze = json!({"reason": "fraud review", "source": "risk"});
    ok(app.admin_post(&org.id, "/freeze", None, &freeze).await).await;

    // Giving reserved money back is never refused.
    created(app.release(&org, &released_id, &key()).await).await;
    app.clock.advance(chrono::TimeDelta::seconds(61));
    assert_eq!(ok(app.expire_holds(ADMIN_TOKEN).await).await["expired"], 1);
    assert_eq!(
        app.hold_details(&org, &expiring_id).await["status"],
        "expired"
    );
    // Audited corrections go through in both directions; the admin's debits do not.
    for amount in ["2.00", "-1.00"] {
        let body = json!({"amount": amount, "currency": "USD", "reason": "adjustment"});
        created(
            app.admin_post(&org.id, "/corrections", Some(&key()), &body)
                .await,
        )
        .await;
    }
    let body = json!({"amount": "1.00", "currency": "USD"});
    app.refused(
        app.admin_post(&org.id, "/debits", Some(&key()), &body),
        409,
        "FROZEN_WALLET",
    )
    .await;
    app.assert_figures(&org.id, "21.00", "0.00", "21.00").await;
    assert_eq!(app.wallet(&org.id).await["frozen"], true);
}
