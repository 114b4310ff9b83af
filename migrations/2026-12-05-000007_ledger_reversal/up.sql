-- Reversals: money a payment provider took back (a refunded top-up, a chargeback, a lost
-- dispute). Like a debit it lowers the balance and touches no hold; unlike a debit the ledger
-- records it on a frozen wallet, taking at most what is available (docs/ledger.md).
--
-- The two kind constraints are replaced under their existing names: the column CHECK
-- (`ledger_entries_kind_check`, named by PostgreSQL in 000001) and `ledger_entries_kind_shape`.
-- One ALTER TABLE, so both are checked in a single scan of the table; every stored entry already
-- satisfies the old constraints, which the new ones only widen.
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_kind_check,
    ADD CONSTRAINT ledger_entries_kind_check
        CHECK (kind IN ('credit', 'debit', 'hold', 'capture', 'release', 'expiry', 'correction',
                        'reversal')),
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
     OR (kind = 'reversal'   AND balance_change = -amount AND held_change = 0       AND hold_id IS NULL)
    );
