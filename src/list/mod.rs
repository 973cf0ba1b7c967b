//! The member list: a UTF-8 CSV file with a header row and one member per line.
//!
//! Headers become template variables (`First Name` -> `first_name`); an `email` column is
//! required. Rows are checked once, at the edge, into [`Member`]: a valid address, no control
//! characters (so no CR/LF can reach a header), no over-long field, no duplicate address.
//! The list is streamed, never held whole, so a million-row list costs little memory.

pub mod import;

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lettre::Address;

use crate::error::{Error, Result};

/// The longest field accepted, in characters.
pub const MAX_FIELD_CHARS: usize = 1000;

/// One checked member row.
#[derive(Debug, Clone)]
pub struct Member {
    /// Line of the CSV file the row starts on (the header is line 1).
    pub line: u64,
    /// The address, trimmed, with its domain lowercased.
    pub email: String,
    /// Column names, shared by every member of the list.
    pub columns: Arc<[String]>,
    /// Values in column order; the `email` column holds the checked address.
    pub values: Vec<String>,
}

impl Member {
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        Some(self.values[i].as_str())
    }

    /// The display name for the `To` header: `name`, else `first_name last_name`.
    pub fn display_name(&self) -> Option<String> {
        if let Some(n) = self.get("name").filter(|n| !n.trim().is_empty()) {
            return Some(n.trim().to_string());
        }
        let parts: Vec<&str> = ["first_name", "last_name"]
            .iter()
            .filter_map(|c| self.get(c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// A bad row: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

impl RowError {
    /// This row's error as the member list `path`'s: `failed to read member list `path`: line N: ...`.
    pub fn in_list(self, path: &Path) -> Error {
        Error::member_list(path, Some(self.line), self.reason)
    }
}

/// Turns a header into a variable name: `E-mail Address` -> `e_mail_address`.
pub fn normalize_header(h: &str) -> String {
    let mut out = String::new();
    for ch in h.trim().trim_start_matches('\u{feff}').chars() {
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Whether `s` can be used as a template variable name.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Checks an address: trimmed, `Name <addr>` refused, the local part in NFC, the domain
/// lowercased, no compatibility
/// character in the local part (see [`crate::address`]).
pub fn check_address(raw: &str) -> std::result::Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("the address is empty".into());
    }
    if s.chars().any(char::is_control) {
        return Err(format!(
            "`{}` contains a control character",
            s.escape_debug()
        ));
    }
    let Some((user, domain)) = s.rsplit_once('@') else {
        return Err(format!("`{s}` is not a valid address: no `@`"));
    };
    if let Some(c) = crate::address::refused_character(user) {
        return Err(format!(
            "`{s}` is not a valid address: `{c}` (U+{:04X}) is a compatibility character that some systems read as another letter; write the letter itself",
            c as u32
        ));
    }
    let normalized = format!("{}@{}", crate::address::nfc(user), domain.to_lowercase());
    match normalized.parse::<Address>() {
        Ok(_) if !domain.contains('.') && !domain.starts_with('[') => Err(format!(
            "`{s}` is not a valid address: the domain has no dot"
        )),
        Ok(_) => Ok(normalized),
        Err(e) => Err(format!("`{s}` is not a valid address: {e}")),
    }
}

pub fn check_field(column: &str, value: &str) -> std::result::Result<(), String> {
    // The common case, checked a byte at a time: short ASCII text without control characters.
    if value.len() <= MAX_FIELD_CHARS
        && value
            .bytes()
            .all(|b| (b' '..0x7f).contains(&b) || b == b'\t')
    {
        return Ok(());
    }
    if let Some(c) = value.chars().find(|&c| c.is_control() && c != '\t') {
        let what = match c {
            '\r' | '\n' => "a line break".to_string(),
            c => format!("the control character U+{:04X}", c as u32),
        };
        return Err(format!("field `{column}` contains {what}"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!(
            "field `{column}` is longer than {MAX_FIELD_CHARS} characters"
        ));
    }
    Ok(())
}

/// A member list on disk, with its header checked.
#[derive(Debug, Clone)]
pub struct MemberList {
    pub path: PathBuf,
    pub columns: Arc<[String]>,
}

/// A member list's columns, and its reader positioned after the header.
type Opened = (Arc<[String]>, CsvReader<BufReader<File>>);

impl MemberList {
    /// Opens `path` and checks its header row.
    pub fn open(path: &Path) -> Result<MemberList> {
        let (columns, _) = Self::reader(path)?;
        Ok(MemberList {
            path: path.to_path_buf(),
            columns,
        })
    }

    fn reader(path: &Path) -> Result<Opened> {
        let file = File::open(path).map_err(|e| Error::member_list(path, None, e.to_string()))?;
        read_header(path, BufReader::new(file))
    }

    /// Streams the rows, checking each; the iterator yields one item per data row.
    pub fn rows(&self) -> Result<Rows<BufReader<File>>> {
        let (columns, reader) = Self::reader(&self.path)?;
        Ok(Rows::new(columns, reader))
    }
}

/// Where the CSV scanner is, for [`Lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    LineStart,
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: either an escaped quote or the closing one.
    QuotedQuote,
}

/// Keeps the csv crate's line numbers true to the file: it reports a row's position from
/// before the blank lines it skips. Outside quoted fields this adapter turns CRLF into LF and
/// puts a space on each blank line, so no line is skipped (a row of blanks is then dropped by
/// [`Rows`]) and every row is counted from the line it starts on.
#[derive(Debug)]
pub struct Lines<R> {
    inner: R,
    delimiter: u8,
    state: Scan,
    /// A CR outside quotes, held until we see whether LF follows.
    cr: bool,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, delimiter: u8) -> Self {
        Lines {
            inner,
            delimiter,
            state: Scan::LineStart,
            cr: false,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
        }
    }

    fn push(&mut self, b: u8) {
        use Scan::*;
        if self.cr {
            self.cr = false;
            if b != b'\n' {
                // A lone CR ends a line too (old Mac exports).
                self.push(b'\n');
            }
        }
        match (self.state, b) {
            (Quoted, b'"') => self.state = QuotedQuote,
            (Quoted, _) => {}
            (QuotedQuote, b'"') => self.state = Quoted,
            (LineStart | FieldStart | Unquoted | QuotedQuote, b'\r') => {
                self.cr = true;
                return;
            }
            (LineStart, b'\n') => {
                self.buf.push(b' ');
            }
            (_, b'\n') => self.state = LineStart,
            (_, d) if d == self.delimiter => self.state = FieldStart,
            (LineStart | FieldStart, b'"') => self.state = Quoted,
            _ => self.state = Unquoted,
        }
        if b == b'\n' && self.state != Quoted {
            self.state = LineStart;
        }
        self.buf.push(b);
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let mut chunk = [0u8; 32 * 1024];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                if self.cr {
                    self.cr = false;
                    self.buf.push(b'\n');
                    continue;
                }
                return Ok(0);
            }
            let mut i = 0;
            while i < n {
                // Runs of bytes that cannot change the state are copied whole.
                if !self.cr {
                    let run = match self.state {
                        Scan::Quoted => memchr::memchr(b'"', &chunk[i..n]),
                        Scan::Unquoted => {
                            memchr::memchr3(b'\r', b'\n', self.delimiter, &chunk[i..n])
                        }
                        _ => Some(0),
                    };
                    let end = run.map_or(n, |k| i + k);
                    self.buf.extend_from_slice(&chunk[i..end]);
                    i = end;
                    if i == n {
                        break;
                    }
                }
                self.push(chunk[i]);
                i += 1;
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub type CsvReader<R> = csv::Reader<Lines<R>>;

/// Reads and checks the header row of a member list.
pub fn read_header<R: Read>(path: &Path, input: R) -> Result<(Arc<[String]>, CsvReader<R>)> {
    let input = Lines::new(input, b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let at_header = |reason: String| Error::member_list(path, Some(1), reason);
    let headers = reader.headers().map_err(|e| at_header(csv_reason(&e)))?;
    let mut columns: Vec<String> = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let name = normalize_header(h);
        if name.is_empty() {
            return Err(at_header(format!(
                "column {} has no usable name (`{h}`)",
                i + 1
            )));
        }
        if columns.contains(&name) {
            return Err(at_header(format!("two columns are both named `{name}`")));
        }
        columns.push(name);
    }
    if !columns.iter().any(|c| c == "email") {
        return Err(at_header(format!(
            "no `email` column (found: {})",
            headers
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((columns.into(), reader))
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!(
                "field {} is not valid UTF-8 (re-save the file as UTF-8, or use `mailshot import`)",
                err.field() + 1
            )
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("found {len} fields, expected {expected_len}")
        }
        csv::ErrorKind::Io(e) => e.to_string(),
        _ => e.to_string(),
    }
}

/// Iterator over checked rows. Duplicate addresses (the same [`crate::address::key`]) are
/// row errors.
pub struct Rows<R: Read> {
    columns: Arc<[String]>,
    email_col: usize,
    reader: CsvReader<R>,
    record: csv::StringRecord,
    /// The addresses seen so far (their keys), as 128-bit hashes.
    seen: Seen,
    hashers: (std::hash::RandomState, std::hash::RandomState),
    done: bool,
}

impl<R: Read> Rows<R> {
    pub fn new(columns: Arc<[String]>, reader: CsvReader<R>) -> Self {
        let email_col = columns.iter().position(|c| c == "email").unwrap_or(0);
        Rows {
            columns,
            email_col,
            reader,
            record: csv::StringRecord::new(),
            seen: Seen::default(),
            hashers: (std::hash::RandomState::new(), std::hash::RandomState::new()),
            done: false,
        }
    }
}

impl<R: Read> Iterator for Rows<R> {
    type Item = std::result::Result<Member, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            match self.reader.read_record(&mut self.record) {
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    // A broken quote or I/O error leaves the reader lost: stop after it.
                    if !matches!(
                        e.kind(),
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                    ) {
                        self.done = true;
                    }
                    return Some(Err(RowError {
                        line,
                        reason: csv_reason(&e),
                    }));
                }
                Ok(true) => {}
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self.record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            return Some(self.check(line));
        }
    }
}

impl<R: Read> Rows<R> {
    fn check(&mut self, line: u64) -> std::result::Result<Member, RowError> {
        let err = |reason: String| RowError { line, reason };
        if self.record.len() != self.columns.len() {
            return Err(err(format!(
                "found {} fields, expected {}",
                self.record.len(),
                self.columns.len()
            )));
        }
        let mut values: Vec<String> = Vec::with_capacity(self.columns.len());
        for (col, value) in self.columns.iter().zip(self.record.iter()) {
            check_field(col, value).map_err(err)?;
            values.push(value.to_string());
        }
        let email = check_address(&values[self.email_col])
            .map_err(|r| err(format!("field `email`: {r}")))?;
        let key = crate::address::key(&email);
        let (a, b) = (&self.hashers.0, &self.hashers.1);
        let hash = (u128::from(std::hash::BuildHasher::hash_one(a, &key)) << 64)
            | u128::from(std::hash::BuildHasher::hash_one(b, &key));
        match self.seen.insert(hash) {
            Ok(true) => {}
            Ok(false) => return Err(err(format!("`{email}` appears twice in the list"))),
            Err(e) => return Err(err(format!("cannot check `{email}` for duplicates: {e}"))),
        }
        values[self.email_col] = email.clone();
        Ok(Member {
            line,
            email,
            columns: self.columns.clone(),
            values,
        })
    }
}

/// How many addresses [`Seen`] keeps in memory (~2 MB) before moving to a scratch file.
const SEEN_IN_MEMORY: usize = 100_000;

/// The set of addresses seen, for duplicate detection, with memory flat in the list's length:
/// 128-bit hashes in memory up to [`SEEN_IN_MEMORY`], then all of them in a scratch SQLite
/// file whose cache is capped (deleted when the list has been read).
struct Seen {
    memory: HashSet<u128>,
    disk: Option<rusqlite::Connection>,
    limit: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            memory: HashSet::new(),
            disk: None,
            limit: SEEN_IN_MEMORY,
        }
    }
}

impl Seen {
    /// Adds `hash`; false if it was there already.
    fn insert(&mut self, hash: u128) -> rusqlite::Result<bool> {
        if self.disk.is_none() {
            if self.memory.len() < self.limit || self.memory.contains(&hash) {
                return Ok(self.memory.insert(hash));
            }
            // An empty name: SQLite's private temporary file, removed when closed.
            let conn = rusqlite::Connection::open("")?;
            conn.execute_batch(
                "PRAGMA cache_size = -4096; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                 CREATE TABLE seen (h BLOB PRIMARY KEY) WITHOUT ROWID;",
            )?;
            conn.execute_batch("BEGIN")?;
            {
                let mut ins = conn.prepare("INSERT INTO seen VALUES (?1)")?;
                for h in self.memory.drain() {
                    ins.execute([h.to_be_bytes()])?;
                }
            }
            self.memory = HashSet::new();
            self.disk = Some(conn);
        }
        let conn = self.disk.as_ref().expect("set above");
        Ok(conn
            .prepare_cached("INSERT OR IGNORE INTO seen VALUES (?1)")?
            .execute([hash.to_be_bytes()])?
            == 1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn duplicates_are_found_before_and_after_the_set_moves_to_disk() {
        let mut seen = super::Seen {
            limit: 4,
            ..Default::default()
        };
        for h in 0..10u128 {
            assert!(seen.insert(h << 100 | h).unwrap(), "{h} is new");
        }
        assert!(seen.disk.is_some() && seen.memory.is_empty());
        for h in 0..10u128 {
            assert!(!seen.insert(h << 100 | h).unwrap(), "{h} was seen");
        }
        assert!(seen.insert(11).unwrap());
    }
    use super::*;

    fn rows(csv: &str) -> Vec<std::result::Result<Member, RowError>> {
        let (cols, rdr) = read_header(Path::new("t.csv"), csv.as_bytes()).unwrap();
        Rows::new(cols, rdr).collect()
    }

    #[test]
    fn headers_become_variable_names() {
        assert_eq!(normalize_header("\u{feff}First Name"), "first_name");
        assert_eq!(normalize_header(" E-mail  Address "), "e_mail_address");
        assert_eq!(normalize_header("2024 score"), "_2024_score");
        assert_eq!(normalize_header("Zoë's"), "zoë_s");
    }

    #[test]
    fn a_line_break_in_a_name_is_refused_with_its_line() {
        let r = rows(
            "email,first_name\na@example.org,\"Ann\r\nBcc: x@evil.example\"\nb@example.org,Bob\n",
        );
        assert_eq!(
            r[0].as_ref().unwrap_err(),
            &RowError {
                line: 2,
                reason: "field `first_name` contains a line break".into()
            }
        );
        assert_eq!(r[1].as_ref().unwrap().line, 4);
    }

    #[test]
    fn duplicates_are_case_insensitive() {
        let r = rows("email\nAnn@Example.org\nann@EXAMPLE.ORG\n");
        assert_eq!(r[0].as_ref().unwrap().email, "Ann@example.org");
        assert_eq!(
            r[1].as_ref().unwrap_err().reason,
            "`ann@example.org` appears twice in the list"
        );
    }

    #[test]
    fn bad_addresses_are_named() {
        let r = rows("email\nbob@@example.org\n\nnobody\ncarol@localhost\n");
        let reasons: Vec<_> = r.iter().map(|x| x.as_ref().unwrap_err().clone()).collect();
        assert_eq!(reasons[0].line, 2);
        assert!(
            reasons[0]
                .reason
                .starts_with("field `email`: `bob@@example.org` is not a valid address"),
            "{:?}",
            reasons[0]
        );
        assert_eq!(
            reasons[1],
            RowError {
                line: 4,
                reason: "field `email`: `nobody` is not a valid address: no `@`".into()
            }
        );
        assert_eq!(
            reasons[2].reason,
            "field `email`: `carol@localhost` is not a valid address: the domain has no dot"
        );
    }

    #[test]
    fn lines_are_counted_across_blank_lines_and_quoted_breaks() {
        let r = rows(
            "email,first_name\r\n\r\na@example.org,\"A\nB\"\r\n\r\n\r\nbad,x\n\nlast@@example.org,y",
        );
        assert!(r[0].as_ref().unwrap_err().reason.contains("line break"));
        assert_eq!(r[0].as_ref().unwrap_err().line, 3);
        assert_eq!(r[1].as_ref().unwrap_err().line, 7);
        assert_eq!(r[2].as_ref().unwrap_err().line, 9);
    }

    #[test]
    fn missing_email_column_lists_headers() {
        let e = read_header(Path::new("t.csv"), "Name,Mail\n".as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to read member list `t.csv`: line 1: no `email` column (found: `Name`, `Mail`)"
        );
    }

    #[test]
    fn short_rows_are_reported() {
        let r = rows("email,first_name\na@example.org\n");
        assert_eq!(
            r[0].as_ref().unwrap_err(),
            &RowError {
                line: 2,
                reason: "found 1 fields, expected 2".into()
            }
        );
    }
}
