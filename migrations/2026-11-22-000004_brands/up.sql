-- Brands: an organization's senders, each with its Twilio subaccount and the persisted state of
-- messaging suspension. `messaging_wish` is the latest wish; `messaging_status` is where Twilio
-- is known to be (or on its way to). The outbox applies the wish current at delivery time;
-- `messaging_wish_version` grows with every wish so each gets its own outbox message and a late
-- success of an older wish cannot overwrite a newer one.

CREATE TABLE brands (
    id                      uuid PRIMARY KEY,
    organization_id         uuid NOT NULL REFERENCES organizations (id),
    name                    text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200
                                                 AND name !~ '[[:cntrl:]]'),
    twilio_subaccount_sid   text NOT NULL UNIQUE CHECK (twilio_subaccount_sid ~ '^AC[0-9a-f]{32}$'),
    messaging_status        text NOT NULL DEFAULT 'active'
                                CHECK (messaging_status IN ('active', 'suspending', 'suspended',
                                                            'reactivating')),
    messaging_wish          text NOT NULL DEFAULT 'active'
                                CHECK (messaging_wish IN ('active', 'suspended')),
    messaging_wish_version  bigint NOT NULL DEFAULT 0 CHECK (messaging_wish_version >= 0),
    -- When the latest wish was decided (null: never); an older decision arriving late is ignored.
    messaging_wish_at       timestamptz,
    last_error              text CHECK (char_length(last_error) BETWEEN 1 AND 1000),
    last_error_at           timestamptz,
    updated_at              timestamptz NOT NULL,
    created_at              timestamptz NOT NULL,
    CONSTRAINT brands_error_pair CHECK ((last_error IS NULL) = (last_error_at IS NULL)),
    -- A status in transition heads toward the wish; a final status is either the wish or an
    -- older one whose change the outbox has not yet applied.
    CONSTRAINT brands_transition_follows_wish
        CHECK (messaging_status NOT IN ('suspending', 'reactivating')
               OR (messaging_status = 'suspending') = (messaging_wish = 'suspended'))
);
CREATE INDEX brands_organization ON brands (organization_id, created_at);
