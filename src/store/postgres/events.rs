//! The queue's event log on PostgreSQL (see [`crate::store::events`]). Its order must be one
//! every frontend agrees on, and no reader may see an event before one that will come before
//! it. An identity column alone does not give that (a transaction can take number 7 and
//! commit after another took 8), and serializing the writers (one lock held to commit) caps
//! the whole cluster. Instead, writers append to `event_inbox` with their transaction id
//! (`pg_current_xact_id()`), taking no lock, and readers *settle* the inbox before reading:
//! under a lock only readers take, they move into `events` (whose identity column numbers
//! them) every inbox row whose transaction id is below the snapshot's `xmin` — older than
//! every transaction still running, so no transaction can add an event before it any more —
//! in (xid, id) order. The log's order is thus transaction-id order, the same for every
//! reader; an event waits in the inbox while a transaction older than its own runs anywhere
//! in the cluster (watchers also poll every second, so it is read within a second of that
//! transaction's end).

use deadpool_postgres::{GenericClient, Transaction};

use super::columns::{ms_column, ms_param};
use super::errors::db_error;
use crate::store::events::QueueChange;
use crate::store::{EventPage, EventWindow, LoggedEvent, Result};

/// Advisory lock taken by readers settling the inbox, one at a time (writers never take it).
pub const SETTLE_LOCK: i64 = 0x636f_6d6d_656e_7403;
/// The setting holding the newest pruned sequence (8 bytes, big-endian).
const PRUNED_THROUGH: &str = "queue_events.pruned_through";

const APPEND: &str = "INSERT INTO event_inbox (at_ms, comment_id, action, from_status, to_status) \
     SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int2[], $4::int2[], $5::int2[])";

/// Moves the settled inbox rows into the log, numbered in (xid, id) order.
const SETTLE: &str = "WITH settled AS (DELETE FROM event_inbox \
       WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) RETURNING *) \
     INSERT INTO events (at_ms, comment_id, action, from_status, to_status) \
     SELECT at_ms, comment_id, action, from_status, to_status FROM settled ORDER BY xid, id";

/// Appends `events` in order, inside the transaction that makes the changes they record (no
/// lock: readers order them once the transaction is over).
pub(super) async fn append(tx: &Transaction<'_>, events: &[QueueChange]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let at: Vec<i64> = events.iter().map(|e| ms_param(e.at_ms)).collect();
    let ids: Vec<Vec<u8>> = events
        .iter()
        .map(|e| super::columns::id_param(e.comment_id))
        .collect();
    let small = |f: fn(&QueueChange) -> u8| -> Vec<i16> {
        events.iter().map(|e| i16::from(f(e))).collect()
    };
    let statement = tx.prepare_cached(APPEND).await.map_err(db_error)?;
    tx.execute(
        &statement,
        &[
            &at,
            &ids,
            &small(QueueChange::action_byte),
            &small(QueueChange::from_byte),
            &small(|e| e.to as u8),
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Settles the inbox (see the module's documentation): one reader at a time, each seeing what
/// the one before it moved.
async fn settle(client: &mut deadpool_postgres::Object) -> Result<()> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETTLE_LOCK])
        .await
        .map_err(db_error)?;
    let statement = tx.prepare_cached(SETTLE).await.map_err(db_error)?;
    tx.execute(&statement, &[]).await.map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

/// See [`crate::store::Storage::events_after`]: the inbox is settled first.
pub(super) async fn after(
    client: &mut deadpool_postgres::Object,
    after: Option<u64>,
    limit: usize,
) -> Result<EventPage> {
    settle(client).await?;
    let client = &*client;
    let from = after.map_or(i64::MIN, ms_param);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT sequence, at_ms, comment_id, action, from_status, to_status FROM events \
             WHERE sequence > $1 ORDER BY sequence LIMIT $2",
            &[&from, &limit],
        )
        .await
        .map_err(db_error)?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let byte = |i: usize| u8::try_from(row.get::<_, i16>(i)).unwrap_or(u8::MAX);
        events.push(LoggedEvent {
            sequence: ms_column(row.get(0)),
            event: QueueChange::from_columns(
                row.get(2),
                ms_column(row.get(1)),
                byte(3),
                byte(4),
                byte(5),
            )?,
        });
    }
    let newest: Option<i64> = client
        .query_one("SELECT max(sequence) FROM events", &[])
        .await
        .map_err(db_error)?
        .get(0);
    Ok(EventPage {
        events,
        newest: newest.map(ms_column),
        pruned_through: pruned_through(client).await?,
    })
}

async fn pruned_through(client: &impl GenericClient) -> Result<Option<u64>> {
    let value = super::reads::setting(client, PRUNED_THROUGH).await?;
    Ok(value.and_then(|bytes| Some(u64::from_be_bytes(bytes.try_into().ok()?))))
}

/// Deletes the oldest events outside `window` (a prefix of the log, so everything after the
/// newest pruned sequence is still there) and records the newest pruned sequence.
pub(super) async fn prune(
    client: &mut deadpool_postgres::Object,
    window: EventWindow,
    now_ms: u64,
) -> Result<u64> {
    let tx = client.transaction().await.map_err(db_error)?;
    let boundary: Option<i64> = match window.keep_count {
        0 => Some(i64::MAX),
        n => tx
            .query_opt(
                "SELECT sequence FROM events ORDER BY sequence DESC OFFSET $1 LIMIT 1",
                &[&ms_param(n - 1)],
            )
            .await
            .map_err(db_error)?
            .map(|row| row.get(0)),
    };
    let Some(boundary) = boundary else {
        tx.rollback().await.map_err(db_error)?;
        return Ok(0);
    };
    let cutoff = ms_param(now_ms.saturating_sub(window.keep_ms));
    let row = tx
        .query_one(
            "WITH young AS (SELECT min(sequence) AS first FROM events WHERE at_ms >= $2), \
             gone AS (DELETE FROM events WHERE sequence < $1 \
               AND sequence < COALESCE((SELECT first FROM young), $1) RETURNING sequence) \
             SELECT count(*), max(sequence) FROM gone",
            &[&boundary, &cutoff],
        )
        .await
        .map_err(db_error)?;
    let (count, newest): (i64, Option<i64>) = (row.get(0), row.get(1));
    if let Some(newest) = newest {
        tx.execute(
            "INSERT INTO settings VALUES ($1, $2) ON CONFLICT (name) \
             DO UPDATE SET value = GREATEST(settings.value, EXCLUDED.value)",
            &[&PRUNED_THROUGH, &ms_column(newest).to_be_bytes().to_vec()],
        )
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(count.unsigned_abs())
}
