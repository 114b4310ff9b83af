DROP TABLE provider_payments;
DROP TABLE risk_cases;
DROP TABLE webhook_inbox;
