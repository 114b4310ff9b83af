-- A batch's charge as a durable intent (docs/campaigns.md, "Money: the campaign's holds").
--
-- The settlement records the recipients' outcomes and what the batch costs in one transaction,
-- without calling the ledger; the settling worker books the charge right after that commit
-- through the ledger's batching writer, then records how it went here. A worker that dies in
-- between leaves the charge `due`, and recovery books it (the ledger reference
-- `campaign:{id}:batch:{batch}` makes every booking apply at most once).
--
-- charge_state: NULL = nothing to charge (or charged before this migration, inside the
--   settlement); 'due' = decided, not booked yet; then how it was booked: 'captured' (from the
--   batch's hold), 'debited' (the hold could not pay: a plain debit did), 'uncharged' (nothing
--   could pay; the recipients' `charged` were set to 0 and a person is alerted).
-- charge_due: what is due now (0 once booked); `captured` keeps meaning what was booked.
-- charge_retry_at: while due, when recovery may take the charge over (the settling worker books
--   it before then; a recovery that takes it moves this on, so two recoveries rarely overlap).
ALTER TABLE campaign_batches
    ADD COLUMN charge_due      bigint NOT NULL DEFAULT 0 CHECK (charge_due >= 0),
    ADD COLUMN charge_state    text CHECK (charge_state IN ('due', 'captured', 'debited',
                                                            'uncharged')),
    ADD COLUMN charge_retry_at timestamptz,
    ADD CONSTRAINT campaign_batches_charge
        CHECK ((charge_state IS NOT DISTINCT FROM 'due') = (charge_due > 0)
               AND (charge_state IS NOT DISTINCT FROM 'due') = (charge_retry_at IS NOT NULL)
               AND (charge_state IS NULL OR settled_at IS NOT NULL));

-- Due charges: per campaign (a hold is released only when none is due on it) and for recovery.
-- Rows are due for milliseconds, so the index stays tiny.
CREATE INDEX campaign_batches_charge_due ON campaign_batches (campaign_id, charge_retry_at)
    WHERE charge_state = 'due';
