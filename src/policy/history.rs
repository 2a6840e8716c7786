//! Where the rules that depend on earlier submissions (flood control, campaigns) keep what
//! they have seen: in this process when one frontend serves the site, in the shared database
//! when several do, so an author refused by one frontend is refused by all.

use std::net::IpAddr;
use std::time::Duration;

use super::{Campaigns, Flood, Hit};
use crate::store::StoreError;

/// The settings of the history rules, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySettings {
    /// One comment per email or IP per this interval; zero turns flood control off.
    pub flood_interval: Duration,
    /// Campaigns are counted over this window.
    pub campaign_window: Duration,
    /// Authors of near-copies that make a campaign; zero turns campaigns off.
    pub campaign_min_authors: usize,
}

/// Flood timers and campaign sightings.
#[async_trait::async_trait]
pub trait SubmissionHistory: Send + Sync + std::fmt::Debug {
    /// Starts the flood timer of this author (email and IP), or says how long until they may
    /// comment again (`Ok(Err(wait))`).
    ///
    /// # Errors
    /// When the shared state cannot be reached.
    async fn start_flood_timer(
        &self,
        email_hash: [u8; 32],
        ip: Option<IpAddr>,
    ) -> Result<Result<(), Duration>, StoreError>;

    /// Cancels a timer started for a submission that was then not stored.
    async fn cancel_flood_timer(&self, email_hash: [u8; 32], ip: Option<IpAddr>);

    /// Records a comment about to be stored and says whether it belongs to a campaign.
    ///
    /// # Errors
    /// When the shared state cannot be reached.
    async fn observe_campaign(
        &self,
        content: &str,
        email_hash: [u8; 32],
    ) -> Result<Option<Hit>, StoreError>;
}

/// The history of one process, forgotten at restart.
#[derive(Debug)]
pub struct LocalHistory {
    flood: Flood,
    campaigns: Campaigns,
}

impl LocalHistory {
    /// An empty history with these settings.
    pub fn new(settings: HistorySettings) -> Self {
        Self {
            flood: Flood::new(settings.flood_interval),
            campaigns: Campaigns::new(settings.campaign_window, settings.campaign_min_authors),
        }
    }
}

#[async_trait::async_trait]
impl SubmissionHistory for LocalHistory {
    async fn start_flood_timer(
        &self,
        email_hash: [u8; 32],
        ip: Option<IpAddr>,
    ) -> Result<Result<(), Duration>, StoreError> {
        Ok(self.flood.try_start(email_hash, ip))
    }

    async fn cancel_flood_timer(&self, email_hash: [u8; 32], ip: Option<IpAddr>) {
        self.flood.cancel(email_hash, ip);
    }

    async fn observe_campaign(
        &self,
        content: &str,
        email_hash: [u8; 32],
    ) -> Result<Option<Hit>, StoreError> {
        Ok(self.campaigns.observe(content, email_hash))
    }
}
