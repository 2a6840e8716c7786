//! The domain types of a comment's life: what was submitted, the verdict, and what is stored.
//! They know nothing of protobuf; `api` converts at the edge.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a comment stands. The discriminants are part of the storage format (index keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Status {
    /// Published in the thread.
    Approved = 1,
    /// Held for a moderator.
    Pending = 2,
    /// Kept out of sight for review and retraining.
    Spam = 3,
    /// Removed by a moderator, restorable until purged.
    Trash = 4,
}

impl Status {
    /// Every status, in discriminant order.
    pub const ALL: [Status; 4] = [Self::Approved, Self::Pending, Self::Spam, Self::Trash];

    /// The status stored as `byte`, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == byte)
    }

    /// How severe a verdict is, so that the strictest rule wins: APPROVED < PENDING < SPAM.
    pub fn severity(self) -> u8 {
        match self {
            Self::Approved => 0,
            Self::Pending => 1,
            Self::Spam | Self::Trash => 2,
        }
    }

    /// The status's name as the proto enum spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::Pending => "PENDING",
            Self::Spam => "SPAM",
            Self::Trash => "TRASH",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of rule or score produced a reason. The one list of reason codes: policy raises
/// them, records store them by [`ReasonCode::stored_id`], and the API spells them with
/// [`ReasonCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// The spam probability reached a threshold.
    SpamScore,
    /// One feature's push on the score (an explanation, deciding nothing by itself).
    Classifier,
    /// The hidden form field was filled in.
    Honeypot,
    /// At least `max_links` links.
    TooManyLinks,
    /// An email address in the text.
    EmailInContent,
    /// The same text from several authors.
    Campaign,
    /// A banned email.
    BannedEmail,
    /// An IP in a banned range.
    BannedIp,
    /// A `disallowed_keys` fragment.
    DisallowedKey,
    /// A `moderation_keys` fragment.
    ModerationKey,
    /// No approved comment of this author yet.
    FirstTimeAuthor,
    /// The toxicity probability reached its threshold: held for a moderator (never SPAM).
    Toxic,
}

impl ReasonCode {
    /// Every code in stored order: a code is stored as its position + 1, so this list is
    /// append only.
    pub const ALL: [ReasonCode; 12] = [
        Self::SpamScore,
        Self::Classifier,
        Self::Honeypot,
        Self::TooManyLinks,
        Self::EmailInContent,
        Self::Campaign,
        Self::BannedEmail,
        Self::BannedIp,
        Self::DisallowedKey,
        Self::ModerationKey,
        Self::FirstTimeAuthor,
        Self::Toxic,
    ];

    /// What the code means to a moderator, in a few words (the console and the command line
    /// show this; clients keep [`ReasonCode::as_str`]).
    pub fn label(self) -> &'static str {
        match self {
            Self::SpamScore => "Spam score",
            Self::Classifier => "Word or feature weighed",
            Self::Honeypot => "Hidden field filled (a bot)",
            Self::TooManyLinks => "Too many links",
            Self::EmailInContent => "Email address in the text",
            Self::Campaign => "Same text from several authors",
            Self::BannedEmail => "Banned email",
            Self::BannedIp => "Banned IP range",
            Self::DisallowedKey => "Disallowed word",
            Self::ModerationKey => "Word held for review",
            Self::FirstTimeAuthor => "First comment by this author",
            Self::Toxic => "Likely abusive",
        }
    }

    /// The stable machine-readable code clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpamScore => "spam_score",
            Self::Classifier => "classifier",
            Self::Honeypot => "honeypot",
            Self::TooManyLinks => "too_many_links",
            Self::EmailInContent => "email_in_content",
            Self::Campaign => "campaign",
            Self::BannedEmail => "banned_email",
            Self::BannedIp => "banned_ip",
            Self::DisallowedKey => "disallowed_key",
            Self::ModerationKey => "moderation_key",
            Self::FirstTimeAuthor => "first_time_author",
            Self::Toxic => "toxic",
        }
    }

    /// The code spelled `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The number records store for this code (never 0, which means "none").
    pub fn stored_id(self) -> u32 {
        Self::ALL
            .iter()
            .position(|&c| c == self)
            .map_or(0, |i| i as u32 + 1)
    }

    /// The code stored as `id`, if any.
    pub fn from_stored_id(id: u32) -> Option<Self> {
        Self::ALL.get((id as usize).checked_sub(1)?).copied()
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason behind a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// What produced it.
    pub code: ReasonCode,
    /// Human-readable explanation.
    pub detail: String,
    /// Push toward spam (positive) or ham (negative).
    pub weight: f32,
}

impl Reason {
    /// A reason with the given code, detail and weight.
    pub fn new(code: ReasonCode, detail: impl Into<String>, weight: f32) -> Self {
        Self {
            code,
            detail: detail.into(),
            weight,
        }
    }

    /// The explanation that `feature` pushed the score by `weight` (log-odds).
    pub fn classifier(feature: &str, weight: f32) -> Self {
        Self::new(
            ReasonCode::Classifier,
            format!("{feature}{}", push_direction(weight)),
            weight,
        )
    }

    /// The feature a classifier reason names, when its detail is exactly what
    /// [`Reason::classifier`] makes of it; storage then keeps only the feature.
    pub fn classifier_feature(&self) -> Option<&str> {
        if self.code != ReasonCode::Classifier {
            return None;
        }
        self.detail.strip_suffix(push_direction(self.weight))
    }
}

fn push_direction(weight: f32) -> &'static str {
    if weight >= 0.0 {
        " pushes toward spam"
    } else {
        " pushes toward ham"
    }
}

