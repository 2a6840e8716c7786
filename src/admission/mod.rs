//! Admission control: a limited number of requests in the handlers at once; a request that
//! finds them all busy waits a short, bounded time for a slot and is then refused with
//! RESOURCE_EXHAUSTED. Under a standing queue the limit shrinks to what the service completes
//! within a latency target and waiting stops ([`AdaptiveLimit`]); `max_concurrent_requests` is
//! its ceiling, and the operator can fix it there.
//!
//! Refusing at once (plain load shedding) turns every short burst at normal load into refused
//! comments; queueing without bound turns overload into ever-growing latency and memory. An
//! in-flight limit with a short wait absorbs bursts and still bounds the latency of accepted
//! requests (the limit's worth of service time plus `max_wait`) when clients offer more than
//! the server can do; adapting the limit keeps that bound near the service's normal latency.
//!
//! A request whose client deadline (`grpc-timeout`) passes while it waits for a slot is
//! answered DEADLINE_EXCEEDED without reaching a handler, so nothing of it is stored. (Past
//! admission, tonic's timeout cancels the handler at the deadline: a submission not yet handed
//! to the committer is not stored; one already handed over is committed and stays so, and the
//! client's retry meets the duplicate check.)

mod adaptive;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::Status;
use tonic::codegen::http;

pub use adaptive::{AdaptiveLimit, LATENCY_FLOOR, TOLERANCE};

/// Calls whose slot ends when their response stream starts: their time says nothing about
/// how long a request takes, so it does not steer the adaptive limit (stream items do).
const STREAMING_CALLS: [&str; 4] = [
    "/commentguard.v1.CommentService/SubmitComments",
    "/commentguard.v1.ModerationService/WatchQueue",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

/// The in-flight slots every admitted request or stream item holds while it is handled.
#[derive(Debug, Clone)]
pub struct Slots {
    inner: Arc<Inner>,
    max_wait: Duration,
    /// When these slots were made: the clock of [`StorePause::ended_ms`].
    epoch: Instant,
}

#[derive(Debug)]
struct Inner {
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    /// The configured limit; a limit below it means overload was declared.
    ceiling: usize,
    /// `None`: the limit stays where it was set.
    adaptive: Option<Mutex<AdaptiveLimit>>,
    freed: Notify,
    /// Whether the store is paused (a checkpoint), or was until a moment ago.
    store_pause: StorePause,
}

/// While the store pauses every write (see [`Slots::follow_store_pauses`]), the requests
/// in flight wait for it and hold their slots: newcomers then wait up to [`PAUSE_WAIT`] for a
/// slot instead of being refused, and finding the limit reached says nothing about overload
/// until [`PAUSE_GRACE`] after the pause, while the backlog drains.
#[derive(Debug, Default)]
struct StorePause {
    paused: AtomicBool,
    /// When the last pause ended (ms since the slots were made); 0: never.
    ended_ms: AtomicU64,
}

/// How long a request waits for a slot while the store is paused.
const PAUSE_WAIT: Duration = Duration::from_secs(3);
/// How long after a pause a full house is still put down to it.
/// (At 4,000/s, the backlog of a 0.5 s pause drained in about 0.4 s; under true overload it
/// never drains, and overload is declared once the grace is over.)
const PAUSE_GRACE: Duration = Duration::from_millis(500);

impl Inner {
    fn with_adaptive(&self, change: impl FnOnce(&mut AdaptiveLimit, Instant) -> Option<usize>) {
        let Some(adaptive) = &self.adaptive else {
            return;
        };
        let mut adaptive = match adaptive.lock() {
            Ok(adaptive) => adaptive,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(limit) = change(&mut adaptive, Instant::now()) {
            let before = self.limit.swap(limit, Ordering::AcqRel);
            crate::telemetry::metrics().set_admission_limit(limit);
            if limit > before {
                self.freed.notify_waiters();
            }
        }
    }
}

/// One admitted request or stream item; frees its slot (and reports its latency to the
/// adaptive limit) when dropped.
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Inner>,
    admitted: Instant,
    sampled: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.inner.freed.notify_one();
        if self.sampled {
            let latency = self.admitted.elapsed();
            self.inner
                .with_adaptive(|adaptive, now| adaptive.record(latency, now));
        }
    }
}

impl Slots {
    /// `limit` slots (at least one); a taker waits up to `max_wait` for one. When `adaptive`,
    /// `limit` is the ceiling of an [`AdaptiveLimit`] fed with the requests' completions.
    pub fn new(limit: usize, max_wait: Duration, adaptive: bool) -> Self {
        let limit = limit.max(1);
        crate::telemetry::metrics().set_admission_limit(limit);
        Self {
            inner: Arc::new(Inner {
                in_flight: AtomicUsize::new(0),
                limit: AtomicUsize::new(limit),
                ceiling: limit,
                adaptive: adaptive.then(|| Mutex::new(AdaptiveLimit::new(limit, Instant::now()))),
                freed: Notify::new(),
                store_pause: StorePause::default(),
            }),
            max_wait,
            epoch: Instant::now(),
        }
    }

