//! A full consistency check of the trees: every comment sits in exactly the index entries its
//! record implies, and no index entry points at nothing. Used after crashes and in tests.

use super::{Store, StoreError, keys, record};
use crate::comment::Status;

/// What a consistency check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consistency {
    /// Comment records checked.
    pub comments: usize,
    /// Human-readable descriptions of every inconsistency; empty when all is well.
    pub problems: Vec<String>,
}

impl Store {
    /// Scans every tree and reports records without their index entries, index entries
    /// without records, and comments listed under more than one status.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn check_consistency(&self) -> Result<Consistency, StoreError> {
        let trees = &self.inner;
        let mut report = Consistency::default();
        for entry in trees.comments.iter() {
            let (_, bytes) = entry?;
            let comment = record::decode(&bytes)?;
            report.comments += 1;
            let id = comment.id;
            let status = comment.verdict.status;
            for other in Status::ALL {
                let in_status = trees
                    .status_index
                    .contains_key(keys::status_key(other, id))?;
                let in_post = trees.post_index.contains_key(keys::post_key(
                    &comment.submission.post_id,
                    other,
                    id,
                ))?;
                let expected = other == status;
                if in_status != expected {
                    report.problems.push(format!(
                        "{id}: status_index {} under {other}",
                        if expected { "missing" } else { "extra" }
                    ));
                }
                if in_post != expected {
                    report.problems.push(format!(
                        "{id}: post_index {} under {other}",
                        if expected { "missing" } else { "extra" }
                    ));
                }
            }
        }
        for entry in trees.status_index.iter() {
            let (key, _) = entry?;
            let id = key.get(1..).and_then(record::id_from);
            match id {
                Some(id) if trees.comments.contains_key(id.as_bytes())? => {}
                _ => report
                    .problems
                    .push(format!("status_index entry {key:?} names no comment")),
            }
        }
        let indexed = trees.post_index.len();
        if indexed != report.comments {
            report.problems.push(format!(
                "post_index has {indexed} entries for {} comments",
                report.comments
            ));
        }
        Ok(report)
    }
}
