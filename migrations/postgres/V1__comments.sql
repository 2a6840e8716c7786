-- commentguard on PostgreSQL, schema 1. Ids are UUIDv7 bytes (they sort by creation time);
-- each comment's full record is the same versioned prost encoding the sled backend keeps,
-- and the columns beside it are what queries select and order by.

CREATE TABLE comments (
    id BYTEA PRIMARY KEY,
    post_id TEXT NOT NULL,
    status SMALLINT NOT NULL,
    email_hash BYTEA NOT NULL,
    -- Post, author and normalized content: two identical submissions store one comment,
    -- whichever frontend receives them. NULL for imported history that has no author or
    -- repeats itself (it is stored as it was, not judged).
    duplicate_digest BYTEA UNIQUE,
    created_at_ms BIGINT NOT NULL,
    -- The last decision, or the submission when none: retention counts from it.
    changed_at_ms BIGINT NOT NULL,
    record BYTEA NOT NULL
);
CREATE INDEX comments_by_post ON comments (post_id, status, id);
CREATE INDEX comments_by_status ON comments (status, id);
CREATE INDEX comments_by_author ON comments (email_hash);
CREATE INDEX comments_expiring ON comments (changed_at_ms) WHERE status >= 3;

CREATE TABLE author_stats (
    email_hash BYTEA PRIMARY KEY,
    submitted BIGINT NOT NULL,
    approved BIGINT NOT NULL,
    pending BIGINT NOT NULL,
    spam BIGINT NOT NULL
);

CREATE TABLE labels (
    comment_id BYTEA PRIMARY KEY,
    spam BOOLEAN NOT NULL,
    content TEXT NOT NULL,
    author_name TEXT NOT NULL,
    author_url TEXT NOT NULL
);

CREATE TABLE audit (
    sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    comment_id BYTEA NOT NULL,
    entry BYTEA NOT NULL
);
CREATE INDEX audit_by_time ON audit (at_ms, sequence);
CREATE INDEX audit_by_comment ON audit (comment_id, at_ms, sequence);

-- The queue's event log, which watchers resume from: held or spam submissions (action 0) and
-- moderator decisions. Every transaction that appends takes the events advisory lock right
-- before its insert, so sequence order is commit order across frontends. Pruned to a window
-- (the last 24 hours or 100,000 events, whichever keeps more).
CREATE TABLE events (
    sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    comment_id BYTEA NOT NULL,
    action SMALLINT NOT NULL,
    from_status SMALLINT NOT NULL,
    to_status SMALLINT NOT NULL
);
CREATE INDEX events_by_time ON events (at_ms);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Flood timers and campaign sightings: every frontend sees them. Unlogged (no WAL, so no
-- commit wait and no replication): like the in-memory trackers of a single process, they
-- start empty after a crash or a failover.
CREATE UNLOGGED TABLE flood (
    key BYTEA PRIMARY KEY,
    until_ms BIGINT NOT NULL
);

CREATE UNLOGGED TABLE campaigns (
    id BIGINT PRIMARY KEY,
    first_ms BIGINT NOT NULL,
    signature BYTEA NOT NULL
);

CREATE UNLOGGED TABLE campaign_bands (
    band SMALLINT NOT NULL,
    band_key BIGINT NOT NULL,
    campaign BIGINT NOT NULL,
    PRIMARY KEY (band, band_key)
);

CREATE UNLOGGED TABLE campaign_authors (
    campaign BIGINT NOT NULL,
    email_hash BYTEA NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (campaign, email_hash)
);
