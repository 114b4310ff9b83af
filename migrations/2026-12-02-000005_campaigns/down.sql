DROP TABLE campaign_recipients;
DROP TABLE campaign_batches;
DROP TABLE campaign_holds;
DROP TABLE campaigns;
ALTER TABLE brands DROP CONSTRAINT brands_id_organization;