    /// Follows the store's pauses (`true` while paused) until the store drops its sender.
    pub fn follow_store_pauses(&self, mut paused: tokio::sync::watch::Receiver<bool>) {
        let slots = self.clone();
        tokio::spawn(async move {
            while paused.changed().await.is_ok() {
                let now_paused = *paused.borrow_and_update();
                let pause = &slots.inner.store_pause;
                if !now_paused {
                    let ended = slots.epoch.elapsed().as_millis() as u64;
                    pause.ended_ms.store(ended.max(1), Ordering::Release);
                }
                pause.paused.store(now_paused, Ordering::Release);
            }
        });
    }

    /// Whether the store is paused now.
    fn store_paused(&self) -> bool {
        self.inner.store_pause.paused.load(Ordering::Acquire)
    }

    /// Whether the store is paused or was until [`PAUSE_GRACE`] ago.
    fn after_store_pause(&self) -> bool {
        let ended = self.inner.store_pause.ended_ms.load(Ordering::Acquire);
        self.store_paused()
            || (ended > 0
                && self.epoch.elapsed().as_millis() as u64
                    <= ended + PAUSE_GRACE.as_millis() as u64)
    }

    /// The limit in force now.
    pub fn limit(&self) -> usize {
        self.inner.limit.load(Ordering::Acquire)
    }

    /// A slot, held until dropped; `None` when none came free within the wait, or at once
    /// under declared overload (the caller refuses with RESOURCE_EXHAUSTED).
    pub async fn acquire(&self) -> Option<Slot> {
        if let Some(slot) = self.try_take() {
            return Some(slot);
        }
        let after_store_pause = self.after_store_pause();
        if !after_store_pause {
            self.inner.with_adaptive(|adaptive, _| {
                adaptive.limited();
                None
            });
        }
        if self.limit() < self.inner.ceiling {
            // Overload is not a burst: waiting would only add latency to what is accepted.
            crate::telemetry::metrics().admission_refused.inc();
            return None;
        }
        let wait = if after_store_pause {
            PAUSE_WAIT
        } else {
            self.max_wait
        };
        let deadline = Instant::now() + wait;
        loop {
            let freed = self.inner.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a slot freed in between still wakes this taker.
            freed.as_mut().enable();
            if let Some(slot) = self.try_take() {
                return Some(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                let last_chance = self.try_take();
                if last_chance.is_none() {
                    crate::telemetry::metrics().admission_refused.inc();
                }
                return last_chance;
            }
        }
    }

    fn try_take(&self) -> Option<Slot> {
        let limit = self.inner.limit.load(Ordering::Acquire);
        self.inner
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < limit).then_some(taken + 1)
            })
            .ok()?;
        Some(Slot {
            inner: Arc::clone(&self.inner),
            admitted: Instant::now(),
            sampled: true,
        })
    }
}

/// The refusal of a request (or stream item) that found no slot.
pub fn at_capacity() -> Status {
    Status::resource_exhausted("the server is at capacity; retry shortly")
}

/// Wraps services in [`Admission`], all sharing one set of slots. A streaming call holds a
/// slot only until its response stream is returned; its items take slots of their own from
/// [`AdmissionLayer::slots`], one by one, so a stream counts like the requests it carries.
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    slots: Slots,
}

impl AdmissionLayer {
    /// `limit` requests in the handlers at once (at least one; the ceiling when `adaptive`);
    /// others wait up to `max_wait`.
    pub fn new(limit: usize, max_wait: Duration, adaptive: bool) -> Self {
        Self {
            slots: Slots::new(limit, max_wait, adaptive),
        }
    }

    /// The slots, for handlers that admit stream items one by one.
    pub fn slots(&self) -> Slots {
        self.slots.clone()
    }
}

impl<S> tower::Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            slots: self.slots.clone(),
        }
    }
}

/// The service [`AdmissionLayer`] wraps around.
#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    slots: Slots,
}

impl<S, ReqBody, B> tower::Service<http::Request<ReqBody>> for Admission<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let arrived = tokio::time::Instant::now();
        let deadline = client_timeout(request.headers()).map(|timeout| arrived + timeout);
        // The clone is not ready; keep the ready one for this request (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let slots = self.slots.clone();
        let streaming = STREAMING_CALLS.contains(&request.uri().path());
        Box::pin(async move {
            let Some(mut slot) = slots.acquire().await else {
                return Ok(at_capacity().into_http());
            };
            slot.sampled = !streaming;
            if deadline.is_some_and(|at| tokio::time::Instant::now() >= at) {
                return Ok(Status::deadline_exceeded(
                    "the deadline passed while the request waited; it was not processed",
                )
                .into_http());
            }
            let response = inner.call(request).await;
            drop(slot);
            response
        })
    }
}

