//! In-memory state across submissions: flood control (one comment per author per interval)
//! and campaigns (near-copies of a substantive text from several authors). A restart forgets
//! both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::classifier::normalize::normalize;
use crate::comment::ReasonCode;
pub use crate::near_duplicate::{MIN_SIMILARITY, SHINGLE};
use crate::near_duplicate::{Signature, band_keys, digest, signature, similarity};

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

/// Campaigns: near-copies of one text with substance from several authors within a window.
///
/// - **Substance.** Only a text with a link or an email address, or with at least
///   [`MIN_DISTINCT_WORDS`] distinct words of three letters or more, can be part of a
///   campaign. "wow", "nice song", "Like" or "beautiful" from many viewers is a popular post,
///   not a campaign.
/// - **Near-duplicates.** Texts are compared by MinHash over character
///   [`SHINGLE`]-grams of the normalized text (links as `_url_`, numbers dropped), so a copy
///   that varies a word, a number or its link still joins the campaign of the first. A text
///   whose estimated Jaccard similarity with a campaign's first text reaches
///   [`MIN_SIMILARITY`] belongs to it (see [`crate::near_duplicate`]).
#[derive(Debug)]
pub struct Campaigns {
    window: Duration,
    min_authors: usize,
    state: Mutex<CampaignState>,
}

/// Distinct words of three letters or more a text without a link needs to count. Fewer is
/// what viewers of a popular post write alike ("Love this song, makes me wanna dance!").
pub const MIN_DISTINCT_WORDS: usize = 8;

#[derive(Debug)]
struct Sighting {
    first: Instant,
    authors: Vec<[u8; 32]>,
    signature: Signature,
}

#[derive(Debug)]
struct CampaignState {
    /// Campaigns by id (a digest of the first text's signature).
    campaigns: Swept<u64, Sighting>,
    /// `(band, band digest)` → campaign id.
    bands: HashMap<(u8, u64), u64>,
}

/// A comment as near-duplicates are judged: the normalized words (links as `_url_`, numbers
/// dropped), and whether it had a link or an email address.
pub fn matching_text(content: &str) -> (String, bool) {
    let normalized = normalize(content);
    let kept: Vec<&str> = normalized
        .text
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .collect();
    (kept.join(" "), normalized.links > 0)
}

/// The text as campaigns compare it, or `None` when it lacks substance.
pub fn substantive_text(content: &str) -> Option<String> {
    let (text, has_contact) = matching_text(content);
    let mut words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.starts_with('_') && w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
        .collect();
    words.sort_unstable();
    words.dedup();
    (has_contact || words.len() >= MIN_DISTINCT_WORDS).then_some(text)
}

impl Campaigns {
    /// A detector; `min_authors` of 0 turns it off.
    pub fn new(window: Duration, min_authors: usize) -> Self {
        Self {
            window,
            min_authors,
            state: Mutex::new(CampaignState {
                campaigns: Swept::new(),
                bands: HashMap::new(),
            }),
        }
    }

    /// Records a stored comment and says whether it belongs to a campaign, with the campaign's
    /// reason (naming its id).
    pub fn observe(&self, content: &str, email_hash: [u8; 32]) -> Option<Hit> {
        let sig = campaign_signature(content)?;
        let id = self.observe_signature(&sig, email_hash)?;
        Some(campaign_hit(id, self.min_authors, self.window))
    }

    /// Records a stored comment's signature and returns its campaign's id once the campaign
    /// has `min_authors` authors.
    pub fn observe_signature(&self, sig: &Signature, email_hash: [u8; 32]) -> Option<u64> {
        if self.min_authors == 0 {
            return None;
        }
        let sig = *sig;
        let now = Instant::now();
        let window = self.window;
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *guard;
        let before = state.campaigns.map.len();
        state
            .campaigns
            .sweep(|s| now.duration_since(s.first) < window);
        if state.campaigns.map.len() != before {
            let live = &state.campaigns.map;
            state.bands.retain(|_, id| live.contains_key(id));
        }
        let found = band_keys(&sig)
            .filter_map(|key| state.bands.get(&key).copied())
            .find(|id| {
                state
                    .campaigns
                    .map
                    .get(id)
                    .is_some_and(|c| similarity(&c.signature, &sig) >= MIN_SIMILARITY)
            });
        let id = found.unwrap_or_else(|| digest(&sig));
        let sighting = state.campaigns.map.entry(id).or_insert_with(|| Sighting {
            first: now,
            authors: Vec::new(),
            signature: sig,
        });
        if found.is_none() {
            for key in band_keys(&sig) {
                state.bands.entry(key).or_insert(id);
            }
        }
        if now.duration_since(sighting.first) >= window {
            sighting.first = now;
            sighting.authors.clear();
        }
        if !sighting.authors.contains(&email_hash) && sighting.authors.len() < self.min_authors {
            sighting.authors.push(email_hash);
        }
        (sighting.authors.len() >= self.min_authors).then_some(id)
    }
}

