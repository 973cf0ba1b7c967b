//! `mailshot import`: messy exports (CRM, Excel, events platforms) in, a clean member list out.
//!
//! 1. **Open** (`Source`): an .xlsx workbook (recognised by its zip header, whatever its
//!    name) is read with calamine, its first sheet or `--sheet`; an .xls or other binary file
//!    is refused. Text is **decoded** ([`sniff`], [`Decode`]): a BOM says UTF-8 or UTF-16
//!    LE/BE; otherwise a file that is valid UTF-8 is UTF-8 and anything else is Windows-1252
//!    (Excel's "CSV" on Windows). Bytes not valid in the encoding are an error with their
//!    line, never replacement characters. The delimiter (`,` `;` or tab) is the one the
//!    header line uses most.
//! 2. **Map headers** ([`canonical_column`]): `E-mail Address`, `Forename`, `Surname`,
//!    `Company` and their kin become `email`, `first_name`, `last_name`, `organisation`, or the
//!    columns named by `--email-column` and its kin; CRM opt-out flags ([`opt_out_column`])
//!    are read, never kept; every other column is kept under a snake_case name.
//! 3. **Check rows** with the same rules `send` applies ([`crate::list`]); `Name <addr>`
//!    cells are taken apart; line breaks in a column that only reaches the body become
//!    spaces. A bad row is reported with its file, line and reason, never fatal. A row that
//!    opted out is suppressed (handed to the caller to record), never listed.
//! 4. **Merge** (`stage`): in memory up to [`MEMORY_LIMIT`] bytes of member records, then in a
//!    scratch SQLite file: duplicates, by the address key ([`crate::address::key`]), merge
//!    field by field with the later non-empty value winning; suppressed addresses are never
//!    added.
//! 5. **Write** the list atomically (temporary file, fsync, rename), UTF-8 with canonical
//!    headers; the report's cells neutralised for spreadsheets ([`crate::csv_safe`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use crate::csv_safe::csv_safe;
use crate::error::{Error, Result, show};
use crate::list::{Lines, check_address, check_field, normalize_header};

mod stage;
pub use stage::MEMORY_LIMIT;
use stage::Stage;

/// The canonical columns, in the order they are written.
pub const CANONICAL: [&str; 4] = ["email", "first_name", "last_name", "organisation"];

/// How many rejected rows and dropped members the summary names.
pub const MAX_NAMED: usize = 20;

/// Maps a header to a canonical column, ignoring case, spaces and punctuation.
pub fn canonical_column(header: &str) -> Option<&'static str> {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    Some(match key.as_str() {
        "email" | "emailaddress" | "emailaddr" | "mail" | "mailaddress" | "emails"
        | "primaryemail" | "workemail" | "businessemail" | "emailid" | "contactemail"
        | "email1" | "emailaddress1" => "email",
        "firstname" | "first" | "forename" | "forenames" | "givenname" | "fname"
        | "christianname" => "first_name",
        "lastname" | "last" | "surname" | "familyname" | "lname" | "secondname" => "last_name",
        "organisation" | "organization" | "company" | "companyname" | "org"
        | "organisationname" | "organizationname" | "employer" | "business" | "businessname"
        | "accountname" | "institution" => "organisation",
        _ => return None,
    })
}

/// What the sniffing found out about one input file.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub encoding: &'static Encoding,
    pub delimiter: u8,
}

/// Works out the encoding (unless given) and the delimiter (unless given) of `path`.
pub fn sniff(
    path: &Path,
    encoding: Option<&'static Encoding>,
    delimiter: Option<u8>,
) -> std::io::Result<Format> {
    let encoding = match encoding {
        Some(e) => e,
        None => detect_encoding(path)?,
    };
    let delimiter = match delimiter {
        Some(d) => d,
        None => {
            let mut first = Vec::new();
            decoded(path, encoding)?
                .take(64 * 1024)
                .read_to_end(&mut first)?;
            detect_delimiter(&first)
        }
    };
    Ok(Format {
        encoding,
        delimiter,
    })
}

