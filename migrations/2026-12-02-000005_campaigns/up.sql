-- Campaigns: a brand's message to a list of recipients, paid for from a wallet hold.
--
-- Money: starting (or resuming) a campaign reserves recipients x cost_per_message as a ledger
-- hold (campaign_holds links every hold a campaign placed). Each dispatched batch captures the
-- cost of the messages Twilio accepted; what is left is released when the campaign completes,
-- pauses or is canceled. A recipient's `charged` says what it cost; sum(charged) equals what the
-- campaign's holds captured, plus debits and minus refunds of resolved unconfirmed recipients.
--
-- Sending: a worker claims pending recipients (`sending`, with a batch and a lease), calls
-- Twilio with no transaction open, then settles them as `sent` or `failed`. A recipient whose
-- lease ran out while `sending` may or may not have reached Twilio: it becomes `unconfirmed`
-- (charged, never resent) until a person resolves it.

-- A campaign's brand must be of the campaign's organization (composite foreign key below).
ALTER TABLE brands ADD CONSTRAINT brands_id_organization UNIQUE (id, organization_id);

CREATE TABLE campaigns (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    brand_id            uuid NOT NULL,
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200
                                             AND name !~ '[[:cntrl:]]'),
    body                text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 1600),
    sender_kind         text NOT NULL CHECK (sender_kind IN ('from', 'messaging_service')),
    sender              text NOT NULL CHECK (char_length(sender) BETWEEN 1 AND 64
                                             AND sender !~ '[[:cntrl:][:space:]]'),
    currency            char(3) NOT NULL,
    price_per_segment   bigint NOT NULL CHECK (price_per_segment > 0),
    encoding            text NOT NULL CHECK (encoding IN ('gsm7', 'ucs2')),
    segments            integer NOT NULL CHECK (segments BETWEEN 1 AND 100),
    cost_per_message    bigint NOT NULL,
    status              text NOT NULL CHECK (status IN ('draft', 'running', 'paused',
                                                        'completed', 'canceled')),
    pause_reason        text CHECK (pause_reason IN ('subscription_inactive', 'wallet_frozen',
                                                     'insufficient_funds', 'messaging_suspended',
                                                     'manual')),
    -- The Idempotency-Key of the start request.
    start_key           text CHECK (char_length(start_key) BETWEEN 1 AND 200),
    -- The open hold paying for the campaign, if any; holds placed so far (their references).
    hold_id             uuid REFERENCES holds (id),
    hold_seq            integer NOT NULL DEFAULT 0 CHECK (hold_seq >= 0),
    -- No batch is claimed before this (a pause after a Twilio answer that may mean trouble).
    dispatch_after      timestamptz,
    -- Every pending recipient's id is above this: claims start here instead of walking the
    -- index entries of recipients already sent (dead until vacuumed).
    claim_after         bigint NOT NULL DEFAULT 0 CHECK (claim_after >= 0),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    started_at          timestamptz,
    finished_at         timestamptz,
    CONSTRAINT campaigns_brand_of_organization FOREIGN KEY (brand_id, organization_id)
        REFERENCES brands (id, organization_id),
    CONSTRAINT campaigns_cost CHECK (cost_per_message = price_per_segment * segments),
    CONSTRAINT campaigns_pause_reason CHECK ((status = 'paused') = (pause_reason IS NOT NULL)),
    -- Started exactly when it has a start key; only a draft, or a draft that was canceled,
    -- never started.
    CONSTRAINT campaigns_started CHECK ((started_at IS NULL) = (start_key IS NULL)
                                        AND (status <> 'draft' OR started_at IS NULL)
                                        AND (status IN ('draft', 'canceled')
                                             OR started_at IS NOT NULL)),
    CONSTRAINT campaigns_finished CHECK ((status IN ('completed', 'canceled'))
                                         = (finished_at IS NOT NULL)),
    -- Only a running campaign may still reserve money without a batch in flight; the
    -- dispatcher releases a paused or finished campaign's hold once its last batch settles.
    CONSTRAINT campaigns_draft_holds_nothing CHECK (status <> 'draft' OR hold_id IS NULL)
);
CREATE INDEX campaigns_organization ON campaigns (organization_id, created_at, id);
CREATE INDEX campaigns_running ON campaigns (id) WHERE status = 'running';
CREATE INDEX campaigns_paused ON campaigns (organization_id) WHERE status = 'paused';

