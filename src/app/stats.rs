//! What moderators see of the service as a whole: counts by status, activity over time, how
//! often the classifier agreed with them, and the policies that gave the stored verdicts.

use crate::comment::{Status, now_ms};
use crate::moderation::Agreement;
use crate::pipeline::ShadowSnapshot;
use crate::scoring::SiteModelReset;
use crate::scoring::site_model::SiteFigures;
use crate::store::{Activity, StoreError};

use super::App;

/// Which stretch of time the activity covers: `intervals` of `interval_ms` ending now.
#[derive(Debug, Clone, Copy)]
pub struct StatsWindow {
    /// The length of one interval.
    pub interval_ms: u64,
    /// How many intervals.
    pub intervals: u64,
}

/// The service's figures at one moment.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Stored comments per status.
    pub by_status: [(Status, u64); 4],
    /// When the first interval of `activity` starts.
    pub start_ms: u64,
    /// Submissions and decisions per interval, oldest first.
    pub activity: Vec<Activity>,
    /// How often moderators agreed with the classifier.
    pub agreement: Agreement,
    /// Stored comments per policy version.
    pub policy_versions: Vec<(String, u64)>,
    /// The model serving now.
    pub model_version: String,
    /// The shadow policy's agreement, when one is configured.
    pub shadow: Option<ShadowSnapshot>,
    /// What this site's labels taught the classifier.
    pub site_model: SiteFigures,
    /// The site model's latest reset, if any.
    pub site_model_reset: Option<SiteModelReset>,
}

impl App {
    /// Gathers the figures over `window`.
    ///
    /// # Errors
    /// The store could not be read.
    pub async fn stats(&self, window: StatsWindow) -> Result<Stats, StoreError> {
        let store = &self.store;
        let start_ms = now_ms().saturating_sub(window.interval_ms * window.intervals);
        let activity = store
            .activity(start_ms, window.interval_ms, window.intervals as usize)
            .await?;
        Ok(Stats {
            by_status: store.status_counts().await?,
            start_ms,
            activity,
            agreement: self.agreement().await?,
            policy_versions: store.policy_version_counts().await?,
            model_version: self.pipeline.scorer().model_version(),
            shadow: self.pipeline.shadow_snapshot(),
            site_model: self.pipeline.scorer().site_model().figures(),
            site_model_reset: self.site_model_reset().await?,
        })
    }

    /// How often moderators' labelling decisions agreed with the classifier's score.
    ///
    /// # Errors
    /// The audit log could not be read.
    pub async fn agreement(&self) -> Result<Agreement, StoreError> {
        let pending = self.pipeline.rules().policy.thresholds.pending;
        Ok(Agreement::of(&self.store.audit_since(0).await?, pending))
    }
}
