//! `mailshot-test-hooks`: mailshot with switches for the end-to-end tests, built only with the
//! `test-hooks` feature (`cargo test` turns it on; `cargo build` and `cargo install` never
//! build this binary, and `mailshot` reads none of these variables).
//!
//! - `MAILSHOT_FAKE_NOW` (RFC 3339): the clock starts at that time and runs on from there,
//!   for quotas that span hours and days. It changes the times recorded in the log too.
//! - `MAILSHOT_PROGRESS_EVERY_MS`: the period of the plain progress lines (default 5 s).

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Parser;
use mailshot::clock::{Clock, FakeClock, SystemClock};

fn main() {
    let cli = mailshot::cli::Cli::parse();
    if let Some(ms) = var("MAILSHOT_PROGRESS_EVERY_MS").and_then(|v| v.parse().ok()) {
        mailshot::deliver::progress::set_line_every(Duration::from_millis(ms));
    }
    let clock: Box<dyn Clock> = match var("MAILSHOT_FAKE_NOW") {
        Some(t) => {
            let start = DateTime::parse_from_rfc3339(&t).expect("MAILSHOT_FAKE_NOW is RFC 3339");
            Box::new(FakeClock::starting_at(start.with_timezone(&Utc)))
        }
        None => Box::new(SystemClock),
    };
    let result = mailshot::commands::run(cli, clock);
    std::process::exit(mailshot::commands::exit_code(result));
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