/// The signature campaigns compare, for a text substantive enough to count.
pub fn campaign_signature(content: &str) -> Option<Signature> {
    substantive_text(content).map(|text| signature(&text, SHINGLE))
}

/// The reason a comment of campaign `id` is held.
pub fn campaign_hit(id: u64, min_authors: usize, window: Duration) -> Hit {
    Hit::hold(
        ReasonCode::Campaign,
        format!(
            "campaign {}: the same text, give or take a word or link, from {} or more authors within {}s",
            hex::encode(id.to_be_bytes()),
            min_authors,
            window.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_varied_word_or_link_stays_similar_and_other_texts_do_not() {
        let sig = |t: &str| signature(&matching_text(t).0, SHINGLE);
        let a = sig("Check out my new channel for free gift cards http://a.example");
        let b = sig("check out my new channel for free gift codes https://b.example/x");
        let c = sig("The bridge at two minutes reminds me of their first album");
        assert!(
            similarity(&a, &b) >= MIN_SIMILARITY,
            "{}",
            similarity(&a, &b)
        );
        assert!(similarity(&a, &c) < 0.2, "{}", similarity(&a, &c));
    }

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
    async fn short_common_texts_are_never_a_campaign() {
        let campaigns = Campaigns::new(Duration::from_secs(3600), 3);
        for text in [
            "wow",
            "nice song",
            "Like",
            "beautiful",
            "I love this song so much",
        ] {
            for author in 0..10u8 {
                assert!(campaigns.observe(text, [author; 32]).is_none(), "{text}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn copies_varying_a_word_or_link_are_one_campaign() {
        let campaigns = Campaigns::new(Duration::from_secs(3600), 3);
        let texts = [
            "Check out my new channel for free gift cards every day http://a.example/x",
            "check out my new channel for free gift codes every day https://b.example/y",
            "Check out my NEW channel for free gift cards every single day http://c.example",
        ];
        assert!(campaigns.observe(texts[0], [1; 32]).is_none());
        assert!(campaigns.observe(texts[1], [2; 32]).is_none());
        let hit = campaigns.observe(texts[2], [3; 32]).unwrap();
        assert_eq!(hit.reason.code, ReasonCode::Campaign);
        // A link alone is substance: a bare link posted by three authors is a campaign too.
        for author in 10..12u8 {
            assert!(
                campaigns
                    .observe("http://x.example", [author; 32])
                    .is_none()
            );
        }
        assert!(campaigns.observe("www.y.example", [12; 32]).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn different_substantive_texts_are_not_one_campaign() {
        let campaigns = Campaigns::new(Duration::from_secs(3600), 3);
        let texts = [
            "The bridge at two minutes reminds me of their first album",
            "My brother played this at his wedding and everyone danced",
            "Still listening in the middle of winter, this never gets old",
            "Whoever edited the video deserves an award for the colours",
        ];
        for (i, text) in texts.iter().enumerate() {
            assert!(campaigns.observe(text, [i as u8; 32]).is_none(), "{text}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn campaigns_need_several_authors_within_the_window() {
        let campaigns = Campaigns::new(Duration::from_secs(60), 3);
        let text = "Visit cheap-pills dot example NOW for the best prices on earth";
        assert!(campaigns.observe(text, [1; 32]).is_none());
        assert!(campaigns.observe(text, [1; 32]).is_none());
        assert!(
            campaigns
                .observe(
                    "visit  cheap-pills dot example now 2 for the best prices on earth",
                    [2; 32]
                )
                .is_none()
        );
        let hit = campaigns.observe(text, [3; 32]).unwrap();
        assert_eq!(hit.reason.code, ReasonCode::Campaign);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(campaigns.observe(text, [4; 32]).is_none());
    }
}
