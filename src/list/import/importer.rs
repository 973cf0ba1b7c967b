//! The import under way: each file's header row mapped and its columns registered, each data
//! row rejected, suppressed (an opt-out) or staged for the merge, and all of it counted.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use super::columns::{column_names, given_columns};
use super::opt_out::opt_out_column;
use super::report::{Action, Noted, Report, raw_record};
use super::row::{Layout, split_mailbox};
use super::source::Source;
use super::stage::{self, Stage};
use super::{MAX_NAMED, OptOut, Options, Summary, quoted_list};
use crate::error::{Error, Result, show};
use crate::list::check_address;

/// The import under way: the counts, the report, the merge.
pub(super) struct Importer<'a> {
    opts: &'a Options,
    /// Addresses suppressed in the store (their keys).
    suppressed: &'a HashSet<String>,
    pub(super) summary: Summary,
    pub(super) report: Report,
    pub(super) stage: Stage,
    /// Every column seen, by the index records use; `listed` says which the list keeps.
    pub(super) columns: Vec<String>,
    pub(super) listed: Vec<bool>,
    /// Addresses an opt-out column suppressed in this import (their keys).
    pub(super) opted: HashSet<String>,
    pub(super) opt_outs: Vec<OptOut>,
    /// The record being built.
    scratch: Vec<u8>,
}

impl<'a> Importer<'a> {
    /// An import of `opts` leaving out `suppressed` addresses, its report created.
    pub(super) fn new(opts: &'a Options, suppressed: &'a HashSet<String>) -> Result<Self> {
        Ok(Importer {
            opts,
            suppressed,
            summary: Summary::default(),
            report: Report::create(opts.report.as_deref())?,
            stage: Stage::with_limit(opts.memory_limit),
            columns: Vec::new(),
            listed: Vec::new(),
            opted: HashSet::new(),
            opt_outs: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// The index of column `name`, registering it (and whether the list keeps it).
    fn column(&mut self, name: &str, listed: bool) -> Result<u16> {
        let i = match self.columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.columns.push(name.to_string());
                self.listed.push(false);
                self.columns.len() - 1
            }
        };
        self.listed[i] |= listed;
        u16::try_from(i).map_err(|_| Error::input("more than 65,535 columns"))
    }

    fn note(&mut self, n: Noted) -> Result<()> {
        self.report.add(&n)?;
        let (count, named) = match n.action {
            Action::Rejected => (&mut self.summary.rejected, &mut self.summary.rejected_rows),
            Action::Changed => (&mut self.summary.changed, &mut self.summary.changed_rows),
            Action::Suppressed => return Ok(()),
        };
        *count += 1;
        if named.len() < MAX_NAMED {
            named.push(n);
        }
        Ok(())
    }

    /// A row of an import file, its record in `self.scratch`.
    fn imported(&mut self, key: &str) -> Result<()> {
        if self.suppressed.contains(key) || self.opted.contains(key) {
            self.summary.suppressed += 1;
            return Ok(());
        }
        if self.stage.imported(key, &self.scratch)? {
            self.summary.duplicates += 1;
        }
        Ok(())
    }

    /// Reads one file's rows; `existing` for the list being merged into. Returns the number
    /// of data rows read.
    pub(super) fn read_file(&mut self, path: &Path, existing: bool) -> Result<u64> {
        let (mut source, layout) = self.open(path, existing)?;
        let mut record = csv::StringRecord::new();
        let mut read = 0u64;
        loop {
            let line = match source.next(&mut record, &layout.file)? {
                Ok(None) => break,
                Ok(Some(line)) => line,
                Err((e, line)) => {
                    read += 1;
                    let fatal = !matches!(e.kind(), csv::ErrorKind::Utf8 { .. });
                    self.note(Noted {
                        file: layout.file.clone(),
                        line,
                        action: Action::Rejected,
                        reason: e.to_string(),
                        record: String::new(),
                    })?;
                    if fatal {
                        break;
                    }
                    continue;
                }
            };
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            read += 1;
            self.row(&layout, &record, line, existing)?;
        }
        Ok(read)
    }

    /// Opens `path`, reads its header row and registers its columns.
    fn open(&mut self, path: &Path, existing: bool) -> Result<(Source, Layout)> {
        let file = show(path);
        let (mut source, read_as) = if existing {
            Source::open(path, None, None, None)?
        } else {
            let o = self.opts;
            Source::open(path, o.encoding, o.delimiter, o.sheet.as_deref())?
        };
        if !existing {
            self.summary.formats.push((path.to_path_buf(), read_as));
        }
        let mut headers = csv::StringRecord::new();
        if let Err((e, _)) = source.next(&mut headers, &file)? {
            return Err(Error::input(format!(
                "failed to read `{file}`: line 1: {e}"
            )));
        }
        let given = if existing {
            vec![None; headers.len()]
        } else {
            given_columns(&headers, &self.opts.columns, &file)?
        };
        let opt_out: Vec<bool> = headers
            .iter()
            .zip(&given)
            .map(|(h, g)| !existing && g.is_none() && opt_out_column(h))
            .collect();
        let names = column_names(&headers, given);
        let Some(email_col) = names.iter().position(|n| n == "email") else {
            return Err(Error::input(format!(
                "`{file}` has no email column (headers found: {})",
                quoted_list(headers.iter())
            )));
        };
        for (i, h) in headers.iter().enumerate() {
            if opt_out[i] && !self.summary.opt_out_columns.iter().any(|c| c == h) {
                self.summary.opt_out_columns.push(h.to_string());
            }
        }
        let blank_header: Vec<bool> = headers.iter().map(|h| h.trim().is_empty()).collect();
        let mut index: Vec<u16> = Vec::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            index.push(self.column(n, !blank_header[i] && !opt_out[i])?);
        }
        let layout = Layout {
            file,
            headers,
            names,
            opt_out,
            blank_header,
            index,
            email_col,
        };
        Ok((source, layout))
    }

