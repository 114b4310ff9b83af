//! References: every money movement needs exactly one valid reference; a retry replays the
//! original and writes nothing; the same reference with other parameters conflicts.

use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::common::{Movement, TestApp, created, key, ok, send};

#[tokio::test]
async fn a_retried_debit_is_replayed_and_a_changed_one_conflicts() {
    let (app, org) = TestApp::funded("50.00").await;

    let first = created(app.debit(&org, Some("msg-batch-7"), "12.34").await).await;

    // Header again, then the same reference in the body: both are the same debit.
    app.replayed(app.debit(&org, Some("msg-batch-7"), "12.34"), &first)
        .await;
    let in_body = json!({"amount": "12.34", "currency": "USD", "reference": "msg-batch-7"});
    app.replayed(
        send(app.wallet_post(&org.id, "/debits", &org.key, None, &in_body)),
        &first,
    )
    .await;
    app.assert_figures(&org.id, "37.66", "0.00", "37.66").await;

    // Same reference, different parameters.
    let problem = app
        .refused(
            app.debit(&org, Some("msg-batch-7"), "12.35"),
            409,
            "IDEMPOTENCY_CONFLICT",
        )
        .await;
    assert_eq!(problem["reference"], "msg-batch-7");
    assert_eq!(problem["original_kind"], "debit");
    let other_counterparty =
        json!({"amount": "12.34", "currency": "USD", "counterparty": "revenue:calls"});
    app.refused(
        send(app.wallet_post(
            &org.id,
            "/debits",
            &org.key,
            Some("msg-batch-7"),
            &other_counterparty,
        )),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    // A reference is per wallet and per operation: a credit cannot reuse a debit's.
    let as_credit = json!({"amount": "12.34", "currency": "USD", "counterparty": "topup:manual"});
    let problem = app
        .refused(
            app.admin_post(&org.id, "/credits", Some("msg-batch-7"), &as_credit),
            409,
            "IDEMPOTENCY_CONFLICT",
        )
        .await;
    assert_eq!(problem["original_kind"], "debit");
    // Another wallet's reference space is its own.
    let other = app.org_with_key("Other").await;
    app.fund(&other.id, "20.00").await;
    created(app.debit(&other, Some("msg-batch-7"), "12.34").await).await;
}

#[tokio::test]
async fn money_movements_need_one_agreeing_valid_reference() {
    let (app, org) = TestApp::funded("50.00").await;
    let hold_id = app.open_hold(&org, "h-1", "5.00").await;

    let too_long = "k".repeat(201);
    let bad_headers: Vec<(HeaderValue, &str)> = vec![
        (
            HeaderValue::from_static("has space"),
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (HeaderValue::from_static(""), "INVALID_IDEMPOTENCY_KEY"),
        (
            HeaderValue::from_str(&too_long).unwrap(),
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (
            HeaderValue::from_bytes("café".as_bytes()).unwrap(),
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (
            HeaderValue::from_static("tab\there"),
            "INVALID_IDEMPOTENCY_KEY",
        ),
        // A well-formed key, but the ledger's own references start like this.
        (
            HeaderValue::from_static("system:expiry:x"),
            "INVALID_REFERENCE",
        ),
    ];
    let bad_references = [
        json!("two words"),
        json!(""),
        json!(too_long),
        json!("café"),
        json!("zero\u{200B}width"),
        json!("tab\there"),
        json!("system:expiry:x"),
    ];

    let mut movements = Movement::with_amounts(&org, &hold_id);
    movements.push(Movement {
        name: "release",
        path: format!("/holds/{hold_id}/release"),
        token: org.key.clone(),
        body: json!({}),
    });
    for Movement {
        path, token, body, ..
    } in &movements
    {
        let post = |key: Option<&str>, body: &Value| {
            send(app.wallet_post(&org.id, path, token, key, body))
        };
        app.refused(post(None, body), 422, "IDEMPOTENCY_KEY_REQUIRED")
            .await;
        let mut null_reference = body.clone();
        null_reference["reference"] = Value::Null;
        app.refused(post(None, &null_reference), 422, "IDEMPOTENCY_KEY_REQUIRED")
            .await;

        let mut with_reference = body.clone();
        with_reference["reference"] = json!("body-ref");
        app.refused(
            post(Some("header-ref"), &with_reference),
            422,
            "REFERENCE_MISMATCH",
        )
        .await;

        for (value, code) in &bad_headers {
            let request = app
                .wallet_post(&org.id, path, token, None, body)
                .header("Idempotency-Key", value.clone());
            let problem = app.refused(send(request), 422, code).await;
            if *code == "INVALID_REFERENCE" {
                assert_eq!(problem["field"], "reference");
            }
        }
        let twice = app
            .wallet_post(&org.id, path, token, Some("once"), body)
            .header("Idempotency-Key", "twice");
        app.refused(send(twice), 422, "INVALID_IDEMPOTENCY_KEY")
            .await;

        for reference in &bad_references {
            let mut bad_reference = body.clone();
            bad_reference["reference"] = reference.clone();
            let problem = app
                .refused(post(None, &bad_reference), 422, "INVALID_REFERENCE")
                .await;
            assert_eq!(problem["field"], "reference", "{reference}");
        }
        let mut numeric_reference = body.clone();
        numeric_reference["reference"] = json!(42);
        app.refused(post(None, &numeric_reference), 422, "VALIDATION_FAILED")
            .await;
    }

    // Header and body may both be sent when they agree; 200 characters are allowed.
    let longest = "k".repeat(200);
    let mut agreeing = json!({"amount": "1.00", "currency": "USD"});
    agreeing["reference"] = json!(longest);
    let response = send(app.wallet_post(&org.id, "/debits", &org.key, Some(&longest), &agreeing));
    assert_eq!(created(response.await).await["entry"]["reference"], longest);
}

#[tokio::test]
async fn every_movement_is_replayed_on_retry_and_conflicts_when_changed() {
    let (app, org) = TestApp::funded("100.00").await;
    let admin = |path: &'static str, key: &'static str, body: Value| {
        let app = &app;
        let org = &org.id;
        async move { app.admin_post(org, path, Some(key), &body).await }
    };

    let credit = json!({"amount": "5.00", "currency": "USD", "counterparty": "topup:paypal"});
    let first = created(admin("/credits", "credit-1", credit.clone()).await).await;
    app.replayed(admin("/credits", "credit-1", credit), &first)
        .await;
    let other = json!({"amount": "5.00", "currency": "USD", "counterparty": "topup:manual"});
    let problem = app
        .refused(
            admin("/credits", "credit-1", other),
            409,
            "IDEMPOTENCY_CONFLICT",
        )
        .await;
    assert_eq!(problem["original_kind"], "credit");

    let correction = json!({"amount": "-1.00", "currency": "USD", "reason": "fee reversal"});
    let first = created(admin("/corrections", "corr-1", correction.clone()).await).await;
    app.replayed(admin("/corrections", "corr-1", correction), &first)
        .await;
    for changed in [
        json!({"amount": "-1.00", "currency": "USD", "reason": "another reason"}),
        json!({"amount": "1.00", "currency": "USD", "reason": "fee reversal"}),
    ] {
        app.refused(
            admin("/corrections", "corr-1", changed),
            409,
            "IDEMPOTENCY_CONFLICT",
        )
        .await;
    }

    // A hold's deadline is not compared: a client computing it afresh still gets its hold.
    let hold = json!({"amount": "10.00", "currency": "USD", "expires_in_seconds": 600});
    let first = created(app.hold(&org, "hold-1", &hold).await).await;
    let hold_id = first["hold"]["id"].as_str().unwrap().to_owned();
    let later = json!({"amount": "10.00", "currency": "USD", "expires_in_seconds": 700});
    let replay = app.replayed(app.hold(&org, "hold-1", &later), &first).await;
    assert_eq!(replay["hold"], first["hold"]);
    let bigger = json!({"amount": "10.01", "currency": "USD"});
    app.refused(
        app.hold(&org, "hold-1", &bigger),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    let elsewhere =
        json!({"amount": "10.00", "currency": "USD", "counterparty": "revenue:whatsapp"});
    app.refused(
        app.hold(&org, "hold-1", &elsewhere),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;

    let second_hold = app.open_hold(&org, "hold-2", "1.00").await;
    let first = created(app.capture(&org, &hold_id, "cap-1", "2.00").await).await;
    app.replayed(app.capture(&org, &hold_id, "cap-1", "2.00"), &first)
        .await;
    app.refused(
        app.capture(&org, &hold_id, "cap-1", "3.00"),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    app.refused(
        app.capture(&org, &second_hold, "cap-1", "1.00"),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;

    let first = created(app.release(&org, &hold_id, "rel-1").await).await;
    let in_body = json!({"reference": "rel-1"});
    let path = format!("/holds/{hold_id}/release");
    app.replayed(
        send(app.wallet_post(&org.id, &path, &org.key, None, &in_body)),
        &first,
    )
    .await;
    app.refused(
        app.release(&org, &second_hold, "rel-1"),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    // The hold's replay shows the hold as it is now.
    let replay = app.replayed(app.hold(&org, "hold-1", &hold), &replay).await;
    assert_eq!(replay["hold"]["status"], "released");

    app.assert_figures(&org.id, "102.00", "1.00", "101.00")
        .await;
}

#[tokio::test]
async fn a_replay_wins_over_a_later_drain_freeze_or_closed_hold() {
    let (app, org) = TestApp::funded("10.00").await;
    let debited = created(app.debit(&org, Some("d-1"), "4.00").await).await;
    let hold = json!({"amount": "3.00", "currency": "USD"});
    let held = created(app.hold(&org, "h-1", &hold).await).await;
    let hold_id = held["hold"]["id"].as_str().unwrap().to_owned();
    let captured = created(app.capture(&org, &hold_id, "c-1", "1.00").await).await;
    created(app.release(&org, &hold_id, "r-1").await).await;

    // Drained: nothing is available any more.
    let drain = json!({"amount": "-5.00", "currency": "USD", "reason": "drain"});
    created(
        app.admin_post(&org.id, "/corrections", Some(&key()), &drain)
            .await,
    )
    .await;
    app.assert_figures(&org.id, "0.00", "0.00", "0.00").await;
    app.replayed(app.debit(&org, Some("d-1"), "4.00"), &debited)
        .await;
    app.replayed(app.capture(&org, &hold_id, "c-1", "1.00"), &captured)
        .await;

    let freeze = json!({"reason": "chargeback", "source": "risk"});
    ok(app.admin_post(&org.id, "/freeze", None, &freeze).await).await;
    assert_eq!(app.wallet(&org.id).await["frozen"], true);
    app.replayed(app.debit(&org, Some("d-1"), "4.00"), &debited)
        .await;
    app.replayed(app.hold(&org, "h-1", &hold), &held).await;
    // A new reference is decided afresh.
    app.refused(app.debit(&org, Some("d-2"), "4.00"), 409, "FROZEN_WALLET")
        .await;
}
