//! Wall-clock time for the delivery log and the quota windows.
//!
//! `MAILSHOT_FAKE_NOW` (an RFC 3339 time) starts the clock at that time instead of the real
//! one, for tests of quotas that span hours and days. It is a test hook: it changes the times
//! recorded in the log too.

use std::sync::LazyLock;
use std::time::Instant;

use chrono::{DateTime, Utc};

static ORIGIN: LazyLock<(Instant, Option<DateTime<Utc>>)> = LazyLock::new(|| {
    let fake = std::env::var("MAILSHOT_FAKE_NOW")
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok());
    (Instant::now(), fake.map(|t| t.with_timezone(&Utc)))
});

/// The current time (UTC).
pub fn now() -> DateTime<Utc> {
    match ORIGIN.1 {
        Some(start) => start + ORIGIN.0.elapsed(),
        None => Utc::now(),
    }
}

/// `t` as the log writes it: RFC 3339, UTC, milliseconds.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
