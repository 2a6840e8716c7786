-- commentguard on PostgreSQL, schema 4.

-- Queue events are appended without a cluster-wide lock. A transaction that records events
-- inserts them here, with its transaction id; readers move into `events` (which numbers them)
-- the ones whose transaction is older than every transaction still running, in (xid, id)
-- order. Those can no longer be joined by an earlier one, so every frontend reads the same
-- log in the same order, each event once.
CREATE TABLE event_inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at_ms BIGINT NOT NULL,
    comment_id BYTEA NOT NULL,
    action SMALLINT NOT NULL,
    from_status SMALLINT NOT NULL,
    to_status SMALLINT NOT NULL
);
CREATE INDEX event_inbox_by_xid ON event_inbox (xid, id);
