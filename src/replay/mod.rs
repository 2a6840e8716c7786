//! Replaying labelled datasets through a live service and generating load: the client side
//! of measuring how well and how fast commentguard moderates.

pub mod feedback;
pub mod load;
pub mod plot;
mod report;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

pub use report::{LatencyMs, Recorder, ReplayReport};

use crate::dataset::LabelledComment;
use crate::proto::comment_service_client::CommentServiceClient;
use crate::proto::{self as pb, CommentStatus};

/// Why a replay or load run could not be carried out (refused submissions are not errors:
/// they are counted in the report).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No connection was given to send over.
    #[error("at least one connection is needed")]
    NoConnections,
    /// A load run was given nothing to send.
    #[error("no submissions to send")]
    NoSubmissions,
    /// An open-loop load run was given a rate that is not positive.
    #[error("--rate must be positive")]
    BadRate,
    /// A `SubmitComments` stream closed before answering every request.
    #[error("the stream ended after fewer answers than requests")]
    StreamEnded,
    /// The service refused a stream or broke it.
    #[error(transparent)]
    Rpc(#[from] tonic::Status),
    /// A load worker task failed.
    #[error(transparent)]
    Worker(#[from] tokio::task::JoinError),
}

/// How submissions reach the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One `SubmitComments` stream per connection (bulk, the default).
    Stream,
    /// One `SubmitComment` call per record.
    Unary,
    /// One `CheckComment` call per record: verdicts without storing anything.
    CheckOnly,
}

/// The full request a site would send for one dataset record.
///
/// The record's author becomes the name (a placeholder when the dataset has none), and each
/// record gets its own synthetic post id and a unique, valid email under `example.com`, so
/// that duplicate and per-author rules see every record as a first, independent comment and
/// the measurement is about the content alone.
pub fn to_request(record: &LabelledComment, run: u64, index: usize) -> pb::SubmitCommentRequest {
    let author_name = if record.author_name.trim().is_empty() {
        format!("Replay author {index}")
    } else {
        record.author_name.clone()
    };
    pb::SubmitCommentRequest {
        post_id: format!("replay-{run}-{index}"),
        post_title: String::new(),
        parent_id: String::new(),
        author_name,
        author_email: format!("replay-{run}-{index}@example.com"),
        author_url: record.author_url.clone(),
        content: record.content.clone(),
        context: None,
        idempotency_key: String::new(),
    }
}

/// A run id that keeps runs into the same store from colliding: random, so two clients
/// started in the same millisecond (several `load`s against several frontends) still send
/// different authors.
pub fn run_id() -> u64 {
    rand::random::<u64>() >> 16
}

/// Whether a verdict counts as flagged: anything a reader would not see right away.
pub fn flagged(status: CommentStatus) -> bool {
    matches!(status, CommentStatus::Spam | CommentStatus::Pending)
}

/// Sends every record through the service with at most `concurrency` in flight over
/// `connections`, and compares verdicts with labels. `progress` is called once per answer.
///
/// # Errors
/// When the service cannot be reached or a stream breaks; refused records are counted as
/// errors in the report instead.
pub async fn replay(
    channels: &[Channel],
    records: &[LabelledComment],
    mode: Mode,
    concurrency: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<ReplayReport, ReplayError> {
    if channels.is_empty() {
        return Err(ReplayError::NoConnections);
    }
    let run = run_id();
    let recorder = Recorder::new();
    let started = Instant::now();
    let concurrency = concurrency.max(1);
    match mode {
        Mode::Stream => {
            let per_stream = concurrency.div_ceil(channels.len()).max(1);
            let shards: Vec<Vec<usize>> = (0..channels.len())
                .map(|c| (c..records.len()).step_by(channels.len()).collect())
                .collect();
            let streams = channels.iter().zip(shards).map(|(channel, indexes)| {
                stream_shard(
                    channel.clone(),
                    records,
                    indexes,
                    run,
                    per_stream,
                    &recorder,
                    progress,
                )
            });
            for result in futures_util::future::join_all(streams).await {
                result?;
            }
        }
        Mode::Unary | Mode::CheckOnly => {
            let next = AtomicUsize::new(0);
            let workers = (0..concurrency).map(|w| {
                let client = CommentServiceClient::new(channels[w % channels.len()].clone());
                unary_worker(client, records, &next, run, mode, &recorder, progress)
            });
            futures_util::future::join_all(workers).await;
        }
    }
    Ok(recorder.finish(started.elapsed()))
}

async fn unary_worker(
    mut client: CommentServiceClient<Channel>,
    records: &[LabelledComment],
    next: &AtomicUsize,
    run: u64,
    mode: Mode,
    recorder: &Recorder,
    progress: &(dyn Fn() + Sync),
) {
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(record) = records.get(index) else {
            return;
        };
        let request = to_request(record, run, index);
        let sent = Instant::now();
        let answer = if mode == Mode::CheckOnly {
            client.check_comment(request).await
        } else {
            client.submit_comment(request).await
        };
        match answer {
            Ok(answer) => {
                let answer = answer.get_ref();
                recorder.verdict(record, answer.status(), answer.spam_score, sent.elapsed());
            }
            Err(_) => recorder.error(),
        }
        progress();
    }
}

/// One `SubmitComments` stream carrying the records at `indexes`, with at most `window`
/// unanswered at a time.
async fn stream_shard(
    channel: Channel,
    records: &[LabelledComment],
    indexes: Vec<usize>,
    run: u64,
    window: usize,
    recorder: &Recorder,
    progress: &(dyn Fn() + Sync),
) -> Result<(), ReplayError> {
    if indexes.is_empty() {
        return Ok(());
    }
    let window = Arc::new(Semaphore::new(window));
    let in_flight = Arc::new(Mutex::new(VecDeque::new()));
    let requests: Vec<_> = indexes
        .iter()
        .map(|&i| to_request(&records[i], run, i))
        .collect();
    let outgoing = {
        let window = Arc::clone(&window);
        let in_flight = Arc::clone(&in_flight);
        futures_util::stream::iter(requests).then(move |request| {
            let window = Arc::clone(&window);
            let in_flight = Arc::clone(&in_flight);
            async move {
                if let Ok(permit) = window.acquire_owned().await {
                    permit.forget();
                }
                if let Ok(mut queue) = in_flight.lock() {
                    queue.push_back(Instant::now());
                }
                request
            }
        })
    };
    let mut answers = CommentServiceClient::new(channel)
        .submit_comments(outgoing)
        .await?
        .into_inner();
    for &index in &indexes {
        let Some(answer) = answers.message().await? else {
            return Err(ReplayError::StreamEnded);
        };
        let sent = in_flight
            .lock()
            .ok()
            .and_then(|mut queue| queue.pop_front());
        window.add_permits(1);
        let latency = sent.map_or(Duration::ZERO, |s| s.elapsed());
        if answer.error.is_some() {
            recorder.error();
        } else {
            recorder.verdict(&records[index], answer.status(), answer.spam_score, latency);
        }
        progress();
    }
    Ok(())
}
