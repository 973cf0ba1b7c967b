//! SMTP replies read strictly, in order, and the connection they are read from.
//!
//! Why not lettre's `AsyncSmtpConnection`: its read buffer is private, so a reply the server
//! sent unasked cannot be told from the reply to the next command (three 250s to one MAIL
//! were taken for the replies to RCPT, DATA and the message, and the message logged as
//! accepted), and its parser takes bare-LF lines, undefined codes and any length of line.
//! The delivery record depends on knowing which reply answers the end of the data.
//!
//! [`parse`] is the protocol's rules without I/O (RFC 5321 section 4.2): every line
//! `NNN[ -]text CRLF`, the same code on every line of a reply, a code of `2`-`5`, `0`-`5`,
//! `0`-`9`, UTF-8 text without control characters, at most [`MAX_LINE`] bytes a line and
//! [`MAX_REPLY`] a reply. [`Session`] is the thin async shell: a stream (plain TCP or TLS), a
//! read buffer, writes, deadlines, and [`Session::unsolicited`], which says whether the server
//! has sent anything that answers nothing.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest reply line accepted, CRLF included (RFC 5321 allows 512; servers write more).
pub const MAX_LINE: usize = 4096;
/// The longest reply accepted, all its lines together.
pub const MAX_REPLY: usize = 64 * 1024;

/// One whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    /// The text of each line, without the code, separator and CRLF.
    pub lines: Vec<String>,
}

impl Response {
    /// `2` for 2xx, and so on.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// The reply on one line: the code, then the lines' text joined by spaces, an enhanced
    /// status code repeated at the start of each line written once.
    pub fn text(&self) -> String {
        let mut out = self.code.to_string();
        let first_word = |l: &str| l.split(' ').next().unwrap_or("").to_string();
        let enhanced = self
            .lines
            .first()
            .map(|l| first_word(l))
            .filter(|w| crate::outcome::enhanced_code(w).as_deref() == Some(w.as_str()));
        for (i, line) in self.lines.iter().enumerate() {
            let mut line = line.as_str();
            if i > 0
                && let Some(e) = &enhanced
                && let Some(rest) = line.strip_prefix(e.as_str())
            {
                line = rest;
            }
            let line = line.trim();
            if !line.is_empty() {
                out.push(' ');
                out.push_str(line);
            }
        }
        out
    }
}

/// Why bytes from the server are not an SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Garbled {
    BareLf,
    NotUtf8,
    Control,
    LineTooLong,
    ReplyTooLong,
    /// The first bytes of the line, shown safely.
    BadCode(String),
    MixedCodes(u16, u16),
    BadSeparator,
}

impl fmt::Display for Garbled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Garbled::BareLf => write!(f, "a reply line ended by a bare LF, not CRLF"),
            Garbled::NotUtf8 => write!(f, "a reply line that is not UTF-8"),
            Garbled::Control => write!(f, "a control character in a reply line"),
            Garbled::LineTooLong => write!(f, "a reply line over {MAX_LINE} bytes"),
            Garbled::ReplyTooLong => write!(f, "a reply over {MAX_REPLY} bytes"),
            Garbled::BadCode(c) => write!(f, "`{c}` is not an SMTP reply code"),
            Garbled::MixedCodes(a, b) => write!(f, "one reply with codes {a} and {b}"),
            Garbled::BadSeparator => {
                write!(
                    f,
                    "a reply code followed by neither a space, a hyphen nor CRLF"
                )
            }
        }
    }
}

fn valid_code(b: &[u8]) -> bool {
    matches!(b, [b'2'..=b'5', b'0'..=b'5', b'0'..=b'9'])
}

