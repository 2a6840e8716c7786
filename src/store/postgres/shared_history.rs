//! Flood timers and campaign sightings in the shared database, so every frontend applies
//! them alike. The tables are unlogged: writing them waits for no WAL flush and no standby,
//! and like the in-memory history of one process they start empty after a crash or a
//! failover. Times are the database's clock, the one clock all frontends share.
//!
//! Cost: flood timers are started for a whole group of submissions at once — whatever arrived
//! while the previous group's statement ran, as the committer groups inserts — in one
//! statement (an upsert over every key of the group, in key order so two frontends' groups
//! lock rows in the same order), plus one read of the remaining waits when some were refused.
//! With campaigns on and a substantive text, two statements per submission (the lookup of its
//! band keys, then one statement of three upserts and a count). Each is one round trip on a
//! pooled connection.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::errors::{db_error, pool_error};
use crate::near_duplicate::{MIN_SIMILARITY, Signature, band_keys, digest, similarity};
use crate::store::{HistorySettings, StoreError, SubmissionHistory};

/// The database's clock in milliseconds, as SQL.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Flood and campaign state shared by the frontends of one database.
#[derive(Debug)]
pub(super) struct SharedHistory {
    pool: Pool,
    settings: HistorySettings,
    /// Flood-timer requests, for the task that starts them in groups.
    floods: mpsc::Sender<FloodRequest>,
}

impl SharedHistory {
    /// The shared history; spawns the task that starts flood timers in groups (it ends when
    /// this is dropped).
    pub(super) fn new(pool: Pool, settings: HistorySettings) -> Self {
        let (floods, requests) = mpsc::channel(FLOOD_QUEUE);
        tokio::spawn(start_flood_timers(
            pool.clone(),
            settings.flood_interval,
            requests,
        ));
        Self {
            pool,
            settings,
            floods,
        }
    }
}

/// Requests waiting for the flood task at most.
const FLOOD_QUEUE: usize = 4096;
/// Most requests one flood statement takes.
const FLOOD_GROUP: usize = 512;

/// Whether an author may comment now, and how long they wait if not.
type FloodOutcome = Result<Result<(), Duration>, StoreError>;

/// One submission's flood keys, waiting for their group.
#[derive(Debug)]
struct FloodRequest {
    keys: Vec<Vec<u8>>,
    reply: oneshot::Sender<FloodOutcome>,
}

