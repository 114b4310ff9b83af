DROP TABLE access_block_events;
DROP TABLE access_blocks;
DROP TABLE subscription_transitions;
DROP TABLE subscription_events;
DROP TABLE subscriptions;
ALTER TABLE organizations DROP COLUMN billing_email;
