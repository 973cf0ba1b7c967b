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

#[cfg(test)]
mod tests {
    use super::csv_safe;

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
