//! Replay with a moderator in the loop: records go through the live service one at a time in
//! file order, and after each verdict a scripted moderator corrects it through the moderation
//! API (a held or spammed ham is approved; a published or held spam is marked spam). The report
//! shows whether the service learns from those corrections: figures for the whole stream, for
//! its second half, and per consecutive window.

use std::time::Instant;

use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::{Recorder, ReplayReport, flagged, run_id, to_request};
use crate::confusion::{Confusion, Metrics};
use crate::dataset::LabelledComment;
use crate::proto::comment_service_client::CommentServiceClient;
use crate::proto::moderate_comment_request::Action;
use crate::proto::moderation_service_client::ModerationServiceClient;
use crate::proto::{self as pb, CommentStatus};

/// Figures of one consecutive window of the stream.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Index of the window's first record in the stream.
    pub start: usize,
    /// Index one past its last record.
    pub end: usize,
    /// Moderator corrections made from the stream's start to the window's end: the labels it
    /// took to get here.
    pub corrections: u64,
    /// Its figures.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// The `replay --feedback --json` object: the usual figures for the whole stream, plus the
/// later half and each window, and how many corrections the moderator made.
#[derive(Debug, Clone, Serialize)]
pub struct FeedbackReport {
    /// Figures and speed for the whole stream.
    #[serde(flatten)]
    pub whole: ReplayReport,
    /// The same figures for the later half of the stream (records `total / 2` onwards).
    pub second_half: Metrics,
    /// Figures per consecutive window of `window` records.
    pub windows: Vec<Window>,
    /// Moderation calls made (`APPROVE` and `MARK_SPAM`).
    pub corrections: u64,
    /// Moderation calls the service refused.
    pub correction_errors: u64,
}

/// What the scripted moderator does after a verdict, if anything.
pub fn correction(is_spam: bool, status: CommentStatus) -> Option<Action> {
    match (is_spam, status) {
        (false, CommentStatus::Pending | CommentStatus::Spam) => Some(Action::Approve),
        (true, CommentStatus::Approved | CommentStatus::Pending) => Some(Action::MarkSpam),
        _ => None,
    }
}

/// Replays `records` in order, one at a time, correcting each verdict with `token`'s
/// moderator rights; `window` records per window (at least 1).
///
/// # Errors
/// When the token is not printable ASCII or the service cannot be reached at all.
pub async fn replay_with_feedback(
    channel: Channel,
    records: &[LabelledComment],
    token: &str,
    window: usize,
    progress: &(dyn Fn() + Sync),
) -> anyhow::Result<FeedbackReport> {
    let bearer: MetadataValue<Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| anyhow::anyhow!("the token must be printable ASCII"))?;
    let mut comments = CommentServiceClient::new(channel.clone());
    let mut moderation = ModerationServiceClient::with_interceptor(
        channel,
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        },
    );
    let run = run_id();
    let recorder = Recorder::new();
    let started = Instant::now();
    // Each answered record's (label, flagged), in stream order, and the corrections made
    // up to and including it.
    let mut outcomes: Vec<(bool, bool)> = Vec::with_capacity(records.len());
    let mut corrected: Vec<u64> = Vec::with_capacity(records.len());
    let (mut corrections, mut correction_errors) = (0, 0);
    for (index, record) in records.iter().enumerate() {
        let sent = Instant::now();
        let answer = match comments
            .submit_comment(to_request(record, run, index))
            .await
        {
            Ok(answer) => answer.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                anyhow::bail!("the service went away: {}", status.message())
            }
            Err(_) => {
                recorder.error();
                progress();
                continue;
            }
        };
        let status = answer.status();
        let is_spam = record.label.is_spam();
        recorder.verdict(record, status, answer.spam_score, sent.elapsed());
        outcomes.push((is_spam, flagged(status)));
        if let Some(action) = correction(is_spam, status) {
            corrections += 1;
            let request = pb::ModerateCommentRequest {
                comment_id: answer.comment_id.clone(),
                action: action.into(),
                note: "replay --feedback".to_owned(),
            };
            if moderation.moderate_comment(request).await.is_err() {
                correction_errors += 1;
            }
        }
        corrected.push(corrections);
        progress();
    }
    let whole = recorder.finish(started.elapsed());
    Ok(FeedbackReport {
        whole,
        second_half: confusion_of(&outcomes[outcomes.len() / 2..]).metrics(),
        windows: windows(&outcomes, &corrected, window),
        corrections,
        correction_errors,
    })
}

fn confusion_of(outcomes: &[(bool, bool)]) -> Confusion {
    let mut c = Confusion::default();
    for &(spam, flagged) in outcomes {
        c.add(spam, flagged);
    }
    c
}

/// Figures per consecutive run of `size` outcomes (the last may be shorter); `corrected[i]`
/// is the corrections made up to outcome `i`.
pub fn windows(outcomes: &[(bool, bool)], corrected: &[u64], size: usize) -> Vec<Window> {
    let size = size.max(1);
    outcomes
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let end = i * size + chunk.len();
            Window {
                start: i * size,
                end,
                corrections: corrected.get(end - 1).copied().unwrap_or_default(),
                metrics: confusion_of(chunk).metrics(),
            }
        })
        .collect()
}

impl FeedbackReport {
    /// The text report: the whole stream's, then the second half and the windows.
    pub fn render(&self) -> String {
        let mut out = self.whole.render();
        let line = |name: &str, m: &Metrics| {
            format!(
                "{name:<16} {:>6} {:>7.4} {:>7.4} {:>11.4}\n",
                m.total, m.mcc, m.recall, m.ham_false_positive_rate
            )
        };
        out.push_str(&format!(
            "moderator corrections: {} ({} refused)\n{:<16} {:>6} {:>7} {:>7} {:>11}\n",
            self.corrections,
            self.correction_errors,
            "part",
            "total",
            "mcc",
            "recall",
            "ham flagged"
        ));
        out.push_str(&line("second half", &self.second_half));
        for w in &self.windows {
            out.push_str(&line(&format!("{}..{}", w.start, w.end), &w.metrics));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moderator_corrects_only_wrong_or_held_verdicts() {
        assert_eq!(correction(false, CommentStatus::Approved), None);
        assert_eq!(
            correction(false, CommentStatus::Pending),
            Some(Action::Approve)
        );
        assert_eq!(
            correction(false, CommentStatus::Spam),
            Some(Action::Approve)
        );
        assert_eq!(
            correction(true, CommentStatus::Approved),
            Some(Action::MarkSpam)
        );
        assert_eq!(
            correction(true, CommentStatus::Pending),
            Some(Action::MarkSpam)
        );
        assert_eq!(correction(true, CommentStatus::Spam), None);
    }

    #[test]
    fn windows_cover_the_stream_in_order() {
        let outcomes = vec![(true, true); 25];
        let corrected: Vec<u64> = (1..=25).map(|n| n / 2).collect();
        let w = windows(&outcomes, &corrected, 10);
        assert_eq!(w.len(), 3);
        assert_eq!((w[2].start, w[2].end, w[2].metrics.total), (20, 25, 5));
        assert_eq!((w[0].corrections, w[2].corrections), (5, 12));
    }
}
