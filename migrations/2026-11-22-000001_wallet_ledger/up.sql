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
    -- The sources currently freezing the wallet. Kept on the wallet row (not in a side table) so
    -- that a freeze changes the row every money movement locks: a transaction at any isolation
    -- level then either sees the freeze or fails to lock (G5).
    frozen_by        text[] NOT NULL DEFAULT '{}'
                     CHECK (frozen_by <@ ARRAY['billing', 'admin', 'risk']::text[]
                            AND cardinality(frozen_by) <= 3),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- G1: available = balance - held is never negative.
    CONSTRAINT wallets_held_within_balance CHECK (held <= balance)
);

-- The audit trail of freezes and unfreezes (append-only). The reason, actor and time of an
-- active freeze are those of the latest `freeze` event of its source.
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
    -- Lets entries reference (hold, wallet) pairs, so an entry can never move another wallet's hold.
    CONSTRAINT holds_id_wallet UNIQUE (id, wallet_id),
    CONSTRAINT holds_expire_after_creation CHECK (expires_at > created_at),
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
    -- Strict insertion order for history cursors (uuid v7 is only millisecond-ordered). The
    -- identity is unique by construction; an extra UNIQUE index would cost every insert.
    seq             bigint GENERATED ALWAYS AS IDENTITY,
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
    hold_id         uuid,
    reason          text CHECK (char_length(reason) BETWEEN 1 AND 500),
    actor           text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL,
    -- G3: a reference applies at most once per wallet.
    CONSTRAINT ledger_entries_reference_once UNIQUE (wallet_id, reference),
    CONSTRAINT ledger_entries_hold_of_same_wallet
        FOREIGN KEY (hold_id, wallet_id) REFERENCES holds (id, wallet_id),
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
-- A hold is reserved once and closed (released or expired) at most once.
CREATE UNIQUE INDEX ledger_entries_one_reservation_per_hold
    ON ledger_entries (hold_id) WHERE kind = 'hold';
CREATE UNIQUE INDEX ledger_entries_one_closing_per_hold
    ON ledger_entries (hold_id) WHERE kind IN ('release', 'expiry');

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

-- A hold only moves forward: what it reserved, for whom and until when never changes, captured and
-- released only grow, and a closed hold never reopens (reopening would let its money be spent twice).
CREATE FUNCTION holds_only_move_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.wallet_id <> OLD.wallet_id OR NEW.amount <> OLD.amount
       OR NEW.counterparty <> OLD.counterparty OR NEW.expires_at <> OLD.expires_at
       OR NEW.created_at <> OLD.created_at
       OR NEW.captured < OLD.captured OR NEW.released < OLD.released
       OR (OLD.status <> 'open' AND (NEW.status <> OLD.status OR NEW.closed_at IS DISTINCT FROM OLD.closed_at
                                     OR NEW.captured <> OLD.captured OR NEW.released <> OLD.released)) THEN
        RAISE EXCEPTION 'hold % may only move forward', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER holds_only_move_forward
    BEFORE UPDATE ON holds FOR EACH ROW EXECUTE FUNCTION holds_only_move_forward();
CREATE TRIGGER holds_never_deleted
    BEFORE DELETE ON holds FOR EACH ROW EXECUTE FUNCTION refuse_modification();

-- A wallet's owner and currency are fixed: changing the currency would silently re-denominate
-- every amount ever recorded.
CREATE FUNCTION wallets_identity_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.organization_id <> OLD.organization_id OR NEW.currency <> OLD.currency THEN
        RAISE EXCEPTION 'wallet % may not change owner or currency', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER wallets_identity_fixed
    BEFORE UPDATE ON wallets FOR EACH ROW EXECUTE FUNCTION wallets_identity_fixed();
CREATE TRIGGER wallets_never_deleted
    BEFORE DELETE ON wallets FOR EACH ROW EXECUTE FUNCTION refuse_modification();

-- G4 at commit: a wallet's figures are exactly those after its latest entry (zero before any).
-- Nothing can change a balance without an entry, and no entry can be written without the wallet
-- following it: a raw `UPDATE wallets SET balance = ...` fails at commit.
CREATE FUNCTION check_wallet_matches_latest_entry(target uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stored record;
    latest record;
BEGIN
    SELECT balance, held INTO stored FROM wallets WHERE id = target;
    SELECT balance_after, held_after INTO latest
        FROM ledger_entries WHERE wallet_id = target ORDER BY seq DESC LIMIT 1;
    IF stored.balance <> COALESCE(latest.balance_after, 0) OR stored.held <> COALESCE(latest.held_after, 0) THEN
        RAISE EXCEPTION 'wallet % figures (%, %) differ from its latest entry (%, %)', target,
            stored.balance, stored.held, COALESCE(latest.balance_after, 0), COALESCE(latest.held_after, 0)
            USING ERRCODE = 'check_violation';
    END IF;
END;
$$;
CREATE FUNCTION wallet_matches_latest_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_wallet_matches_latest_entry(NEW.id);
    RETURN NULL;
END;
$$;
CREATE FUNCTION entry_matches_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_wallet_matches_latest_entry(NEW.wallet_id);
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER wallets_match_latest_entry
    AFTER INSERT OR UPDATE OF balance, held ON wallets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallet_matches_latest_entry();
CREATE CONSTRAINT TRIGGER ledger_entries_match_wallet
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION entry_matches_wallet();
