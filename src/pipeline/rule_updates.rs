//! The editable rules in force, and changing them: whole, checked, from the version they were
//! read at, stored with an audit entry before they take effect.

use std::sync::Arc;

use super::Pipeline;
use crate::comment::now_ms;
use crate::policy::{EditableRules, RuleSet};
use crate::store::{Storage, StoreError};
use crate::validate::FieldViolation;

/// The setting the editable rules are stored under.
pub const RULES_KEY: &str = "rules";
/// The prefix of the settings that record changes of the rules (then the time in ms, zero
/// padded so names sort by time).
const CHANGE_PREFIX: &str = "rules_change/";

/// Why an update of the rules was not made.
#[derive(Debug, thiserror::Error)]
pub enum RulesRejection {
    /// Values out of range or that do not parse, one violation per field.
    #[error("invalid rules")]
    Invalid(Vec<FieldViolation>),
    /// The rules changed since the version the update was made from.
    #[error("the rules are at version {current}, not {expected}")]
    Stale {
        /// The version the update expected.
        expected: String,
        /// The version in force.
        current: String,
    },
    /// Storing them failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the audit keeps of one change of the rules.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RulesChange {
    by: String,
    at_ms: u64,
    from_version: String,
    to_version: String,
    changed: Vec<String>,
}

impl Pipeline {
    /// The editable rules in force now.
    pub fn rules(&self) -> Arc<RuleSet> {
        match self.rules.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts new rules in force; submissions already being judged finish on the old ones.
    pub fn replace_rules(&self, rules: RuleSet) {
        let mut slot = self.rules.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(rules);
    }

    /// Puts in force the rules stored by the latest change (made by another frontend of a
    /// shared store); nothing changes when none is stored or they do not compile.
    ///
    /// # Errors
    /// When the stored rules cannot be read.
    pub async fn reload_stored_rules(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.rules_update.lock().await;
        let in_force = self.rules().editable.thresholds.toxicity;
        let Some(stored) = stored_rules(self.store.as_ref(), in_force).await? else {
            return Ok(());
        };
        match stored.compile(&self.hasher) {
            Ok(rules) if rules.version != self.rules().version => {
                tracing::info!(version = %rules.version, "site rules changed by another frontend");
                self.replace_rules(rules);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(cause = %e, "stored site rules do not compile; keeping the current rules")
            }
        }
        Ok(())
    }

    /// Checks `new`, stores it with an audit entry naming `by`, then puts it in force.
    /// `expected_version` of `None` replaces whatever is in force (a configuration reload).
    ///
    /// # Errors
    /// Invalid values, a stale `expected_version`, or a storage failure; nothing changes then.
    pub async fn update_rules(
        &self,
        new: EditableRules,
        expected_version: Option<&str>,
        by: &str,
    ) -> Result<Arc<RuleSet>, RulesRejection> {
        let violations = new.violations();
        if !violations.is_empty() {
            return Err(RulesRejection::Invalid(violations));
        }
        let _one_at_a_time = self.rules_update.lock().await;
        let current = self.rules();
        if let Some(expected) = expected_version.filter(|e| *e != current.version) {
            return Err(RulesRejection::Stale {
                expected: expected.to_owned(),
                current: current.version.clone(),
            });
        }
        let compiled = new.compile(&self.hasher).map_err(|e| {
            RulesRejection::Invalid(vec![FieldViolation::new("rules", e.to_string())])
        })?;
        if compiled.version != current.version {
            self.store_rules(&current, &compiled, by).await?;
        }
        self.replace_rules(compiled);
        Ok(self.rules())
    }

    async fn store_rules(&self, from: &RuleSet, to: &RuleSet, by: &str) -> Result<(), StoreError> {
        let at_ms = now_ms();
        let change = RulesChange {
            by: by.to_owned(),
            at_ms,
            from_version: from.version.clone(),
            to_version: to.version.clone(),
            changed: changed_fields(&from.editable, &to.editable),
        };
        self.store
            .put_settings(vec![
                (RULES_KEY.to_owned(), json(&to.editable)),
                (format!("{CHANGE_PREFIX}{at_ms:020}"), json(&change)),
            ])
            .await
    }
}

/// The names of the fields that differ, as in the `Rules` message.
fn changed_fields(from: &EditableRules, to: &EditableRules) -> Vec<String> {
    let mut changed: Vec<String> = from
        .lists
        .named()
        .into_iter()
        .zip(to.lists.named())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, _), _)| name.trim_start_matches("rules.").to_owned())
        .collect();
    if from.max_links != to.max_links {
        changed.push("max_links".into());
    }
    if from.thresholds.spam != to.thresholds.spam {
        changed.push("spam_threshold".into());
    }
    if from.thresholds.pending != to.thresholds.pending {
        changed.push("pending_threshold".into());
    }
    if from.thresholds.toxicity != to.thresholds.toxicity {
        changed.push("toxicity_threshold".into());
    }
    changed
}

/// The rules stored by the last update, if any (they win over the configuration file at start).
/// Rules stored before the toxicity threshold existed take `toxicity_then` for it (the
/// configuration's, at start; the one in force, when following another frontend).
///
/// # Errors
/// A storage failure, or stored rules that do not decode.
pub async fn stored_rules(
    store: &dyn Storage,
    toxicity_then: f64,
) -> Result<Option<EditableRules>, StoreError> {
    let Some(bytes) = store.setting(RULES_KEY).await? else {
        return Ok(None);
    };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("stored rules: {e}"));
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
    let before_toxicity = value.pointer("/thresholds/toxicity").is_none();
    let mut rules: EditableRules = serde_json::from_value(value).map_err(corrupt)?;
    if before_toxicity {
        rules.thresholds.toxicity = toxicity_then;
    }
    Ok(Some(rules))
}

/// JSON bytes of plain data (strings, numbers, lists), which always serializes.
fn json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
