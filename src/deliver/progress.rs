//! Progress while sending: a bar on a terminal, a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain progress line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

static LINE_EVERY_SET: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// Sets the period of plain progress lines (default `LINE_EVERY`) for the rest of the
/// process: only the test build's `mailshot-test-hooks` binary calls it, to see lines quickly.
pub fn set_line_every(every: Duration) {
    let _ = LINE_EVERY_SET.set(every);
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub accepted: u64,
    pub failed: u64,
    pub deferred: u64,
    /// Sent whole, no clear reply: not retried.
    pub uncertain: u64,
    pub retries: u64,
}

impl Tally {
    pub fn done(&self) -> u64 {
        self.accepted + self.failed + self.deferred + self.uncertain
    }
}

pub struct Progress {
    total: u64,
    started: Instant,
    last_line: Instant,
    every: Duration,
    bar: Option<ProgressBar>,
}

/// `1234567` -> `1,234,567`.
/// `1 row`, `2 rows`, `1,000 rows`: the count with thousands separators and the right form.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:25} {pos}/{len} {msg} ETA {eta}")
                    .expect("valid template"),
            );
            bar
        });
        let now = Instant::now();
        let every = LINE_EVERY_SET.get().copied().unwrap_or(LINE_EVERY);
        Progress {
            total,
            started: now,
            last_line: now,
            every,
            bar,
        }
    }

    pub fn update(&mut self, t: &Tally) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = t.done() as f64 / secs.max(1e-9);
        let counts = format!(
            "accepted {}, failed {}, deferred {}",
            t.accepted, t.failed, t.deferred
        );
        if let Some(bar) = &self.bar {
            bar.set_position(t.done());
            bar.set_message(format!("{counts}, {rate:.1}/s"));
        } else if self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            let left = self.total.saturating_sub(t.done());
            let eta = if rate > 0.0 {
                format!("{:.0} s", left as f64 / rate)
            } else {
                "unknown".into()
            };
            eprintln!(
                "progress: {}/{} ({counts}), {rate:.1}/s, ETA {eta}",
                thousands(t.done()),
                thousands(self.total)
            );
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