/// Starts flood timers in groups until every sender is gone: takes one request, then every
/// other one already waiting, and answers them all from one statement.
async fn start_flood_timers(
    pool: Pool,
    interval: Duration,
    mut requests: mpsc::Receiver<FloodRequest>,
) {
    while let Some(first) = requests.recv().await {
        let mut group = vec![first];
        while group.len() < FLOOD_GROUP {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let keys: Vec<&[Vec<u8>]> = group.iter().map(|r| r.keys.as_slice()).collect();
        match start_group(&pool, interval, &keys).await {
            Ok(outcomes) => {
                for (request, outcome) in group.into_iter().zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                for request in group {
                    let _ = request.reply.send(Err(e.duplicate()));
                }
            }
        }
    }
}

/// Starts the timers of a group of submissions (each its keys, sorted): a submission whose
/// key is also an earlier one's in the group waits a whole interval; for the others, each
/// key's timer starts unless one of its submission's timers is still running, the upsert's
/// row lock making two frontends' attempts for one key take turns.
async fn start_group(
    pool: &Pool,
    interval: Duration,
    group: &[&[Vec<u8>]],
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
        for key in *request {
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

/// The flood keys of an author, sorted so two transactions lock them in the same order.
fn flood_keys(email_hash: [u8; 32], ip: Option<IpAddr>) -> Vec<Vec<u8>> {
    let mut keys = vec![[&b"e"[..], &email_hash].concat()];
    match ip {
        Some(IpAddr::V4(v4)) => keys.push([&b"4"[..], &v4.octets()].concat()),
        Some(IpAddr::V6(v6)) => keys.push([&b"6"[..], &v6.octets()].concat()),
        None => {}
    }
    keys.sort();
    keys
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl SubmissionHistory for SharedHistory {
    async fn start_flood_timer(
        &self,
        email_hash: [u8; 32],
        ip: Option<IpAddr>,
    ) -> Result<Result<(), Duration>, StoreError> {
        if self.settings.flood_interval.is_zero() {
            return Ok(Ok(()));
        }
        let (reply, answer) = oneshot::channel();
        let request = FloodRequest {
            keys: flood_keys(email_hash, ip),
            reply,
        };
        if self.floods.send(request).await.is_err() {
            return Err(StoreError::Closed);
        }
        answer.await.unwrap_or(Err(StoreError::Closed))
    }

    async fn cancel_flood_timer(&self, email_hash: [u8; 32], ip: Option<IpAddr>) {
        if self.settings.flood_interval.is_zero() {
            return;
        }
        let keys = flood_keys(email_hash, ip);
        let cancelled = match self.pool.get().await {
            Ok(client) => client
                .execute("DELETE FROM flood WHERE key = ANY($1)", &[&keys])
                .await
                .map(|_| ())
                .map_err(db_error),
            Err(e) => Err(pool_error(e)),
        };
        if let Err(e) = cancelled {
            // The timer runs out by itself; the author waits one interval more.
            tracing::warn!(cause = %e, "cannot cancel a flood timer");
        }
    }

    async fn observe_campaign(
        &self,
        sig: &Signature,
        email_hash: [u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        let min_authors = self.settings.campaign_min_authors;
        if min_authors == 0 {
            return Ok(None);
        }
        let sig = *sig;
        let window = self.settings.campaign_window;
        let client = self.pool.get().await.map_err(pool_error)?;
        let campaign = match self.similar_campaign(&client, &sig).await? {
            Some(id) => id,
            None => digest(&sig) as i64,
        };
        let (bands, keys) = band_columns(&sig);
        // One statement: the campaign and its band keys when new (nothing is locked when
        // they exist: a wave of copies does not queue on one row), this author's sighting,
        // and up to `min_authors - 1` other authors seen within the window (sliding; the
        // sweeper drops campaigns whose window has passed).
        let others: i64 = client
            .query_one(
                &format!(
                    "WITH campaign AS ( \
                       INSERT INTO campaigns VALUES ($1, {NOW_MS}, $2) ON CONFLICT (id) DO NOTHING), \
                     bands AS ( \
                       INSERT INTO campaign_bands SELECT b, k, $1 FROM unnest($4::int2[], $5::int8[]) AS t(b, k) \
                       ON CONFLICT (band, band_key) DO NOTHING), \
                     sighting AS ( \
                       INSERT INTO campaign_authors VALUES ($1, $6, {NOW_MS}) \
                       ON CONFLICT (campaign, email_hash) DO UPDATE SET at_ms = EXCLUDED.at_ms) \
                     SELECT count(*) FROM (SELECT 1 FROM campaign_authors \
                       WHERE campaign = $1 AND email_hash <> $6 AND at_ms > {NOW_MS} - $3 LIMIT $7) AS others"
                ),
                &[
                    &campaign,
                    &encode(&sig),
                    &millis(window),
                    &bands,
                    &keys,
                    &&email_hash[..],
                    &i64::try_from(min_authors).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(db_error)?
            .get(0);
        let authors = usize::try_from(others)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        Ok((authors >= min_authors).then_some(campaign as u64))
    }
}

impl SharedHistory {
    /// A campaign within the window whose first text is a near-copy of `sig`, found through
    /// the band keys they share.
    async fn similar_campaign(
        &self,
        client: &deadpool_postgres::Object,
        sig: &Signature,
    ) -> Result<Option<i64>, StoreError> {
        let (bands, keys) = band_columns(sig);
        let rows = client
            .query(
                &format!(
                    "SELECT DISTINCT c.id, c.signature FROM campaign_bands b \
                     JOIN unnest($1::int2[], $2::int8[]) AS t(band, band_key) \
                       ON b.band = t.band AND b.band_key = t.band_key \
                     JOIN campaigns c ON c.id = b.campaign \
                     WHERE c.first_ms > {NOW_MS} - $3"
                ),
                &[&bands, &keys, &millis(self.settings.campaign_window)],
            )
            .await
            .map_err(db_error)?;
        Ok(rows.iter().find_map(|row| {
            let stored = decode(row.get(1))?;
            (similarity(&stored, sig) >= MIN_SIMILARITY).then(|| row.get(0))
        }))
    }
}

fn band_columns(sig: &Signature) -> (Vec<i16>, Vec<i64>) {
    band_keys(sig)
        .map(|(band, key)| (i16::from(band), key as i64))
        .unzip()
}

fn encode(sig: &Signature) -> Vec<u8> {
    sig.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Option<Signature> {
    let mut sig: Signature = [0; crate::near_duplicate::MINHASHES];
    if bytes.len() != sig.len() * 8 {
        return None;
    }
    for (slot, chunk) in sig.iter_mut().zip(bytes.chunks_exact(8)) {
        *slot = u64::from_be_bytes(chunk.try_into().ok()?);
    }
    Some(sig)
}

/// How often stale flood timers and campaigns are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Sweeps every [`SWEEP_EVERY`] until the pool is closed.
pub(super) fn spawn_sweeper(pool: Pool, window: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_EVERY);
        ticks.tick().await;
        while !pool.is_closed() {
            ticks.tick().await;
            if let Err(e) = sweep(&pool, window).await {
                tracing::debug!(cause = %e, "flood and campaign sweep skipped");
            }
        }
    });
}

/// Drops flood timers that ran out and campaigns older than `window`, so the tables stay
/// the size of the recent traffic. Any frontend may run it; it is idempotent.
///
/// # Errors
/// When the database cannot be reached.
pub(super) async fn sweep(pool: &Pool, window: Duration) -> Result<(), StoreError> {
    let client = pool.get().await.map_err(pool_error)?;
    client
        .batch_execute(&format!(
            "DELETE FROM flood WHERE until_ms < {NOW_MS}; \
             DELETE FROM campaign_authors WHERE at_ms < {NOW_MS} - {window}; \
             DELETE FROM campaign_bands b WHERE NOT EXISTS \
               (SELECT 1 FROM campaigns c WHERE c.id = b.campaign AND c.first_ms >= {NOW_MS} - {window}); \
             DELETE FROM campaigns WHERE first_ms < {NOW_MS} - {window};",
            window = millis(window)
        ))
        .await
        .map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::near_duplicate::{SHINGLE, signature};

    #[test]
    fn signatures_round_trip_and_flood_keys_are_ordered() {
        let sig = signature("some text that is long enough", SHINGLE);
        assert_eq!(decode(&encode(&sig)), Some(sig));
        assert_eq!(decode(&[1, 2, 3]), None);
        let keys = flood_keys([9; 32], Some("192.0.2.1".parse().unwrap()));
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(keys.len(), 2);
    }
}
