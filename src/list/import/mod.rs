//! `mailshot import`: messy exports (CRM, Excel, events platforms) in, a clean member list out.
//!
//! 1. **Open** (`source.rs`): an .xlsx workbook (recognised by its zip header, whatever its
//!    name) is read with calamine, its first sheet or `--sheet`; an .xls or other binary file
//!    is refused. Text is **decoded** (`sniff.rs`: [`sniff()`]; `decode.rs`: [`Decode`]): a
//!    BOM says UTF-8 or UTF-16 LE/BE; otherwise a file that is valid UTF-8 is UTF-8 and
//!    anything else is Windows-1252 (Excel's "CSV" on Windows). Bytes not valid in the
//!    encoding are an error with their line, never replacement characters. The delimiter
//!    (`,` `;` or tab) is the one the header line uses most.
//! 2. **Map headers** (`columns.rs`: [`canonical_column`]): `E-mail Address`, `Forename`,
//!    `Surname`, `Company` and their kin become `email`, `first_name`, `last_name`,
//!    `organisation`, or the columns named by `--email-column` and its kin; CRM opt-out flags
//!    (`opt_out.rs`: [`opt_out_column`]) are read, never kept; every other column is kept
//!    under a snake_case name.
//! 3. **Check rows** (`row.rs`) with the same rules `send` applies ([`crate::list`]);
//!    `Name <addr>` cells are taken apart; line breaks in a column that only reaches the body
//!    become spaces. A bad row is reported with its file, line and reason, never fatal
//!    (`report.rs`: [`Noted`], and the `--report` CSV). A row that opted out is suppressed
//!    (handed to the caller to record), never listed.
//! 4. **Merge** (`stage.rs`): in memory up to [`MEMORY_LIMIT`] bytes of member records, then
//!    in a scratch SQLite file: duplicates, by the address key ([`crate::address::key`]),
//!    merge field by field with the later non-empty value winning; suppressed addresses are
//!    never added.
//! 5. **Write** the list atomically (`atomic.rs`: [`AtomicCsv`]: temporary file, fsync,
//!    rename), UTF-8 with canonical headers; the report's cells neutralised for spreadsheets
//!    ([`crate::csv_safe`]).
//!
//! `importer.rs` drives steps 1 to 4 for each file, the list being merged into first; this
//! file holds the import itself ([`import`], [`import_honouring`]) with its [`Options`] and
//! [`Summary`], and step 5. `suppress.rs` reads suppression files for `mailshot suppress
//! import` ([`addresses`], [`suppress_file`]), opened, decoded and headed as an import is.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use encoding_rs::Encoding;

use crate::error::Result;

mod atomic;
mod columns;
mod decode;
mod importer;
mod opt_out;
mod report;
mod row;
mod sniff;
mod source;
mod stage;
mod suppress;

pub use atomic::AtomicCsv;
pub use columns::{CANONICAL, ColumnNames, canonical_column};
pub use decode::{Decode, Malformed};
pub use opt_out::{OptOut, opt_out_column};
pub use report::{Action, Noted};
pub use sniff::{Format, parse_delimiter, parse_encoding, sniff};
pub use source::ReadAs;
pub use stage::MEMORY_LIMIT;
pub use suppress::{Suppressed, addresses, suppress_file};

use importer::Importer;

pub struct Options {
    pub inputs: Vec<PathBuf>,
    pub into: PathBuf,
    pub replace: bool,
    pub dry_run: bool,
    pub report: Option<PathBuf>,
    pub delimiter: Option<u8>,
    pub encoding: Option<&'static Encoding>,
    /// Columns named on the command line; the rest are guessed.
    pub columns: ColumnNames,
    /// The sheet of an .xlsx workbook to read (default: the first).
    pub sheet: Option<String>,
    /// Bytes of members merged in memory before the merge moves to a scratch file
    /// ([`MEMORY_LIMIT`] by default).
    pub memory_limit: usize,
}