fn detect_encoding(path: &Path) -> std::io::Result<&'static Encoding> {
    let mut f = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut head = [0u8; 3];
    let n = read_up_to(&mut f, &mut head)?;
    if let Some((enc, _)) = Encoding::for_bom(&head[..n]) {
        return Ok(enc);
    }
    // Valid UTF-8 throughout (checked in chunks, carrying a split character over) or not.
    let mut carry: Vec<u8> = head[..n].to_vec();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = f.read(&mut chunk)?;
        carry.extend_from_slice(&chunk[..read]);
        match std::str::from_utf8(&carry) {
            Ok(_) => carry.clear(),
            Err(e) if e.error_len().is_none() && read > 0 => {
                let keep = carry.split_off(e.valid_up_to());
                carry = keep;
            }
            Err(_) => return Ok(WINDOWS_1252),
        }
        if read == 0 {
            return Ok(UTF_8);
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// The delimiter the first line uses most, outside quotes; `,` when there is no telling.
fn detect_delimiter(text: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in text {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        [b',', b';', b'\t'][best]
    }
}

/// `path` decoded to UTF-8, its BOM removed; bytes that are not valid in `encoding` are a
/// [`Malformed`] error naming their line, never replacement characters.
fn decoded(path: &Path, encoding: &'static Encoding) -> std::io::Result<Decode<File>> {
    Ok(Decode::new(File::open(path)?, encoding))
}

/// Bytes that are not valid in the encoding a file is read with.
#[derive(Debug)]
pub struct Malformed {
    /// The line they are on.
    pub line: u64,
    pub encoding: &'static Encoding,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: bytes that are not valid {} (give the file's encoding with --encoding, e.g. {})",
            self.line,
            self.encoding.name(),
            if self.encoding == WINDOWS_1252 {
                "utf-8"
            } else {
                "windows-1252"
            }
        )
    }
}

impl std::error::Error for Malformed {}

/// A reader decoding to UTF-8 with encoding_rs, without replacement: malformed input stops it
/// with a [`Malformed`] error (as `io::ErrorKind::InvalidData`).
pub struct Decode<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    output: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Line breaks handed out so far.
    lines: u64,
    failed: Option<u64>,
}

impl<R: Read> Decode<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        // A BOM decides between UTF-8 and UTF-16 (and is removed); other encodings have none.
        let decoder = if encoding == UTF_8 || encoding == UTF_16LE || encoding == UTF_16BE {
            encoding.new_decoder()
        } else {
            encoding.new_decoder_without_bom_handling()
        };
        Decode {
            inner,
            decoder,
            input: vec![0; 64 * 1024].into(),
            start: 0,
            end: 0,
            eof: false,
            output: vec![0; 64 * 1024].into(),
            pos: 0,
            len: 0,
            lines: 0,
            failed: None,
        }
    }

    fn malformed(&self, line: u64) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            Malformed {
                line,
                encoding: self.decoder.encoding(),
            },
        )
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use encoding_rs::DecoderResult;
        if let Some(line) = self.failed {
            return Err(self.malformed(line));
        }
        while self.pos == self.len {
            if self.start == self.end {
                if self.eof {
                    return Ok(0);
                }
                let n = match self.inner.read(&mut self.input) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                (self.start, self.end, self.eof) = (0, n, n == 0);
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.start..self.end],
                &mut self.output,
                self.eof,
            );
            self.start += read;
            (self.pos, self.len) = (0, written);
            if let DecoderResult::Malformed(..) = result {
                let line = self.lines
                    + memchr::memchr_iter(b'\n', &self.output[..written]).count() as u64
                    + 1;
                self.failed = Some(line);
                return Err(self.malformed(line));
            }
        }
        let n = buf.len().min(self.len - self.pos);
        let chunk = &self.output[self.pos..self.pos + n];
        buf[..n].copy_from_slice(chunk);
        self.lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        self.pos += n;
        Ok(n)
    }
}

/// The [`Malformed`] error inside a CSV error, if that is what it is.
fn malformed(e: &csv::Error) -> Option<&Malformed> {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref()?.downcast_ref::<Malformed>(),
        _ => None,
    }
}

/// Parses an `--encoding` name (`utf-8`, `utf-16le`, `windows-1252`, `latin1`, ...).
pub fn parse_encoding(name: &str) -> std::result::Result<&'static Encoding, String> {
    match name.to_ascii_lowercase().as_str() {
        "utf16" | "utf-16" => Ok(UTF_16LE),
        "cp1252" => Ok(WINDOWS_1252),
        _ => Encoding::for_label(name.as_bytes()).ok_or_else(|| {
            format!("unknown encoding `{name}` (try utf-8, utf-16le, utf-16be or windows-1252)")
        }),
    }
}

