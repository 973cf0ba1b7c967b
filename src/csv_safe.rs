//! Cells for CSV files a spreadsheet will open, neutralised against formula injection.
//!
//! Member data is untrusted: a cell such as `=HYPERLINK("http://evil.example","click")` in an
//! export opened in Excel or LibreOffice is run as a formula. Following OWASP's "CSV
//! Injection" guidance, a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//! return gets a leading `'`, which spreadsheets read as "this is text" and do not show.

use std::borrow::Cow;

/// `cell`, prefixed with `'` when a spreadsheet would take it for a formula.
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A cell as it was before [`csv_safe`]: the `'` it added dropped, so that `suppress
/// import` reads back what `suppress list` wrote (`'-ann@example.org` is `-ann@example.org`).
/// A cell that merely starts with `'` is left alone.
pub fn undo_csv_safe(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => &cell[1..],
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::{csv_safe, undo_csv_safe};

    #[test]
    fn undoing_gives_back_every_cell() {
        for cell in [
            "=1",
            "-ann@example.org",
            "+x",
            "@y",
            "'quoted",
            "ann@example.org",
            "",
            "'",
        ] {
            assert_eq!(undo_csv_safe(&csv_safe(cell)), cell, "{cell:?}");
        }
    }

    #[test]
    fn formula_starters_are_neutralised_and_the_rest_left_alone() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+44 20 7946 0000", "'+44 20 7946 0000"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("ann@example.org", "ann@example.org"),
            ("a=b", "a=b"),
            ("", ""),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(csv_safe(cell), want, "{cell:?}");
        }
        assert!(matches!(csv_safe("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
