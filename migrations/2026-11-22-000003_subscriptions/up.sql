-- Subscriptions: lifecycle state, the events applied to it, the transition history, and access
-- blocks per source. Organizations gain the address their billing notices go to.

ALTER TABLE organizations
    ADD COLUMN billing_email text
    CHECK (billing_email IS NULL
           OR (char_length(billing_email) BETWEEN 3 AND 254
               AND billing_email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$'));

CREATE TABLE subscriptions (
    id                        uuid PRIMARY KEY,
    organization_id           uuid NOT NULL REFERENCES organizations (id),
    plan                      text NOT NULL CHECK (plan ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    provider                  text CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
    provider_subscription_id  text CHECK (char_length(provider_subscription_id) BETWEEN 1 AND 200),
    status                    text NOT NULL CHECK (status IN ('pending', 'trialing', 'active',
                                  'past_due', 'paused', 'suspended', 'canceled', 'expired')),
    current_period_end        timestamptz,
    trial_end                 timestamptz,
    cancel_at_period_end      boolean NOT NULL DEFAULT false,
    -- The open dunning episode: its first failure and how many scheduled retries failed since.
    dunning_started_at        timestamptz,
    dunning_retries_failed    integer NOT NULL DEFAULT 0 CHECK (dunning_retries_failed >= 0),
    -- When the runner must look at this subscription next (derived from the state by code).
    next_action_at            timestamptz,
    -- A due action in hand (a retry in flight at the provider, say): no other runner takes it
    -- before this time. Cleared whenever the state changes.
    action_leased_until        timestamptz,
    -- The occurred-at time of the newest applied event; older ones are stale.
    last_event_at             timestamptz,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    CONSTRAINT subscriptions_provider_pair
        CHECK ((provider IS NULL) = (provider_subscription_id IS NULL)),
    CONSTRAINT subscriptions_retries_need_episode
        CHECK (dunning_started_at IS NOT NULL OR dunning_retries_failed = 0),
    CONSTRAINT subscriptions_past_due_has_episode
        CHECK (status <> 'past_due' OR dunning_started_at IS NOT NULL),
    CONSTRAINT subscriptions_episode_only_while_live
        CHECK (status IN ('active', 'trialing', 'past_due', 'paused') OR dunning_started_at IS NULL),
    CONSTRAINT subscriptions_ended_wait_for_nothing
        CHECK (status NOT IN ('canceled', 'expired') OR next_action_at IS NULL),
    UNIQUE (provider, provider_subscription_id)
);
-- At most one live subscription per organization; canceled and expired ones are history.
CREATE UNIQUE INDEX subscriptions_one_live_per_organization
    ON subscriptions (organization_id) WHERE status NOT IN ('canceled', 'expired');
CREATE INDEX subscriptions_organization ON subscriptions (organization_id, created_at);
-- The dunning runner's query: what is due now.
CREATE INDEX subscriptions_next_action ON subscriptions (next_action_at)
    WHERE next_action_at IS NOT NULL;

-- Every event offered to a subscription, applied or not, so a duplicate is recognised and the
-- reason an event changed nothing stays visible.
CREATE TABLE subscription_events (
    id               uuid PRIMARY KEY,
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
    source           text NOT NULL CHECK (source ~ '^[a-z][a-z0-9_]{0,31}$'),
    event_id         text NOT NULL CHECK (event_id ~ '^[[:print:]]{1,200}$'),
    kind             text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 50),
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('applied', 'ignored', 'stale')),
    detail           text CHECK (char_length(detail) <= 500),
    payload          jsonb NOT NULL,
    UNIQUE (source, event_id)
);
CREATE INDEX subscription_events_subscription
    ON subscription_events (subscription_id, received_at);

-- The transition history: from, to, the event, its effects, when, and from which source.
CREATE TABLE subscription_transitions (
    id               uuid PRIMARY KEY,
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
    event_row_id     uuid NOT NULL UNIQUE REFERENCES subscription_events (id),
    from_status      text CHECK (from_status IN ('pending', 'trialing', 'active',
                         'past_due', 'paused', 'suspended', 'canceled', 'expired')),
    to_status        text NOT NULL CHECK (to_status IN ('pending', 'trialing', 'active',
                         'past_due', 'paused', 'suspended', 'canceled', 'expired')),
    event_kind       text NOT NULL,
    source           text NOT NULL,
    effects          jsonb NOT NULL CHECK (jsonb_typeof(effects) = 'array'),
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL
);
CREATE INDEX subscription_transitions_subscription
    ON subscription_transitions (subscription_id, recorded_at);

-- Access blocks in force, one row per (organization, source): sources are OR'd and each lifts
-- only its own.
CREATE TABLE access_blocks (
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    source           text NOT NULL CHECK (source IN ('billing', 'admin', 'customer')),
    reason           text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    actor            text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (organization_id, source)
);

CREATE TABLE access_block_events (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    action           text NOT NULL CHECK (action IN ('block', 'unblock')),
    source           text NOT NULL CHECK (source IN ('billing', 'admin', 'customer')),
    reason           text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    actor            text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    created_at       timestamptz NOT NULL
);
CREATE INDEX access_block_events_organization
    ON access_block_events (organization_id, created_at);

-- History is evidence: never rewritten.
CREATE TRIGGER subscription_events_append_only
    BEFORE UPDATE OR DELETE ON subscription_events
    FOR EACH ROW EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER subscription_events_no_truncate
    BEFORE TRUNCATE ON subscription_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER subscription_transitions_append_only
    BEFORE UPDATE OR DELETE ON subscription_transitions
    FOR EACH ROW EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER subscription_transitions_no_truncate
    BEFORE TRUNCATE ON subscription_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER access_block_events_append_only
    BEFORE UPDATE OR DELETE ON access_block_events
    FOR EACH ROW EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER access_block_events_no_truncate
    BEFORE TRUNCATE ON access_block_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_modification();
CREATE TRIGGER subscriptions_never_deleted
    BEFORE DELETE ON subscriptions FOR EACH ROW EXECUTE FUNCTION refuse_modification();
