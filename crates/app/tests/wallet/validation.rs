//! Bad input on every money-moving route: bodies that are not JSON or not of the right shape,
//! wrong media types, oversized bodies, malformed amounts and currencies, bad counterparties.
//! Each refusal is checked to have left the books unchanged.

use serde_json::{Value, json};

use crate::common::{BODY_LIMIT, JSON, Movement, Org, TestApp, created, key, send};

/// A wallet with 100.00 USD, 10.00 of it in an open hold, and every route that moves an amount.
async fn setup() -> (TestApp, Org, Vec<Movement>) {
    let (app, org) = TestApp::funded("100.00").await;
    let hold_id = app.open_hold(&org, "the-hold", "10.00").await;
    let movements = Movement::with_amounts(&org, &hold_id);
    (app, org, movements)
}

/// Posts `body` as JSON to the movement's route with a fresh reference.
async fn post(app: &TestApp, org: &Org, movement: &Movement, body: &Value) -> reqwest::Response {
    send(app.wallet_post(&org.id, &movement.path, &movement.token, Some(&key()), body)).await
}

/// Posts raw bytes with a fresh reference and the given content type, if any.
async fn post_raw(
    app: &TestApp,
    org: &Org,
    movement: &Movement,
    body: String,
    content_type: Option<&str>,
) -> reqwest::Response {
    let url = app.wallet_url(&org.id, &movement.path);
    send(
        app.post_raw(&url, &movement.token, body, content_type)
            .header("Idempotency-Key", key()),
    )
    .await
}

#[tokio::test]
async fn bad_bodies_and_amounts_are_refused_and_change_nothing() {
    let (app, org, movements) = setup().await;

    for m in &movements {
        let raw = |body: &str, content_type| post_raw(&app, &org, m, body.to_owned(), content_type);
        app.refused(
            raw(r#"{"amount": "1.00", "currency": "#, JSON),
            400,
            "MALFORMED_JSON",
        )
        .await;
        app.refused(raw("{'amount': '1.00'}", JSON), 400, "MALFORMED_JSON")
            .await;
        // A body that is needed but empty: JSON that ends before it starts, or no JSON at all.
        app.refused(raw("", JSON), 400, "MALFORMED_JSON").await;
        app.refused(raw("", None), 415, "UNSUPPORTED_MEDIA_TYPE")
            .await;
        // A body is an object: serde would fill the request from an array element by element,
        // so `["1.00","USD",...]` must not pass for `{"amount":"1.00","currency":"USD",...}`.
        let in_order =
            serde_json::to_string(&m.body.as_object().unwrap().values().collect::<Vec<_>>())
                .unwrap();
        for not_an_object in ["null", "[]", "\"1.00\"", "1", "true", in_order.as_str()] {
            let problem = app
                .refused(raw(not_an_object, JSON), 422, "BODY_NOT_OBJECT")
                .await;
            assert!(problem["field"].is_null(), "{problem}");
        }
        let positional = format!(r#"["1.00","USD",null,"{}"]"#, key());
        app.refused(raw(&positional, JSON), 422, "BODY_NOT_OBJECT")
            .await;

        // The right document under a media type that is not JSON.
        let body = m.body.to_string();
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            Some("multipart/form-data"),
            None,
        ] {
            app.refused(raw(&body, content_type), 415, "UNSUPPORTED_MEDIA_TYPE")
                .await;
        }

        // Amounts are strings: never numbers (clients parse those as floats) or anything else.
        for amount in [
            json!(12.34),
            json!(1),
            json!(1e3),
            json!(null),
            json!(["1.00"]),
            json!({"value": "1.00"}),
            json!(true),
        ] {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.with("amount", amount.clone())),
                    422,
                    "VALIDATION_FAILED",
                )
                .await;
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("expected a string"),
                "{} {amount}: {problem}",
                m.name
            );
            assert_eq!(problem["field"], "amount", "{} {amount}: {problem}", m.name);
            assert_plain(&problem);
        }
        for currency in [json!(840), json!(null), json!(["USD"])] {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.with("currency", currency)),
                    422,
                    "VALIDATION_FAILED",
                )
                .await;
            assert_eq!(problem["field"], "currency", "{problem}");
            assert_plain(&problem);
        }
        for member in ["amount", "currency"] {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.without(member)),
                    422,
                    "VALIDATION_FAILED",
                )
                .await;
            assert!(
                problem["detail"].as_str().unwrap().contains(member),
                "{} without {member}: {problem}",
                m.name
            );
            assert_eq!(problem["field"], member, "{problem}");
        }
        // Unknown members are refused, not ignored: a typo must not pass for a default.
        for (member, value) in [
            ("balance", json!("0")),
            ("Amount", json!("1.00")),
            ("expires_at", json!("2030-01-01T00:00:00Z")),
            ("idempotency_key", json!("k")),
        ] {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.with(member, value)),
                    422,
                    "VALIDATION_FAILED",
                )
                .await;
            assert!(
                problem["detail"].as_str().unwrap().contains(member),
                "{} with {member}: {problem}",
                m.name
            );
            assert_eq!(problem["field"], member, "{problem}");
        }

        let oversized = m.with("padding", json!("x".repeat(BODY_LIMIT)));
        let problem = app
            .refused(raw(&oversized.to_string(), JSON), 413, "BODY_TOO_LARGE")
            .await;
        assert_eq!(problem["limit_bytes"], BODY_LIMIT);
    }

    // The JSON media type may carry parameters.
    let debit = &movements[0];
    let response = post_raw(
        &app,
        &org,
        debit,
        debit.body.to_string(),
        Some("application/json; charset=utf-8"),
    )
    .await;
    created(response).await;
    app.assert_figures(&org.id, "99.00", "10.00", "89.00").await;
}

