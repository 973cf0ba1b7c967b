//! Suppression files (`mailshot suppress import`): the addresses of a CSV or a plain list,
//! opened and decoded as an import's files are, suppressed in the store one by one.

use std::path::Path;

use encoding_rs::Encoding;

use super::ReadAs;
use super::columns::canonical_column;
use super::quoted_list;
use super::row::split_mailbox;
use super::source::Source;
use crate::error::{Error, Result, show};
use crate::list::check_address;

/// What [`suppress_file`] did: addresses newly suppressed, already suppressed, not valid.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub added: u64,
    pub already: u64,
    pub bad: u64,
}

/// Suppresses in `store`, for `reason`, every address of `file` (read as [`addresses`] does);
/// an address that is not valid is handed to `bad` with its line and reason, and the rest go on.
/// The source recorded is `mailshot suppress import FILE`.
pub fn suppress_file(
    store: &crate::store::Store,
    file: &Path,
    reason: &str,
    encoding: Option<&'static Encoding>,
    delimiter: Option<u8>,
    mut bad: impl FnMut(u64, &str),
) -> Result<Suppressed> {
    let source = format!("mailshot suppress import {}", show(file));
    let mut n = Suppressed::default();
    addresses(file, encoding, delimiter, |line, cell| {
        // What `suppress list` wrote reads back as it was before it was made safe.
        match check_address(crate::csv_safe::undo_csv_safe(cell)) {
            Ok(e) if store.suppress(&e, reason, Some(&source))? => n.added += 1,
            Ok(_) => n.already += 1,
            Err(r) => {
                bad(line, &r);
                n.bad += 1;
            }
        }
        Ok(())
    })?;
    Ok(n)
}

/// Reads the addresses of a suppression file: a CSV (any encoding and delimiter an import
/// reads) whose header names an email column, or one address per line with no header.
/// Calls `each` with the line and the cell (a `Name <addr>` cell gives its address).
pub fn addresses(
    path: &Path,
    encoding: Option<&'static Encoding>,
    delimiter: Option<u8>,
    mut each: impl FnMut(u64, &str) -> Result<()>,
) -> Result<ReadAs> {
    let name = show(path);
    let (mut source, read_as) = Source::open(path, encoding, delimiter, None)?;
    let mut record = csv::StringRecord::new();
    let mut column: Option<usize> = None;
    loop {
        let line = match source.next(&mut record, &name)? {
            Ok(None) => break,
            Ok(Some(line)) => line,
            Err((e, line)) => {
                return Err(Error::input(format!(
                    "failed to read `{name}`: line {line}: {e}"
                )));
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let col = match column {
            Some(c) => c,
            // The first row: a header (no `@` anywhere) names the email column.
            None if !record.iter().any(|f| f.contains('@')) => {
                let c = record
                    .iter()
                    .position(|h| canonical_column(h) == Some("email"))
                    .ok_or_else(|| {
                        Error::input(format!(
                            "`{name}` line {line}: no email column (headers found: {})",
                            quoted_list(record.iter())
                        ))
                    })?;
                column = Some(c);
                continue;
            }
            None => *column.insert(record.iter().position(|f| f.contains('@')).unwrap_or(0)),
        };
        let (_, addr) = split_mailbox(record.get(col).unwrap_or(""));
        each(line, &addr)?;
    }
    Ok(read_as)
}
