-- The console's sessions: a person signed in in a browser, with an organization API key
-- (customer) or the admin token (operator). The cookie carries a random token; only its SHA-256
-- is stored, so a copy of this table signs nobody in.
CREATE TABLE console_sessions (
    token_hash       bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    kind             text NOT NULL CHECK (kind IN ('customer', 'operator')),
    -- A customer session acts as this key; revoking the key ends the session.
    api_key_id       uuid REFERENCES api_keys (id),
    organization_id  uuid REFERENCES organizations (id),
    -- An operator session: who signed in (recorded on every action) and a fingerprint of the
    -- admin token used, so replacing the token ends every operator session.
    operator         text CHECK (char_length(operator) BETWEEN 1 AND 64),
    credential_fingerprint bytea CHECK (octet_length(credential_fingerprint) = 32),
    -- Sent back in every form (synchronizer token); a post without it changes nothing.
    csrf_token       text NOT NULL CHECK (char_length(csrf_token) BETWEEN 32 AND 64),
    created_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    CHECK (
        (kind = 'customer' AND api_key_id IS NOT NULL AND organization_id IS NOT NULL
            AND operator IS NULL AND credential_fingerprint IS NULL)
        OR (kind = 'operator' AND api_key_id IS NULL AND organization_id IS NULL
            AND operator IS NOT NULL AND credential_fingerprint IS NOT NULL)
    ),
    CHECK (expires_at > created_at AND last_seen_at >= created_at)
);
-- Signed-out and expired sessions are deleted by age.
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- What operators did through the console (append-only): who, which action, on what, why, and
-- how the API answered (`ok`, or the problem's code).
CREATE TABLE operator_actions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    operator    text NOT NULL CHECK (char_length(operator) BETWEEN 1 AND 64),
    action      text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    target      text NOT NULL CHECK (char_length(target) BETWEEN 1 AND 200),
    reason      text CHECK (char_length(reason) BETWEEN 1 AND 500),
    outcome     text NOT NULL CHECK (char_length(outcome) BETWEEN 1 AND 64),
    detail      text CHECK (char_length(detail) <= 500)
);
CREATE INDEX operator_actions_at ON operator_actions (at DESC);
