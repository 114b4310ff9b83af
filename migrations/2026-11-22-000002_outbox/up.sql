-- The transactional outbox (DESIGN G10): external calls (SMTP, Twilio, billing providers) are
-- written here in the same transaction as the state change that needs them, then delivered by
-- workers that retry with backoff until the call succeeds or the message is dead-lettered for a
-- person. See docs/outbox.md.

CREATE TABLE outbox_messages (
    id               uuid PRIMARY KEY,
    -- Which handler delivers the message: lower-case dotted words, e.g. `twilio.subaccount`.
    topic            text NOT NULL
                     CHECK (char_length(topic) <= 64
                            AND topic ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    -- The caller's idempotency key: enqueueing the same (topic, key) twice changes nothing.
    dedupe_key       text NOT NULL
                     CHECK (char_length(dedupe_key) BETWEEN 1 AND 200
                            AND dedupe_key ~ '^[\x21-\x7e]+$'),
    organization_id  uuid REFERENCES organizations (id),
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    -- Claims so far; a claim whose worker died before settling counts too.
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL CHECK (max_attempts > 0),
    -- When the message may next be claimed. While a claim is in flight this is the end of its
    -- lease, so a message whose worker died becomes claimable again by itself.
    next_attempt_at  timestamptz NOT NULL,
    last_error       text CHECK (char_length(last_error) <= 1000),
    -- The current claimant's token: only it may settle the message.
    claim_token      uuid,
    claimed_until    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CONSTRAINT outbox_messages_dedupe UNIQUE (topic, dedupe_key),
    CONSTRAINT outbox_messages_attempts_within_max CHECK (attempts <= max_attempts),
    CONSTRAINT outbox_messages_delivered_at_when_delivered
        CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    CONSTRAINT outbox_messages_delivered_after_an_attempt
        CHECK (status <> 'delivered' OR attempts > 0),
    CONSTRAINT outbox_messages_claim_has_lease
        CHECK ((claim_token IS NULL) = (claimed_until IS NULL)),
    CONSTRAINT outbox_messages_lease_is_next_attempt
        CHECK (claimed_until IS NULL OR claimed_until = next_attempt_at),
    -- A settled message has no claimant left that could settle it again.
    CONSTRAINT outbox_messages_only_pending_claimed
        CHECK (status = 'pending' OR claim_token IS NULL)
);

-- Claiming is an index scan per topic, in claim order, over the pending messages only.
CREATE INDEX outbox_messages_due ON outbox_messages (topic, next_attempt_at, id)
    WHERE status = 'pending';
-- Final attempts whose worker may have died: claiming checks them first, and this keeps that
-- check from scanning the whole backlog.
CREATE INDEX outbox_messages_final_attempt ON outbox_messages (topic, next_attempt_at)
    WHERE status = 'pending' AND attempts >= max_attempts;
-- Operators list dead letters; there should be few, so the index stays small.
CREATE INDEX outbox_messages_dead ON outbox_messages (topic, id) WHERE status = 'dead';
-- Backs the foreign key (deleting an organization) and per-organization listings.
CREATE INDEX outbox_messages_organization ON outbox_messages (organization_id, id)
    WHERE organization_id IS NOT NULL;
