DROP INDEX campaign_batches_charge_due;
ALTER TABLE campaign_batches
    DROP CONSTRAINT campaign_batches_charge,
    DROP COLUMN charge_retry_at,
    DROP COLUMN charge_state,
    DROP COLUMN charge_due;
