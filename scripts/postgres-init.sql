-- Run once by the postgres image on its first start (docker-compose.yml), in the database
-- POSTGRES_DB (`ticket`). Each service owns its own database.
CREATE DATABASE escalation;
