-- Bounded-repetition regexes (`{1,255}`) cost PostgreSQL 60 times more per row than a length
-- check and `+`: the CHECKs below say the same thing the cheap way.
--
-- The webhook inbox: every verified provider delivery, stored and committed before the provider
-- gets its 2xx, then applied by the intake (at once, and again by a background job while it
-- could not be). Raw bodies are kept for a retention period; each delivery's normalized events
-- and their outcomes stay. See docs/webhooks.md.

CREATE TABLE webhook_inbox (
    id                uuid PRIMARY KEY,
    provider          text NOT NULL CHECK (provider IN ('paypal', 'stripe', 'payhere')),
    -- The provider's id for the delivery (its event id; PayHere's is built from signed fields):
    -- a repeated delivery finds this row and changes nothing.
    delivery_id       text NOT NULL
                      CHECK (char_length(delivery_id) BETWEEN 1 AND 255
                             AND delivery_id ~ '^[[:print:]]+$'),
    event_type        text NOT NULL CHECK (char_length(event_type) BETWEEN 1 AND 100),
    received_at       timestamptz NOT NULL,
    -- The bytes exactly as received (their signature was verified over them); NULL once pruned.
    body              bytea CHECK (octet_length(body) <= 1048576),
    body_sha256       bytea NOT NULL CHECK (octet_length(body_sha256) = 32),
    body_size         integer NOT NULL CHECK (body_size >= 0),
    body_pruned_at    timestamptz,
    -- What the delivery means: the normalized events, as the intake stores them.
    events            jsonb NOT NULL CHECK (jsonb_typeof(events) = 'array'),
    -- What applying each event did, once it has been applied (or found ignored, unmatched, held).
    outcomes          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(outcomes) = 'array'),
    status            text NOT NULL CHECK (status IN ('received', 'applied', 'ignored',
                          'unmatched', 'held', 'failed', 'dead')),
    -- The organization the delivery names or was matched to, and the subscription it changed.
    organization_id   uuid REFERENCES organizations (id),
    subscription_id   uuid REFERENCES subscriptions (id),
    -- Application attempts that ended in an error (a database hiccup, a provider outage).
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When the background job may try (again): the retry schedule.
    next_attempt_at   timestamptz,
    -- While an attempt holds the row (its receiver, the job, a re-delivery, an operator): until
    -- when. Nobody else starts one before; a holder that died frees it by itself.
    leased_until      timestamptz,
    last_error        text CHECK (char_length(last_error) <= 1000),
    -- When it reached a final status (applied, ignored, held, dead).
    settled_at        timestamptz,
    updated_at        timestamptz NOT NULL,
    CONSTRAINT webhook_inbox_delivery UNIQUE (provider, delivery_id),
    CONSTRAINT webhook_inbox_pruned_body CHECK ((body IS NULL) = (body_pruned_at IS NOT NULL)),
    -- Waiting rows are the ones the job retries; settled rows are never picked up again by it.
    CONSTRAINT webhook_inbox_waiting_has_next_attempt
        CHECK (status NOT IN ('received', 'failed') OR next_attempt_at IS NOT NULL),
    CONSTRAINT webhook_inbox_settled_waits_for_nothing
        CHECK (status NOT IN ('applied', 'ignored', 'held', 'dead')
               OR (next_attempt_at IS NULL AND leased_until IS NULL)),
    CONSTRAINT webhook_inbox_settled_at_when_settled
        CHECK ((status IN ('applied', 'ignored', 'held', 'dead')) = (settled_at IS NOT NULL))
);
-- The retry job's query: what is due, oldest first.
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
-- Operators list by status (and count by it).
CREATE INDEX webhook_inbox_status ON webhook_inbox (status, id);
CREATE INDEX webhook_inbox_organization ON webhook_inbox (organization_id, id)
    WHERE organization_id IS NOT NULL;
-- The retention job: bodies still held, oldest first.
CREATE INDEX webhook_inbox_unpruned ON webhook_inbox (received_at) WHERE body IS NOT NULL;

-- Why a wallet is frozen by source `risk`: disputes, chargebacks and refunds the wallet could
-- not cover. A dispute won lifts the risk freeze only when no other case still needs it.
CREATE TABLE risk_cases (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations (id),
    provider          text NOT NULL CHECK (provider IN ('paypal', 'stripe', 'payhere')),
    kind              text NOT NULL CHECK (kind IN ('dispute', 'chargeback', 'shortfall')),
    -- A dispute or chargeback: the payment's reference at the provider; a shortfall: the
    -- refund's event id.
    reference         text NOT NULL
                      CHECK (char_length(reference) BETWEEN 1 AND 255 AND reference ~ '^[[:print:]]+$'),
    -- open: a dispute under way; won / lost: how it ended; recorded: a chargeback or a
    -- shortfall, which only a person resolves (by lifting the freeze).
    status            text NOT NULL CHECK (status IN ('open', 'won', 'lost', 'recorded')),
    -- What the provider disputed or took back; for a shortfall, what the wallet could not cover.
    amount            bigint NOT NULL CHECK (amount >= 0),
    currency          char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    inbox_id          uuid NOT NULL REFERENCES webhook_inbox (id),
    opened_at         timestamptz NOT NULL,
    closed_at         timestamptz,
    CONSTRAINT risk_cases_reference UNIQUE (provider, kind, reference),
    CONSTRAINT risk_cases_status_fits_kind
        CHECK ((kind = 'dispute') = (status IN ('open', 'won', 'lost'))),
    CONSTRAINT risk_cases_closed_at_when_closed
        CHECK ((status IN ('open', 'recorded')) = (closed_at IS NULL))
);
CREATE INDEX risk_cases_organization ON risk_cases (organization_id, opened_at);

-- Which organization each provider payment belongs to and what it paid for, learnt from the
-- first matched event about it: a top-up once credited, a subscription payment once applied. A
-- refund, chargeback or dispute that does not name the organization is attributed through it
-- (one naming another is held), and only a credited top-up is ever taken back from the wallet;
-- money taken back from a payment not known yet waits for it.
CREATE TABLE provider_payments (
    provider           text NOT NULL CHECK (provider IN ('paypal', 'stripe', 'payhere')),
    payment_reference  text NOT NULL
                       CHECK (char_length(payment_reference) BETWEEN 1 AND 255
                              AND payment_reference ~ '^[[:print:]]+$'),
    kind               text NOT NULL CHECK (kind IN ('top_up', 'subscription')),
    organization_id    uuid NOT NULL REFERENCES organizations (id),
    inbox_id           uuid NOT NULL REFERENCES webhook_inbox (id),
    recorded_at        timestamptz NOT NULL,
    PRIMARY KEY (provider, payment_reference)
);
