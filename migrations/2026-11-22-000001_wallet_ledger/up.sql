-- Organizations (tenants), their API keys, and the prepaid wallet ledger.
-- Every invariant the database can hold is a constraint here, so a bug in code cannot break it.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, shown to people so they can tell keys apart.
    key_prefix       text NOT NULL CHECK (char_length(key_prefix) BETWEEN 4 AND 32),
    -- SHA-256 of the whole key; the key itself is never stored.
    key_hash         bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz
);
CREATE INDEX api_keys_organization ON api_keys (organization_id);

CREATE TABLE wallets (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL UNIQUE REFERENCES organizations (id),
    currency         char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    balance          bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held             bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- G1: available = balance - held is never negative.
    CONSTRAINT wallets_held_within_balance CHECK (held <= balance)
);

-- Active freezes, one per source: lifting one source's freeze never lifts another's.
CREATE TABLE wallet_freezes (
    wallet_id  uuid NOT NULL REFERENCES wallets (id),
    source     text NOT NULL CHECK (source IN ('billing', 'admin', 'risk')),
    reason     text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    actor      text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    frozen_at  timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, source)
);

-- The audit trail of freezes and unfreezes (append-only).
CREATE TABLE wallet_freeze_events (
    id          uuid PRIMARY KEY,
    wallet_id   uuid NOT NULL REFERENCES wallets (id),
    action      text NOT NULL CHECK (action IN ('freeze', 'unfreeze')),
    source      text NOT NULL CHECK (source IN ('billing', 'admin', 'risk')),
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    actor       text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL
);
CREATE INDEX wallet_freeze_events_wallet ON wallet_freeze_events (wallet_id, created_at);

CREATE TABLE holds (
    id            uuid PRIMARY KEY,
    wallet_id     uuid NOT NULL REFERENCES wallets (id),
    amount        bigint NOT NULL CHECK (amount > 0),
    captured      bigint NOT NULL DEFAULT 0 CHECK (captured >= 0),
    released      bigint NOT NULL DEFAULT 0 CHECK (released >= 0),
    status        text NOT NULL CHECK (status IN ('open', 'captured', 'released', 'expired')),
    counterparty  text NOT NULL CHECK (char_length(counterparty) BETWEEN 1 AND 100),
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    closed_at     timestamptz,
    -- Never capture or release more than was reserved.
    CONSTRAINT holds_within_amount CHECK (captured + released <= amount),
    -- A hold is open exactly while part of it is still reserved.
    CONSTRAINT holds_status_matches_remaining CHECK ((status = 'open') = (captured + released < amount)),
    CONSTRAINT holds_closed_at_when_closed CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX holds_wallet_open ON holds (wallet_id) WHERE status = 'open';
CREATE INDEX holds_expiry ON holds (expires_at) WHERE status = 'open';

-- Every change to a wallet's balance or held amount, append-only, with the figures after it.
CREATE TABLE ledger_entries (
    id              uuid PRIMARY KEY,
    -- Strict insertion order for history cursors (uuid v7 is only millisecond-ordered).
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    wallet_id       uuid NOT NULL REFERENCES wallets (id),
    kind            text NOT NULL
                    CHECK (kind IN ('credit', 'debit', 'hold', 'capture', 'release', 'expiry', 'correction')),
    amount          bigint NOT NULL CHECK (amount > 0),
    balance_change  bigint NOT NULL,
    held_change     bigint NOT NULL,
    balance_after   bigint NOT NULL CHECK (balance_after >= 0),
    held_after      bigint NOT NULL CHECK (held_after >= 0),
    counterparty    text NOT NULL CHECK (char_length(counterparty) BETWEEN 1 AND 100),
    reference       text NOT NULL CHECK (char_length(reference) BETWEEN 1 AND 200),
    hold_id         uuid REFERENCES holds (id),
    reason          text CHECK (char_length(reason) BETWEEN 1 AND 500),
    actor           text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL,
    -- G3: a reference applies at most once per wallet.
    CONSTRAINT ledger_entries_reference_once UNIQUE (wallet_id, reference),
    CONSTRAINT ledger_entries_held_within_balance CHECK (held_after <= balance_after),
    -- Each kind moves balance and held in exactly one way.
    CONSTRAINT ledger_entries_kind_shape CHECK (
        (kind = 'credit'     AND balance_change = amount  AND held_change = 0       AND hold_id IS NULL)
     OR (kind = 'debit'      AND balance_change = -amount AND held_change = 0       AND hold_id IS NULL)
     OR (kind = 'hold'       AND balance_change = 0       AND held_change = amount  AND hold_id IS NOT NULL)
     OR (kind = 'capture'    AND balance_change = -amount AND held_change = -amount AND hold_id IS NOT NULL)
     OR (kind IN ('release', 'expiry')
                             AND balance_change = 0       AND held_change = -amount AND hold_id IS NOT NULL)
     OR (kind = 'correction' AND abs(balance_change) = amount AND held_change = 0
                             AND hold_id IS NULL AND reason IS NOT NULL)
    )
);
CREATE INDEX ledger_entries_history ON ledger_entries (wallet_id, seq DESC);
CREATE INDEX ledger_entries_history_by_kind ON ledger_entries (wallet_id, kind, seq DESC);
CREATE INDEX ledger_entries_hold ON ledger_entries (hold_id) WHERE hold_id IS NOT NULL;

-- G4: entries and the freeze audit trail are append-only, whoever connects.
CREATE FUNCTION refuse_modification() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER wallet_freeze_events_append_only
    BEFORE UPDATE OR DELETE ON wallet_freeze_events
    FOR EACH ROW EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER wallet_freeze_events_no_truncate
    BEFORE TRUNCATE ON wallet_freeze_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_modification();
