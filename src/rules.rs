//! Site rules from configuration, in the spirit of WordPress's discussion settings: word and
//! fragment lists, bans, flood control, first-time authors, near-duplicate campaigns and
//! closed posts. Lists are compiled once; the trackers (flood, campaigns) live in memory.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::classifier::normalize::normalize;
use crate::comment::{Reason, Status, Submission};
use crate::privacy::EmailHasher;

/// Weight of a rule that decides SPAM on its own.
const DECISIVE: f32 = 1.0;
/// Weight of a rule that holds a comment for review.
const HOLD: f32 = 0.5;

/// The rule lists as configured (part of [`crate::Config`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleLists {
    /// Fragments (words, names, URLs, emails, IPs) that hold a comment (`moderation_keys`).
    pub moderation_keys: Vec<String>,
    /// Fragments that make a comment SPAM (`disallowed_keys`).
    pub disallowed_keys: Vec<String>,
    /// Email addresses whose comments are SPAM.
    pub banned_emails: Vec<String>,
    /// IP addresses or CIDR ranges whose comments are SPAM.
    pub banned_ips: Vec<String>,
    /// Posts that take no more comments.
    pub closed_posts: Vec<String>,
}

/// Why rule lists could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A `banned_ips` entry is neither an address nor a CIDR range.
    #[error("banned_ips entry {0:?} is not an IP address or CIDR range")]
    BadIp(String),
    /// The fragment lists are too large to compile.
    #[error("cannot compile {0}: {1}")]
    Pattern(&'static str, regex::Error),
}

/// An IP range: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.trim().parse().ok()?, Some(prefix.trim().parse().ok()?)),
            None => (text.trim().parse().ok()?, None),
        };
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self {
            network: addr,
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (!0u128 << (width - bits)) & (!0u128 >> (128 - width))
            }
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask(u32::from(self.prefix), 32);
                u128::from(u32::from(n)) & m == u128::from(u32::from(a)) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask(u32::from(self.prefix), 128);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

/// The compiled lists: what the policy checks each submission against.
#[derive(Debug)]
pub struct SiteRules {
    moderation: Option<Regex>,
    disallowed: Option<Regex>,
    banned_emails: HashSet<[u8; 32]>,
    banned_ips: Vec<Cidr>,
    closed_posts: HashSet<String>,
}

/// A case-insensitive alternation of the literal fragments, or `None` when there are none.
fn fragments(name: &'static str, keys: &[String]) -> Result<Option<Regex>, RuleError> {
    let alternatives: Vec<String> = keys
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(regex::escape)
        .collect();
    if alternatives.is_empty() {
        return Ok(None);
    }
    RegexBuilder::new(&alternatives.join("|"))
        .case_insensitive(true)
        .build()
        .map(Some)
        .map_err(|e| RuleError::Pattern(name, e))
}

impl SiteRules {
    /// Compiles the lists; banned emails are kept only as keyed hashes.
    ///
    /// # Errors
    /// When a banned IP entry does not parse or the fragment lists do not compile.
    pub fn compile(lists: &RuleLists, hasher: &EmailHasher) -> Result<Self, RuleError> {
        Ok(Self {
            moderation: fragments("moderation_keys", &lists.moderation_keys)?,
            disallowed: fragments("disallowed_keys", &lists.disallowed_keys)?,
            banned_emails: lists.banned_emails.iter().map(|e| hasher.hash(e)).collect(),
            banned_ips: lists
                .banned_ips
                .iter()
                .map(|t| Cidr::parse(t).ok_or_else(|| RuleError::BadIp(t.clone())))
                .collect::<Result<_, _>>()?,
            closed_posts: lists
                .closed_posts
                .iter()
                .map(|p| p.trim().to_owned())
                .collect(),
        })
    }

    /// Whether the post takes no more comments by the `closed_posts` list.
    pub fn is_closed(&self, post_id: &str) -> bool {
        self.closed_posts.contains(post_id)
    }

    /// The list rules that fire on a submission, as statuses with their reasons.
    pub fn check(&self, s: &Submission, email_hash: &[u8; 32]) -> Vec<(Status, Reason)> {
        let mut hits = Vec::new();
        let ip = s.context.ip.map(|ip| ip.to_string()).unwrap_or_default();
        let fields = [
            s.content.as_str(),
            s.author_name.as_str(),
            s.author_url.as_deref().unwrap_or(""),
            s.author_email.as_str(),
            ip.as_str(),
        ];
        let fires = |re: &Option<Regex>| {
            re.as_ref()
                .is_some_and(|re| fields.iter().any(|f| re.is_match(f)))
        };
        if fires(&self.disallowed) {
            hits.push((
                Status::Spam,
                Reason::new(
                    "disallowed_key",
                    "a field contains a disallowed word or fragment",
                    DECISIVE,
                ),
            ));
        }
        if self.banned_emails.contains(email_hash) {
            hits.push((
                Status::Spam,
                Reason::new("banned_email", "the author's email is banned", DECISIVE),
            ));
        }
        if s.context
            .ip
            .is_some_and(|ip| self.banned_ips.iter().any(|c| c.contains(ip)))
        {
            hits.push((
                Status::Spam,
                Reason::new(
                    "banned_ip",
                    "the author's IP is in a banned range",
                    DECISIVE,
                ),
            ));
        }
        if fires(&self.moderation) {
            hits.push((
                Status::Pending,
                Reason::new(
                    "moderation_key",
                    "a field contains a word or fragment that needs review",
                    HOLD,
                ),
            ));
        }
        hits
    }
}

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
    /// spacing, case, markup and counters do not tell copies apart.
    fn fingerprint(content: &str) -> [u8; 8] {
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
    pub fn observe(&self, content: &str, email_hash: [u8; 32]) -> Option<Reason> {
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
            Reason::new(
                "campaign",
                format!(
                    "campaign {}: the same text from {} or more authors within {}s",
                    hex::encode(fingerprint),
                    self.min_authors,
                    self.window.as_secs()
                ),
                HOLD,
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

    #[test]
    fn cidr_ranges_match_their_members_only() {
        let range = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(range.contains("203.0.113.77".parse().unwrap()));
        assert!(!range.contains("203.0.114.1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("203.0.113.1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("nope").is_none());
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
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
        let reason = campaigns.observe(text, [3; 32]).unwrap();
        assert_eq!(reason.code, "campaign");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(campaigns.observe(text, [4; 32]).is_none());
    }
}
