-- Twilio delivery reports and the automatic resolution of unconfirmed recipients
-- (docs/campaigns.md, "Delivery status" and "Resolving unconfirmed recipients").
--
-- delivery_*: the latest status Twilio reported for the recipient's message (the send's answer,
-- then the status callbacks, or a message lookup). It only moves forward
-- (queued < sending < sent < delivered | undelivered | failed, the last three final), so a late
-- or repeated report changes nothing. It says what happened to the message; `status` still says
-- what the recipient cost (a delivered or undelivered message is `sent`, charged).
--
-- unconfirmed_at: when the recipient became `unconfirmed` (its send may or may not have reached
-- Twilio). The lookup job asks Twilio's message list about it once it is old enough;
-- lookup_* is that job's bookkeeping: how often it asked, when it may ask again, whether it
-- stopped (the answer was ambiguous, or Twilio kept failing: a person decides) and why.

ALTER TABLE campaign_recipients
    ADD COLUMN delivery_status      text CHECK (delivery_status IN ('queued', 'sending', 'sent',
                                                                     'delivered', 'undelivered',
                                                                     'failed')),
    ADD COLUMN delivery_error_code  integer CHECK (delivery_error_code > 0),
    ADD COLUMN delivery_updated_at  timestamptz,
    ADD COLUMN unconfirmed_at       timestamptz,
    ADD COLUMN lookup_attempts      integer NOT NULL DEFAULT 0 CHECK (lookup_attempts >= 0),
    ADD COLUMN lookup_next_at       timestamptz,
    ADD COLUMN lookup_stopped       boolean NOT NULL DEFAULT false,
    ADD COLUMN lookup_note          text CHECK (char_length(lookup_note) BETWEEN 1 AND 500),
    ADD CONSTRAINT campaign_recipients_delivery
        CHECK ((delivery_status IS NULL) = (delivery_updated_at IS NULL)
               AND (delivery_error_code IS NULL OR delivery_status IS NOT NULL));

-- Recipients already unconfirmed became so when last updated.
UPDATE campaign_recipients SET unconfirmed_at = updated_at WHERE status = 'unconfirmed';

ALTER TABLE campaign_recipients
    ADD CONSTRAINT campaign_recipients_unconfirmed_since
        CHECK (status <> 'unconfirmed' OR unconfirmed_at IS NOT NULL);

-- The lookup job's queue: unconfirmed recipients it has not given up on, oldest first.
CREATE INDEX campaign_recipients_lookup ON campaign_recipients (unconfirmed_at)
    WHERE status = 'unconfirmed' AND NOT lookup_stopped;

-- A message found in Twilio's list must not already be another recipient's.
CREATE INDEX campaign_recipients_twilio_sid ON campaign_recipients (twilio_sid)
    WHERE twilio_sid IS NOT NULL;