#[tokio::test]
async fn malformed_zero_and_negative_amounts_are_refused_by_every_movement() {
    let (app, org, movements) = setup().await;
    let malformed = [
        "12.345",
        "1,000.00",
        "1 000.00",
        "",
        " ",
        "abc",
        "1e3",
        "1E3",
        "+1",
        " 1.00",
        "1.00 ",
        "1.",
        ".5",
        "0x10",
        "--1",
        "1.0.0",
        "１",
        "NaN",
        "Infinity",
        "-0.001",
        // Beyond i64 minor units, however written.
        "99999999999999999999",
        "92233720368547758.08",
        "-92233720368547758.09",
        "00000000000000000000000000000000000000000000000001.001",
    ];
    let zero = ["0", "0.00", "-0", "-0.00"];
    let negative = ["-0.01", "-1", "-1.00"];
    for m in &movements {
        for amount in malformed {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.with("amount", json!(amount))),
                    422,
                    "INVALID_AMOUNT",
                )
                .await;
            assert_eq!(problem["field"], "amount", "{} {amount:?}", m.name);
        }
        // Corrections may be negative (see money.rs), but never zero.
        for amount in zero.iter().chain(negative.iter().filter(|_| !m.signed())) {
            app.refused(
                post(&app, &org, m, &m.with("amount", json!(amount))),
                422,
                "INVALID_AMOUNT",
            )
            .await;
        }
    }
    app.assert_figures(&org.id, "100.00", "10.00", "90.00")
        .await;
}

#[tokio::test]
async fn unknown_unsupported_and_other_currencies_are_refused_by_every_movement() {
    let (app, org, movements) = setup().await;
    for m in &movements {
        for currency in [
            "XYZ", "usd", "Usd", "US", "USDD", "XAU", "XXX", "", " USD", "€",
        ] {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.with("currency", json!(currency))),
                    422,
                    "INVALID_CURRENCY",
                )
                .await;
            assert_eq!(problem["field"], "currency", "{} {currency:?}", m.name);
        }
        // A bad currency is reported before a bad amount.
        let mut both = m.with("currency", json!("usd"));
        both["amount"] = json!("abc");
        app.refused(post(&app, &org, m, &both), 422, "INVALID_CURRENCY")
            .await;

        let problem = app
            .refused(
                post(&app, &org, m, &m.with("currency", json!("EUR"))),
                422,
                "CURRENCY_MISMATCH",
            )
            .await;
        assert_eq!(problem["wallet_currency"], "USD");
        assert_eq!(problem["requested_currency"], "EUR");
        // JPY has no decimals: "1.5" is malformed for it before the currency is compared.
        let mut jpy = m.with("currency", json!("JPY"));
        jpy["amount"] = json!("1.5");
        app.refused(post(&app, &org, m, &jpy), 422, "INVALID_AMOUNT")
            .await;
    }
}

#[tokio::test]
async fn counterparties_are_validated() {
    let (app, org, movements) = setup().await;
    let [debit, credit, hold, ..] = &movements[..] else {
        panic!("the movements changed");
    };

    let problem = app
        .refused(
            post(&app, &org, credit, &credit.without("counterparty")),
            422,
            "VALIDATION_FAILED",
        )
        .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("counterparty"),
        "{problem}"
    );
    for m in [debit, credit, hold] {
        for counterparty in [
            "TOPUP",
            "Revenue Messages",
            "",
            " ",
            "revenue::messages",
            "revenue:",
            "revenue:mes sages",
            "révenue:messages",
            &"a".repeat(101),
        ] {
            let problem = app
                .refused(
                    post(&app, &org, m, &m.with("counterparty", json!(counterparty))),
                    422,
                    "INVALID_COUNTERPARTY",
                )
                .await;
            assert_eq!(
                problem["field"], "counterparty",
                "{} {counterparty:?}",
                m.name
            );
        }
        app.refused(
            post(&app, &org, m, &m.with("counterparty", json!(7))),
            422,
            "VALIDATION_FAILED",
        )
        .await;
    }
    app.assert_figures(&org.id, "100.00", "10.00", "90.00")
        .await;
}

/// A validation detail is for people: it never names a Rust type.
fn assert_plain(problem: &serde_json::Value) {
    let detail = problem["detail"].as_str().unwrap_or_default();
    for rust in [
        "struct", "Request", "u32", "i64", "usize", "sequence", "Option",
    ] {
        assert!(!detail.contains(rust), "{rust:?} in {problem}");
    }
}
