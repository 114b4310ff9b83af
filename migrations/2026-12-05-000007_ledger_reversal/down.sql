-- Restores the constraints of 000001. Refused (check violation) while reversal entries exist:
-- entries are append-only, and dropping recorded money movements is not a rollback.
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_kind_check,
    ADD CONSTRAINT ledger_entries_kind_check
        CHECK (kind IN ('credit', 'debit', 'hold', 'capture', 'release', 'expiry', 'correction')),
    DROP CONSTRAINT ledger_entries_kind_shape,
    -- Each kind moves balance and held in exactly one way.
    ADD CONSTRAINT ledger_entries_kind_shape CHECK (
        (kind = 'credit'     AND balance_change = amount  AND held_change = 0       AND hold_id IS NULL)
     OR (kind = 'debit'      AND balance_change = -amount AND held_change = 0       AND hold_id IS NULL)
     OR (kind = 'hold'       AND balance_change = 0       AND held_change = amount  AND hold_id IS NOT NULL)
     OR (kind = 'capture'    AND balance_change = -amount AND held_change = -amount AND hold_id IS NOT NULL)
     OR (kind IN ('release', 'expiry')
                             AND balance_change = 0       AND held_change = -amount AND hold_id IS NOT NULL)
     OR (kind = 'correction' AND abs(balance_change) = amount AND held_change = 0
                             AND hold_id IS NULL AND reason IS NOT NULL)
    );
