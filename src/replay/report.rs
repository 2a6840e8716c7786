//! What a replay or load run measured, and how it is printed.

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::flagged;
use crate::confusion::{Confusion, Metrics};
use crate::dataset::LabelledComment;
use crate::proto::CommentStatus;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

impl LatencyMs {
    /// Percentiles of a histogram of microseconds.
    pub fn from_micros(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }
}

/// The outcome of a replay: accuracy against labels and speed. Serialized, it is the
/// `replay --json` object.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Accuracy figures over the answered records (spam is positive, flagged = SPAM or PENDING).
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Answered records per second of wall time.
    pub throughput_per_s: f64,
    /// Per-request latency.
    pub latency_ms: LatencyMs,
    /// Records the service refused or failed.
    pub errors: u64,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
    /// Each answered record's spam score and label (spam = true), for plots.
    #[serde(skip)]
    pub scores: Vec<(f64, bool)>,
}

/// Collects verdicts and latencies from concurrent workers.
#[derive(Debug)]
pub struct Recorder {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    confusion: Confusion,
    scores: Vec<(f64, bool)>,
    latency_us: Histogram<u64>,
    errors: u64,
}

/// Latencies above this (in µs) are clamped: one minute.
const MAX_LATENCY_US: u64 = 60_000_000;

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        let latency_us = latency_histogram();
        Self {
            state: Mutex::new(State {
                confusion: Confusion::default(),
                scores: Vec::new(),
                latency_us,
                errors: 0,
            }),
        }
    }

    /// Records one answered submission.
    pub fn verdict(
        &self,
        record: &LabelledComment,
        status: CommentStatus,
        spam_score: f32,
        latency: Duration,
    ) {
        if let Ok(mut state) = self.state.lock() {
            let is_spam = record.label.is_spam();
            state.confusion.add(is_spam, flagged(status));
            state.scores.push((f64::from(spam_score), is_spam));
            state.latency_us.saturating_record(latency_us(latency));
        }
    }

    /// Records one answered request whose verdict is not compared with a label (load runs).
    pub fn latency(&self, latency: Duration) {
        if let Ok(mut state) = self.state.lock() {
            state.latency_us.saturating_record(latency_us(latency));
        }
    }

    /// Records one refused or failed request.
    pub fn error(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.errors += 1;
        }
    }

    /// The requests answered so far and the errors, with their latency histogram.
    pub fn snapshot(&self) -> (u64, u64, Histogram<u64>) {
        match self.state.lock() {
            Ok(state) => (
                state.latency_us.len(),
                state.errors,
                state.latency_us.clone(),
            ),
            Err(_) => (0, 0, latency_histogram()),
        }
    }

    /// The report of a run that took `elapsed`.
    pub fn finish(&self, elapsed: Duration) -> ReplayReport {
        let (confusion, latency, errors, scores) = match self.state.lock() {
            Ok(state) => (
                state.confusion,
                state.latency_us.clone(),
                state.errors,
                state.scores.clone(),
            ),
            Err(_) => (Confusion::default(), latency_histogram(), 0, Vec::new()),
        };
        let latency = LatencyMs::from_micros(&latency);
        let metrics = confusion.metrics();
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        ReplayReport {
            metrics,
            throughput_per_s: metrics.total as f64 / seconds,
            latency_ms: latency,
            errors,
            elapsed_s: elapsed.as_secs_f64(),
            scores,
        }
    }
}

/// A histogram of microseconds with 3 significant digits up to a minute.
///
/// # Panics
/// Never: the bounds are constants that `hdrhistogram` accepts (the tests build one).
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_LATENCY_US, 3) {
        Ok(histogram) => histogram,
        Err(e) => panic!("constant histogram bounds rejected: {e}"),
    }
}

fn latency_us(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(MAX_LATENCY_US)
        .clamp(1, MAX_LATENCY_US)
}

impl ReplayReport {
    /// The human-readable report.
    pub fn render(&self) -> String {
        let m = &self.metrics;
        let pct = |x: f64| x * 100.0;
        format!(
            "            {:>9}   {:>11}
  spam      {:>9}   {:>11}
  ham       {:>9}   {:>11}

  total {}  errors {}
  accuracy {:.2}%  precision {:.2}%  recall {:.2}%  F1 {:.4}  MCC {:.4}
  ham flagged (false positive rate) {:.2}%
  throughput {:.0}/s over {:.2}s
  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}
",
            "flagged",
            "not flagged",
            m.true_positive,
            m.false_negative,
            m.false_positive,
            m.true_negative,
            m.total,
            self.errors,
            pct(m.accuracy),
            pct(m.precision),
            pct(m.recall),
            m.f1,
            m.mcc,
            pct(m.ham_false_positive_rate),
            self.throughput_per_s,
            self.elapsed_s,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.p999,
            self.latency_ms.max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Label;

    fn record(label: Label) -> LabelledComment {
        LabelledComment {
            post_id: String::new(),
            author_name: String::new(),
            author_email: String::new(),
            author_url: String::new(),
            content: String::new(),
            label,
            source: String::new(),
        }
    }

    #[test]
    fn counts_add_up_and_percentiles_order() {
        let recorder = Recorder::new();
        for ms in 1..=100 {
            let (label, status) = match ms % 4 {
                0 => (Label::Spam, CommentStatus::Spam),
                1 => (Label::Spam, CommentStatus::Approved),
                2 => (Label::Ham, CommentStatus::Pending),
                _ => (Label::Ham, CommentStatus::Approved),
            };
            recorder.verdict(&record(label), status, 0.5, Duration::from_millis(ms));
        }
        recorder.error();
        let report = recorder.finish(Duration::from_secs(2));
        let m = report.metrics;
        assert_eq!(m.total, 100);
        assert_eq!(
            m.true_positive + m.false_positive + m.true_negative + m.false_negative,
            100
        );
        assert_eq!((m.true_positive, m.false_negative), (25, 25));
        assert_eq!(report.errors, 1);
        assert_eq!(report.scores.len(), 100);
        assert!((report.throughput_per_s - 50.0).abs() < 1e-9);
        let l = report.latency_ms;
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max);
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
    }
}
