-- G4 at commit, checked once per wallet instead of once per entry.
--
-- Until now every inserted entry queued its own deferred check of its wallet, so a transaction
-- writing a batch of entries to one wallet checked that wallet once per entry. Now:
--
-- * a wallet whose balance or held amount changes is still checked by its deferred row trigger
--   (`wallets_match_latest_entry`): once per wallet update, so once per wallet per transaction
--   when the writer updates each wallet once; a raw `UPDATE wallets SET balance` still fails at
--   commit;
-- * entries are checked per statement: at the end of each statement that inserts entries, every
--   wallet they belong to must already show the figures of its latest entry. The ledger updates
--   the wallet before (or in the same statement as) the entries, so this holds; an entry written
--   without its wallet following it fails its statement. Entries are append-only, so after that
--   statement only a wallet update can break the match again, and that is checked at commit.
DROP TRIGGER ledger_entries_match_wallet ON ledger_entries;
DROP FUNCTION entry_matches_wallet();

CREATE FUNCTION entries_match_wallets() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mismatch record;
BEGIN
    SELECT w.id, w.balance, w.held, latest.balance_after, latest.held_after INTO mismatch
        FROM (SELECT DISTINCT wallet_id FROM added) AS touched
        JOIN wallets AS w ON w.id = touched.wallet_id
        CROSS JOIN LATERAL (
            SELECT e.balance_after, e.held_after FROM ledger_entries AS e
             WHERE e.wallet_id = w.id ORDER BY e.seq DESC LIMIT 1
        ) AS latest
        WHERE (w.balance, w.held) IS DISTINCT FROM (latest.balance_after, latest.held_after)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'wallet % figures (%, %) differ from its latest entry (%, %)', mismatch.id,
            mismatch.balance, mismatch.held, mismatch.balance_after, mismatch.held_after
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_entries_match_wallets
    AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION entries_match_wallets();
