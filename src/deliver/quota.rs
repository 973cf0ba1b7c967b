//! Rolling quota windows (`max_per_hour`, `max_per_day`): the relay's limits, across
//! campaigns, across runs, and across runs going on at the same time.
//!
//! [`Quota::new`] is the rule without a store, clock-free, so tests drive it with fixed times.
//! [`Quota::shared`] keeps the send times in a table of the store, `quota_ledger`, which every
//! quota-limited run reads and writes: a message may go only once a transaction that takes the
//! store's write lock (`BEGIN IMMEDIATE`) has counted the windows and added its time, so two
//! runs sending at once never overrun a window together. The first run to use the ledger (or
//! one that finds it empty within the window) fills it from the delivery log's attempts, so a
//! restart or an upgrade does not reset a window. A run with no quota set writes nothing to
//! the ledger: a quota-limited run started within a day of it counts its sends only if the
//! ledger was empty then.

use std::collections::VecDeque;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::Result;

#[derive(Debug)]
pub struct Quota {
    /// (window length, messages allowed in it), for the limits that are set.
    windows: Vec<(Duration, u64)>,
    /// Send times within the longest window, oldest first (without a ledger).
    sent: VecDeque<DateTime<Utc>>,
    /// The store's shared record of send times, when limited.
    ledger: Option<Connection>,
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
            ledger: None,
        }
    }

    /// The windows kept in the store at `store` (see the module doc), as of `now`.
    pub fn shared(per_hour: u64, per_day: u64, store: &Path, now: DateTime<Utc>) -> Result<Quota> {
        let mut q = Quota::new(per_hour, per_day, []);
        if !q.is_limited() {
            return Ok(q);
        }
        let mut conn = Connection::open(store)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS quota_ledger (at TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS quota_ledger_at ON quota_ledger (at);",
        )?;
        let since = crate::clock::format(now - q.horizon());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM quota_ledger WHERE at <= ?1", [&since])?;
        let kept: u64 = tx.query_row("SELECT count(*) FROM quota_ledger", [], |r| r.get(0))?;
        if kept == 0 {
            tx.execute(
                "INSERT INTO quota_ledger (at) SELECT at FROM attempts WHERE at > ?1",
                [&since],
            )?;
        }
        tx.commit()?;
        q.ledger = Some(conn);
        Ok(q)
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

    /// A message may go at `now` (`None`, and it is counted), or not before the time returned.
    /// With a ledger, the count and the write are one transaction holding the store's write
    /// lock, so no other run can take the same place.
    pub fn take(&mut self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        if !self.is_limited() {
            return Ok(None);
        }
        let Some(conn) = &mut self.ledger else {
            let until = self.next_allowed(now)?;
            if until.is_none() {
                self.record(now);
            }
            return Ok(until);
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let until = ledger_next_allowed(&tx, &self.windows, now)?;
        if until.is_none() {
            tx.execute(
                "INSERT INTO quota_ledger (at) VALUES (?1)",
                [crate::clock::format(now)],
            )?;
        }
        tx.commit()?;
        Ok(until)
    }

    /// `None` if a message may go at `now`, else the earliest time one may.
    pub fn next_allowed(&mut self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        if let Some(conn) = &self.ledger {
            return Ok(ledger_next_allowed(conn, &self.windows, now)?);
        }
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
        Ok(until)
    }
}

/// [`Quota::next_allowed`]'s rule over the ledger's times.
fn ledger_next_allowed(
    conn: &Connection,
    windows: &[(Duration, u64)],
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let mut until: Option<DateTime<Utc>> = None;
    for (len, limit) in windows {
        let start = crate::clock::format(now - *len);
        let n: u64 = conn
            .prepare_cached("SELECT count(*) FROM quota_ledger WHERE at > ?1")?
            .query_row([&start], |r| r.get(0))?;
        if n >= *limit {
            let oldest: Option<String> = conn
                .prepare_cached(
                    "SELECT at FROM quota_ledger WHERE at > ?1 ORDER BY at LIMIT 1 OFFSET ?2",
                )?
                .query_row(params![start, n - limit], |r| r.get(0))
                .optional()?;
            let freed = oldest
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map_or(now, |t| t.to_utc())
                + *len;
            until = Some(until.map_or(freed, |u| u.max(freed)));
        }
    }
    Ok(until)
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
            match q.next_allowed(now).unwrap() {
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
            q.next_allowed(t("2026-11-23T10:00:00Z")).unwrap(),
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
            q.next_allowed(t("2026-11-23T05:00:00Z")).unwrap(),
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
        assert_eq!(q.next_allowed(Utc::now()).unwrap(), None);
    }

    #[test]
    fn no_limits_never_wait() {
        let mut q = Quota::new(0, 0, []);
        assert!(!q.is_limited());
        assert_eq!(q.next_allowed(t("2026-11-23T00:00:00Z")).unwrap(), None);
    }
}
