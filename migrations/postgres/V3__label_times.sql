-- commentguard on PostgreSQL, schema 3.

-- When each label was given (milliseconds since the epoch), so a reset of the site model can
-- drop the labels given before it. Labels stored before schema 3 read 0: given before any reset.
ALTER TABLE labels ADD COLUMN decided_ms BIGINT NOT NULL DEFAULT 0;
