//! Progress while sending: a bar on a terminal, a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain progress line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub accepted: u64,
    pub failed: u64,
    pub deferred: u64,
    pub retries: u64,
}

impl Tally {
    pub fn done(&self) -> u64 {
        self.accepted + self.failed + self.deferred
    }
}

pub struct Progress {
    total: u64,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
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
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {per_sec} ETA {eta}")
                    .expect("valid template"),
            );
            bar
        });
        let now = Instant::now();
        Progress {
            total,
            started: now,
            last_line: now,
            bar,
        }
    }

    pub fn update(&mut self, t: &Tally) {
        let msg = format!(
            "accepted {}, failed {}, deferred {}",
            t.accepted, t.failed, t.deferred
        );
        if let Some(bar) = &self.bar {
            bar.set_position(t.done());
            bar.set_message(msg);
        } else if self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            let secs = self.started.elapsed().as_secs_f64();
            let rate = t.done() as f64 / secs.max(1e-9);
            let left = self.total.saturating_sub(t.done());
            let eta = if rate > 0.0 {
                format!("{:.0} s", left as f64 / rate)
            } else {
                "unknown".into()
            };
            eprintln!(
                "progress: {}/{} ({msg}), {rate:.1}/s, ETA {eta}",
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