/// What an import did. The rows read are accounted for exactly once:
/// `read = added + updated + unchanged + duplicates + rejected + suppressed`.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Data rows read from the import files.
    pub read: u64,
    /// Rows that added a member.
    pub added: u64,
    /// Rows that changed an existing member.
    pub updated: u64,
    /// Rows that matched an existing member exactly.
    pub unchanged: u64,
    /// Rows whose address appeared earlier in the import, merged into it.
    pub duplicates: u64,
    pub rejected: u64,
    /// Rows left out because the address is suppressed, already or by an opt-out column.
    pub suppressed: u64,
    /// Of those, the rows an opt-out column suppressed.
    pub opted_out: u64,
    /// The opt-out columns found, as headed in the files.
    pub opt_out_columns: Vec<String>,
    /// Members of the existing list taken off it because they are suppressed.
    pub removed: u64,
    /// Members of the existing list not in the import: kept when merging, dropped by `--replace`.
    pub not_in_import: u64,
    /// Members in the list written.
    pub members: u64,
    /// The first few rejected rows.
    pub rejected_rows: Vec<Noted>,
    /// Rows imported with line breaks turned into spaces (also counted as added, updated...).
    pub changed: u64,
    /// The first few of them.
    pub changed_rows: Vec<Noted>,
    /// With `--replace`: the first few addresses dropped.
    pub dropped: Vec<String>,
    /// Each input file with the encoding and delimiter it was read with.
    pub formats: Vec<(PathBuf, ReadAs)>,
    /// The merge outgrew memory and moved to a scratch file.
    pub spilled: bool,
}

/// How many rejected rows and dropped members the summary names.
pub const MAX_NAMED: usize = 20;

/// Imports `opts.inputs` into `opts.into`, leaving out `suppressed` addresses (their
/// [`crate::address::key`]s).
/// The addresses an opt-out column suppresses are handed to `record` before the list is
/// written (never on a dry run), so that a list without them never exists unrecorded.
pub fn import(
    opts: &Options,
    suppressed: &HashSet<String>,
    record: &mut dyn FnMut(&[OptOut]) -> Result<()>,
) -> Result<Summary> {
    let mut im = Importer::new(opts, suppressed)?;
    // The current list, if there is one.
    if opts.into.exists() {
        im.read_file(&opts.into, true)?;
    }
    for input in &opts.inputs {
        let read = im.read_file(input, false)?;
        im.summary.read += read;
    }
    im.report.finish()?;
    im.summary.spilled = im.stage.on_disk();
    let header = list_header(&im.columns, &im.listed);
    // Where each column goes in a written row (the address always first).
    let place: Vec<Option<usize>> = (im.columns.iter())
        .map(|c| header.iter().position(|h| h == c))
        .collect();
    let mut out = match opts.dry_run {
        true => None,
        false => Some(AtomicCsv::create(&opts.into, &header)?),
    };
    let (stage, opted, mut summary) = (&im.stage, &im.opted, im.summary);
    stage.for_each(|m| {
        if !count_member(&mut summary, &m, opted, opts.replace) {
            return Ok(());
        }
        let Some(out) = &mut out else { return Ok(()) };
        let mut fields: Vec<&[u8]> = vec![b""; header.len()];
        fields[0] = stage::email(m.record).as_bytes();
        for (col, v) in stage::fields(m.record) {
            if let Some(at) = place[col as usize] {
                fields[at] = v;
            }
        }
        out.write(&fields)
    })?;
    if let Some(out) = out {
        if !im.opt_outs.is_empty() {
            record(&im.opt_outs)?;
        }
        out.commit()?;
    }
    Ok(summary)
}

/// [`import`] with the store at `store`: its suppressed addresses are left out, and the
/// addresses an opt-out column names are suppressed in it (as `unsubscribed`) before the list
/// without them is written.
pub fn import_honouring(opts: &Options, store: &Path) -> Result<Summary> {
    let suppressed = match crate::store::Store::open_existing(store)? {
        Some(store) => store.suppressed_set()?,
        None => Default::default(),
    };
    let mut record = |opt_outs: &[OptOut]| -> Result<()> {
        let mut store = crate::store::Store::open(store)?;
        let each = opt_outs
            .iter()
            .map(|o| (o.email.as_str(), o.source.as_str()));
        store.suppress_all(each, "unsubscribed")?;
        Ok(())
    };
    import(opts, &suppressed, &mut record)
}

