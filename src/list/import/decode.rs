//! Text in any encoding read as UTF-8, with no replacement characters: bytes not valid in the
//! encoding stop the read with their line ([`Malformed`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// `path` decoded to UTF-8, its BOM removed; bytes that are not valid in `encoding` are a
/// [`Malformed`] error naming their line, never replacement characters.
pub(super) fn decoded(path: &Path, encoding: &'static Encoding) -> std::io::Result<Decode<File>> {
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
pub(super) fn malformed(e: &csv::Error) -> Option<&Malformed> {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref()?.downcast_ref::<Malformed>(),
        _ => None,
    }
}
