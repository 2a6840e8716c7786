//! Flood timers and campaign sightings in the shared database, so every frontend applies
//! them alike. The tables are unlogged: writing them waits for no WAL flush and no standby,
//! and like the in-memory history of one process they start empty after a crash or a
//! failover. Times are the database's clock, the one clock all frontends share.
//!
//! Cost per stored submission: with flood control on, one statement (an upsert); with
//! campaigns on and a substantive text, two (the lookup of its band keys, then one statement
//! of three upserts and a count). Each is one round trip on a pooled connection.

use std::net::IpAddr;
use std::time::Duration;

use deadpool_postgres::Pool;

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
}

impl SharedHistory {
    pub(super) fn new(pool: Pool, settings: HistorySettings) -> Self {
        Self { pool, settings }
    }
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
        let keys = flood_keys(email_hash, ip);
        let client = self.pool.get().await.map_err(pool_error)?;
        // One statement: each key's timer starts unless one of the author's timers is still
        // running; the upsert's row lock makes two frontends' attempts for one key take
        // turns (the later one finds the timer running and starts nothing).
        let started = client
            .query(
                &format!(
                    "INSERT INTO flood (key, until_ms) SELECT k, {NOW_MS} + $2 FROM unnest($1::bytea[]) AS k \
                     WHERE NOT EXISTS (SELECT 1 FROM flood WHERE key = ANY($1) AND until_ms > {NOW_MS}) \
                     ON CONFLICT (key) DO UPDATE SET until_ms = EXCLUDED.until_ms \
                     WHERE flood.until_ms <= {NOW_MS} RETURNING key"
                ),
                &[&keys, &millis(self.settings.flood_interval)],
            )
            .await
            .map_err(db_error)?;
        if started.len() == keys.len() {
            return Ok(Ok(()));
        }
        let row = client
            .query_one(
                &format!("SELECT max(until_ms) - {NOW_MS} FROM flood WHERE key = ANY($1)"),
                &[&keys],
            )
            .await
            .map_err(db_error)?;
        let wait: Option<i64> = row.get(0);
        let wait = u64::try_from(wait.unwrap_or(0)).unwrap_or(0).max(1);
        Ok(Err(Duration::from_millis(wait)))
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