/// The written list's header: canonical columns first, then the rest in order of first
/// appearance; only the columns the list keeps (`listed`).
fn list_header<'c>(columns: &'c [String], listed: &[bool]) -> Vec<&'c str> {
    let kept = |c: &str| columns.iter().zip(listed).any(|(x, l)| *l && x == c);
    let mut header: Vec<&str> = CANONICAL.iter().copied().filter(|c| kept(c)).collect();
    header.extend(
        columns
            .iter()
            .zip(listed)
            .filter(|(c, l)| **l && !CANONICAL.contains(&c.as_str()))
            .map(|(c, _)| c.as_str()),
    );
    header
}

/// Counts merged member `m` in `summary`; returns whether it goes on the list.
fn count_member(
    summary: &mut Summary,
    m: &stage::Member<'_>,
    opted: &HashSet<String>,
    replace: bool,
) -> bool {
    // The list's suppressed members were left out as it was read; an opt-out may name
    // a member staged before it.
    if !opted.is_empty() && opted.contains(&*m.key()) {
        // The import row that brought it in (an opt-out came later) is a suppressed row.
        if m.imported {
            summary.suppressed += 1;
        }
        if m.existing {
            summary.removed += 1;
        }
        return false;
    }
    match (m.existing, m.imported) {
        (true, false) => {
            summary.not_in_import += 1;
            if replace {
                if summary.dropped.len() < MAX_NAMED {
                    summary.dropped.push(stage::email(m.record).to_string());
                }
                return false;
            }
        }
        (true, true) if m.changed => summary.updated += 1,
        (true, true) => summary.unchanged += 1,
        (false, _) => summary.added += 1,
    }
    summary.members += 1;
    true
}

/// `a`, `b`, `c`: each item in backticks.
fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merge_gives_the_same_list_in_memory_and_after_moving_to_disk() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.csv");
        let mut text = String::from("email,first_name,org\n");
        for i in 0..300 {
            // Every third address again, in another case, with a new organisation.
            let n = if i % 3 == 2 { i - 1 } else { i };
            let e = if i % 3 == 2 {
                format!("M{n}@X.org")
            } else {
                format!("m{n}@x.org")
            };
            text.push_str(&format!(
                "{e},N{n},{}\n",
                if i % 3 == 2 { "Org" } else { "" }
            ));
        }
        std::fs::write(&raw, text).unwrap();
        let run = |limit: usize, into: &str| {
            let into = dir.path().join(into);
            std::fs::write(&into, "email,first_name\nm1@x.org,Old\nkeep@x.org,K\n").unwrap();
            let opts = Options {
                inputs: vec![raw.clone()],
                into: into.clone(),
                replace: false,
                dry_run: false,
                report: None,
                delimiter: None,
                encoding: None,
                columns: ColumnNames::default(),
                sheet: None,
                memory_limit: limit,
            };
            let s = import(&opts, &HashSet::new(), &mut |_| Ok(())).unwrap();
            (s, std::fs::read_to_string(into).unwrap())
        };
        let (memory, list) = run(MEMORY_LIMIT, "a.csv");
        let (disk, list_disk) = run(500, "b.csv");
        assert!(!memory.spilled && disk.spilled);
        assert_eq!(list, list_disk);
        let counts = |s: &Summary| (s.read, s.added, s.updated, s.unchanged, s.duplicates);
        assert_eq!(counts(&memory), counts(&disk));
        assert_eq!(counts(&memory), (300, 199, 1, 0, 100));
        assert!(
            list.starts_with(
                "email,first_name,organisation\nm1@x.org,N1,Org\nkeep@x.org,K,\nm0@x.org,N0,\n"
            ),
            "{list}"
        );
    }
}
