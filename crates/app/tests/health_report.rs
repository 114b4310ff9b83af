//! The health report over HTTP against a real database: `GET /v1/admin/health` and the
//! `billing_health_*` gauges at `/metrics`. The world is seeded with SQL on top of
//! organizations created through the API, because several figures count states the domain
//! refuses to produce (a negative or drifted wallet): the test drops or bypasses those guards
//! in its own throwaway database to prove the report would see them.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;

use common::{ADMIN_TOKEN, TestApp, assert_problem, ok, send};
use diesel_async::SimpleAsyncConnection;
use serde_json::{Value, json};

async fn report(app: &TestApp) -> Value {
    ok(send(
        app.client
            .get(app.url("/v1/admin/health"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await)
    .await
}

fn zero_report() -> Value {
    json!({
        "wallets_negative": 0,
        "wallets_drifted": 0,
        "wallets_frozen": {"admin": 0, "billing": 0, "risk": 0},
        "subscriptions": {"active": 0, "canceled": 0, "expired": 0, "past_due": 0, "paused": 0,
                          "pending": 0, "suspended": 0, "trialing": 0},
        "subscriptions_past_due": 0,
        "subscriptions_suspended": 0,
        "campaigns_paused": {"insufficient_funds": 0, "manual": 0, "messaging_suspended": 0,
                             "subscription_inactive": 0, "wallet_frozen": 0},
        "campaigns_stalled": 0,
        "stalled_after_secs": 600,
        "outbox_pending": {},
        "outbox_dead": {},
        "webhook_inbox": {"dead": 0, "failed": 0, "held": 0, "received": 0, "unmatched": 0},
    })
}

#[tokio::test]
async fn an_empty_database_reports_zero_everywhere() {
    let app = TestApp::spawn().await;
    assert_eq!(report(&app).await, zero_report());
    // Organizations with untouched wallets change nothing.
    app.create_organization("Quiet").await;
    assert_eq!(report(&app).await, zero_report());
}

#[tokio::test]
async fn only_the_admin_reads_the_report() {
    let app = TestApp::spawn().await;
    let organization = app.create_organization("Acme").await;
    let (_, key) = app.issue_key(&organization).await;
    let none = send(app.client.get(app.url("/v1/admin/health"))).await;
    assert_problem(none, 401, "UNAUTHORIZED").await;
    let unknown = send(
        app.client
            .get(app.url("/v1/admin/health"))
            .bearer_auth("bsk_not-a-real-key"),
    )
    .await;
    assert_problem(unknown, 401, "UNAUTHORIZED").await;
    let org_key = send(
        app.client
            .get(app.url("/v1/admin/health"))
            .bearer_auth(&key),
    )
    .await;
    assert_problem(org_key, 403, "ADMIN_REQUIRED").await;
}

/// Seeds every figure once or twice over organizations `o[0..5]`.
/// An app over five organizations and the world [`seed`] makes of them.
async fn seeded() -> (TestApp, Vec<String>) {
    let app = TestApp::spawn().await;
    let mut organizations = Vec::new();
    for n in 0..5 {
        organizations.push(app.create_organization(&format!("Org {n}")).await);
    }
    seed(&app, &organizations).await;
    (app, organizations)
}

async fn seed(app: &TestApp, o: &[String]) {
    let sql = format!(
        r"
-- Freezes: one wallet by admin, one by billing and risk.
UPDATE wallets SET frozen_by = '{{admin}}' WHERE organization_id = '{o0}';
UPDATE wallets SET frozen_by = '{{billing,risk}}' WHERE organization_id = '{o1}';

-- Subscriptions: an ended one and a live one for o0, one per status elsewhere.
INSERT INTO subscriptions (id, organization_id, plan, status, dunning_started_at, created_at,
                           updated_at)
VALUES (gen_random_uuid(), '{o0}', 'basic', 'canceled', NULL, now(), now()),
       (gen_random_uuid(), '{o0}', 'basic', 'active', NULL, now(), now()),
       (gen_random_uuid(), '{o1}', 'basic', 'past_due', now(), now(), now()),
       (gen_random_uuid(), '{o2}', 'basic', 'suspended', NULL, now(), now()),
       (gen_random_uuid(), '{o3}', 'basic', 'past_due', now(), now(), now()),
       (gen_random_uuid(), '{o4}', 'basic', 'trialing', NULL, now(), now());

-- Campaigns of o0: paused for each reason (manual twice), two running and stalled, one
-- running with recent progress, one old and completed.
INSERT INTO brands (id, organization_id, name, twilio_subaccount_sid, updated_at, created_at)
VALUES ('00000000-0000-0000-0000-00000000b001', '{o0}', 'Brand',
        'AC0123456789abcdef0123456789abcdef', now(), now());
INSERT INTO campaigns (id, organization_id, brand_id, name, body, sender_kind, sender, currency,
                       price_per_segment, encoding, segments, cost_per_message, status,
                       pause_reason, start_key, created_at, updated_at, started_at, finished_at)
SELECT gen_random_uuid(), '{o0}', '00000000-0000-0000-0000-00000000b001', 'C', 'Hi', 'from',
       '+15550000000', 'USD', 1, 'gsm7', 1, 1, status, reason, 'start-' || n,
       now() - age, now() - age, now() - age,
       CASE WHEN status = 'completed' THEN now() END
FROM (VALUES (1, 'paused', 'subscription_inactive', interval '0'),
             (2, 'paused', 'wallet_frozen', interval '0'),
             (3, 'paused', 'insufficient_funds', interval '0'),
             (4, 'paused', 'messaging_suspended', interval '0'),
             (5, 'paused', 'manual', interval '0'),
             (6, 'paused', 'manual', interval '2 hours'),
             (7, 'running', NULL, interval '11 minutes'),
             (8, 'running', NULL, interval '1 minute'),
             (10, 'running', NULL, interval '3 hours'),
             (9, 'completed', NULL, interval '2 hours')) AS c (n, status, reason, age);

-- Outbox: a backlog of two notifications, a dead billing message, a delivered one.
INSERT INTO outbox_messages (id, topic, dedupe_key, payload, status, attempts, max_attempts,
                             next_attempt_at, delivered_at)
VALUES (gen_random_uuid(), 'notification', 'n1', '{{}}', 'pending', 0, 5, now(), NULL),
       (gen_random_uuid(), 'notification', 'n2', '{{}}', 'pending', 1, 5, now(), NULL),
       (gen_random_uuid(), 'billing.paypal', 'p1', '{{}}', 'dead', 5, 5, now(), NULL),
       (gen_random_uuid(), 'notification', 'n3', '{{}}', 'delivered', 1, 5, now(), now());

-- Webhook inbox: unmatched twice, failed, held, and an applied delivery (not counted).
INSERT INTO webhook_inbox (id, provider, delivery_id, event_type, received_at, body,
                           body_sha256, body_size, events, status, next_attempt_at, settled_at,
                           updated_at)
SELECT gen_random_uuid(), 'stripe', 'd' || n, 'invoice.paid', now(), '\x7b7d', sha256('\x7b7d'),
       2, '[]', status,
       CASE WHEN status IN ('received', 'failed') THEN now() END,
       CASE WHEN status IN ('applied', 'ignored', 'held', 'dead') THEN now() END, now()
FROM (VALUES (1, 'unmatched'), (2, 'unmatched'), (3, 'failed'), (4, 'held'),
             (5, 'applied')) AS d (n, status);

-- What the schema refuses: a negative wallet (its checks dropped in this throwaway database)
-- and a wallet whose row disagrees with its ledger (the deferred trigger bypassed).
ALTER TABLE wallets DROP CONSTRAINT wallets_balance_check,
                    DROP CONSTRAINT wallets_held_within_balance;
SET session_replication_role = replica;
UPDATE wallets SET balance = -5 WHERE organization_id = '{o2}';
UPDATE wallets SET balance = 7 WHERE organization_id = '{o3}';
SET session_replication_role = origin;
",
        o0 = o[0],
        o1 = o[1],
        o2 = o[2],
        o3 = o[3],
        o4 = o[4],
    );
    app.conn().await.batch_execute(&sql).await.unwrap();
}

#[tokio::test]
async fn the_report_and_its_gauges_count_every_figure() {
    let (app, _) = seeded().await;

    let expected = json!({
        "wallets_negative": 1,
        // The negative wallet disagrees with its (empty) ledger too.
        "wallets_drifted": 2,
        "wallets_frozen": {"admin": 1, "billing": 1, "risk": 1},
        "subscriptions": {"active": 1, "canceled": 1, "expired": 0, "past_due": 2, "paused": 0,
                          "pending": 0, "suspended": 1, "trialing": 1},
        "subscriptions_past_due": 2,
        "subscriptions_suspended": 1,
        "campaigns_paused": {"insufficient_funds": 1, "manual": 2, "messaging_suspended": 1,
                             "subscription_inactive": 1, "wallet_frozen": 1},
        "campaigns_stalled": 2,
        "stalled_after_secs": 600,
        "outbox_pending": {"notification": 2},
        "outbox_dead": {"billing.paypal": 1},
        "webhook_inbox": {"dead": 0, "failed": 1, "held": 1, "received": 0, "unmatched": 2},
    });
    assert_eq!(report(&app).await, expected);

    // The only test of this binary that scrapes: the recorder is global to the process.
    let response = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(response.status().as_u16(), 200);
    let metrics = response.text().await.unwrap();
    for line in [
        "billing_health_wallets_negative 1",
        "billing_health_wallets_drifted 2",
        "billing_health_wallets_frozen{source=\"admin\"} 1",
        "billing_health_wallets_frozen{source=\"billing\"} 1",
        "billing_health_wallets_frozen{source=\"risk\"} 1",
        "billing_health_subscriptions{status=\"past_due\"} 2",
        "billing_health_subscriptions{status=\"suspended\"} 1",
        "billing_health_subscriptions{status=\"expired\"} 0",
        "billing_health_campaigns_paused{reason=\"manual\"} 2",
        "billing_health_campaigns_paused{reason=\"wallet_frozen\"} 1",
        "billing_health_campaigns_stalled 2",
        "billing_health_outbox_pending{topic=\"notification\"} 2",
        "billing_health_outbox_dead{topic=\"billing.paypal\"} 1",
        "billing_health_webhook_inbox{status=\"unmatched\"} 2",
        "billing_health_webhook_inbox{status=\"failed\"} 1",
        "billing_health_webhook_inbox{status=\"received\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in:\n{metrics}"
        );
    }

    // Scrapes within `GAUGE_REFRESH` read the gauges as they were: a scrape every second costs
    // one report every ten. The JSON report is computed on each call.
    app.conn()
        .await
        .batch_execute(
            "INSERT INTO webhook_inbox (id, provider, delivery_id, event_type, received_at, body,
                                        body_sha256, body_size, events, status, updated_at)
             VALUES (gen_random_uuid(), 'stripe', 'd9', 'invoice.paid', now(), '\\x7b7d',
                     sha256('\\x7b7d'), 2, '[]', 'unmatched', now())",
        )
        .await
        .unwrap();
    assert_eq!(report(&app).await["webhook_inbox"]["unmatched"], 3);
    let again = send(app.client.get(app.url("/metrics")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        again
            .lines()
            .any(|l| l == "billing_health_webhook_inbox{status=\"unmatched\"} 2"),
        "the gauges were recomputed within the refresh period:\n{again}"
    );
}

#[tokio::test]
async fn a_batch_claimed_or_settled_recently_is_progress() {
    let (app, organizations) = seeded().await;
    assert_eq!(report(&app).await["campaigns_stalled"], 2);

    // The campaign running for three hours had a batch claimed a minute ago, and the one
    // running for eleven minutes a batch claimed long ago but settled a minute ago: neither is
    // stalled. (FK checks are off: the batches' hold is the only row they need.)
    app.conn()
        .await
        .batch_execute(&format!(
            r"
SET session_replication_role = replica;
INSERT INTO holds (id, wallet_id, amount, status, counterparty, expires_at, created_at)
SELECT '00000000-0000-0000-0000-0000000000a1', id, 100, 'open', 'campaign', now() + interval '1 day',
       now()
FROM wallets WHERE organization_id = '{o0}';
INSERT INTO campaign_holds (hold_id, campaign_id, seq, created_at)
SELECT '00000000-0000-0000-0000-0000000000a1', id, 1, now() FROM campaigns WHERE start_key = 'start-10';
INSERT INTO campaign_batches (id, campaign_id, hold_id, worker, size, claimed_at, lease_until,
                              settled_at)
SELECT gen_random_uuid(), id, '00000000-0000-0000-0000-0000000000a1', 'w', 1, now() - age,
       now() - age + interval '15 seconds', settled
FROM campaigns
JOIN (VALUES ('start-10', interval '1 minute', NULL::timestamptz),
             ('start-7', interval '2 hours', now() - interval '1 minute')) AS b (key, age, settled)
  ON start_key = b.key;
SET session_replication_role = origin;
",
            o0 = organizations[0],
        ))
        .await
        .unwrap();
    assert_eq!(report(&app).await["campaigns_stalled"], 0);
}
