//! Prometheus metrics: what the process counts and measures, exposed on `/metrics`.
//!
//! One registry per process: the gRPC layer, the pipeline's verdicts and the committer record
//! into it without being handed a reference, and the gauges that describe current state
//! (queue depth, watchers, model version) are set when the page is scraped. Labels come from
//! fixed sets only (RPC names, status codes, reason codes), never from ids, authors or text.

mod grpc;
mod shadow;

pub use shadow::ShadowSnapshot;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub use grpc::RpcMetricsService;

use crate::comment::{ReasonCode, Status, Verdict};

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of one RPC's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RpcLabels {
    /// The method name, from the fixed list of served RPCs (`other` for anything else).
    pub rpc: &'static str,
    /// The gRPC status code's name, such as `OK` or `INVALID_ARGUMENT`.
    pub code: &'static str,
}

/// Labels naming an RPC only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RpcName {
    /// The method name.
    pub rpc: &'static str,
}

/// Labels of an Akismet-compatible call: its path (`comment-check`, ...) and the kind of
/// answer (`spam`, `ham`, `valid`, `invalid`, `thanks`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AkismetLabels {
    /// The path after `/1.1/`.
    pub path: &'static str,
    /// The kind of answer.
    pub answer: &'static str,
}

/// Labels naming a comment status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StatusLabel {
    /// The status as the proto spells it.
    pub status: &'static str,
}

/// Labels naming a reason code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason code as the API spells it.
    pub code: &'static str,
}

/// Labels of the model info series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ModelLabel {
    /// The loaded model's version string.
    pub version: String,
}

/// Every series the service exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Finished RPCs by method and status code.
    pub rpc_requests: Family<RpcLabels, Counter>,
    /// RPC latency from request to final status, by method.
    pub rpc_duration: Family<RpcName, Histogram>,
    /// Stored submissions by verdict status.
    pub verdicts: Family<StatusLabel, Counter>,
    /// Reasons given in stored verdicts, by code.
    pub reasons: Family<ReasonLabel, Counter>,
    /// Akismet-compatible endpoint calls by path and kind of answer.
    pub akismet: Family<AkismetLabels, Counter>,
    /// Toxicity of stored submissions (the `toxic` reason counts those it held).
    pub toxicity: Histogram,
    /// Jobs written per committer batch.
    pub commit_batch_size: Histogram,
    /// Time to apply and flush one committer batch.
    pub commit_flush: Histogram,
    /// How long each checkpoint of the embedded store paused it.
    pub storage_checkpoint: Histogram,
    /// Comments per status, set at scrape time.
    pub queue_depth: Family<StatusLabel, Gauge>,
    /// Open queue watchers (gRPC `WatchQueue` streams and console pages), set at scrape time.
    pub watchers: Gauge,
    /// The loaded model's version as an info series (value 1), set at scrape time.
    pub model_info: Family<ModelLabel, Gauge>,
    /// Requests allowed in the handlers at once (the adaptive limit, or the fixed one).
    pub admission_limit: Gauge,
    /// Requests and stream items refused for want of a slot (after the wait, or at once under
    /// declared overload).
    pub admission_refused: Counter,
    /// Comments whose label the site model holds, set at scrape time.
    pub site_model_labels: Gauge,
    /// The site model's version (changes with every change), set at scrape time.
    pub site_model_version: Gauge,
    /// Share of the latest labels the classifier already got right, set at scrape time.
    pub site_model_accuracy: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// The shadow policy's figures, set at scrape time (none without a shadow policy).
    shadow: Arc<shadow::ShadowCollector>,
}

