//! The record of a site model reset, kept with the settings and shown to moderators.

use serde::{Deserialize, Serialize};

/// A reset of the site model: when, by whom, why, and how many labels it stopped counting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteModelReset {
    /// When, in milliseconds since the epoch; labels given up to then no longer teach it.
    pub at_ms: u64,
    /// The moderator's name.
    pub by: String,
    /// The moderator's note.
    pub note: String,
    /// The labels the site model held just before.
    pub labels_dropped: u64,
}
