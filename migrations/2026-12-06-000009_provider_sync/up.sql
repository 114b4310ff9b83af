-- Provider sync: a background job re-fetches from the provider the subscriptions whose state
-- could be stale (past due or suspended, pending for long, quiet for long) and applies any
-- difference as an event of source `sync`, so a lost webhook heals by itself. See
-- docs/subscriptions.md, "Provider sync".

ALTER TABLE subscriptions
    -- A sync has the subscription in hand (its provider being asked) until then: no other
    -- worker takes it meanwhile. Claimed under FOR UPDATE SKIP LOCKED on this very row, so a
    -- claim that raced sees the lease when it re-checks the row.
    ADD COLUMN sync_leased_until timestamptz,
    -- When the provider's view was last fetched and settled (in agreement, applied or held);
    -- a provider error that may pass leaves it as it was.
    ADD COLUMN last_synced_at timestamptz,
    -- Why the last sync left the subscription for a person (a contradiction it would not
    -- resolve, an id the provider does not know); NULL when it settled by itself.
    ADD COLUMN last_sync_error text CHECK (char_length(last_sync_error) <= 1000);

-- The sync job's query: live subscriptions bound to a provider, never synced first.
CREATE INDEX subscriptions_provider_sync ON subscriptions (last_synced_at NULLS FIRST, id)
    WHERE provider IS NOT NULL AND status NOT IN ('canceled', 'expired');
