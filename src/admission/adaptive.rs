//! The adaptive in-flight limit: how many requests may be in the handlers at once.
//!
//! A fixed limit high enough for throughput fills up under overload, and then every accepted
//! request waits behind it: at twice the capacity, accepted latency grows to the limit's worth
//! of service time (Little's law: 256 in flight at 6,000/s is ~43 ms). The limit here has two
//! states, in the spirit of CoDel's "a standing queue is the signal" and BBR's sizing of
//! what is in flight from the delivery rate:
//! - **Normal**: the limit is the configured ceiling, so bursts and storage stalls at normal
//!   load are absorbed as before (a request waits up to `admission_wait_ms` for a slot).
//! - **Overloaded**: entered when requests found the ceiling reached for [`SUSTAINED`]
//!   windows in a row — a standing queue, not a burst. The limit becomes what the service
//!   completes in the latency target: the highest completion rate of recent windows × the
//!   target, where the target is the lowest recent window mean (the service's unqueued
//!   latency on this machine) × [`TOLERANCE`], never below [`LATENCY_FLOOR`]. Requests past
//!   it are refused at once instead of waiting, since overload is not a burst. Left as soon as
//!   a window passes in which no request found the limit reached.
//!
//! The limit is sized from the completion rate, not cut step by step by latency, so it does
//! not collapse when latency grows for reasons concurrency does not cause (CPU taken by the
//! refusals themselves, or by other processes); the rate was measured while the ceiling was
//! in force, so the service keeps its throughput.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How often the state is reconsidered (a window also needs [`MIN_SAMPLES`] requests).
const WINDOW: Duration = Duration::from_millis(100);
/// Requests a window needs before its figures say anything.
const MIN_SAMPLES: u32 = 16;
/// How much slower than its unqueued latency a request may get under overload.
pub const TOLERANCE: f64 = 2.0;
/// The lowest latency target: the limit under overload allows at least this much queueing.
pub const LATENCY_FLOOR: Duration = Duration::from_millis(5);
/// The baseline is the lowest window mean of the current and the previous period, so it
/// follows a slower disk or a bigger model instead of remembering one lucky window forever.
const BASELINE_PERIOD: Duration = Duration::from_secs(30);
/// How long a window's completion rate counts toward the highest recent rate.
const RATE_HORIZON: Duration = Duration::from_secs(10);
/// The limit never goes below this (nor above the configured ceiling).
const MIN_LIMIT: usize = 8;
/// Windows in a row in which requests found the ceiling reached before overload is declared.
const SUSTAINED: u32 = 2;

/// The limit and what it is computed from.
#[derive(Debug)]
pub struct AdaptiveLimit {
    ceiling: usize,
    limit: usize,
    window: Window,
    baseline: Baseline,
    /// Completion rates (per second) of recent windows, oldest first.
    rates: VecDeque<(Instant, f64)>,
    /// Windows in a row in which requests found the ceiling reached.
    limited_in_a_row: u32,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    total: Duration,
    samples: u32,
    limited: bool,
}

impl Window {
    fn new(started: Instant) -> Self {
        Self {
            started,
            total: Duration::ZERO,
            samples: 0,
            limited: false,
        }
    }
}

/// The lowest window mean of the current and the previous [`BASELINE_PERIOD`].
#[derive(Debug)]
struct Baseline {
    period_started: Instant,
    current: Option<Duration>,
    previous: Option<Duration>,
}

impl Baseline {
    fn observe(&mut self, mean: Duration, now: Instant) {
        if now.duration_since(self.period_started) >= BASELINE_PERIOD {
            self.previous = self.current.take();
            self.period_started = now;
        }
        self.current = Some(self.current.map_or(mean, |lowest| lowest.min(mean)));
    }

    fn lowest(&self) -> Option<Duration> {
        match (self.current, self.previous) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl AdaptiveLimit {
    /// Starts at `ceiling` (at least one), the most it ever allows.
    pub fn new(ceiling: usize, now: Instant) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            ceiling,
            limit: ceiling,
            window: Window::new(now),
            baseline: Baseline {
                period_started: now,
                current: None,
                previous: None,
            },
            rates: VecDeque::new(),
            limited_in_a_row: 0,
        }
    }

    /// Requests allowed in the handlers at once now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether overload was declared (requests past the limit are then refused at once).
    pub fn overloaded(&self) -> bool {
        self.limit < self.ceiling
    }

    /// The latency an accepted request may reach under overload.
    pub fn target(&self) -> Duration {
        let relative = self
            .baseline
            .lowest()
            .map_or(Duration::ZERO, |lowest| lowest.mul_f64(TOLERANCE));
        relative.max(LATENCY_FLOOR)
    }

    /// Notes that a request found the limit reached in this window.
    pub fn limited(&mut self) {
        self.window.limited = true;
    }

