//! Pacing: a steady rate with an optional burst (governor's GCRA), and batches separated by
//! pauses for providers with hourly quotas.
//!
//! [`Pacer`] is plain, clock-injected logic ("how long until the next message may go?"), so
//! tests drive it with governor's fake clock; [`SharedPacer`] is the async wrapper the send
//! workers queue on.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::RateConfig;

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub struct Pacer<C: Clock + Clone = DefaultClock> {
    limiter: Option<Limiter<C>>,
    clock: C,
    batch_size: u64,
    batch_pause: Duration,
    in_batch: u64,
}

impl<C: Clock + Clone> Pacer<C> {
    /// A pacer for `rate`, timed by `clock`.
    pub fn with_clock(rate: &RateConfig, clock: C) -> Pacer<C> {
        let limiter = (rate.messages_per_second > 0.0).then(|| {
            let period = Duration::from_secs_f64(1.0 / rate.messages_per_second)
                .max(Duration::from_nanos(1));
            // `burst` messages may go above the steady rate, so no one-second window carries more
            // than rate + burst. That slack also lets the pacer make up for a late wake-up,
            // which keeps the achieved rate on target (a GCRA with no slack loses every delay).
            let burst = NonZeroU32::new(rate.burst.max(1) + 1).expect("positive");
            let quota = Quota::with_period(period)
                .expect("period is positive")
                .allow_burst(burst);
            RateLimiter::direct_with_clock(quota, clock.clone())
        });
        Pacer {
            limiter,
            clock,
            batch_size: rate.batch_size,
            batch_pause: Duration::from_secs_f64(rate.batch_pause_secs),
            in_batch: 0,
        }
    }

    /// Zero when a message may go now (and counts it); otherwise how long to wait before
    /// asking again.
    pub fn next_pause(&mut self) -> Duration {
        if self.batch_size > 0 && self.in_batch >= self.batch_size {
            self.in_batch = 0;
            if !self.batch_pause.is_zero() {
                return self.batch_pause;
            }
        }
        if let Some(l) = &self.limiter
            && let Err(not_until) = l.check()
        {
            return not_until
                .wait_time_from(self.clock.now())
                .max(Duration::from_micros(1));
        }
        self.in_batch += 1;
        Duration::ZERO
    }
}

impl Pacer<DefaultClock> {
    pub fn new(rate: &RateConfig) -> Pacer {
        Pacer::with_clock(rate, DefaultClock::default())
    }
}

/// The pacer shared by all workers; waiting holds the queue so messages go in order.
pub struct SharedPacer {
    inner: tokio::sync::Mutex<Pacer>,
    unlimited: bool,
}

impl SharedPacer {
    /// Whether `rate` lets every message go at once (no pause, no batches).
    pub fn is_unlimited(rate: &RateConfig) -> bool {
        rate.messages_per_second <= 0.0 && rate.batch_size == 0
    }

    pub fn new(rate: &RateConfig) -> SharedPacer {
        SharedPacer {
            unlimited: SharedPacer::is_unlimited(rate),
            inner: tokio::sync::Mutex::new(Pacer::new(rate)),
        }
    }

    /// Waits until the next message may go.
    pub async fn acquire(&self) {
        if self.unlimited {
            return;
        }
        let mut p = self.inner.lock().await;
        loop {
            let wait = p.next_pause();
            if wait.is_zero() {
                return;
            }
            // tokio's timer rounds every sleep up to its next millisecond tick: at 100/s that
            // alone would lose ~10% of the rate. A thread sleep is precise to tens of
            // microseconds; the queue is held by design, and block_in_place lets the runtime
            // move other tasks off this thread meanwhile.
            if wait >= Duration::from_millis(50) {
                tokio::time::sleep(wait - Duration::from_millis(2)).await;
            } else {
                tokio::task::block_in_place(|| std::thread::sleep(wait));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn rate(mps: f64, burst: u32, batch_size: u64, pause: f64) -> RateConfig {
        RateConfig {
            messages_per_second: mps,
            burst,
            batch_size,
            batch_pause_secs: pause,
            ..RateConfig::default()
        }
    }

    /// Drives the pacer for `secs` of fake time and returns each send's time in seconds.
    fn sends(cfg: &RateConfig, secs: f64) -> Vec<f64> {
        let clock = FakeRelativeClock::default();
        let mut p = Pacer::with_clock(cfg, clock.clone());
        let mut out = Vec::new();
        let t = |c: &FakeRelativeClock| c.now().as_u64() as f64 / 1e9;
        while t(&clock) < secs {
            let wait = p.next_pause();
            if wait.is_zero() {
                out.push(t(&clock));
            } else {
                clock.advance(wait);
            }
        }
        out
    }

    fn max_in_any_window(times: &[f64], window: f64) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|&&t| t < times[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn steady_rate_over_a_minute() {
        let times = sends(&rate(10.0, 1, 0, 0.0), 60.0);
        // 10 a second, plus the one message of burst at the start.
        assert_eq!(times.len(), 601);
        assert_eq!(max_in_any_window(&times, 1.0), 11);
        // Steady after the start: one every 100 ms.
        assert!(
            times
                .windows(2)
                .skip(1)
                .all(|w| (w[1] - w[0] - 0.1).abs() < 1e-6)
        );
    }

    #[test]
    fn fractional_rate_sends_one_every_two_seconds() {
        let times = sends(&rate(0.5, 1, 0, 0.0), 10.0);
        // The burst of one goes at once, then one every 2 s.
        assert_eq!(times, vec![0.0, 0.0, 2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn no_second_carries_more_than_rate_plus_burst() {
        let times = sends(&rate(20.0, 5, 0, 0.0), 30.0);
        assert!(
            max_in_any_window(&times, 1.0) <= 25,
            "{}",
            max_in_any_window(&times, 1.0)
        );
        // Over the run the burst is a one-off: 20/s plus at most 5.
        assert!((600..=605).contains(&times.len()), "{}", times.len());
    }

    #[test]
    fn batches_are_separated_by_the_pause() {
        let times = sends(&rate(100.0, 1, 50, 60.0), 125.0);
        // 50 in the first half second, a minute's pause, 50 more, a minute's pause, then more.
        assert_eq!(times.iter().filter(|&&t| t < 60.0).count(), 50);
        let second: Vec<_> = times
            .iter()
            .filter(|&&t| (60.0..120.0).contains(&t))
            .collect();
        assert_eq!(second.len(), 50);
        // The first batch took 0.48 s (50 at 100/s, one of them burst).
        assert!(*second[0] >= 60.47 && *second[0] < 60.49, "{}", second[0]);
        let third = times.iter().find(|&&t| t >= 120.0).unwrap();
        assert!(*third >= 120.96 && *third < 121.0, "{third}");
    }
}
