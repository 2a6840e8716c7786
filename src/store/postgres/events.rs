//! The queue's event log on PostgreSQL (see [`crate::store::events`]). Sequence order must be
//! commit order across frontends, which an identity column alone does not give (a transaction
//! can take sequence 7 and commit after another took 8). So every transaction that appends
//! events first takes one transaction-scoped advisory lock, [`EVENTS_LOCK`], right before its
//! insert; it is held until commit. Transactions that append events thus commit one after
//! another from that point (the insert, the notification and the commit), and a reader never
//! sees sequence 8 without 7. Transactions that write no event (approved submissions, settings)
//! never take it.

use deadpool_postgres::{GenericClient, Transaction};

use super::columns::{ms_column, ms_param};
use super::errors::db_error;
use crate::store::events::QueueChange;
use crate::store::{EventPage, EventWindow, LoggedEvent, Result};

/// Advisory lock ordering the event log's commits.
pub const EVENTS_LOCK: i64 = 0x636f_6d6d_656e_7403;
/// The setting holding the newest pruned sequence (8 bytes, big-endian).
const PRUNED_THROUGH: &str = "queue_events.pruned_through";

const APPEND: &str = "INSERT INTO events (at_ms, comment_id, action, from_status, to_status) \
     SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int2[], $4::int2[], $5::int2[])";

/// Appends `events` in order, inside the transaction that makes the changes they record.
/// Call it last before the commit: the lock is held from here to the end of the transaction.
pub(super) async fn append(tx: &Transaction<'_>, events: &[QueueChange]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
        .await
        .map_err(db_error)?;
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

/// See [`crate::store::Storage::events_after`].
pub(super) async fn after(
    client: &impl GenericClient,
    after: Option<u64>,
    limit: usize,
) -> Result<EventPage> {
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
