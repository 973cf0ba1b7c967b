//! What a text file is: its encoding (a BOM, else valid UTF-8 or Windows-1252) and its
//! delimiter (the one its header line uses most), unless `--encoding` and `--delimiter`,
//! parsed here too, say.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use encoding_rs::{Encoding, UTF_8, UTF_16LE, WINDOWS_1252};

use super::decode::decoded;

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

pub(super) fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"Email;Name;\"a,b,c,d\"\r\nx;y;z"), b';');
        assert_eq!(detect_delimiter(b"Email\tName\n"), b'\t');
        assert_eq!(detect_delimiter(b"Email,Name\n"), b',');
        assert_eq!(detect_delimiter(b"Email\n"), b',');
    }
}
