//! One data row checked against its file's [`Layout`]: each field by the rules `send`
//! applies, line breaks mended where they only reach the body, opt-out cells read.

use std::borrow::Cow;

use super::opt_out::opt_out_value;
use crate::list::check_field;

/// How one file's columns are read.
pub(super) struct Layout {
    /// The file, as the user named it.
    pub(super) file: String,
    pub(super) headers: csv::StringRecord,
    /// Each column's name (canonical, snake_case or `column_N`).
    pub(super) names: Vec<String>,
    /// Which columns are opt-out columns (read, never kept).
    pub(super) opt_out: Vec<bool>,
    /// Which columns have no header (kept only where they hold something).
    pub(super) blank_header: Vec<bool>,
    /// Each column's index in the records
    /// ([`Importer::column`](super::importer::Importer::column)).
    pub(super) index: Vec<u16>,
    pub(super) email_col: usize,
}

/// A row's fields, checked: what goes in the record, and what the row says.
pub(super) struct Fields<'r> {
    /// Every field but the address, by column index.
    pub(super) values: Vec<(u16, Cow<'r, str>)>,
    /// The first opt-out column that says "no mail".
    pub(super) opted_out: Option<usize>,
    /// Columns whose line breaks were turned into spaces.
    pub(super) changed: Vec<&'r str>,
}

impl Layout {
    /// Checks `record`'s fields; `Err` is why the row is rejected.
    pub(super) fn fields<'r>(
        &'r self,
        record: &'r csv::StringRecord,
    ) -> std::result::Result<Fields<'r>, String> {
        let mut out = Fields {
            values: Vec::with_capacity(self.names.len()),
            opted_out: None,
            changed: Vec::new(),
        };
        for (i, col) in self.names.iter().enumerate() {
            let v = record.get(i).unwrap_or("").trim();
            if self.opt_out[i] {
                match opt_out_value(v) {
                    Some(true) => out.opted_out = out.opted_out.or(Some(i)),
                    Some(false) => {}
                    None => {
                        return Err(format!(
                            "field `{}` (an opt-out column): `{v}` is neither yes nor no",
                            &self.headers[i]
                        ));
                    }
                }
                continue;
            }
            if self.blank_header[i] && v.is_empty() {
                continue;
            }
            // A multi-line address or note is kept on one line; a line break never
            // reaches a header, so it stays refused where it could.
            let v = if v.contains(['\r', '\n']) && !reaches_a_header(col) {
                out.changed.push(col.as_str());
                Cow::Owned(one_line(v))
            } else {
                Cow::Borrowed(v)
            };
            check_field(col, &v)?;
            if i != self.email_col {
                out.values.push((self.index[i], v));
            }
        }
        Ok(out)
    }
}

/// Whether a column can reach a message header (the address, the To name, any name-like
/// column): a line break there is refused, never mended.
fn reaches_a_header(column: &str) -> bool {
    column.contains("mail") || column.contains("name")
}

/// `v` on one line: each line trimmed, blank ones dropped, joined with a space.
fn one_line(v: &str) -> String {
    v.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a `Name <addr>` cell; a plain address comes back as is.
pub(super) fn split_mailbox(cell: &str) -> (Option<String>, String) {
    let t = cell.trim();
    if t.ends_with('>')
        && let Some(open) = t.rfind('<')
    {
        let name = t[..open].trim().trim_matches('"').trim();
        let addr = t[open + 1..t.len() - 1].trim();
        return (
            (!name.is_empty()).then(|| name.to_string()),
            addr.to_string(),
        );
    }
    (None, t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_cells_are_taken_apart() {
        assert_eq!(
            split_mailbox(" \"Ann Lee\" <Ann@Example.ORG> "),
            (Some("Ann Lee".into()), "Ann@Example.ORG".into())
        );
        assert_eq!(
            split_mailbox("ann@example.org"),
            (None, "ann@example.org".into())
        );
    }
}
