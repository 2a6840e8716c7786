//! Load generation: valid submissions at a fixed rate (open loop) or as fast as answers come
//! back (closed loop), for a bounded time, reporting throughput and latency percentiles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

use super::ReplayError;
use super::report::{LatencyMs, Recorder};
use crate::proto as pb;
use crate::proto::comment_service_client::CommentServiceClient;

/// How to load the service.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// How long to send for.
    pub duration: Duration,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Requests per second for an open-loop run; `None` sends as fast as answers return.
    pub rate: Option<f64>,
    /// Stop after sending this many requests, even before `duration` is up.
    pub max_requests: Option<u64>,
    /// Keeps this run's authors and posts apart from other runs' (see [`super::run_id`]).
    pub run_id: u64,
}

/// What a load run measured. Serialized, it is the `load --json` object.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Requests answered successfully.
    pub requests: u64,
    /// Requests refused or failed.
    pub errors: u64,
    /// The errors by gRPC code (`AlreadyExists`, `ResourceExhausted`, `Unavailable`, ...).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Successful requests per second of wall time.
    pub throughput_per_s: f64,
    /// Latency of successful requests; in open-loop runs measured from when each request was
    /// due, so a server that falls behind shows it.
    pub latency_ms: LatencyMs,
    /// Wall time in seconds, including draining the last requests.
    pub elapsed_s: f64,
}

/// Sends submissions built from `templates` (cycled; each gets a unique email so none is a
/// duplicate) over `channels` and measures the answers.
///
/// # Errors
/// When there is no connection or nothing to send, the rate is not positive, or a worker
/// fails; refused submissions are counted instead.
pub async fn run(
    channels: &[Channel],
    templates: Arc<Vec<pb::SubmitCommentRequest>>,
    options: LoadOptions,
) -> Result<LoadReport, ReplayError> {
    if channels.is_empty() {
        return Err(ReplayError::NoConnections);
    }
    if templates.is_empty() {
        return Err(ReplayError::NoSubmissions);
    }
    let recorder = Arc::new(Recorder::new());
    let requests = Requests {
        templates,
        counter: Arc::new(AtomicU64::new(0)),
        run: options.run_id,
        codes: Arc::new(Mutex::new(BTreeMap::new())),
    };
    let started = Instant::now();
    let bounds = Bounds {
        started,
        deadline: started + options.duration,
        concurrency: options.concurrency.max(1),
        limit: options.max_requests.unwrap_or(u64::MAX),
    };
    match options.rate {
        None => closed_loop(channels, &requests, &recorder, bounds).await?,
        Some(rate) => open_loop(channels, &requests, &recorder, bounds, rate).await?,
    }
    let elapsed = started.elapsed();
    let errors_by_code = requests
        .codes
        .lock()
        .map(|codes| codes.clone())
        .unwrap_or_default();
    let (requests, errors, histogram) = recorder.snapshot();
    Ok(LoadReport {
        requests,
        errors,
        errors_by_code,
        throughput_per_s: requests as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        latency_ms: LatencyMs::from_micros(&histogram),
        elapsed_s: elapsed.as_secs_f64(),
    })
}

/// The submissions of one run, made on demand from the templates in turn, each with an
/// email of its own (so none is a duplicate) and one of 1000 posts.
#[derive(Clone)]
struct Requests {
    templates: Arc<Vec<pb::SubmitCommentRequest>>,
    /// How many were made so far, across workers.
    counter: Arc<AtomicU64>,
    /// The run's id, which keeps emails and posts apart from other runs'.
    run: u64,
    /// Errors counted by gRPC code, across workers.
    codes: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Requests {
    /// The next submission.
    fn make(&self) -> pb::SubmitCommentRequest {
        let run = self.run;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut request = self.templates[(n as usize) % self.templates.len()].clone();
        request.author_email = format!("load-{run}-{n}@example.com");
        request.post_id = format!("load-{run}-{}", n % 1000);
        request
    }

    /// How many submissions were made so far.
    fn made(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// Counts a failed request by its code.
    fn failed(&self, recorder: &Recorder, status: &tonic::Status) {
        recorder.error();
        if let Ok(mut codes) = self.codes.lock() {
            *codes.entry(format!("{:?}", status.code())).or_default() += 1;
        }
    }
}

/// When a run started and what bounds it: a deadline, requests in flight, requests in all.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    started: Instant,
    deadline: Instant,
    concurrency: usize,
    limit: u64,
}

/// A closed-loop run: `concurrency` workers, each sending its next request as soon as the
/// last is answered, until the deadline or the limit.
async fn closed_loop(
    channels: &[Channel],
    requests: &Requests,
    recorder: &Arc<Recorder>,
    bounds: Bounds,
) -> Result<(), ReplayError> {
    let Bounds {
        deadline, limit, ..
    } = bounds;
    let workers: Vec<_> = (0..bounds.concurrency)
        .map(|w| {
            let mut client = CommentServiceClient::new(channels[w % channels.len()].clone());
            let recorder = Arc::clone(recorder);
            let requests = requests.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline && requests.made() < limit {
                    let sent = Instant::now();
                    match client.submit_comment(requests.make()).await {
                        Ok(_) => recorder.latency(sent.elapsed()),
                        Err(status) => requests.failed(&recorder, &status),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    Ok(())
}

/// An open-loop run: requests sent on a fixed schedule of `rate` per second whether or not
/// answers keep up (at most `concurrency` in flight), each timed from when it was due; then
/// waits for the last answers.
async fn open_loop(
    channels: &[Channel],
    requests: &Requests,
    recorder: &Arc<Recorder>,
    bounds: Bounds,
    rate: f64,
) -> Result<(), ReplayError> {
    if rate.is_nan() || rate <= 0.0 {
        return Err(ReplayError::BadRate);
    }
    let Bounds {
        started,
        deadline,
        concurrency,
        limit,
    } = bounds;
    let slots = Arc::new(Semaphore::new(concurrency));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut sent: u64 = 0;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while Instant::now() < deadline && sent < limit {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(limit);
        while sent < due {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let intended = started + interval.mul_f64(sent as f64);
            let mut client =
                CommentServiceClient::new(channels[(sent as usize) % channels.len()].clone());
            let recorder = Arc::clone(recorder);
            let request = requests.make();
            let requests = requests.clone();
            tokio::spawn(async move {
                match client.submit_comment(request).await {
                    Ok(_) => recorder.latency(intended.elapsed()),
                    Err(status) => requests.failed(&recorder, &status),
                }
                drop(permit);
            });
            sent += 1;
        }
    }
    // Wait for the requests still in flight.
    let _ = slots.acquire_many(concurrency as u32).await;
    Ok(())
}
