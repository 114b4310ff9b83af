DROP TABLE ledger_entries;
DROP TABLE holds;
DROP TABLE wallet_freeze_events;
DROP TABLE wallet_freezes;
DROP TABLE wallets;
DROP TABLE api_keys;
DROP TABLE organizations;
DROP FUNCTION refuse_modification();
