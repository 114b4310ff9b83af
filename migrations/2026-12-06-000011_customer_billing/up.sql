-- Customer billing actions (docs/api.md, "Customer actions"): the idempotency record of every
-- action a customer (or an operator for them) takes through the api, and the wallet top-ups
-- started at a provider. The money of a top-up is credited only by the provider's verified
-- completion webhook (the intake), never here.

-- A top-up checkout started at a provider: what the customer was sent to pay. `open` until the
-- completion is recorded; the credit itself is the wallet's entry (counterparty
-- `topup:{provider}`), written by the intake.
CREATE TABLE top_ups (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    provider            text NOT NULL CHECK (provider IN ('paypal', 'stripe', 'payhere')),
    -- The provider's id of the checkout: Stripe's Checkout Session, PayPal's order, PayHere's
    -- signed order id (`TOPUP-...`).
    checkout_reference  text NOT NULL
                        CHECK (char_length(checkout_reference) BETWEEN 1 AND 255
                               AND checkout_reference ~ '^[[:graph:]]+$'),
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL CHECK (status IN ('open', 'completed')),
    -- The caller's key (unique per organization), as the request record has it too.
    idempotency_key     text NOT NULL
                        CHECK (char_length(idempotency_key) BETWEEN 1 AND 200
                               AND idempotency_key ~ '^[!-~]+$'),
    -- Where the customer pays, and the form to post there (PayHere): a replay answers them.
    approval_url        text NOT NULL CHECK (char_length(approval_url) BETWEEN 1 AND 4000),
    approval_form       jsonb CHECK (approval_form IS NULL OR jsonb_typeof(approval_form) = 'array'),
    -- When the checkout stops accepting payment, when the provider says.
    expires_at          timestamptz,
    created_at          timestamptz NOT NULL,
    completed_at        timestamptz,
    CONSTRAINT top_ups_checkout UNIQUE (provider, checkout_reference),
    CONSTRAINT top_ups_key UNIQUE (organization_id, idempotency_key),
    CONSTRAINT top_ups_completed_at_when_completed
        CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX top_ups_organization ON top_ups (organization_id, created_at DESC);

-- One row per (organization, Idempotency-Key): what the key was used for (a hash of the
-- parameters) and what was answered, so a retry is answered the same and the same key with
-- other parameters is refused. Written in the transaction that carries the action out, so a
-- refused or failed request leaves none.
CREATE TABLE customer_requests (
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    idempotency_key     text NOT NULL
                        CHECK (char_length(idempotency_key) BETWEEN 1 AND 200
                               AND idempotency_key ~ '^[!-~]+$'),
    kind                text NOT NULL CHECK (kind IN ('start_subscription', 'cancel',
                            'cancel_at_period_end', 'pause', 'resume', 'payment_method_link',
                            'top_up')),
    -- SHA-256 of the request's parameters.
    fingerprint         bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    subscription_id     uuid REFERENCES subscriptions (id),
    top_up_id           uuid REFERENCES top_ups (id),
    -- What was answered (approval URL and form, a link, whether anything changed). The key is
    -- claimed first in its transaction (so a concurrent retry waits for it) and this is
    -- written before the commit.
    response            jsonb NOT NULL CHECK (jsonb_typeof(response) = 'object'),
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (organization_id, idempotency_key),
    CONSTRAINT customer_requests_top_up_only_for_top_ups
        CHECK (top_up_id IS NULL OR kind = 'top_up')
);
