//! Flood timers and campaign sightings in the shared database, so every frontend applies
//! them alike. The tables are unlogged: writing them waits for no WAL flush and no standby,
//! and like the in-memory history of one process they start empty after a crash or a
//! failover. Times are the database's clock, the one clock all frontends share.
//!
//! Cost: flood timers are started for a whole group of submissions at once — whatever arrived
//! while the previous group's statement ran, as the committer groups inserts — in one
//! statement (an upsert over every key of the group, in key order so two frontends' groups
//! lock rows in the same order), plus one read of the remaining waits when some were refused
//! ([`super::floods`]).
//! Campaign sightings likewise, in two statements per group (the lookup of every text's band
//! keys, then one statement of three upserts and the counts: [`super::campaigns`]). Each is
//! one round trip on a pooled connection.

use std::net::IpAddr;
use std::time::Duration;

use deadpool_postgres::Pool;

use super::columns::{NOW_MS, millis};
use super::errors::{db_error, pool_error};
use super::{campaigns, floods, groups};
use crate::near_duplicate::Signature;
use crate::store::{HistorySettings, StoreError, SubmissionHistory};

/// Flood and campaign state shared by the frontends of one database.
#[derive(Debug)]
pub(super) struct SharedHistory {
    pool: Pool,
    settings: HistorySettings,
    /// Flood-timer requests, for the task that starts them in groups.
    floods: floods::FloodRequests,
    /// Campaign sightings, for the task that records them in groups.
    campaigns: campaigns::CampaignRequests,
}

impl SharedHistory {
    /// The shared history; spawns the tasks that start flood timers and record campaign
    /// sightings in groups (they end when this is dropped).
    pub(super) fn new(pool: Pool, settings: HistorySettings) -> Self {
        Self {
            floods: floods::spawn(pool.clone(), settings.flood_interval),
            campaigns: campaigns::spawn(pool.clone(), settings),
            pool,
            settings,
        }
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
        groups::ask(&self.floods, flood_keys(email_hash, ip)).await
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
        if self.settings.campaign_min_authors == 0 {
            return Ok(None);
        }
        groups::ask(&self.campaigns, (*sig, email_hash)).await
    }
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
    use super::super::columns::{decode, encode};
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
