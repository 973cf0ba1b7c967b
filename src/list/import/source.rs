//! An input file's records, whatever it holds: CSV text (decoded, its delimiter sniffed) or
//! an .xlsx workbook's sheet; other binary files are refused with what to do instead.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use encoding_rs::Encoding;

use super::decode::{Decode, decoded, malformed};
use super::quoted_list;
use super::sniff::{Format, read_up_to, sniff};
use crate::error::{Error, Result, show};
use crate::list::Lines;

/// How a file was read: as text (with its encoding and delimiter) or as an .xlsx sheet.
#[derive(Debug, Clone)]
pub enum ReadAs {
    Text(Format),
    Sheet(String),
}

/// A record's line, `None` at the end, or an error with its line.
pub(super) type Next = std::result::Result<Option<u64>, (csv::Error, u64)>;

/// The records of an input file, CSV or workbook sheet alike.
pub(super) enum Source {
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
    pub(super) fn open(
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
    pub(super) fn next(&mut self, record: &mut csv::StringRecord, name: &str) -> Result<Next> {
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
