//! Flood timers started for a group of submissions at once: whatever arrived while the
//! previous group's statement ran, as the committer groups inserts (see
//! [`super::shared_history`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::mpsc;

use super::columns::{NOW_MS, millis};
use super::errors::{db_error, pool_error};
use super::groups::{self, Grouped, answer_in_groups};
use crate::store::StoreError;

/// Most requests one flood statement takes.
const FLOOD_GROUP: usize = 512;

/// Requests to start an author's timers (their flood keys, sorted): whether they may comment
/// now, and how long they wait if not.
pub(super) type FloodRequests = mpsc::Sender<Grouped<Vec<Vec<u8>>, Result<(), Duration>>>;

/// Starts flood timers in groups until every sender is gone, each group from one statement.
pub(super) fn spawn(pool: Pool, interval: Duration) -> FloodRequests {
    let (requests, waiting) = mpsc::channel(groups::QUEUE);
    tokio::spawn(answer_in_groups(waiting, FLOOD_GROUP, move |group| {
        let pool = pool.clone();
        async move { start_group(&pool, interval, &group).await }
    }));
    requests
}

/// Starts the timers of a group of submissions (each its keys, sorted): a submission whose
/// key is also an earlier one's in the group waits a whole interval; for the others, each
/// key's timer starts unless one of its submission's timers is still running, the upsert's
/// row lock making two frontends' attempts for one key take turns.
async fn start_group(
    pool: &Pool,
    interval: Duration,
    group: &[Vec<Vec<u8>>],
) -> Result<Vec<Result<(), Duration>>, StoreError> {
    let mut claimed: HashSet<&[u8]> = HashSet::new();
    let (mut index, mut keys) = (Vec::new(), Vec::new());
    let mut outcomes: Vec<Option<Result<(), Duration>>> = Vec::with_capacity(group.len());
    for (i, request) in group.iter().enumerate() {
        if request.iter().any(|k| claimed.contains(k.as_slice())) {
            outcomes.push(Some(Err(interval)));
            continue;
        }
        outcomes.push(None);
        for key in request {
            claimed.insert(key);
            index.push(i32::try_from(i).unwrap_or(i32::MAX));
            keys.push(key.clone());
        }
    }
    let client = pool.get().await.map_err(pool_error)?;
    let started: HashSet<Vec<u8>> = client
        .query(
            &format!(
                "WITH req AS (SELECT * FROM unnest($1::int4[], $2::bytea[]) AS r(i, k)), \
                 running AS (SELECT DISTINCT req.i FROM req JOIN flood f ON f.key = req.k \
                   AND f.until_ms > {NOW_MS}) \
                 INSERT INTO flood (key, until_ms) \
                 SELECT k, {NOW_MS} + $3 FROM req WHERE i NOT IN (SELECT i FROM running) ORDER BY k \
                 ON CONFLICT (key) DO UPDATE SET until_ms = EXCLUDED.until_ms \
                 WHERE flood.until_ms <= {NOW_MS} RETURNING key"
            ),
            &[&index, &keys, &millis(interval)],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let refused: Vec<&Vec<u8>> = keys.iter().filter(|k| !started.contains(*k)).collect();
    let waits: HashMap<Vec<u8>, i64> = if refused.is_empty() {
        HashMap::new()
    } else {
        client
            .query(
                &format!("SELECT key, until_ms - {NOW_MS} FROM flood WHERE key = ANY($1)"),
                &[&refused],
            )
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    };
    Ok(group
        .iter()
        .zip(outcomes)
        .map(|(request, decided)| {
            decided.unwrap_or_else(|| {
                if request.iter().all(|k| started.contains(k)) {
                    return Ok(());
                }
                let wait = request.iter().filter_map(|k| waits.get(k)).max().copied();
                let wait = u64::try_from(wait.unwrap_or(0)).unwrap_or(0).max(1);
                Err(Duration::from_millis(wait))
            })
        })
        .collect())
}