    /// One data row at `line`: rejected, suppressed (an opt-out), or staged.
    fn row(
        &mut self,
        layout: &Layout,
        record: &csv::StringRecord,
        line: u64,
        existing: bool,
    ) -> Result<()> {
        let bad = |reason: String| Noted {
            file: layout.file.clone(),
            line,
            action: Action::Rejected,
            reason,
            record: raw_record(record),
        };
        let width = layout.names.len();
        if record.len() > width && record.iter().skip(width).any(|f| !f.trim().is_empty()) {
            let found = record.len();
            return self.note(bad(format!("found {found} fields, the header has {width}")));
        }
        let mut fields = match layout.fields(record) {
            Ok(fields) => fields,
            Err(reason) => return self.note(bad(reason)),
        };
        let (display, addr) = split_mailbox(record.get(layout.email_col).unwrap_or(""));
        let email = match check_address(&addr) {
            Ok(e) => e,
            Err(r) => return self.note(bad(format!("field `email`: {r}"))),
        };
        let key = crate::address::key(&email);
        if let Some(i) = fields.opted_out {
            // The member asked not to be mailed: suppress, never list.
            let cell = record.get(i).unwrap_or("").trim();
            let why = format!(
                "field `{}` is `{cell}`: `{email}` suppressed (unsubscribed)",
                &layout.headers[i]
            );
            let source = format!("mailshot import {} line {line}", layout.file);
            return self.opted_out(
                key,
                email,
                source,
                Noted {
                    action: Action::Suppressed,
                    ..bad(why)
                },
            );
        }
        if let Some(display) = display {
            self.name_from_display(&mut fields.values, &display)?;
        }
        if !fields.changed.is_empty() {
            let list = quoted_list(fields.changed.iter().copied());
            self.note(Noted {
                action: Action::Changed,
                ..bad(format!("line breaks turned into spaces in {list}"))
            })?;
        }
        self.scratch.clear();
        stage::encode(
            &mut self.scratch,
            &email,
            fields.values.iter().map(|(c, v)| (*c, v.as_bytes())),
        );
        if !existing {
            return self.imported(&key);
        }
        if self.suppressed.contains(&key) {
            self.summary.removed += 1;
            return Ok(());
        }
        self.stage.existing(&key, &self.scratch)
    }

    /// A row whose opt-out column says no mail: counted and suppressed, never listed.
    fn opted_out(&mut self, key: String, email: String, source: String, n: Noted) -> Result<()> {
        self.summary.suppressed += 1;
        self.summary.opted_out += 1;
        if !self.suppressed.contains(&key) && self.opted.insert(key) {
            self.opt_outs.push(OptOut { email, source });
        }
        self.note(n)
    }

    /// A display name (`Ann Lee <ann@...>`) fills the name columns when the row has none.
    fn name_from_display(
        &mut self,
        values: &mut Vec<(u16, Cow<str>)>,
        display: &str,
    ) -> Result<()> {
        let (first, last) = (
            self.column("first_name", true)?,
            self.column("last_name", true)?,
        );
        let has = |c: u16| values.iter().any(|(k, v)| *k == c && !v.is_empty());
        if !has(first) && !has(last) {
            let (f, l) = display.rsplit_once(' ').unwrap_or((display, ""));
            values.retain(|(k, _)| *k != first && *k != last);
            values.push((first, Cow::Owned(f.trim().to_string())));
            values.push((last, Cow::Owned(l.trim().to_string())));
        }
        Ok(())
    }
}
