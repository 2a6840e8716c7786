//! The editable rules — the lists, the link limit and the thresholds — as one versioned value
//! that moderators replace whole (over RPC or by reloading the configuration file), compiled
//! once per change.

use sha2::{Digest as _, Sha256};

use super::{Policy, RuleError, RuleLists, SiteRules, Thresholds};
use crate::privacy::EmailHasher;
use crate::validate::FieldViolation;

/// Most entries in one list: each becomes part of one compiled pattern or set.
pub const MAX_LIST_ENTRIES: usize = 10_000;
/// Longest entry of a list, in bytes.
pub const MAX_ENTRY_BYTES: usize = 500;

/// What a moderator can change while the service runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EditableRules {
    /// The fragment lists, bans and closed posts.
    pub lists: RuleLists,
    /// Links at or above this count hold a comment; 0 turns the rule off.
    pub max_links: u32,
    /// Spam-probability thresholds.
    pub thresholds: Thresholds,
}

impl EditableRules {
    /// A short stable digest of the values: equal rules have equal versions on every frontend.
    pub fn version(&self) -> String {
        let mut digest = Sha256::new();
        for (name, list) in self.lists.named() {
            digest.update(name.as_bytes());
            for entry in list {
                digest.update((entry.len() as u64).to_le_bytes());
                digest.update(entry.as_bytes());
            }
            digest.update([0xff]);
        }
        digest.update(self.max_links.to_le_bytes());
        digest.update(self.thresholds.spam.to_le_bytes());
        digest.update(self.thresholds.pending.to_le_bytes());
        // Added after the others: left out at its default, so rules that keep it have the
        // version they had before it existed.
        if self.thresholds.toxicity != Thresholds::DEFAULT_TOXICITY {
            digest.update(self.thresholds.toxicity.to_le_bytes());
        }
        hex::encode(&digest.finalize()[..8])
    }

    /// Every problem with the values, one violation per field (named as in `Rules`, under
    /// `rules.`).
    pub fn violations(&self) -> Vec<FieldViolation> {
        let mut violations = Vec::new();
        for (name, list) in self.lists.named() {
            if list.len() > MAX_LIST_ENTRIES {
                violations.push(FieldViolation::new(
                    name,
                    format!("has more than {MAX_LIST_ENTRIES} entries"),
                ));
            } else if let Some(long) = list.iter().position(|e| e.len() > MAX_ENTRY_BYTES) {
                violations.push(FieldViolation::new(
                    name,
                    format!("entry {long} is longer than {MAX_ENTRY_BYTES} bytes"),
                ));
            }
        }
        if let Some(bad) = self
            .lists
            .banned_ips
            .iter()
            .find(|t| super::lists::parse_range(t).is_none())
        {
            violations.push(FieldViolation::new(
                "rules.banned_ips",
                format!("{bad:?} is not an IP address or CIDR range"),
            ));
        }
        let Thresholds {
            spam,
            pending,
            toxicity,
        } = self.thresholds;
        if !(0.0..=1.0).contains(&toxicity) {
            violations.push(FieldViolation::new(
                "rules.toxicity_threshold",
                "must be in [0, 1] (0 turns the toxicity hold off)",
            ));
        }
        if !(0.0..=1.0).contains(&spam) {
            violations.push(FieldViolation::new(
                "rules.spam_threshold",
                "must be in [0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&pending) || pending > spam {
            violations.push(FieldViolation::new(
                "rules.pending_threshold",
                "must be in [0, spam_threshold]",
            ));
        }
        violations
    }

    /// The rules compiled for judging.
    ///
    /// # Errors
    /// When a banned IP does not parse or the fragment lists do not compile.
    pub fn compile(self, hasher: &EmailHasher) -> Result<RuleSet, RuleError> {
        Ok(RuleSet {
            compiled: SiteRules::compile(&self.lists, hasher)?,
            policy: Policy {
                thresholds: self.thresholds,
                max_links: self.max_links,
            },
            version: self.version(),
            editable: self,
        })
    }
}

/// The editable rules in force, compiled, with their version.
#[derive(Debug)]
pub struct RuleSet {
    /// The values as set.
    pub editable: EditableRules,
    /// The lists, compiled.
    pub compiled: SiteRules,
    /// The thresholds and built-in rule settings.
    pub policy: Policy,
    /// [`EditableRules::version`] of `editable`.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> EditableRules {
        EditableRules {
            lists: RuleLists {
                moderation_keys: vec!["casino".into()],
                ..RuleLists::default()
            },
            max_links: 2,
            thresholds: Thresholds::default(),
        }
    }

    #[test]
    fn the_version_changes_exactly_when_a_value_does() {
        let base = rules();
        assert_eq!(base.version(), rules().version());
        let mut other = rules();
        other.lists.moderation_keys.push("poker".into());
        assert_ne!(other.version(), base.version());
        // The same words in another list are other rules.
        let mut moved = rules();
        moved.lists.moderation_keys.clear();
        moved.lists.disallowed_keys.push("casino".into());
        assert_ne!(moved.version(), base.version());
        let mut stricter = rules();
        stricter.thresholds.pending = 0.4;
        assert_ne!(stricter.version(), base.version());
        let mut no_toxicity_hold = rules();
        no_toxicity_hold.thresholds.toxicity = 0.0;
        assert_ne!(no_toxicity_hold.version(), base.version());
    }

    #[test]
    fn bad_values_are_named() {
        let mut bad = rules();
        bad.lists.banned_ips = vec!["10.0.0.0/8".into(), "nope".into()];
        bad.thresholds = Thresholds {
            spam: 1.5,
            pending: 0.2,
            ..Thresholds::default()
        };
        let fields: Vec<&str> = bad.violations().iter().map(|v| v.field).collect();
        assert_eq!(fields, ["rules.banned_ips", "rules.spam_threshold"]);
        let mut inverted = rules();
        inverted.thresholds.pending = 0.95;
        let fields: Vec<&str> = inverted.violations().iter().map(|v| v.field).collect();
        assert_eq!(fields, ["rules.pending_threshold"]);
        assert!(rules().violations().is_empty());
    }
}
