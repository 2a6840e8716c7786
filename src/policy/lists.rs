//! The site's configured lists, in the spirit of WordPress's discussion settings: word and
//! fragment lists, banned emails and IP ranges, closed posts. Compiled once, swapped whole on
//! reload.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::{Regex, RegexBuilder};

use super::Hit;
use crate::comment::{ReasonCode, Submission};
use crate::privacy::EmailHasher;

/// The rule lists as configured (part of [`crate::Config`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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

impl RuleLists {
    /// Each list with its field name in the `Rules` message, in a fixed order.
    pub fn named(&self) -> [(&'static str, &Vec<String>); 5] {
        [
            ("rules.moderation_keys", &self.moderation_keys),
            ("rules.disallowed_keys", &self.disallowed_keys),
            ("rules.banned_emails", &self.banned_emails),
            ("rules.banned_ips", &self.banned_ips),
            ("rules.closed_posts", &self.closed_posts),
        ]
    }
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

/// A `banned_ips` entry: a CIDR range, or one address (a range of one).
pub(super) fn parse_range(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The compiled lists: what the policy checks each submission against.
#[derive(Debug)]
pub struct SiteRules {
    moderation: Option<Regex>,
    disallowed: Option<Regex>,
    banned_emails: HashSet<[u8; 32]>,
    banned_ips: Vec<IpNet>,
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
                .map(|t| parse_range(t).ok_or_else(|| RuleError::BadIp(t.clone())))
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

    /// The list rules that fire on a submission.
    pub fn check(&self, s: &Submission, email_hash: &[u8; 32]) -> Vec<Hit> {
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
            hits.push(Hit::spam(
                ReasonCode::DisallowedKey,
                "a field contains a disallowed word or fragment",
            ));
        }
        if self.banned_emails.contains(email_hash) {
            hits.push(Hit::spam(
                ReasonCode::BannedEmail,
                "the author's email is banned",
            ));
        }
        if s.context
            .ip
            .is_some_and(|ip| self.banned_ips.iter().any(|range| range.contains(&ip)))
        {
            hits.push(Hit::spam(
                ReasonCode::BannedIp,
                "the author's IP is in a banned range",
            ));
        }
        if fires(&self.moderation) {
            hits.push(Hit::hold(
                ReasonCode::ModerationKey,
                "a field contains a word or fragment that needs review",
            ));
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> IpNet {
        parse_range(text).unwrap()
    }

    #[test]
    fn banned_ranges_match_their_members_only() {
        assert!(range("203.0.113.0/24").contains(&"203.0.113.77".parse::<IpAddr>().unwrap()));
        assert!(!range("203.0.113.0/24").contains(&"203.0.114.1".parse::<IpAddr>().unwrap()));
        let v6 = range("2001:db8::/32");
        assert!(v6.contains(&"2001:db8:1::5".parse::<IpAddr>().unwrap()));
        assert!(!v6.contains(&"203.0.113.1".parse::<IpAddr>().unwrap()));
        assert!(range(" 192.0.2.9 ").contains(&"192.0.2.9".parse::<IpAddr>().unwrap()));
        assert!(!range("192.0.2.9").contains(&"192.0.2.10".parse::<IpAddr>().unwrap()));
        assert!(parse_range("1.2.3.4/33").is_none());
        assert!(parse_range("nope").is_none());
        assert!(range("0.0.0.0/0").contains(&"8.8.8.8".parse::<IpAddr>().unwrap()));
    }
}
