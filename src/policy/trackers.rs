//! In-memory state across submissions: flood control (one comment per author per interval)
//! and campaigns (the same text from several authors). A restart forgets both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::classifier::normalize::normalize;
use crate::comment::ReasonCode;

use super::Hit;

/// Who a flood timer is about: an email hash or an IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FloodKey {
    Email([u8; 32]),
    Ip(IpAddr),
}

/// Flood control: one comment per email or IP per interval. Only stored comments start the
/// timer.
#[derive(Debug)]
pub struct Flood {
    interval: Duration,
    last: Mutex<Swept<FloodKey, Instant>>,
}

/// Entries kept before old ones are first swept out.
const SWEEP_AT: usize = 100_000;

/// A map of recent entries swept of expired ones when it reaches a size that then doubles
/// with what survived, so sweeping stays amortized O(1) per insert even when every entry is
/// still live (a burst of distinct authors within one interval).
#[derive(Debug)]
struct Swept<K, V> {
    map: HashMap<K, V>,
    sweep_at: usize,
}

impl<K: std::hash::Hash + Eq, V> Swept<K, V> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            sweep_at: SWEEP_AT,
        }
    }

    /// Drops entries `live` rejects, when the map has grown to its sweep size.
    fn sweep(&mut self, mut live: impl FnMut(&V) -> bool) {
        if self.map.len() < self.sweep_at {
            return;
        }
        self.map.retain(|_, v| live(v));
        self.map.shrink_to_fit();
        self.sweep_at = SWEEP_AT.max(self.map.len() * 2);
    }
}

impl Flood {
    /// A tracker with this interval; zero turns flood control off.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(Swept::new()),
        }
    }

    fn keys(email_hash: [u8; 32], ip: Option<IpAddr>) -> impl Iterator<Item = FloodKey> {
        std::iter::once(FloodKey::Email(email_hash)).chain(ip.map(FloodKey::Ip))
    }

    /// Starts the timer for this author, or says how long until they may comment again.
    ///
    /// # Errors
    /// The time left when the author commented less than the interval ago.
    pub fn try_start(&self, email_hash: [u8; 32], ip: Option<IpAddr>) -> Result<(), Duration> {
        if self.interval.is_zero() {
            return Ok(());
        }
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let wait = Self::keys(email_hash, ip)
            .filter_map(|k| last.map.get(&k))
            .map(|&at| (at + self.interval).saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        let interval = self.interval;
        last.sweep(|at| now.duration_since(*at) < interval);
        for key in Self::keys(email_hash, ip) {
            last.map.insert(key, now);
        }
        Ok(())
    }

    /// Cancels a timer started for a submission that was then not stored.
    pub fn cancel(&self, email_hash: [u8; 32], ip: Option<IpAddr>) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for key in Self::keys(email_hash, ip) {
            last.map.remove(&key);
        }
    }
}

/// Near-duplicate campaigns: the same normalized text from several authors within a window.
#[derive(Debug)]
pub struct Campaigns {
    window: Duration,
    min_authors: usize,
    seen: Mutex<Swept<[u8; 8], Sighting>>,
}

#[derive(Debug)]
struct Sighting {
    first: Instant,
    authors: Vec<[u8; 32]>,
}

impl Campaigns {
    /// A detector; `min_authors` of 0 turns it off.
    pub fn new(window: Duration, min_authors: usize) -> Self {
        Self {
            window,
            min_authors,
            seen: Mutex::new(Swept::new()),
        }
    }

    /// The text's fingerprint: a digest of its normalized words with numbers dropped, so
    /// spacing, case, markup and counters do not tell copies apart. A campaign is named by it.
    pub fn fingerprint(content: &str) -> [u8; 8] {
        let normalized = normalize(content);
        let mut digest = Sha256::new();
        for word in normalized.text.split_whitespace() {
            if word.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            digest.update(word.as_bytes());
            digest.update(b" ");
        }
        let full: [u8; 32] = digest.finalize().into();
        let mut short = [0; 8];
        short.copy_from_slice(&full[..8]);
        short
    }

    /// Records a stored comment and says whether it belongs to a campaign, with the campaign's
    /// reason (its id is the fingerprint).
    pub fn observe(&self, content: &str, email_hash: [u8; 32]) -> Option<Hit> {
        if self.min_authors == 0 {
            return None;
        }
        let fingerprint = Self::fingerprint(content);
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.window;
        seen.sweep(|s| now.duration_since(s.first) < window);
        let sighting = seen.map.entry(fingerprint).or_insert(Sighting {
            first: now,
            authors: Vec::new(),
        });
        if now.duration_since(sighting.first) >= self.window {
            *sighting = Sighting {
                first: now,
                authors: Vec::new(),
            };
        }
        if !sighting.authors.contains(&email_hash) && sighting.authors.len() < self.min_authors {
            sighting.authors.push(email_hash);
        }
        (sighting.authors.len() >= self.min_authors).then(|| {
            Hit::hold(
                ReasonCode::Campaign,
                format!(
                    "campaign {}: the same text from {} or more authors within {}s",
                    hex::encode(fingerprint),
                    self.min_authors,
                    self.window.as_secs()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_of_live_entries_is_not_swept_on_every_insert() {
        let mut swept = Swept::new();
        let mut sweeps = 0;
        for key in 0..SWEEP_AT * 3 {
            swept.sweep(|_: &()| {
                sweeps += 1;
                true
            });
            swept.map.insert(key, ());
        }
        // Swept at 100k (all live: next at 200k) and at 200k (next at 400k): the visits add
        // up to 300k, not one sweep of the whole map per insert past 100k.
        assert_eq!(sweeps, SWEEP_AT + 2 * SWEEP_AT);
        swept.sweep(|_| false);
        swept.map.insert(usize::MAX, ());
        assert_eq!(swept.map.len(), SWEEP_AT * 3 + 1, "not yet at 400k");
    }

    #[tokio::test(start_paused = true)]
    async fn flood_timer_counts_from_the_last_stored_comment() {
        let flood = Flood::new(Duration::from_secs(15));
        let ip = Some("192.0.2.1".parse().unwrap());
        assert!(flood.try_start([1; 32], ip).is_ok());
        let wait = flood.try_start([2; 32], ip).unwrap_err();
        assert_eq!(wait, Duration::from_secs(15));
        tokio::time::advance(Duration::from_secs(15)).await;
        assert!(flood.try_start([2; 32], ip).is_ok());
        flood.cancel([2; 32], ip);
        assert!(flood.try_start([2; 32], ip).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn campaigns_need_several_authors_within_the_window() {
        let campaigns = Campaigns::new(Duration::from_secs(60), 3);
        let text = "Visit cheap-pills dot example NOW";
        assert!(campaigns.observe(text, [1; 32]).is_none());
        assert!(campaigns.observe(text, [1; 32]).is_none());
        assert!(
            campaigns
                .observe("visit  cheap-pills dot example now 2", [2; 32])
                .is_none()
        );
        let hit = campaigns.observe(text, [3; 32]).unwrap();
        assert_eq!(hit.reason.code, ReasonCode::Campaign);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(campaigns.observe(text, [4; 32]).is_none());
    }
}
