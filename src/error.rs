//! The error type every fallible step returns, and the exit codes it maps to.
//!
//! Messages follow one style: lowercase, the offending value in backticks, and the input
//! it came from (file, line, field) first. `main` prints `error: {message}` and exits with
//! [`Error::exit_code`].

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit status when every member was accepted (or nothing was left to send).
pub const EXIT_OK: i32 = 0;
/// Exit status when the campaign ran but some members failed or are still deferred.
pub const EXIT_FAILURES: i32 = 1;
/// Exit status for usage, config, template or member-list errors: nothing was sent.
pub const EXIT_USAGE: i32 = 2;
/// Exit status when Ctrl-C or SIGTERM stopped a send.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug)]
pub enum Error {
    /// Bad input from the user: config, template, list or arguments. Nothing was sent.
    Input(String),
    /// Something outside the input went wrong (disk, store, network setup).
    Runtime(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }

    pub fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }

    /// An I/O error on `path`, worded as `failed to {action} `path`: {err}`.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        Error::Runtime(format!("failed to {action} `{}`: {err}", path.display()))
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => EXIT_USAGE,
            Error::Runtime(_) => EXIT_FAILURES,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(m) | Error::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Runtime(format!("delivery log: {err}"))
    }
}

/// Shows a path the way the user typed it, for messages.
pub fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Joins `rel` to `base` unless it is absolute.
pub fn resolve(base: &Path, rel: &Path) -> PathBuf {
    if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// 1-based line of byte offset `pos` in `text`.
pub fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
