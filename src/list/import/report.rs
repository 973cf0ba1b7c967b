//! The rows an import names, and the report (`--report`): every rejected, suppressed or
//! changed row as CSV, its cells neutralised for spreadsheets.

use std::fs::File;
use std::path::Path;

use crate::csv_safe::csv_safe;
use crate::error::{Error, Result, show};

/// What the report says happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Not imported; the reason says why.
    Rejected,
    /// Left out and suppressed: an opt-out column said so.
    Suppressed,
    /// Imported with a change: line breaks in a field that only reaches the body.
    Changed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Rejected => "rejected",
            Action::Suppressed => "suppressed",
            Action::Changed => "changed",
        }
    }
}

/// A row the report names, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Noted {
    pub file: String,
    pub line: u64,
    pub action: Action,
    pub reason: String,
    /// The row as it was read, re-joined as CSV.
    pub record: String,
}

/// Writes the report (`--report`) as CSV.
pub(super) struct Report {
    writer: Option<csv::Writer<File>>,
}

impl Report {
    pub(super) fn create(path: Option<&Path>) -> Result<Report> {
        let writer = match path {
            None => None,
            Some(p) => {
                let mut w = csv::Writer::from_path(p).map_err(|e| {
                    Error::input(format!("failed to create report `{}`: {e}", show(p)))
                })?;
                w.write_record(["file", "line", "action", "reason", "record"])
                    .map_err(|e| Error::runtime(e.to_string()))?;
                Some(w)
            }
        };
        Ok(Report { writer })
    }

    pub(super) fn add(&mut self, r: &Noted) -> Result<()> {
        if let Some(w) = &mut self.writer {
            // Member data is untrusted and the report is opened in spreadsheets.
            w.write_record([
                csv_safe(&r.file).as_bytes(),
                r.line.to_string().as_bytes(),
                r.action.as_str().as_bytes(),
                csv_safe(&r.reason).as_bytes(),
                csv_safe(&r.record).as_bytes(),
            ])
            .map_err(|e| Error::runtime(format!("failed to write the report: {e}")))?;
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<()> {
        if let Some(mut w) = self.writer {
            w.flush()
                .map_err(|e| Error::runtime(format!("failed to write the report: {e}")))?;
        }
        Ok(())
    }
}

/// A rejected row as the report shows it: the fields as CSV on one line.
pub(super) fn raw_record(record: &csv::StringRecord) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(record);
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
        .trim_end()
        .to_string()
}