/// Parses a `--delimiter`: one character, or `tab`.
pub fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() && s != "\"" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "`{s}` is not a delimiter: give one character such as `,` `;` or `tab`"
        )),
    }
}

/// How a file was read: as text (with its encoding and delimiter) or as an .xlsx sheet.
#[derive(Debug, Clone)]
pub enum ReadAs {
    Text(Format),
    Sheet(String),
}

/// A record's line, `None` at the end, or an error with its line.
type Next = std::result::Result<Option<u64>, (csv::Error, u64)>;

/// The records of an input file, CSV or workbook sheet alike.
enum Source {
    Csv(Box<csv::Reader<Lines<Decode<File>>>>),
    Sheet {
        range: calamine::Range<calamine::Data>,
        next: usize,
    },
}

/// The zip archive an .xlsx workbook is (recognised by content, whatever the file is called).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The OLE2 container of Excel 97-2003 `.xls` (and other old Office) files.
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

impl Source {
    /// Opens `path` by what it holds: an .xlsx workbook (its first sheet, or `sheet`), or text
    /// in the given or detected encoding and delimiter. Other binary files are refused.
    fn open(
        path: &Path,
        encoding: Option<&'static Encoding>,
        delimiter: Option<u8>,
        sheet: Option<&str>,
    ) -> Result<(Source, ReadAs)> {
        let name = show(path);
        let fail = |e: std::io::Error| Error::input(format!("failed to read `{name}`: {e}"));
        let mut head = [0u8; 1024];
        let n = read_up_to(&mut File::open(path).map_err(fail)?, &mut head).map_err(fail)?;
        let head = &head[..n];
        if head.starts_with(ZIP_MAGIC) {
            return Source::workbook(path, sheet);
        }
        if head.starts_with(OLE_MAGIC) {
            return Err(Error::input(format!(
                "`{name}` is an Excel 97-2003 workbook (.xls), which mailshot does not read: \
                 save it as CSV (or .xlsx) and import that"
            )));
        }
        if encoding.is_none() && Encoding::for_bom(head).is_none() && head.contains(&0) {
            return Err(Error::input(format!(
                "`{name}` is not text (it holds NUL bytes): if it is a spreadsheet, save it as \
                 CSV and import that; if it is UTF-16 without a BOM, give --encoding utf-16le"
            )));
        }
        let format = sniff(path, encoding, delimiter).map_err(fail)?;
        let input = decoded(path, format.encoding).map_err(fail)?;
        let reader = csv::ReaderBuilder::new()
            .delimiter(format.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(Lines::new(input, format.delimiter));
        Ok((Source::Csv(Box::new(reader)), ReadAs::Text(format)))
    }

    fn workbook(path: &Path, sheet: Option<&str>) -> Result<(Source, ReadAs)> {
        use calamine::Reader;
        let name = show(path);
        let file =
            File::open(path).map_err(|e| Error::input(format!("failed to read `{name}`: {e}")))?;
        let mut book = calamine::Xlsx::new(BufReader::new(file)).map_err(|e| {
            Error::input(format!(
                "`{name}` is a zip archive but not an .xlsx workbook mailshot can read ({e}): \
                 save it as CSV and import that"
            ))
        })?;
        let sheets = book.sheet_names();
        let chosen = match sheet {
            Some(s) => sheets.iter().find(|n| n.as_str() == s),
            None => sheets.first(),
        };
        let Some(chosen) = chosen.cloned() else {
            return Err(Error::input(format!(
                "`{name}` has no sheet{} (sheets: {})",
                sheet.map_or(String::new(), |s| format!(" `{s}`")),
                quoted_list(sheets.iter().map(String::as_str))
            )));
        };
        let range = book
            .worksheet_range(&chosen)
            .map_err(|e| Error::input(format!("failed to read `{name}`, sheet `{chosen}`: {e}")))?;
        Ok((Source::Sheet { range, next: 0 }, ReadAs::Sheet(chosen)))
    }

    /// Reads the next record into `record`; its line, or `None` at the end. A record that
    /// cannot be read comes back as the error with its line; bytes that are not valid in the
    /// file's encoding are fatal (`name` is the file's).
    fn next(&mut self, record: &mut csv::StringRecord, name: &str) -> Result<Next> {
        let next = self.read(record);
        if let Err((e, _)) = &next
            && malformed(e).is_some()
        {
            // The wrong encoding: nothing of this file can be trusted.
            return Err(Error::input(format!("failed to read `{name}`: {e}")));
        }
        Ok(next)
    }

    fn read(&mut self, record: &mut csv::StringRecord) -> Next {
        match self {
            Source::Csv(reader) => {
                let line = reader.position().line();
                match reader.read_record(record) {
                    Ok(false) => Ok(None),
                    Ok(true) => Ok(Some(record.position().map_or(line, |p| p.line()))),
                    Err(e) => {
                        let line = e.position().map_or(line, |p| p.line());
                        Err((e, line))
                    }
                }
            }
            Source::Sheet { range, next } => {
                if *next >= range.height() {
                    return Ok(None);
                }
                record.clear();
                for col in 0..range.width() {
                    record.push_field(&cell_text(range.get((*next, col))));
                }
                let line = range.start().map_or(0, |(row, _)| u64::from(row)) + *next as u64 + 1;
                *next += 1;
                Ok(Some(line))
            }
        }
    }
}

/// A workbook cell as text: numbers as Excel shows them unformatted (`42`, `0.5`), dates as
/// ISO 8601, errors as their code (`#N/A`).
fn cell_text(cell: Option<&calamine::Data>) -> String {
    use calamine::Data;
    match cell {
        None | Some(Data::Empty) => String::new(),
        Some(Data::DateTime(d)) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => d.to_string(),
        },
        Some(other) => other.to_string(),
    }
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

/// `a`, `b`, `c`: each item in backticks.
fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

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

/// An address an opt-out column asked to suppress, and where it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    pub email: String,
    /// `mailshot import FILE line N`.
    pub source: String,
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

/// Columns named on the command line (`--email-column` ...), for exports whose headers
/// cannot be guessed (Google Contacts' `E-mail 1 - Value`).
#[derive(Debug, Clone, Default)]
pub struct ColumnNames {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The header `given` names: the same text, else the same ignoring case, else the same
/// variable name (`E-mail 1 - Value` and `e_mail_1_value`).
fn find_header(headers: &csv::StringRecord, given: &str) -> Option<usize> {
    let given = given.trim();
    headers
        .iter()
        .position(|h| h.trim() == given)
        .or_else(|| {
            headers
                .iter()
                .position(|h| h.trim().to_lowercase() == given.to_lowercase())
        })
        .or_else(|| {
            let key = normalize_header(given);
            headers.iter().position(|h| normalize_header(h) == key)
        })
}

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

/// Whether a header is a CRM's opt-out flag (Salesforce's `HasOptedOutOfEmail`, HubSpot's
/// `Unsubscribed`, `Email Opt Out`, `Do Not Email`...), matched like [`canonical_column`].
pub fn opt_out_column(header: &str) -> bool {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    matches!(
        key.as_str(),
        "emailoptout"
            | "emailoptedout"
            | "optout"
            | "optedout"
            | "unsubscribed"
            | "unsubscribe"
            | "donotemail"
            | "donotmail"
            | "hasoptedoutofemail"
    )
}

/// An opt-out cell: `Some(true)` for yes/true/1/y/x, `Some(false)` for no/false/0/n or
/// empty, `None` for anything else (the row is then rejected: better not to guess).
fn opt_out_value(cell: &str) -> Option<bool> {
    let v = cell.trim();
    if ["yes", "true", "1", "y", "x"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
    {
        Some(true)
    } else if v.is_empty()
        || ["no", "false", "0", "n"]
            .iter()
            .any(|t| v.eq_ignore_ascii_case(t))
    {
        Some(false)
    } else {
        None
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
fn split_mailbox(cell: &str) -> (Option<String>, String) {
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

/// Writes the report (`--report`) as CSV.
struct Report {
    writer: Option<csv::Writer<File>>,
}

impl Report {
    fn create(path: Option<&Path>) -> Result<Report> {
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

    fn add(&mut self, r: &Noted) -> Result<()> {
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

    fn finish(self) -> Result<()> {
        if let Some(mut w) = self.writer {
            w.flush()
                .map_err(|e| Error::runtime(format!("failed to write the report: {e}")))?;
        }
        Ok(())
    }
}

/// The import under way: the counts, the report, the merge.
struct Importer<'a> {
    opts: &'a Options,
    /// Addresses suppressed in the store (their keys).
    suppressed: &'a HashSet<String>,
    summary: Summary,
    report: Report,
    stage: Stage,
    /// Every column seen, by the index records use; `listed` says which the list keeps.
    columns: Vec<String>,
    listed: Vec<bool>,
    /// Addresses an opt-out column suppressed in this import (their keys).
    opted: HashSet<String>,
    opt_outs: Vec<OptOut>,
    /// The record being built.
    scratch: Vec<u8>,
}

impl Importer<'_> {
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
    fn read_file(&mut self, path: &Path, existing: bool) -> Result<u64> {
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

/// How one file's columns are read.
struct Layout {
    /// The file, as the user named it.
    file: String,
    headers: csv::StringRecord,
    /// Each column's name (canonical, snake_case or `column_N`).
    names: Vec<String>,
    /// Which columns are opt-out columns (read, never kept).
    opt_out: Vec<bool>,
    /// Which columns have no header (kept only where they hold something).
    blank_header: Vec<bool>,
    /// Each column's index in the records ([`Importer::column`]).
    index: Vec<u16>,
    email_col: usize,
}

/// A row's fields, checked: what goes in the record, and what the row says.
struct Fields<'r> {
    /// Every field but the address, by column index.
    values: Vec<(u16, Cow<'r, str>)>,
    /// The first opt-out column that says "no mail".
    opted_out: Option<usize>,
    /// Columns whose line breaks were turned into spaces.
    changed: Vec<&'r str>,
}

impl Layout {
    /// Checks `record`'s fields; `Err` is why the row is rejected.
    fn fields<'r>(
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

/// The columns named on the command line (`--email-column` ...), by position: an import's
/// only (the list being merged into has canonical headers).
fn given_columns(
    headers: &csv::StringRecord,
    c: &ColumnNames,
    file: &str,
) -> Result<Vec<Option<String>>> {
    let mut given: Vec<Option<String>> = vec![None; headers.len()];
    for (canonical, named, flag) in [
        ("email", &c.email, "--email-column"),
        ("first_name", &c.first_name, "--first-name-column"),
        ("last_name", &c.last_name, "--last-name-column"),
    ] {
        let Some(named) = named else { continue };
        let i = find_header(headers, named).ok_or_else(|| {
            Error::input(format!(
                "`{file}` has no column `{named}` (given by {flag}; headers found: {})",
                quoted_list(headers.iter())
            ))
        })?;
        given[i] = Some(canonical.to_string());
    }
    Ok(given)
}

/// Column names: those `given` first, then canonical where recognised (first one wins), else
/// snake_case; empty headers (Excel's trailing columns) become `column_N` (dropped if always
/// empty). An import's opt-out columns are named too: they are read, never kept.
fn column_names(headers: &csv::StringRecord, given: Vec<Option<String>>) -> Vec<String> {
    let mut names = given;
    for (i, h) in headers.iter().enumerate() {
        if names[i].is_some() {
            continue;
        }
        let taken = |n: &str, names: &[Option<String>]| names.iter().flatten().any(|x| x == n);
        let mut n = match canonical_column(h) {
            Some(c) if !taken(c, &names) => c.to_string(),
            _ => normalize_header(h),
        };
        if n.is_empty() {
            n = format!("column_{}", i + 1);
        }
        while taken(&n, &names) {
            n.push_str("_2");
        }
        names[i] = Some(n);
    }
    names.into_iter().flatten().collect()
}

/// A rejected row as the report shows it: the fields as CSV on one line.
fn raw_record(record: &csv::StringRecord) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let _ = w.write_record(record);
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default())
        .trim_end()
        .to_string()
}

/// Imports `opts.inputs` into `opts.into`, leaving out `suppressed` addresses (their
/// [`crate::address::key`]s).
/// The addresses an opt-out column suppresses are handed to `record` before the list is
/// written (never on a dry run), so that a list without them never exists unrecorded.
pub fn import(
    opts: &Options,
    suppressed: &HashSet<String>,
    record: &mut dyn FnMut(&[OptOut]) -> Result<()>,
) -> Result<Summary> {
    let mut im = Importer {
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
    };
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

const TMP_PREFIX: &str = ".mailshot-import-";

/// A CSV file written beside its destination and renamed over it only when complete.
pub struct AtomicCsv {
    path: PathBuf,
    writer: csv::Writer<tempfile::NamedTempFile>,
}

impl AtomicCsv {
    pub fn create<S: AsRef<str>>(path: &Path, header: &[S]) -> Result<AtomicCsv> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        // A killed import leaves its temporary file behind; it was never the list.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with(TMP_PREFIX) && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a temporary file in", dir, e))?;
        let mut writer = csv::WriterBuilder::new().from_writer(tmp);
        writer
            .write_record(header.iter().map(|h| h.as_ref()))
            .map_err(|e| Error::runtime(format!("failed to write `{}`: {e}", show(path))))?;
        Ok(AtomicCsv {
            path: path.to_path_buf(),
            writer,
        })
    }

    pub fn write<S: AsRef<[u8]>>(&mut self, fields: &[S]) -> Result<()> {
        self.writer
            .write_record(fields)
            .map_err(|e| Error::runtime(format!("failed to write `{}`: {e}", show(&self.path))))
    }

    /// Flushes, syncs and renames into place. Dropped without this, the temporary file is
    /// deleted and the destination is untouched.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let fail = |e: std::io::Error| Error::io("write", &path, e);
        let mut tmp = self.writer.into_inner().map_err(|e| fail(e.into_error()))?;
        tmp.flush().map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&path).map_err(|e| fail(e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recognised_whatever_their_spelling() {
        for h in [
            "Email",
            "E-mail Address",
            "email_address",
            "EMAIL ADDRESS",
            "E-Mail",
            "Work Email",
        ] {
            assert_eq!(canonical_column(h), Some("email"), "{h}");
        }
        for h in ["First Name", "Forename", "first_name", "Given name"] {
            assert_eq!(canonical_column(h), Some("first_name"), "{h}");
        }
        for h in ["Surname", "Last Name", "family_name"] {
            assert_eq!(canonical_column(h), Some("last_name"), "{h}");
        }
        for h in ["Company", "Organization", "Organisation Name"] {
            assert_eq!(canonical_column(h), Some("organisation"), "{h}");
        }
        assert_eq!(canonical_column("Job Title"), None);
    }

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"Email;Name;\"a,b,c,d\"\r\nx;y;z"), b';');
        assert_eq!(detect_delimiter(b"Email\tName\n"), b'\t');
        assert_eq!(detect_delimiter(b"Email,Name\n"), b',');
        assert_eq!(detect_delimiter(b"Email\n"), b',');
    }

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

    #[test]
    fn an_unfinished_write_leaves_the_list_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("members.csv");
        std::fs::write(&list, "email\nold@example.org\n").unwrap();
        let mut w = AtomicCsv::create(&list, &["email".to_string()]).unwrap();
        w.write(&["new@example.org"]).unwrap();
        drop(w); // an error midway: the write is abandoned
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "email\nold@example.org\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let mut w = AtomicCsv::create(&list, &["email".to_string()]).unwrap();
        w.write(&["new@example.org"]).unwrap();
        w.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "email\nnew@example.org\n"
        );
    }

    #[test]
    fn merging_keeps_earlier_values_that_later_rows_leave_empty() {
        let (mut a, mut b, mut out) = (Vec::new(), Vec::new(), Vec::new());
        stage::encode(&mut a, "A@x.org", [(1, &b"Ann"[..]), (2, b"Lee")]);
        stage::encode(&mut b, "a@x.org", [(1, &b""[..]), (3, b"Acme"), (4, b"")]);
        assert!(stage::merge(&a, &b, &mut out));
        assert_eq!(stage::email(&out), "A@x.org", "the first spelling stays");
        assert_eq!(
            stage::fields(&out).collect::<Vec<_>>(),
            vec![(1, &b"Ann"[..]), (2, b"Lee"), (3, b"Acme")]
        );
        let mut same = Vec::new();
        stage::encode(&mut same, "a@x.org", [(2, &b"Lee"[..]), (1, b"")]);
        assert!(!stage::merge(&a, &same, &mut Vec::new()), "nothing changed");
    }

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
