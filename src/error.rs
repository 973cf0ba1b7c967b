//! The error type every fallible step returns, and the exit codes it maps to.
//!
//! Messages follow one style: lowercase, the offending value in backticks, and the input
//! it came from (file, line, field) first. `main` prints `error: {message}` and exits with
//! [`Error::exit_code`]; a closed standard output ([`Error::BrokenPipe`]) ends quietly.
//!
//! | status | meaning |
//! |---|---|
//! | [`EXIT_OK`] 0 | done (every member accepted, or nothing left to send) |
//! | [`EXIT_FAILURES`] 1 | ran to its end, but some members failed or are deferred/uncertain (import, suppress: some rows rejected) |
//! | [`EXIT_USAGE`] 2 | usage, config, template or member-list error: nothing sent |
//! | [`EXIT_RUNTIME`] 3 | the store, disk or server failed, or the campaign stopped early: fix, then run again |
//! | [`EXIT_INTERRUPTED`] 130 | Ctrl-C or SIGTERM |

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit status when every member was accepted (or nothing was left to send), and for every
/// other command that did all it was asked.
pub const EXIT_OK: i32 = 0;
/// Exit status when the command ran to its end but some members failed or are still deferred
/// or uncertain (`send`), or some rows or addresses were rejected (`import`, `suppress`).
pub const EXIT_FAILURES: i32 = 1;
/// Exit status for usage, config, template or member-list errors: nothing was sent.
pub const EXIT_USAGE: i32 = 2;
/// Exit status when something outside the input went wrong: the store cannot be read or
/// written, a file cannot be written, or a campaign stopped early (server gone, login refused,
/// quota used up). Run the same command again once the cause is fixed.
pub const EXIT_RUNTIME: i32 = 3;
/// Exit status when Ctrl-C or SIGTERM stopped a send.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug)]
pub enum Error {
    /// Bad input from the user: config, template, list or arguments. Nothing was sent.
    Input(String),
    /// A member list that cannot be read, or a row of it that is not a member.
    MemberList(ListError),
    /// Something outside the input went wrong (disk, network setup).
    Runtime(String),
    /// The store (the delivery log, `mailshot.db`) refused a query.
    Store(rusqlite::Error),
    /// import's scratch database (members beyond the memory limit) refused a query.
    Scratch(rusqlite::Error),
    /// Whoever read standard output stopped reading (`mailshot log | head -1`): nothing to
    /// report, the command ends quietly.
    BrokenPipe,
    /// A second Ctrl-C or SIGTERM stopped a send without waiting for the messages in flight.
    StoppedAtOnce { campaign: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A member list that cannot be read: its file, the line when one is to blame, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    pub path: PathBuf,
    /// 1-based line of the file (the header is line 1); `None` when the file as a whole is at
    /// fault (it cannot be opened).
    pub line: Option<u64>,
    pub reason: String,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to read member list `{}`: ", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.reason)
    }
}

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

    /// A member list `path` that cannot be read at `line` (`None`: the whole file).
    pub fn member_list(path: &Path, line: Option<u64>, reason: impl Into<String>) -> Self {
        Error::MemberList(ListError {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        })
    }

    /// A failed write to standard output: [`Error::BrokenPipe`] when its reader has gone.
    pub fn stdout(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            Error::BrokenPipe
        } else {
            Error::Runtime(format!("failed to write to standard output: {err}"))
        }
    }

    /// A query on import's scratch database that failed.
    pub fn scratch(err: rusqlite::Error) -> Self {
        Error::Scratch(err)
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::MemberList(_) => EXIT_USAGE,
            Error::Runtime(_) | Error::Store(_) | Error::Scratch(_) => EXIT_RUNTIME,
            Error::BrokenPipe => EXIT_OK,
            Error::StoppedAtOnce { .. } => EXIT_INTERRUPTED,
        }
    }

    /// Whether `main` should print the error: not when standard output's reader has gone.
    pub fn is_reported(&self) -> bool {
        !matches!(self, Error::BrokenPipe)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(m) | Error::Runtime(m) => f.write_str(m),
            Error::MemberList(e) => e.fmt(f),
            Error::Store(e) => write!(f, "delivery log: {e}"),
            Error::Scratch(e) => write!(f, "import's scratch database: {e}"),
            Error::BrokenPipe => f.write_str("standard output was closed"),
            Error::StoppedAtOnce { campaign } => write!(
                f,
                "stopping at once: members being sent now will be `uncertain`; resume with: mailshot send --campaign {campaign}"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Store(err)
    }
}

impl From<ListError> for Error {
    fn from(err: ListError) -> Self {
        Error::MemberList(err)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_list_error_names_its_file_and_line() {
        let at = |line| {
            Error::member_list(
                Path::new("lists/members.csv"),
                line,
                "`bob@@example.org` is not a valid address",
            )
        };
        assert_eq!(
            at(Some(14)).to_string(),
            "failed to read member list `lists/members.csv`: line 14: `bob@@example.org` is not a valid address"
        );
        assert_eq!(
            at(None).to_string(),
            "failed to read member list `lists/members.csv`: `bob@@example.org` is not a valid address"
        );
        assert_eq!(at(None).exit_code(), EXIT_USAGE);
    }

    #[test]
    fn runtime_errors_have_their_own_exit_code() {
        assert_eq!(Error::runtime("x").exit_code(), EXIT_RUNTIME);
        assert_eq!(
            Error::from(rusqlite::Error::InvalidQuery).exit_code(),
            EXIT_RUNTIME
        );
        assert_ne!(EXIT_RUNTIME, EXIT_FAILURES);
    }

    #[test]
    fn scratch_database_errors_are_not_called_the_delivery_log() {
        let e = Error::scratch(rusqlite::Error::InvalidQuery).to_string();
        assert!(e.starts_with("import's scratch database: "), "{e}");
    }

    #[test]
    fn a_closed_stdout_ends_quietly_with_success() {
        let e = Error::stdout(std::io::ErrorKind::BrokenPipe.into());
        assert!(!e.is_reported());
        assert_eq!(e.exit_code(), EXIT_OK);
        let e = Error::stdout(std::io::ErrorKind::StorageFull.into());
        assert!(e.is_reported());
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
    }
}