/// Prometheus's default latency buckets (5 ms to 10 s).
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("commentguard"),
            rpc_requests: Family::default(),
            rpc_duration: Family::new_with_constructor(
                (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
            ),
            verdicts: Family::default(),
            reasons: Family::default(),
            akismet: Family::default(),
            toxicity: Histogram::new([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]),
            commit_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            commit_flush: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            storage_checkpoint: Histogram::new(exponential_buckets(0.01, 2.0, 10)),
            queue_depth: Family::default(),
            watchers: Gauge::default(),
            model_info: Family::default(),
            admission_limit: Gauge::default(),
            admission_refused: Counter::default(),
            site_model_labels: Gauge::default(),
            site_model_version: Gauge::default(),
            site_model_accuracy: Gauge::default(),
            shadow: Arc::new(shadow::ShadowCollector::default()),
        };
        metrics.register_event_series();
        metrics.register_state_series();
        metrics.seed_known_labels();
        metrics
    }

    /// Registers the series counted as things happen: RPCs, verdicts and their reasons,
    /// committer batches.
    fn register_event_series(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "grpc_requests",
            "Finished gRPC requests by method and status code",
            self.rpc_requests.clone(),
        );
        registry.register_with_unit(
            "grpc_request_duration",
            "gRPC request latency until the final status",
            Unit::Seconds,
            self.rpc_duration.clone(),
        );
        registry.register(
            "verdicts",
            "Stored submissions by verdict status",
            self.verdicts.clone(),
        );
        registry.register(
            "reasons",
            "Reasons in stored verdicts by code",
            self.reasons.clone(),
        );
        registry.register(
            "akismet_requests",
            "Akismet-compatible endpoint calls by path and answer (feedback: submit-spam and submit-ham)",
            self.akismet.clone(),
        );
        registry.register(
            "toxicity",
            "Toxicity of stored submissions",
            self.toxicity.clone(),
        );
        registry.register(
            "commit_batch_size",
            "Jobs written and flushed as one committer batch",
            self.commit_batch_size.clone(),
        );
        registry.register_with_unit(
            "commit_flush_duration",
            "Time to apply and flush one committer batch",
            Unit::Seconds,
            self.commit_flush.clone(),
        );
        registry.register_with_unit(
            "storage_checkpoint_pause",
            "How long the embedded store paused to reopen itself (a checkpoint)",
            Unit::Seconds,
            self.storage_checkpoint.clone(),
        );
    }

    /// Registers the series that describe current state (mostly set at scrape time): queue
    /// depth, watchers, the model, admission, and the shadow policy's collector.
    fn register_state_series(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "queue_depth",
            "Stored comments by status",
            self.queue_depth.clone(),
        );
        registry.register(
            "watchers",
            "Open queue watchers (WatchQueue streams and console pages)",
            self.watchers.clone(),
        );
        registry.register(
            "model_info",
            "The loaded spam model (value 1, version as a label)",
            self.model_info.clone(),
        );
        registry.register(
            "admission_limit",
            "Requests allowed in the handlers at once (adaptive unless configured fixed)",
            self.admission_limit.clone(),
        );
        registry.register(
            "admission_refused",
            "Requests and stream items refused at capacity (after the wait, or at once under overload)",
            self.admission_refused.clone(),
        );
        registry.register(
            "site_model_labels",
            "Comments whose label this site's model holds",
            self.site_model_labels.clone(),
        );
        registry.register(
            "site_model_version",
            "The site model's version (changes with every label it learns or forgets)",
            self.site_model_version.clone(),
        );
        registry.register(
            "site_model_running_accuracy",
            "Share of the latest labels the classifier got right before learning them",
            self.site_model_accuracy.clone(),
        );
        registry.register_collector(Box::new(Arc::clone(&self.shadow)));
    }

    /// Known label values start at 0 rather than appearing only once they happen.
    fn seed_known_labels(&self) {
        for status in [Status::Approved, Status::Pending, Status::Spam] {
            let _ = self.verdicts.get_or_create(&StatusLabel {
                status: status.as_str(),
            });
        }
        for code in ReasonCode::ALL {
            let _ = self.reasons.get_or_create(&ReasonLabel {
                code: code.as_str(),
            });
        }
    }

    /// Sets the site model's figures: labels held, version, running accuracy.
    pub fn set_site_model(&self, labels: u64, version: u64, running_accuracy: f64) {
        self.site_model_labels
            .set(i64::try_from(labels).unwrap_or(i64::MAX));
        self.site_model_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        self.site_model_accuracy.set(running_accuracy);
    }

    /// Sets the admission limit in force.
    pub fn set_admission_limit(&self, limit: usize) {
        self.admission_limit
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }

    /// Sets the shadow policy's figures (`None`: no shadow series at all).
    pub fn set_shadow(&self, figures: Option<ShadowSnapshot>) {
        *self
            .shadow
            .figures
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = figures;
    }

    /// Counts one stored submission's verdict and its reasons.
    pub fn record_verdict(&self, verdict: &Verdict) {
        self.verdicts
            .get_or_create(&StatusLabel {
                status: verdict.status.as_str(),
            })
            .inc();
        self.toxicity.observe(f64::from(verdict.toxicity));
        for reason in &verdict.reasons {
            self.reasons
                .get_or_create(&ReasonLabel {
                    code: reason.code.as_str(),
                })
                .inc();
        }
    }

    /// Counts one Akismet-compatible call of `path` answered with `answer`.
    pub fn count_akismet(&self, path: &'static str, answer: &'static str) {
        self.akismet
            .get_or_create(&AkismetLabels { path, answer })
            .inc();
    }

    /// Records one committer batch.
    pub fn record_batch(&self, jobs: usize, took: Duration) {
        self.commit_batch_size.observe(jobs as f64);
        self.commit_flush.observe(took.as_secs_f64());
    }

    /// Records one checkpoint of the embedded store.
    pub fn record_checkpoint(&self, paused: Duration) {
        self.storage_checkpoint.observe(paused.as_secs_f64());
    }

    /// Sets the model info series to `version` alone.
    pub fn set_model(&self, version: String) {
        self.model_info.clear();
        self.model_info
            .get_or_create(&ModelLabel { version })
            .set(1);
    }

    /// The registry in the OpenMetrics text format (which Prometheus scrapes natively).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::Reason;

    #[test]
    fn series_are_prefixed_and_counted() {
        let m = Metrics::new();
        m.record_verdict(&Verdict {
            status: Status::Pending,
            spam_score: 0.7,
            reasons: vec![Reason::new(ReasonCode::Campaign, "x", 1.0)],
            toxicity: 0.0,
            toxic_spans: Vec::new(),
        });
        m.record_batch(3, Duration::from_millis(2));
        m.set_model("v1".into());
        let text = m.encode();
        assert!(text.contains("commentguard_verdicts_total{status=\"PENDING\"} 1"));
        assert!(text.contains("commentguard_reasons_total{code=\"campaign\"} 1"));
        assert!(text.contains("commentguard_reasons_total{code=\"honeypot\"} 0"));
        assert!(text.contains("commentguard_commit_batch_size_count 1"));
        assert!(text.contains("commentguard_model_info{version=\"v1\"} 1"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("commentguard_"), "{line}");
        }
        assert!(!text.contains("shadow"));
    }

    #[test]
    fn shadow_series_appear_once_set() {
        let m = Metrics::new();
        m.set_shadow(Some(ShadowSnapshot {
            evaluated: 5,
            would_change: 2,
            changes: vec![(Status::Approved, Status::Pending, 2)],
            labels: 1,
            live_agreed: 0,
            shadow_agreed: 1,
            policy_version: "v".into(),
        }));
        let text = m.encode();
        assert!(
            text.contains("commentguard_shadow_evaluated_total 5"),
            "{text}"
        );
        assert!(text.contains("commentguard_shadow_would_change_total 2"));
        assert!(
            text.contains("commentguard_shadow_changes_total{from=\"APPROVED\",to=\"PENDING\"} 2")
        );
        assert!(text.contains("commentguard_shadow_label_agreements_total{policy=\"shadow\"} 1"));
        m.set_shadow(None);
        assert!(!m.encode().contains("shadow"));
    }
}
