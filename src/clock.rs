//! Wall-clock time for the delivery log and the quota windows.
//!
//! Code that decides by the time takes a [`Clock`]: [`SystemClock`] in the binary,
//! [`FakeClock`] in tests of quotas that span hours and days. A binary chooses its clock once,
//! at the edge ([`crate::commands::run`] takes it and calls [`install`]); [`now`] reads the
//! installed clock for the code that has none passed in yet (the store's timestamps, the
//! delivery engine). `mailshot` passes [`SystemClock`]; only the test build's
//! `mailshot-test-hooks` binary (`src/bin/test_hooks.rs`) can pass a [`FakeClock`].

use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Utc};

/// Where the current time comes from.
pub trait Clock: Send + Sync {
    /// The current time (UTC).
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a chosen time and runs at the real clock's speed from there.
#[derive(Debug, Clone, Copy)]
pub struct FakeClock {
    start: DateTime<Utc>,
    origin: Instant,
}

impl FakeClock {
    pub fn starting_at(start: DateTime<Utc>) -> FakeClock {
        FakeClock {
            start,
            origin: Instant::now(),
        }
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + self.origin.elapsed()
    }
}

static INSTALLED: OnceLock<Box<dyn Clock>> = OnceLock::new();

/// Makes `clock` the one [`now`] reads for the rest of the process. The first call wins: the
/// binary installs its clock before any time is read.
pub fn install(clock: Box<dyn Clock>) {
    let _ = INSTALLED.set(clock);
}

/// The current time (UTC) by the installed clock, [`SystemClock`] when none was installed.
pub fn now() -> DateTime<Utc> {
    INSTALLED.get_or_init(|| Box::new(SystemClock)).now()
}

/// `t` as the log writes it: RFC 3339, UTC, milliseconds.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fake_clock_starts_at_its_time_and_runs_on() {
        let start = DateTime::parse_from_rfc3339("2026-11-23T09:14:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = FakeClock::starting_at(start);
        let a = clock.now();
        assert!(a >= start && a - start < chrono::TimeDelta::seconds(5));
        assert!(clock.now() >= a);
    }
}
