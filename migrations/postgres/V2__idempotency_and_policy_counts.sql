-- commentguard on PostgreSQL, schema 2.

-- The site's idempotency key of a stored submission (NULL without one): a key names at most
-- one comment, whichever frontend stores it, and goes when the comment goes.
ALTER TABLE comments ADD COLUMN idempotency_key TEXT UNIQUE;

-- The policy version that judged the comment (also inside the record), so GetStats counts
-- comments per version with one grouped scan. NULL until filled in from the record for rows
-- stored before schema 2 (done at start).
ALTER TABLE comments ADD COLUMN policy_version TEXT;
CREATE INDEX comments_by_policy_version ON comments (policy_version);
