//! Rolling quota windows (`max_per_hour`, `max_per_day`): the relay's limits, across
//! campaigns and across runs. The history comes from the store's attempts, so a restart does
//! not reset a window; the logic here is clock-free so tests drive it with fixed times.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone)]
pub struct Quota {
    /// (window length, messages allowed in it), for the limits that are set.
    windows: Vec<(Duration, u64)>,
    /// Send times within the longest window, oldest first.
    sent: VecDeque<DateTime<Utc>>,
}

impl Quota {
    /// `per_hour`/`per_day` of 0 mean no limit; `history` is the earlier send times.
    pub fn new(
        per_hour: u64,
        per_day: u64,
        history: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> Quota {
        let mut windows = Vec::new();
        if per_hour > 0 {
            windows.push((Duration::hours(1), per_hour));
        }
        if per_day > 0 {
            windows.push((Duration::hours(24), per_day));
        }
        let mut sent: Vec<DateTime<Utc>> = history.into_iter().collect();
        sent.sort();
        Quota {
            windows,
            sent: sent.into(),
        }
    }

    pub fn is_limited(&self) -> bool {
        !self.windows.is_empty()
    }

    /// The longest window, for loading history.
    pub fn horizon(&self) -> Duration {
        self.windows
            .iter()
            .map(|(d, _)| *d)
            .max()
            .unwrap_or(Duration::zero())
    }

    /// Counts a message handed to the server at `at`. Without limits nothing is kept, so a
    /// long run's memory does not grow with it.
    pub fn record(&mut self, at: DateTime<Utc>) {
        if self.is_limited() {
            self.sent.push_back(at);
        }
    }

    /// `None` if a message may go at `now`, else the earliest time one may.
    pub fn next_allowed(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = self.horizon();
        while self.sent.front().is_some_and(|t| *t <= now - horizon) {
            self.sent.pop_front();
        }
        let mut until: Option<DateTime<Utc>> = None;
        for (len, limit) in &self.windows {
            let start = now - *len;
            let in_window: Vec<&DateTime<Utc>> = self.sent.iter().filter(|t| **t > start).collect();
            let n = in_window.len() as u64;
            if n >= *limit {
                // The window reopens when enough of its oldest sends have aged out of it.
                let freed = *in_window[(n - limit) as usize] + *len;
                until = Some(until.map_or(freed, |u| u.max(freed)));
            }
        }
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Sends as fast as allowed from `start` until `end`; returns the send times.
    fn run(
        q: &mut Quota,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        every: Duration,
    ) -> Vec<DateTime<Utc>> {
        let mut now = start;
        let mut out = Vec::new();
        while now < end {
            match q.next_allowed(now) {
                None => {
                    q.record(now);
                    out.push(now);
                    now += every;
                }
                Some(until) => now = until.max(now + every),
            }
        }
        out
    }

    #[test]
    fn a_daily_quota_holds_across_two_runs() {
        // Run 1, Monday 08:00-09:00, one message a second: the quota of 2,000 is used by 08:33.
        let mut q = Quota::new(0, 2000, []);
        let first = run(
            &mut q,
            t("2026-11-23T08:00:00Z"),
            t("2026-11-23T09:00:00Z"),
            Duration::seconds(1),
        );
        assert_eq!(first.len(), 2000);
        assert_eq!(*first.last().unwrap(), t("2026-11-23T08:33:19Z"));
        // Run 2 starts fresh at 10:00 with the history from the store: nothing may go
        // until the first of Monday's messages is 24 hours old.
        let mut q = Quota::new(0, 2000, first.clone());
        assert_eq!(
            q.next_allowed(t("2026-11-23T10:00:00Z")),
            Some(t("2026-11-24T08:00:00Z"))
        );
        let second = run(
            &mut q,
            t("2026-11-24T07:59:00Z"),
            t("2026-11-24T08:10:00Z"),
            Duration::seconds(1),
        );
        // From 08:00:00 on, one message frees up per second as Monday's age out.
        assert_eq!(second.first(), Some(&t("2026-11-24T08:00:00Z")));
        assert_eq!(second.len(), 600);
        // No 24-hour window ever holds more than 2,000.
        let all: Vec<_> = first.iter().chain(&second).collect();
        for (i, a) in all.iter().enumerate() {
            let n = all[i..]
                .iter()
                .take_while(|b| ***b < **a + Duration::hours(24))
                .count();
            assert!(n <= 2000, "{n} in the 24 hours from {a}");
        }
    }

    #[test]
    fn hourly_and_daily_limits_combine() {
        let mut q = Quota::new(100, 150, []);
        let sent = run(
            &mut q,
            t("2026-11-23T00:00:00Z"),
            t("2026-11-23T05:00:00Z"),
            Duration::seconds(10),
        );
        // 100 in the first hour, 50 in the second, then the day is used up.
        assert_eq!(sent.len(), 150);
        assert_eq!(sent[99], t("2026-11-23T00:16:30Z"));
        assert_eq!(sent[100], t("2026-11-23T01:00:00Z"));
        assert_eq!(
            q.next_allowed(t("2026-11-23T05:00:00Z")),
            Some(t("2026-11-24T00:00:00Z"))
        );
    }

    #[test]
    fn no_limits_keep_no_history() {
        let mut q = Quota::new(0, 0, []);
        for _ in 0..1000 {
            q.record(Utc::now());
        }
        assert!(q.sent.is_empty());
        assert_eq!(q.next_allowed(Utc::now()), None);
    }

    #[test]
    fn no_limits_never_wait() {
        let mut q = Quota::new(0, 0, []);
        assert!(!q.is_limited());
        assert_eq!(q.next_allowed(t("2026-11-23T00:00:00Z")), None);
    }
}
