DROP TRIGGER ledger_entries_match_wallets ON ledger_entries;
DROP FUNCTION entries_match_wallets();

CREATE FUNCTION entry_matches_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_wallet_matches_latest_entry(NEW.wallet_id);
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER ledger_entries_match_wallet
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION entry_matches_wallet();
