//! The shadow policy's series: present on `/metrics` only when a shadow policy is configured,
//! so they are produced by a collector from the figures set at scrape time.

use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;

use crate::comment::Status;

/// The shadow's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShadowSnapshot {
    /// Stored submissions the shadow judged.
    pub evaluated: u64,
    /// Of those, the ones it would have given another status.
    pub would_change: u64,
    /// Those changes: (live status, shadow status, count), only counts above zero.
    pub changes: Vec<(Status, Status, u64)>,
    /// Moderator labels on comments that carry a shadow verdict.
    pub labels: u64,
    /// Of those, the labels that agreed with the live verdict.
    pub live_agreed: u64,
    /// Of those, the labels that agreed with the shadow's verdict.
    pub shadow_agreed: u64,
    /// The shadow's policy version now.
    pub policy_version: String,
}

/// Labels of one change of status between the live and the shadow policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChangeLabels {
    from: &'static str,
    to: &'static str,
}

/// Labels naming which policy a label agreed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PolicyLabel {
    policy: &'static str,
}

/// Encodes the last figures set, or nothing when there is no shadow policy.
#[derive(Debug, Default)]
pub(super) struct ShadowCollector {
    pub(super) figures: Mutex<Option<ShadowSnapshot>>,
}

impl Collector for ShadowCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let figures = self.figures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = figures.as_ref() else {
            return Ok(());
        };
        let plain = [
            (
                "shadow_evaluated",
                "Stored submissions the shadow policy also judged since start",
                s.evaluated,
            ),
            (
                "shadow_would_change",
                "Of those, submissions the shadow policy would have given another status",
                s.would_change,
            ),
            (
                "shadow_labels",
                "Moderator labels on comments that carry a shadow verdict, since start",
                s.labels,
            ),
        ];
        for (name, help, value) in plain {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let kind = ConstCounter::new(0u64).metric_type();
        let mut changes = encoder.encode_descriptor(
            "shadow_changes",
            "Submissions by live status (from) and the shadow policy's status (to), since start",
            None,
            kind,
        )?;
        for &(from, to, count) in &s.changes {
            let labels = ChangeLabels {
                from: from.as_str(),
                to: to.as_str(),
            };
            ConstCounter::new(count).encode(changes.encode_family(&labels)?)?;
        }
        let mut agreed = encoder.encode_descriptor(
            "shadow_label_agreements",
            "Moderator labels that agreed with the live or the shadow verdict, since start",
            None,
            kind,
        )?;
        for (policy, count) in [("live", s.live_agreed), ("shadow", s.shadow_agreed)] {
            ConstCounter::new(count).encode(agreed.encode_family(&PolicyLabel { policy })?)?;
        }
        Ok(())
    }
}
