DROP TABLE customer_requests;
DROP TABLE top_ups;
