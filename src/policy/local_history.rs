//! The history of one process: flood timers and campaign sightings kept in memory, for a
//! store only one process opens (a shared store keeps its own, see
//! [`crate::store::SubmissionHistory`]).

use std::net::IpAddr;
use std::time::Duration;

use super::{Campaigns, Flood};
use crate::near_duplicate::Signature;
use crate::store::StoreError;
pub use crate::store::{HistorySettings, SubmissionHistory};

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
        signature: &Signature,
        email_hash: [u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.campaigns.observe_signature(signature, email_hash))
    }
}
