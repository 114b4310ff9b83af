//! The wallet's history: newest first, cursor-paginated, filtered by kind.

use serde_json::Value;

use crate::common::{Org, TestApp, created, key, ok};

/// Every entry of the wallet, `limit` at a time, following `next_cursor`.
async fn all_pages(app: &TestApp, org: &Org, query: &str, limit: usize) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(cursor) => format!("/entries?limit={limit}{query}&cursor={cursor}"),
            None => format!("/entries?limit={limit}{query}"),
        };
        let page = ok(app.wallet_get(&org.id, &path, &org.key).await).await;
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= limit, "{page}");
        seen.extend(entries.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("pagination does not end");
}

#[tokio::test]
async fn history_is_paginated_newest_first_and_filtered_by_kind() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    for _ in 0..4 {
        app.fund(&org.id, "10.00").await;
    }
    for amount in ["1.00", "2.00", "3.00"] {
        created(app.debit(&org, Some(&key()), amount).await).await;
    }
    let hold_id = app.open_hold(&org, "h", "5.00").await;
    created(app.release(&org, &hold_id, "r").await).await;

    // All nine entries, three at a time, newest first, each exactly once.
    let seen = all_pages(&app, &org, "", 3).await;
    assert_eq!(seen.len(), 9);
    let kinds: Vec<&str> = seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "release", "hold", "debit", "debit", "debit", "credit", "credit", "credit", "credit"
        ]
    );
    let mut ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9);
    assert_eq!(seen[0]["balance_after"], "34.00");
    assert_eq!(seen[0]["hold_id"], hold_id.as_str());
    // Page boundaries lose nothing whatever the page size.
    for limit in [1, 2, 4, 8, 9, 200] {
        assert_eq!(
            all_pages(&app, &org, "", limit).await,
            seen,
            "limit {limit}"
        );
    }

    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=debit", &org.key)
        .await)
    .await;
    let amounts: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["3.00", "2.00", "1.00"]);
    assert!(page["next_cursor"].is_null());
    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=hold,release&limit=1", &org.key)
        .await)
    .await;
    assert_eq!(page["entries"][0]["kind"], "release");
    assert!(page["next_cursor"].is_string());
    let filtered = all_pages(&app, &org, "&kinds=hold,%20release", 1).await;
    let kinds: Vec<&str> = filtered
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["release", "hold"]);
    let page = ok(app.wallet_get(&org.id, "/entries", &org.key).await).await;
    assert_eq!(page["entries"].as_array().unwrap(), &seen);
    assert!(page["next_cursor"].is_null(), "default limit is 50");
}

#[tokio::test]
async fn bad_history_queries_are_refused() {
    let (app, org) = TestApp::funded("10.00").await;
    let bad = [
        ("/entries?limit=0", "INVALID_LIMIT"),
        ("/entries?limit=201", "INVALID_LIMIT"),
        ("/entries?limit=-1", "INVALID_LIMIT"),
        ("/entries?limit=1.5", "INVALID_LIMIT"),
        ("/entries?limit=abc", "INVALID_LIMIT"),
        ("/entries?limit=", "INVALID_LIMIT"),
        ("/entries?limit=99999999999999999999", "INVALID_LIMIT"),
        ("/entries?cursor=zzz", "INVALID_CURSOR"),
        ("/entries?cursor=", "INVALID_CURSOR"),
        ("/entries?cursor=e", "INVALID_CURSOR"),
        ("/entries?cursor=e0", "INVALID_CURSOR"),
        ("/entries?cursor=e-5", "INVALID_CURSOR"),
        ("/entries?cursor=5", "INVALID_CURSOR"),
        ("/entries?cursor=e99999999999999999999", "INVALID_CURSOR"),
        ("/entries?cursor=%00%FF", "INVALID_CURSOR"),
        ("/entries?kinds=debit,refund", "INVALID_KIND"),
        ("/entries?kinds=debit,,credit", "INVALID_KIND"),
        ("/entries?kinds=debit,", "INVALID_KIND"),
        ("/entries?kinds=DEBIT", "INVALID_KIND"),
        ("/entries?kinds=*", "INVALID_KIND"),
        // Given empty, a filter is refused like any bad value (absent, it filters nothing).
        ("/entries?kinds=", "INVALID_KIND"),
        ("/entries?kinds=%20", "INVALID_KIND"),
        ("/entries?page=2", "VALIDATION_FAILED"),
        ("/entries?limit=1&limit=2", "VALIDATION_FAILED"),
    ];
    for (path, code) in bad {
        let problem = app
            .refused(app.wallet_get(&org.id, path, &org.key), 422, code)
            .await;
        let field = match code {
            "INVALID_LIMIT" => "limit",
            "INVALID_CURSOR" => "cursor",
            "INVALID_KIND" => "kinds",
            _ => continue,
        };
        assert_eq!(problem["field"], field, "{path}: {problem}");
    }
}

#[tokio::test]
async fn a_cursor_from_another_wallet_shows_only_this_one() {
    let app = TestApp::spawn().await;
    let own = app.org_with_key("Own").await;
    let other = app.org_with_key("Other").await;
    app.fund(&own.id, "1.00").await;
    for _ in 0..3 {
        app.fund(&other.id, "1.00").await;
    }
    let page = ok(app
        .wallet_get(&other.id, "/entries?limit=1", &other.key)
        .await)
    .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let own_entries = ok(app.wallet_get(&own.id, "/entries", &own.key).await).await;
    let path = format!("/entries?cursor={cursor}");
    let page = ok(app.wallet_get(&own.id, &path, &own.key).await).await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    assert_eq!(entries[0], own_entries["entries"][0]);
}

#[tokio::test]
async fn reversals_show_in_history_and_filter_by_kind() {
    let (app, org) = TestApp::funded("10.00").await;
    // No endpoint reverses money: the provider intake does, through the ledger.
    let wallet_id: uuid::Uuid = app.wallet(&org.id).await["wallet_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let request = ledger::ReversalRequest {
        wallet_id: primitives::WalletId::from_uuid(wallet_id),
        amount: primitives::Money::from_minor(1_500, primitives::Currency::USD),
        counterparty: ledger::Counterparty::parse("chargeback:stripe").unwrap(),
        reference: ledger::Reference::parse("dispute-dp_1").unwrap(),
        actor: ledger::Actor::system("tests"),
    };
    let taken = app
        .state
        .ledger
        .reverse(&mut app.conn().await, request)
        .await
        .unwrap();
    assert_eq!(taken.value.amount.minor(), 1_000, "only what was available");

    let page = ok(app
        .wallet_get(&org.id, "/entries?kinds=reversal", &org.key)
        .await)
    .await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    let entry = &entries[0];
    assert_eq!(entry["kind"], "reversal");
    assert_eq!(entry["amount"], "10.00");
    assert_eq!(entry["balance_change"], "-10.00");
    assert_eq!(entry["held_change"], "0.00");
    assert_eq!(entry["balance_after"], "0.00");
    assert_eq!(entry["counterparty"], "chargeback:stripe");
    assert_eq!(entry["reference"], "dispute-dp_1");
    assert!(entry["hold_id"].is_null() && entry["reason"].is_null());
    let all = ok(app.wallet_get(&org.id, "/entries", &org.key).await).await;
    let kinds: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reversal", "credit"]);
    app.assert_figures(&org.id, "0.00", "0.00", "0.00").await;
}