    /// Records one request's time in the handler; returns the new limit when a window closed
    /// and the limit changed.
    pub fn record(&mut self, latency: Duration, now: Instant) -> Option<usize> {
        self.window.total += latency;
        self.window.samples += 1;
        let elapsed = now.saturating_duration_since(self.window.started);
        if elapsed < WINDOW || self.window.samples < MIN_SAMPLES {
            return None;
        }
        let window = std::mem::replace(&mut self.window, Window::new(now));
        self.baseline.observe(window.total / window.samples, now);
        self.observe_rate(f64::from(window.samples) / elapsed.as_secs_f64(), now);
        let before = self.limit;
        self.limited_in_a_row = if window.limited {
            self.limited_in_a_row.saturating_add(1)
        } else {
            0
        };
        if !window.limited {
            self.limit = self.ceiling;
        } else if !self.overloaded() && self.limited_in_a_row >= SUSTAINED {
            self.limit = self.overload_limit();
        }
        (self.limit != before).then_some(self.limit)
    }

    /// What completes within the target at the highest recent rate (Little's law).
    fn overload_limit(&self) -> usize {
        let rate = self.rates.iter().map(|(_, rate)| *rate).fold(0.0, f64::max);
        let in_flight = (rate * self.target().as_secs_f64()).ceil() as usize;
        in_flight.clamp(MIN_LIMIT.min(self.ceiling), self.ceiling)
    }

    fn observe_rate(&mut self, rate: f64, now: Instant) {
        while self
            .rates
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > RATE_HORIZON)
        {
            self.rates.pop_front();
        }
        self.rates.push_back((now, rate));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds one window of `per_window` requests of `latency` over [`WINDOW`], limited or not.
    fn window(
        limit: &mut AdaptiveLimit,
        now: &mut Instant,
        per_window: u32,
        latency: Duration,
        limited: bool,
    ) -> usize {
        if limited {
            limit.limited();
        }
        for _ in 0..per_window {
            // A hair more than an even share, so the window closes on its last request.
            *now += WINDOW / per_window + Duration::from_nanos(1);
            limit.record(latency, *now);
        }
        limit.limit()
    }

    #[test]
    fn a_standing_queue_sizes_the_limit_from_the_rate_and_its_end_restores_the_ceiling() {
        let mut now = Instant::now();
        let mut limit = AdaptiveLimit::new(256, now);
        // Half load: 300 requests per 100 ms (3,000/s) at 4 ms, nobody waits.
        assert_eq!(window(&mut limit, &mut now, 300, 4 * MS, false), 256);
        assert_eq!(limit.target(), 8 * MS);
        // Overload: the ceiling is reached, 600 complete per window (6,000/s) at 40 ms.
        // One window is a burst; two in a row are overload: 6,000/s × 8 ms = 48.
        assert_eq!(window(&mut limit, &mut now, 600, 40 * MS, true), 256);
        assert!(!limit.overloaded());
        assert_eq!(window(&mut limit, &mut now, 600, 40 * MS, true), 48);
        assert!(limit.overloaded());
        // Still overloaded, and slower for other reasons: the limit does not collapse.
        assert_eq!(window(&mut limit, &mut now, 300, 30 * MS, true), 48);
        // Load falls: a window in which nobody found the limit reached restores the ceiling.
        assert_eq!(window(&mut limit, &mut now, 300, 5 * MS, false), 256);
        assert!(!limit.overloaded());
    }

    #[test]
    fn a_single_burst_or_a_stall_does_not_declare_overload() {
        let mut now = Instant::now();
        let mut limit = AdaptiveLimit::new(256, now);
        window(&mut limit, &mut now, 300, 4 * MS, false);
        for _ in 0..5 {
            assert_eq!(window(&mut limit, &mut now, 300, 60 * MS, true), 256);
            assert_eq!(window(&mut limit, &mut now, 300, 4 * MS, false), 256);
        }
    }

    #[test]
    fn the_limit_stays_between_the_minimum_and_the_ceiling() {
        let mut now = Instant::now();
        let mut slow = AdaptiveLimit::new(256, now);
        // 16 per window at 1 s: 160/s × 2 s target = 320, capped at the ceiling.
        for _ in 0..3 {
            window(&mut slow, &mut now, 16, Duration::from_secs(1), true);
        }
        assert_eq!(slow.limit(), 256);
        let mut fast = AdaptiveLimit::new(256, now);
        // 16 per window at 200 µs: 160/s × 5 ms floor = 0.8, raised to the minimum.
        for _ in 0..3 {
            window(&mut fast, &mut now, 16, Duration::from_micros(200), true);
        }
        assert_eq!(fast.target(), LATENCY_FLOOR);
        assert_eq!(fast.limit(), MIN_LIMIT);
    }

    #[test]
    fn the_baseline_forgets_after_two_periods() {
        let mut now = Instant::now();
        let mut limit = AdaptiveLimit::new(64, now);
        window(&mut limit, &mut now, 16, 4 * MS, false);
        assert_eq!(limit.target(), 8 * MS);
        // The machine got slower for good: 10 ms is the new unqueued latency.
        for _ in 0..700 {
            window(&mut limit, &mut now, 16, 10 * MS, false);
        }
        assert_eq!(limit.target(), 20 * MS);
    }

    #[test]
    fn a_window_needs_enough_requests() {
        let mut now = Instant::now();
        let mut limit = AdaptiveLimit::new(64, now);
        limit.limited();
        for _ in 0..MIN_SAMPLES - 1 {
            now += WINDOW;
            assert_eq!(limit.record(Duration::from_secs(1), now), None);
        }
        assert_eq!(limit.target(), LATENCY_FLOOR, "no window closed yet");
    }
}