/// Reads one reply from the start of `buf`: the reply and the bytes it took, `None` if its
/// end has not arrived yet, or why it can never be a reply (decided as soon as the bytes
/// show it: an 8 MB line is refused after its first [`MAX_LINE`] bytes).
pub fn parse(buf: &[u8]) -> Result<Option<(Response, usize)>, Garbled> {
    let mut pos = 0;
    let mut code: Option<u16> = None;
    let mut lines = Vec::new();
    loop {
        let rest = &buf[pos..];
        // The code is checked as soon as it is there, before the line's end arrives.
        if rest.len() >= 3 && !valid_code(&rest[..3]) {
            return Err(Garbled::BadCode(
                String::from_utf8_lossy(&rest[..3])
                    .escape_debug()
                    .to_string(),
            ));
        }
        let window = &rest[..rest.len().min(MAX_LINE)];
        let Some(lf) = memchr::memchr(b'\n', window) else {
            if rest.len() >= MAX_LINE {
                return Err(Garbled::LineTooLong);
            }
            return Ok(None);
        };
        if lf == 0 || rest[lf - 1] != b'\r' {
            return Err(Garbled::BareLf);
        }
        let line = &rest[..lf - 1];
        if line.len() < 3 {
            return Err(Garbled::BadCode(
                String::from_utf8_lossy(line).escape_debug().to_string(),
            ));
        }
        let c = line[..3]
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        if let Some(k) = code
            && k != c
        {
            return Err(Garbled::MixedCodes(k, c));
        }
        code = Some(c);
        let (last, text) = match line.get(3) {
            None => (true, &line[3..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(Garbled::BadSeparator),
        };
        let text = std::str::from_utf8(text).map_err(|_| Garbled::NotUtf8)?;
        if text.chars().any(|ch| ch.is_control() && ch != '\t') {
            return Err(Garbled::Control);
        }
        lines.push(text.to_string());
        pos += lf + 1;
        if pos > MAX_REPLY {
            return Err(Garbled::ReplyTooLong);
        }
        if last {
            return Ok(Some((Response { code: c, lines }, pos)));
        }
    }
}

/// What went wrong on the wire.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with a refusal (4xx, 5xx).
    Refused(Response),
    /// The bytes are not the reply asked for: garbled, unexpected, or unasked.
    Protocol(String),
    /// The server closed the connection.
    Closed,
    Io(io::Error),
    /// The deadline passed.
    Timeout,
}

/// What the server offers, from its EHLO reply.
#[derive(Debug, Default, Clone)]
pub struct Extensions {
    pub pipelining: bool,
    pub starttls: bool,
    pub smtputf8: bool,
    pub eightbitmime: bool,
    /// AUTH mechanisms, upper case.
    pub auth: Vec<String>,
}

impl Extensions {
    /// The keywords of an EHLO reply (its first line is the server's name).
    pub fn from_ehlo(reply: &Response) -> Extensions {
        let mut ext = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split([' ', '=']);
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => ext.pipelining = true,
                "STARTTLS" => ext.starttls = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "8BITMIME" => ext.eightbitmime = true,
                "AUTH" => ext
                    .auth
                    .extend(words.filter(|w| !w.is_empty()).map(str::to_ascii_uppercase)),
                _ => {}
            }
        }
        ext
    }
}

