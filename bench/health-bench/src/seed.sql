-- A large world for the health report, set-based: {orgs} organizations, each with a wallet
-- (three credits in its ledger; one in 100 frozen), a subscription (mostly active; past due,
-- suspended, trialing, canceled in fixed shares); a brand and five campaigns per 100
-- organizations (completed, running, stalled, paused); an outbox of 2 delivered messages per
-- organization plus a backlog and dead letters; a webhook inbox of 2 applied deliveries per
-- organization plus unmatched and failed ones. The data satisfies every check; the deferred
-- triggers are skipped (session_replication_role) only to seed faster.
SET session_replication_role = replica;

INSERT INTO organizations (id, name, created_at)
SELECT md5('o' || n)::uuid, 'Org ' || n, now() FROM generate_series(1, {orgs}) AS n;

INSERT INTO wallets (id, organization_id, currency, balance, held, frozen_by, created_at)
SELECT md5('w' || n)::uuid, md5('o' || n)::uuid, 'USD', 3000, 0,
       CASE WHEN n % 1000 = 0 THEN '{risk}'::text[]
            WHEN n % 250 = 0 THEN '{admin}'::text[]
            WHEN n % 100 = 0 THEN '{billing}'::text[]
            ELSE '{}'::text[] END,
       now()
FROM generate_series(1, {orgs}) AS n;

INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change,
                            balance_after, held_after, counterparty, reference, actor, created_at)
SELECT md5('e' || n || '-' || k)::uuid, md5('w' || n)::uuid, 'credit', 1000, 1000, 0,
       1000 * k, 0, 'cash:bank', 'top-up-' || k, 'bench', now()
FROM generate_series(1, {orgs}) AS n, generate_series(1, 3) AS k;

INSERT INTO subscriptions (id, organization_id, plan, status, dunning_started_at, created_at,
                           updated_at)
SELECT md5('s' || n)::uuid, md5('o' || n)::uuid, 'basic', status,
       CASE WHEN status = 'past_due' THEN now() END, now(), now()
FROM (SELECT n, CASE WHEN n % 200 = 0 THEN 'suspended'
                     WHEN n % 50 = 0 THEN 'past_due'
                     WHEN n % 20 = 0 THEN 'trialing'
                     WHEN n % 33 = 0 THEN 'canceled'
                     ELSE 'active' END AS status
      FROM generate_series(1, {orgs}) AS n) AS s;

INSERT INTO brands (id, organization_id, name, twilio_subaccount_sid, updated_at, created_at)
SELECT md5('b' || n)::uuid, md5('o' || n)::uuid, 'Brand ' || n, 'AC' || md5('b' || n), now(),
       now()
FROM generate_series(100, {orgs}, 100) AS n;

INSERT INTO campaigns (id, organization_id, brand_id, name, body, sender_kind, sender, currency,
                       price_per_segment, encoding, segments, cost_per_message, status,
                       pause_reason, start_key, created_at, updated_at, started_at, finished_at)
SELECT md5('c' || n || '-' || k)::uuid, md5('o' || n)::uuid, md5('b' || n)::uuid, 'C', 'Hi',
       'from', '+15550000000', 'USD', 1, 'gsm7', 1, 1, c.status, c.reason, 'start-' || k,
       now() - c.age, now() - c.age, now() - c.age,
       CASE WHEN c.status = 'completed' THEN now() END
FROM generate_series(100, {orgs}, 100) AS n,
     (VALUES (1, 'completed', NULL, interval '2 days'),
             (2, 'completed', NULL, interval '1 day'),
             (3, 'running', NULL, interval '1 minute'),
             (4, 'running', NULL, interval '1 hour'),
             (5, 'paused', 'insufficient_funds', interval '1 hour')) AS c (k, status, reason, age);

INSERT INTO outbox_messages (id, topic, dedupe_key, organization_id, payload, status, attempts,
                             max_attempts, next_attempt_at, delivered_at)
SELECT md5('m' || n || '-' || k)::uuid, 'notification', 'd' || n || '-' || k, md5('o' || n)::uuid,
       '{}', 'delivered', 1, 5, now(), now()
FROM generate_series(1, {orgs}) AS n, generate_series(1, 2) AS k;
INSERT INTO outbox_messages (id, topic, dedupe_key, payload, status, attempts, max_attempts,
                             next_attempt_at)
SELECT md5('p' || n)::uuid, CASE WHEN n % 2 = 0 THEN 'notification' ELSE 'billing.paypal' END,
       'p' || n, '{}', CASE WHEN n % 10 = 0 THEN 'dead' ELSE 'pending' END,
       CASE WHEN n % 10 = 0 THEN 5 ELSE 0 END, 5, now()
FROM generate_series(1, {orgs} / 100) AS n;

INSERT INTO webhook_inbox (id, provider, delivery_id, event_type, received_at, body, body_sha256,
                           body_size, events, status, next_attempt_at, settled_at, updated_at)
SELECT md5('i' || n)::uuid, 'stripe', 'd' || n, 'invoice.paid', now(), '\x7b7d'::bytea,
       sha256('\x7b7d'::bytea), 2, '[]', status,
       CASE WHEN status = 'failed' THEN now() END,
       CASE WHEN status = 'applied' THEN now() END, now()
FROM (SELECT n, CASE WHEN n % 400 = 0 THEN 'unmatched'
                     WHEN n % 1000 = 1 THEN 'failed'
                     ELSE 'applied' END AS status
      FROM generate_series(1, 2 * {orgs}) AS n) AS d;

SET session_replication_role = origin;
ANALYZE;