-- Every hold a campaign placed, in order (one per start or resume).
CREATE TABLE campaign_holds (
    hold_id         uuid PRIMARY KEY REFERENCES holds (id),
    campaign_id     uuid NOT NULL REFERENCES campaigns (id),
    seq             integer NOT NULL CHECK (seq >= 1),
    created_at      timestamptz NOT NULL,
    CONSTRAINT campaign_holds_seq UNIQUE (campaign_id, seq)
);

-- One claim of recipients by one worker.
CREATE TABLE campaign_batches (
    id              uuid PRIMARY KEY,
    campaign_id     uuid NOT NULL REFERENCES campaigns (id),
    hold_id         uuid NOT NULL REFERENCES campaign_holds (hold_id),
    worker          text NOT NULL CHECK (char_length(worker) BETWEEN 1 AND 100),
    size            integer NOT NULL CHECK (size >= 1),
    claimed_at      timestamptz NOT NULL,
    lease_until     timestamptz NOT NULL CHECK (lease_until > claimed_at),
    settled_at      timestamptz,
    sent            integer NOT NULL DEFAULT 0 CHECK (sent >= 0),
    failed          integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    unconfirmed     integer NOT NULL DEFAULT 0 CHECK (unconfirmed >= 0),
    -- Claimed but never sent (the batch stopped early): back to pending.
    returned        integer NOT NULL DEFAULT 0 CHECK (returned >= 0),
    captured        bigint NOT NULL DEFAULT 0 CHECK (captured >= 0),
    CONSTRAINT campaign_batches_counts CHECK (sent + failed + unconfirmed + returned <= size)
);
CREATE INDEX campaign_batches_campaign ON campaign_batches (campaign_id, claimed_at);

CREATE TABLE campaign_recipients (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id         uuid NOT NULL REFERENCES campaigns (id),
    -- E.164: '+', then 7 to 15 digits, the first not 0.
    phone               text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    status              text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sending', 'sent', 'failed',
                                              'unconfirmed', 'canceled')),
    batch_id            uuid REFERENCES campaign_batches (id),
    claimed_until       timestamptz,
    -- Twilio calls made for this recipient (each one that certainly never reached Twilio
    -- puts it back to pending).
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    charged             bigint NOT NULL DEFAULT 0 CHECK (charged >= 0),
    twilio_sid          text CHECK (twilio_sid ~ '^[A-Z]{2}[0-9a-fA-F]{32}$'),
    twilio_status       text CHECK (char_length(twilio_status) BETWEEN 1 AND 32),
    -- Twilio's own decimal text ("-0.00750"), kept beside `charged`, never used as money.
    twilio_price        text CHECK (char_length(twilio_price) BETWEEN 1 AND 32),
    twilio_price_unit   text CHECK (char_length(twilio_price_unit) BETWEEN 1 AND 8),
    error_code          integer,
    error               text CHECK (char_length(error) BETWEEN 1 AND 500),
    sent_at             timestamptz,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT campaign_recipients_phone UNIQUE (campaign_id, phone),
    CONSTRAINT campaign_recipients_claim CHECK ((status = 'sending') = (claimed_until IS NOT NULL)
                                                AND (status <> 'sending' OR batch_id IS NOT NULL)),
    -- Only a message that (maybe) went out costs anything.
    CONSTRAINT campaign_recipients_charge CHECK (status IN ('sent', 'unconfirmed') OR charged = 0),
    CONSTRAINT campaign_recipients_sent CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);
CREATE INDEX campaign_recipients_pending ON campaign_recipients (campaign_id, id)
    WHERE status = 'pending';
CREATE INDEX campaign_recipients_sending ON campaign_recipients (campaign_id, claimed_until)
    WHERE status = 'sending';
CREATE INDEX campaign_recipients_unconfirmed ON campaign_recipients (campaign_id, id)
    WHERE status = 'unconfirmed';