/// The ground-truth class of a comment, from a dataset or a moderator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Unwanted: adverts, self-promotion, scams.
    Spam,
    /// Legitimate.
    Ham,
}

impl Label {
    /// True for [`Label::Spam`], the positive class of every metric.
    pub fn is_spam(self) -> bool {
        self == Label::Spam
    }
}

/// Facts about the HTTP request that carried the form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientContext {
    /// The commenter's IP address, when the site sent one.
    pub ip: Option<IpAddr>,
    /// The browser's User-Agent header.
    pub user_agent: String,
    /// The browser's Referer header.
    pub referrer: String,
    /// The hidden honeypot field's value; non-empty means a bot filled the form.
    pub honeypot: String,
}

/// A submission that passed validation: trimmed, within limits, well-formed.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// The post commented on.
    pub post_id: String,
    /// The post's title as the site sent it (moderators see it), if it sent one.
    pub post_title: Option<String>,
    /// The approved comment replied to, if any.
    pub parent_id: Option<CommentId>,
    /// Display name (public).
    pub author_name: String,
    /// Email address (private).
    pub author_email: String,
    /// Website (public), if given.
    pub author_url: Option<String>,
    /// The comment text, with CRLF line ends turned into LF.
    pub content: String,
    /// Request facts.
    pub context: ClientContext,
}

/// What the service decided about a submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The status the comment gets.
    pub status: Status,
    /// The classifier's spam probability.
    pub spam_score: f32,
    /// Why; deciding reasons first, then the classifier's explanation.
    pub reasons: Vec<Reason>,
    /// The toxicity model's probability that raters would call the text toxic (0 for
    /// comments stored before it was kept).
    pub toxicity: f32,
    /// Where the text is toxic, when the toxicity is at least 0.5.
    pub toxic_spans: Vec<ToxicSpan>,
}

/// A toxic range of a comment's text, in code points (as raters' spans and JavaScript's
/// `Array.from(text)` index it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToxicSpan {
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// `insult`, `identity_attack`, `profanity`, `threat`, `other`, or empty when unknown.
    pub kind: String,
}

/// A comment's id: a UUIDv7, so ids sort by creation time and index keys need no separate
/// timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommentId(uuid::Uuid);

impl CommentId {
    /// A fresh id for a comment created now.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The id as the 16 bytes used in storage keys.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id stored as `bytes`.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Uuid::from_bytes(bytes))
    }

    /// When the id was generated, in milliseconds since the Unix epoch (UUIDv7 carries it);
    /// 0 for an id of another UUID version.
    pub fn created_ms(&self) -> u64 {
        self.0.get_timestamp().map_or(0, |t| {
            let (seconds, nanos) = t.to_unix();
            seconds * 1000 + u64::from(nanos) / 1_000_000
        })
    }

    /// Parses the public string form; `None` when it is not a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::try_parse(text).ok().map(Self)
    }
}

impl std::fmt::Display for CommentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A comment as stored: the submission, its verdict and bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredComment {
    /// The comment's id.
    pub id: CommentId,
    /// When it was received, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// What was submitted.
    pub submission: Submission,
    /// The verdict it got.
    pub verdict: Verdict,
    /// The model that scored it, so the verdict can be reproduced.
    pub model_version: String,
    /// The policy version that judged it (empty for comments stored before policy versions).
    pub policy_version: String,
    /// Keyed hash of the normalized email (see [`crate::privacy::EmailHasher`]).
    pub email_hash: [u8; 32],
    /// The last moderator decision, if a moderator has decided on it.
    pub decision: Option<Decision>,
    /// How the submission was answered, beyond the verdict's current state.
    pub receipt: Receipt,
}

/// What is kept of a submission's answer so that a retry gets the same answer and a shadow
/// policy can be compared with moderators' labels later. Records written before it read as
/// the default (nothing kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The site's idempotency key and the digest of the request it came with.
    pub idempotency: Option<Idempotency>,
    /// The status the submission got (a moderator may have changed it since).
    pub submitted_status: Option<Status>,
    /// The status the shadow policy would have given, when one was configured.
    pub shadow_status: Option<Status>,
}

/// A site's idempotency key with the digest of the request that first carried it: a retry
/// must carry the same request (see [`crate::pipeline::request_digest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The key, at most [`Idempotency::MAX_KEY_BYTES`] bytes.
    pub key: String,
    /// SHA-256 of the request's other fields.
    pub request_digest: [u8; 32],
}

impl Idempotency {
    /// Longest key accepted, in bytes.
    pub const MAX_KEY_BYTES: usize = 128;
}

impl StoredComment {
    /// Creation time as a `SystemTime`.
    pub fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.created_at_ms)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The last moderator decision on a comment, kept in its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The moderator's configured name.
    pub by: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The status the comment had before it went to the trash, so RESTORE can return it.
    pub before_trash: Option<Status>,
}

/// The parts of a submission the classifier looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommentText<'a> {
    /// The comment body as submitted.
    pub content: &'a str,
    /// The display name.
    pub author_name: &'a str,
    /// The author's website; empty when none was given.
    pub author_url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bytes_round_trip_and_reject_unknown() {
        for status in Status::ALL {
            assert_eq!(Status::from_byte(status as u8), Some(status));
        }
        assert_eq!(Status::from_byte(0), None);
        assert_eq!(Status::from_byte(9), None);
    }

    #[test]
    fn ids_sort_by_creation_and_round_trip() {
        let a = CommentId::generate();
        let b = CommentId::generate();
        assert!(a < b);
        assert_eq!(CommentId::parse(&a.to_string()), Some(a));
        assert_eq!(CommentId::from_bytes(*a.as_bytes()), a);
        assert_eq!(CommentId::parse("not-an-id"), None);
    }
}