/// The connection: plain TCP, or TLS (implicit, or after STARTTLS).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An SMTP connection: the stream, the bytes read but not yet taken as replies, and what the
/// server offers.
pub struct Session {
    pub stream: Stream,
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` start.
    at: usize,
    pub ext: Extensions,
    /// Out of step with the server: not to be used again.
    pub broken: bool,
}

impl Session {
    pub fn new(stream: Stream) -> Session {
        Session {
            stream,
            buf: Vec::with_capacity(8192),
            at: 0,
            ext: Extensions::default(),
            broken: false,
        }
    }

    /// Bytes received that no reply has taken yet.
    fn unread(&self) -> &[u8] {
        &self.buf[self.at..]
    }

    /// Reads the next reply, whole, by `deadline`.
    pub async fn read(&mut self, deadline: Instant) -> Result<Response, Failure> {
        loop {
            match parse(self.unread()) {
                Ok(Some((reply, n))) => {
                    self.at += n;
                    if self.at == self.buf.len() {
                        self.buf.clear();
                        self.at = 0;
                    }
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(g) => return Err(Failure::Protocol(g.to_string())),
            }
            if self.at > 0 {
                self.buf.drain(..self.at);
                self.at = 0;
            }
            self.buf.reserve(4096);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Err(Failure::Timeout),
                Ok(Ok(0)) => return Err(Failure::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(Failure::Io(e)),
            }
        }
    }

    /// Reads the next reply and checks it is of `class` (a refusal is [`Failure::Refused`],
    /// any other code a protocol error naming `what`).
    pub async fn expect(
        &mut self,
        class: u16,
        what: &str,
        deadline: Instant,
    ) -> Result<Response, Failure> {
        let reply = self.read(deadline).await?;
        match reply.class() {
            c if c == class => Ok(reply),
            4 | 5 => Err(Failure::Refused(reply)),
            _ => Err(Failure::Protocol(format!(
                "unexpected reply `{}` to {what}",
                reply.text()
            ))),
        }
    }

    /// Writes `bytes` whole (and flushes a TLS stream) by `deadline`.
    pub async fn write(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), Failure> {
        let io = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout_at(deadline, io).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Err(e)) => Err(Failure::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// One command and its reply, which must be of `class` and the only thing the server
    /// sent.
    pub async fn command(
        &mut self,
        line: &str,
        class: u16,
        what: &str,
        deadline: Instant,
    ) -> Result<Response, Failure> {
        self.write(line.as_bytes(), deadline).await?;
        let reply = self.expect(class, what, deadline).await?;
        self.nothing_more()?;
        Ok(reply)
    }

    /// An error if bytes are waiting that no command asked for (checks the buffer only).
    pub fn nothing_more(&self) -> Result<(), Failure> {
        if self.unread().is_empty() {
            return Ok(());
        }
        Err(Failure::Protocol(format!(
            "the server sent `{}` unasked",
            shown(self.unread())
        )))
    }

    /// Whether the server has sent anything since the last reply, or closed the connection:
    /// the buffer, then one look at the stream that never waits (when the stream has nothing,
    /// this costs at most one `recv` that finds nothing).
    pub async fn unsolicited(&mut self) -> Result<(), Failure> {
        self.nothing_more()?;
        self.buf.reserve(4096);
        let mut read = std::pin::pin!(self.stream.read_buf(&mut self.buf));
        let polled = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        match polled {
            Poll::Pending => Ok(()),
            Poll::Ready(Ok(0)) => Err(Failure::Closed),
            Poll::Ready(Ok(_)) => self.nothing_more(),
            Poll::Ready(Err(e)) => Err(Failure::Io(e)),
        }
    }

    /// QUIT, its reply waited for until `deadline` and not judged.
    pub async fn quit(mut self, deadline: Instant) {
        if self.write(b"QUIT\r\n", deadline).await.is_ok() {
            let _ = self.read(deadline).await;
        }
        let _ = tokio::time::timeout_at(deadline, self.stream.shutdown()).await;
    }
}

/// Up to 200 bytes as they can be shown on one line.
fn shown(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let s = s.trim_end_matches(['\r', '\n']).escape_debug().to_string();
    if bytes.len() > 200 {
        format!("{s}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Option<(Response, usize)>, Garbled> {
        parse(bytes)
    }

    #[test]
    fn a_multi_line_reply_is_read_whole_and_the_next_left_alone() {
        let bytes = b"250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n354 go\r\n";
        let (reply, n) = one(bytes).unwrap().unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mx.example.org", "PIPELINING", "8BITMIME"]);
        assert_eq!(&bytes[n..], b"354 go\r\n");
        assert_eq!(one(b"250 OK").unwrap(), None, "no CRLF yet");
        assert_eq!(one(b"250-a\r\n250").unwrap(), None, "a last line to come");
        assert_eq!(one(b"250\r\n").unwrap().unwrap().0.lines, [""]);
    }

    #[test]
    fn what_is_not_a_reply_is_refused() {
        assert_eq!(one(b"250 OK\n"), Err(Garbled::BareLf));
        assert_eq!(one(b"250 \xff\xfe OK\r\n"), Err(Garbled::NotUtf8));
        assert_eq!(one(b"250 a\rb\r\n"), Err(Garbled::Control));
        for code in ["299", "600", "150", "2x0", "099"] {
            assert_eq!(
                one(format!("{code} OK\r\n").as_bytes()),
                Err(Garbled::BadCode(code.into())),
                "{code}"
            );
        }
        // Refused as soon as the code shows it, without waiting for the line's end.
        assert_eq!(one(b"600"), Err(Garbled::BadCode("600".into())));
        assert_eq!(
            one(b"250-a\r\n251 b\r\n"),
            Err(Garbled::MixedCodes(250, 251))
        );
        assert_eq!(one(b"250+a\r\n"), Err(Garbled::BadSeparator));
        let mut long = b"250 ".to_vec();
        long.resize(MAX_LINE, b'x');
        assert_eq!(one(&long), Err(Garbled::LineTooLong), "no CRLF in 4 KiB");
        long.truncate(MAX_LINE - 2);
        long.extend_from_slice(b"\r\n");
        assert!(
            one(&long).unwrap().is_some(),
            "4 KiB with its CRLF is a line"
        );
        let many = b"250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n".repeat(2000);
        assert_eq!(one(&many), Err(Garbled::ReplyTooLong));
    }

    #[test]
    fn the_text_is_one_line_with_the_enhanced_code_once() {
        let (reply, _) = one(b"550-5.1.1 The account does not exist. Please try\r\n550-5.1.1 double-checking the address.\r\n550 5.1.1 https://support.example/NoSuchUser\r\n").unwrap().unwrap();
        assert_eq!(
            reply.text(),
            "550 5.1.1 The account does not exist. Please try double-checking the address. https://support.example/NoSuchUser"
        );
        let (reply, _) = one(b"451-first\r\n451 second\r\n").unwrap().unwrap();
        assert_eq!(reply.text(), "451 first second");
    }

    #[test]
    fn ehlo_keywords_are_read_from_the_lines_after_the_name() {
        let (reply, _) = one(b"250-mx.example.org says PIPELINING\r\n250-pipelining\r\n250-AUTH PLAIN LOGIN\r\n250-XSMTPUTF8\r\n250 8BITMIME\r\n").unwrap().unwrap();
        let ext = Extensions::from_ehlo(&reply);
        assert!(ext.pipelining && ext.eightbitmime && !ext.smtputf8 && !ext.starttls);
        assert_eq!(ext.auth, ["PLAIN", "LOGIN"]);
    }
}