/// The client's deadline from the `grpc-timeout` header (an integer and a unit: H, M, S, m,
/// u or n), if it sent a valid one.
fn client_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    /// A handler that holds its slot until told to finish.
    #[derive(Clone)]
    struct Hold(Arc<tokio::sync::Notify>);

    impl tower::Service<http::Request<()>> for Hold {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let release = Arc::clone(&self.0);
            Box::pin(async move {
                release.notified().await;
                Ok(http::Response::new("done".to_owned()))
            })
        }
    }

    /// Calls the service once and waits for the answer.
    async fn answer(service: &mut Admission<Hold>) -> http::Response<String> {
        let ready = service.ready().await.unwrap();
        ready.call(http::Request::new(())).await.unwrap()
    }

    /// Lets the first request finish, then the one that waited; returns the latter's answer.
    async fn release_both(
        release: &tokio::sync::Notify,
        first: tokio::task::JoinHandle<Result<http::Response<String>, std::convert::Infallible>>,
        waiting: tokio::task::JoinHandle<Result<http::Response<String>, std::convert::Infallible>>,
    ) -> http::Response<String> {
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().body(), "done");
        tokio::task::yield_now().await;
        release.notify_one();
        waiting.await.unwrap().unwrap()
    }

    fn grpc_status(response: &http::Response<String>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[test]
    fn reads_grpc_timeouts() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(client_timeout(&headers), None);
        for (value, expected) in [
            ("250m", Some(Duration::from_millis(250))),
            ("3S", Some(Duration::from_secs(3))),
            ("1H", Some(Duration::from_secs(3600))),
            ("10x", None),
            ("m", None),
        ] {
            headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
            assert_eq!(client_timeout(&headers), expected, "{value}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_whose_deadline_passed_while_waiting_is_not_processed() {
        let release = Arc::new(tokio::sync::Notify::new());
        let layer = AdmissionLayer::new(1, Duration::from_millis(50), false);
        let mut service = layer.layer(Hold(Arc::clone(&release)));
        let first = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::task::yield_now().await;

        let mut late = http::Request::new(());
        late.headers_mut()
            .insert("grpc-timeout", http::HeaderValue::from_static("5m"));
        let waiting = tokio::spawn(service.ready().await.unwrap().call(late));
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().body(), "done");
        let answer = waiting.await.unwrap().unwrap();
        assert_eq!(grpc_status(&answer), Some("4"), "DEADLINE_EXCEEDED");
        assert_ne!(answer.body(), "done", "the handler never ran");
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_a_slot_then_refuses() {
        let release = Arc::new(tokio::sync::Notify::new());
        let layer = AdmissionLayer::new(1, Duration::from_millis(20), false);
        let mut service = layer.layer(Hold(Arc::clone(&release)));

        let first = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::task::yield_now().await;
        // The only slot is taken: the second request waits 20 ms, then is refused.
        let refused = answer(&mut service).await;
        assert_eq!(grpc_status(&refused), Some("8"), "RESOURCE_EXHAUSTED");

        // A request that gets the slot within its wait is served.
        let waiting = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let served = release_both(&release, first, waiting).await;
        assert_eq!(grpc_status(&served), None);
        assert_eq!(served.body(), "done");
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_store_pauses_requests_wait_for_a_slot_instead_of_being_refused() {
        let release = Arc::new(tokio::sync::Notify::new());
        let layer = AdmissionLayer::new(1, Duration::from_millis(20), false);
        let (pause, paused) = tokio::sync::watch::channel(false);
        layer.slots().follow_store_pauses(paused);
        let mut service = layer.layer(Hold(Arc::clone(&release)));
        let first = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::task::yield_now().await;
        pause.send(true).unwrap();
        tokio::task::yield_now().await;
        // Far past the 20 ms wait, and served once the slot comes free.
        let waiting = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::time::sleep(Duration::from_millis(500)).await;
        pause.send(false).unwrap();
        let served = release_both(&release, first, waiting).await;
        assert_eq!(grpc_status(&served), None);
        assert_eq!(served.body(), "done");
        // Long after the pause, the ordinary wait again.
        tokio::time::sleep(PAUSE_GRACE * 2).await;
        let first = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::task::yield_now().await;
        let refused = answer(&mut service).await;
        assert_eq!(grpc_status(&refused), Some("8"), "RESOURCE_EXHAUSTED");
        release.notify_one();
        first.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn stream_items_share_the_slots_of_requests() {
        let release = Arc::new(tokio::sync::Notify::new());
        let layer = AdmissionLayer::new(2, Duration::from_millis(20), false);
        let slots = layer.slots();
        let mut service = layer.layer(Hold(Arc::clone(&release)));
        // One request in a handler and one stream item take both slots.
        let request = tokio::spawn(service.ready().await.unwrap().call(http::Request::new(())));
        tokio::task::yield_now().await;
        let item = slots.acquire().await.expect("a free slot");
        assert!(slots.acquire().await.is_none(), "no third slot");
        let refused = answer(&mut service).await;
        assert_eq!(grpc_status(&refused), Some("8"), "RESOURCE_EXHAUSTED");
        drop(item);
        assert!(slots.acquire().await.is_some(), "the item's slot came back");
        release.notify_one();
        request.await.unwrap().unwrap();
    }
}
