DROP INDEX subscriptions_provider_sync;
ALTER TABLE subscriptions
    DROP COLUMN last_sync_error,
    DROP COLUMN last_synced_at,
    DROP COLUMN sync_leased_until;
