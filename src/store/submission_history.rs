//! Where the rules that depend on earlier submissions (flood control, campaigns) keep what
//! they have seen: in this process when one frontend serves the site (the policy's
//! `LocalHistory`), in the shared database when several do, so an author refused by one
//! frontend is refused by all. The rules themselves are the policy's; this is their memory.

use std::net::IpAddr;
use std::time::Duration;

use super::StoreError;
use crate::near_duplicate::Signature;

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

    /// Records the signature of a comment about to be stored; returns its campaign's id once
    /// the campaign has the configured number of authors.
    ///
    /// # Errors
    /// When the shared state cannot be reached.
    async fn observe_campaign(
        &self,
        signature: &Signature,
        email_hash: [u8; 32],
    ) -> Result<Option<u64>, StoreError>;
}
