//! MIME: one member's rendering becomes the bytes that go on the wire.
//!
//! multipart/alternative with text/plain first and text/html last (with `[web] inline_images`,
//! a multipart/related of the HTML and the images it references by `cid:`), UTF-8 (each part goes 7bit
//! as rendered when it can, as the HTML always can; otherwise quoted-printable, so no line
//! exceeds 998 octets); `From`, optional
//! `Reply-To`, `To` with the member's name, `Subject` (both RFC 2047 encoded when not ASCII,
//! and when member data would otherwise be misread or overlong: see `Subject`), `Date`,
//! a unique `Message-ID` on the sender's domain, and the bulk-mail headers mailbox providers
//! require: `List-Unsubscribe` (+ `List-Unsubscribe-Post` for RFC 8058 one-click), `List-Id`
//! and optionally `Feedback-ID`. A DKIM signature ([`crate::compose::dkim`]), when configured, is added
//! last and covers all of them. Member data reaches headers only through lettre's encoders or
//! our `encoded_words`, after the list check has refused every control character.

use std::sync::Arc;

use lettre::Address;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};

use crate::compose::dkim;
use crate::compose::opens::Pixel;
use crate::compose::render::Rendered;

/// What the message is sent as, shared by every member of a campaign.
#[derive(Clone)]
pub struct Sender {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// `List-Id` value: `"Name" <id>` or `<id>`.
    pub list_id: String,
    /// `Feedback-ID` value, if any.
    pub feedback_id: Option<String>,
    /// `List-Unsubscribe` mailto address, if any.
    pub unsubscribe_mailto: Option<String>,
    pub dkim: Option<Arc<dkim::Signer>>,
    /// Images carried in every message (`[web] inline_images`): the HTML then goes in a
    /// multipart/related with them. Empty: none.
    pub inline: Arc<[Inline]>,
}

/// An image carried in the message as an inline part, referenced from the HTML as
/// `cid:<content_id>`; encoded once per campaign.
#[derive(Debug, Clone)]
pub struct Inline {
    content_type: &'static str,
    content_id: String,
    filename: String,
    /// The bytes in base64, lines of 76 ended by CRLF.
    base64: Vec<u8>,
}

impl Inline {
    /// The image `bytes` of type `content_type`, published as `name` (its Content-ID is
    /// [`crate::compose::images::content_id`] of it).
    pub fn new(content_type: &'static str, name: &str, bytes: &[u8]) -> Inline {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut base64 = Vec::with_capacity(b64.len() + b64.len() / 38 + 2);
        for line in b64.as_bytes().chunks(76) {
            base64.extend_from_slice(line);
            base64.extend_from_slice(b"\r\n");
        }
        Inline {
            content_type,
            content_id: crate::compose::images::content_id(name),
            filename: name.to_string(),
            base64,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let head = format!(
            "Content-Type: {}\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <{}>\r\nContent-Disposition: inline; filename=\"{}\"\r\n\r\n",
            self.content_type, self.content_id, self.filename
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.base64);
    }
}

impl Sender {
    /// The list identifier without display name or brackets.
    pub fn list_id_bare(&self) -> &str {
        let s = self.list_id.rsplit('<').next().unwrap_or(&self.list_id);
        s.trim_end_matches('>')
    }
}

/// A message ready for a transport.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Envelope recipient.
    pub to: Address,
    /// Envelope sender: the From address, or the member's bounce address.
    pub from: Address,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// What differs per member besides the rendering.
pub struct PerMember<'a> {
    pub to: &'a str,
    pub name: Option<String>,
    pub message_id: &'a str,
    pub unsubscribe_url: &'a str,
    /// Replaces the rendered subject (test sends).
    pub subject: Option<&'a str>,
    /// Envelope sender for bounce matching.
    pub envelope_from: Option<Address>,
    /// With `[tracking] opens`, the address of the member's open pixel, written into the
    /// HTML just before `</body>` (see [`crate::compose::opens`]).
    pub pixel: Option<&'a str>,
}

/// A fresh `<campaign.random@domain>` Message-ID.
pub fn new_message_id(campaign: &str, domain: &str) -> String {
    let mut rnd = [0u8; 10];
    getrandom::fill(&mut rnd).expect("the OS random source failed");
    let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    let tag: String = campaign
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("<{tag}.{hex}@{domain}>")
}

macro_rules! raw_header {
    ($ty:ident, $name:literal) => {
        #[derive(Debug, Clone)]
        struct $ty(String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(
                s: &str,
            ) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($ty(s.to_string()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

raw_header!(ListUnsubscribe, "List-Unsubscribe");
raw_header!(ListUnsubscribePost, "List-Unsubscribe-Post");
raw_header!(ListId, "List-Id");
raw_header!(FeedbackId, "Feedback-ID");

/// The `Subject` header, encoded so that it displays exactly as rendered.
///
/// lettre writes an ASCII subject as it is, folded between words. Two things then go wrong
/// with member data in it: text shaped like an RFC 2047 encoded word (`=?utf-8?b?...?=`) is
/// decoded by the reader's mail program into whatever it encodes (a member value displayed
/// as "PayPal: your account is locked"), and a word too long to fold makes a line over the
/// 998 octets SMTP allows. Such a subject goes as encoded words instead, whole: every mail
/// program decodes them back into the text as typed, and they fold.
#[derive(Debug, Clone)]
struct Subject(String);

impl Header for Subject {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Subject")
    }
    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Subject(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        let s = &self.0;
        if needs_encoded_words(s) {
            HeaderValue::dangerous_new_pre_encoded(Self::name(), s.clone(), encoded_words(s))
        } else {
            HeaderValue::new(Self::name(), s.clone())
        }
    }
}

/// The longest word written as it is in a header: RFC 5322 asks for lines of 78 characters.
const MAX_WORD: usize = 76;

/// Whether member data in a header must go as encoded words to display as typed and fold:
/// text shaped like an encoded word, or a word too long to fold (see [`Subject`]).
fn needs_encoded_words(s: &str) -> bool {
    s.contains("=?") || s.split_whitespace().any(|w| w.len() > MAX_WORD)
}

/// `text` as RFC 2047 encoded words (UTF-8, base64), at most 75 characters each (45 bytes of
/// text, never splitting a character), one to a folded line.
fn encoded_words(text: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(45);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if !out.is_empty() {
            out.push_str("\r\n ");
        }
        out.push_str("=?utf-8?b?");
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(&rest[..end]));
        out.push_str("?=");
        rest = &rest[end..];
    }
    out
}

/// Only ASCII URLs go in `List-Unsubscribe`; anything else would need encoding no client reads.
pub fn check_unsubscribe_url(url: &str) -> std::result::Result<(), String> {
    if !url.is_ascii() || url.contains(['<', '>', ' ', ',']) {
        return Err(format!(
            "the unsubscribe URL `{url}` must be ASCII with no spaces, commas or angle brackets (encode values with `urlencode`)"
        ));
    }
    Ok(())
}

/// Builds `m`'s header block as [`build`] would and checks it as a receiving server would
/// (RFC 5322 2.1.1, 2.2): every line at most 998 octets, a header name or a folded
/// continuation at the start of each, ASCII throughout except the member's own address
/// (SMTPUTF8, warned about separately). Cheap beside the MIME body: `check` runs it for
/// every member, so a name or subject that breaks a header is found before the send, not by
/// the server at that member's turn.
pub fn check_headers(
    sender: &Sender,
    m: &PerMember,
    rendered: &Rendered,
) -> std::result::Result<(), String> {
    let to_addr: Address =
        m.to.parse()
            .map_err(|e| format!("`{}` is not a valid address: {e}", m.to))?;
    check_unsubscribe_url(m.unsubscribe_url)?;
    let block = headers(sender, m, rendered, &to_addr, "b");
    let mut name = "";
    for line in block.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.starts_with([' ', '\t']) {
            name = line.split(':').next().unwrap_or(line);
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(format!(
                    "a header line would not start with a header name: `{}`",
                    line.escape_debug()
                ));
            }
        }
        if line.len() > 998 {
            return Err(format!(
                "the `{name}` header would have a line of {} octets; SMTP allows 998",
                line.len()
            ));
        }
        let rest = match name.eq_ignore_ascii_case("To") {
            true => line.replace(m.to, ""),
            false => line.to_string(),
        };
        if !rest.is_ascii() || rest.contains(['\r', '\n', '\0']) {
            return Err(format!(
                "the `{name}` header would carry raw non-ASCII or control characters: `{}`",
                line.escape_debug()
            ));
        }
    }
    Ok(())
}

/// Whether `b` may go as 7bit (RFC 2045 section 2.7) as it is: ASCII without NUL, every line
/// ended by CRLF (no bare CR or LF) and at most 998 octets long.
fn seven_bit(b: &[u8]) -> bool {
    if !b.is_ascii() || memchr::memchr(0, b).is_some() {
        return false;
    }
    // One pass over the line ends: a CR must come right before an LF and an LF right after a
    // CR (the HTML has a line end after every tag name: thousands a message).
    let mut start = 0;
    let mut ends = memchr::memchr2_iter(b'\r', b'\n', b);
    while let Some(i) = ends.next() {
        if b[i] == b'\n' || b.get(i + 1) != Some(&b'\n') || i - start > 998 {
            return false;
        }
        ends.next();
        start = i + 2;
    }
    b.len() - start <= 998
}

/// Seconds since 1970, as the `Date` header is written (the real clock).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Builds, and signs when configured, one member's message.
///
/// The headers go through lettre's encoders (member data reaches them only that way); the
/// body is assembled here: lettre's multipart builder, its quoted-printable encoder and
/// `formatted` cost ~20 us a message, more than everything else on the send path together
/// (docs/performance.md), and the parts are simple: each part as it is when it can go 7bit (the HTML
/// always can, as [`crate::compose::render::wire_html`] writes it: encoding ~40 KB of
/// quoted-printable per member cost more than everything else in the message put together),
/// else quoted-printable line by line ([`quoted_printable`]).
pub fn build(
    sender: &Sender,
    m: &PerMember,
    rendered: &Rendered,
) -> std::result::Result<Outgoing, String> {
    let to_addr: Address =
        m.to.parse()
            .map_err(|e| format!("`{}` is not a valid address: {e}", m.to))?;
    check_unsubscribe_url(m.unsubscribe_url)?;
    let boundary = new_boundary();
    let headers = headers(sender, m, rendered, &to_addr, &boundary);
    let text = part(TEXT_PLAIN, &rendered.text);
    let pixeled;
    let html = match m.pixel {
        None => part(TEXT_HTML, &rendered.html),
        Some(url) => {
            let mut html = part(TEXT_HTML, &rendered.html);
            if html.encoding == "7bit" {
                // Written in as the part is copied into the message: no copy of the HTML.
                let (at, break_first) = Pixel::position(&html.body);
                html.insert = Some((at, Pixel::line(url, break_first).into_bytes()));
                html
            } else {
                pixeled = {
                    let mut with = rendered.html.clone();
                    Pixel::insert(&mut with, url);
                    with
                };
                part(TEXT_HTML, &pixeled)
            }
        }
    };
    let images: usize = sender.inline.iter().map(|i| i.base64.len() + 200).sum();
    let mut bytes = Vec::with_capacity(
        headers.len() + text.len() + html.len() + images + 4 * boundary.len() + 256,
    );
    bytes.extend_from_slice(headers.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    delimiter(&mut bytes, &boundary);
    text.write(&mut bytes);
    bytes.extend_from_slice(b"\r\n");
    delimiter(&mut bytes, &boundary);
    if sender.inline.is_empty() {
        html.write(&mut bytes);
    } else {
        related(&mut bytes, &html, &sender.inline);
    }
    bytes.extend_from_slice(b"\r\n--");
    bytes.extend_from_slice(boundary.as_bytes());
    bytes.extend_from_slice(b"--\r\n");
    if let Some(dkim) = &sender.dkim {
        bytes = dkim.sign(&bytes, unix_now())?;
    }
    Ok(Outgoing {
        to: to_addr,
        from: m
            .envelope_from
            .clone()
            .unwrap_or_else(|| sender.from.email.clone()),
        message_id: m.message_id.to_string(),
        bytes,
    })
}

/// `--boundary` and its line end: the start of a part.
fn delimiter(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A multipart/related part: the HTML first, then the images it references by `cid:`
/// (RFC 2387), inside its own boundary.
fn related(out: &mut Vec<u8>, html: &Part, inline: &[Inline]) {
    let boundary = new_boundary();
    out.extend_from_slice(b"Content-Type: multipart/related; type=\"text/html\";\r\n boundary=\"");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\"\r\n\r\n");
    delimiter(out, &boundary);
    html.write(out);
    for image in inline {
        out.extend_from_slice(b"\r\n");
        delimiter(out, &boundary);
        image.write(out);
    }
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
}

/// The message's headers, in the order lettre's builder wrote them, each encoded by lettre.
fn headers(
    sender: &Sender,
    m: &PerMember,
    rendered: &Rendered,
    to: &Address,
    boundary: &str,
) -> String {
    use lettre::message::Mailboxes;
    use lettre::message::header::{self, Headers};
    let mut list_unsubscribe = format!("<{}>", m.unsubscribe_url);
    if let Some(mailto) = &sender.unsubscribe_mailto {
        list_unsubscribe.push_str(&format!(", <mailto:{mailto}?subject=unsubscribe>"));
    }
    let mut h = Headers::new();
    h.set(header::From::from(Mailboxes::from(sender.from.clone())));
    match &m.name {
        // The member's name as encoded words, for the reasons `Subject` gives: lettre would
        // write `"=?utf-8?b?...?="` for a reader to decode, or a 1,000-letter name on one
        // line longer than SMTP allows.
        Some(name) if needs_encoded_words(name) => {
            let to_name = HeaderName::new_from_ascii_str("To");
            h.insert_raw(HeaderValue::dangerous_new_pre_encoded(
                to_name,
                format!("{name} <{to}>"),
                format!("{} <{to}>", encoded_words(name)),
            ));
        }
        _ => h.set(header::To::from(Mailboxes::from(Mailbox::new(
            m.name.clone(),
            to.clone(),
        )))),
    }
    h.set(Subject(m.subject.unwrap_or(&rendered.subject).to_string()));
    h.set(header::MessageId::from(m.message_id.to_string()));
    h.set(header::Date::now());
    h.set(ListUnsubscribe(list_unsubscribe));
    h.set(ListUnsubscribePost("List-Unsubscribe=One-Click".into()));
    h.set(ListId(sender.list_id.clone()));
    if let Some(r) = &sender.reply_to {
        h.set(header::ReplyTo::from(Mailboxes::from(r.clone())));
    }
    if let Some(f) = &sender.feedback_id {
        h.set(FeedbackId(f.clone()));
    }
    h.set(header::MIME_VERSION_1_0);
    h.set(
        format!("multipart/alternative; boundary=\"{boundary}\"")
            .parse::<ContentType>()
            .expect("a multipart content type with an alphanumeric boundary parses"),
    );
    h.to_string()
}

/// A MIME boundary: 40 random letters and digits, as lettre makes them (a body holding it by
/// chance is as likely as guessing a 238-bit key).
fn new_boundary() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(40)
        .collect()
}

/// One part of the multipart body: its content type, its transfer encoding and the encoded
/// content.
struct Part<'a> {
    content_type: &'static str,
    encoding: &'static str,
    body: std::borrow::Cow<'a, [u8]>,
    /// Bytes written into `body` at an offset as it is copied (the open pixel, into 7bit
    /// HTML).
    insert: Option<(usize, Vec<u8>)>,
}

impl Part<'_> {
    fn len(&self) -> usize {
        self.body.len() + self.insert.as_ref().map_or(0, |(_, b)| b.len()) + 100
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Transfer-Encoding: ");
        out.extend_from_slice(self.encoding.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        match &self.insert {
            None => out.extend_from_slice(&self.body),
            Some((at, bytes)) => {
                out.extend_from_slice(&self.body[..*at]);
                out.extend_from_slice(bytes);
                out.extend_from_slice(&self.body[*at..]);
            }
        }
    }
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// A part: 7bit when `text`, its lines ended by CRLF, can go as it is (ASCII, no line over 998
/// octets), else quoted-printable.
fn part<'a>(content_type: &'static str, text: &'a str) -> Part<'a> {
    use std::borrow::Cow;
    let body = if seven_bit(text.as_bytes()) {
        Some(Cow::Borrowed(text.as_bytes()))
    } else if text.is_ascii() {
        Some(crlf(text).into_owned().into_bytes())
            .filter(|b| seven_bit(b))
            .map(Cow::Owned)
    } else {
        None
    };
    match body {
        Some(body) => Part {
            content_type,
            encoding: "7bit",
            body,
            insert: None,
        },
        None => Part {
            content_type,
            encoding: "quoted-printable",
            body: Cow::Owned(quoted_printable(text.as_bytes())),
            insert: None,
        },
    }
}

/// `text` with every line ended by CRLF (a bare LF or CR becomes CRLF).
fn crlf(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let clean = memchr::memchr_iter(b'\n', b).all(|i| i > 0 && b[i - 1] == b'\r')
        && memchr::memchr_iter(b'\r', b).all(|i| b.get(i + 1) == Some(&b'\n'));
    if clean {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for line in lines(b) {
        // Lines split at CR, LF or CRLF are whole UTF-8 (the separators are ASCII).
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    if !(b.ends_with(b"\n") || b.ends_with(b"\r")) {
        out.truncate(out.len() - 2);
    }
    std::borrow::Cow::Owned(out)
}

/// The lines of `b`, split at CRLF, a bare LF or a bare CR, without their ends.
fn lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(b);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr2(b'\r', b'\n', r) {
            None => {
                rest = None;
                (!r.is_empty()).then_some(r)
            }
            Some(i) => {
                let skip = if r[i] == b'\r' && r.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = Some(&r[i + skip..]);
                Some(&r[..i])
            }
        }
    })
}

/// Whether a byte may stand for itself in quoted-printable (RFC 2045 section 6.7, rule 2):
/// printable ASCII but `=`; a space or tab too, except at the end of a line.
fn literal(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && b != b'=' || b == b' ' || b == b'\t'
}

/// `b` as quoted-printable (RFC 2045 section 6.7): each line of the text (CRLF, LF or CR)
/// a hard line break, encoded lines at most 76 characters with `=` soft breaks, a space or tab
/// at the end of a line encoded. A line that needs no encoding (most of a bulletin's text
/// part) is copied in runs of 75 bytes instead of byte by byte.
pub fn quoted_printable(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 8 + 16);
    let mut first = true;
    for line in lines(b) {
        if !first {
            out.extend_from_slice(b"\r\n");
        }
        first = false;
        qp_line(line, &mut out);
    }
    if b.ends_with(b"\n") || b.ends_with(b"\r") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One line of text (no line end in it) as quoted-printable: runs of bytes that stand for
/// themselves are copied, broken softly to keep each encoded line within 76 characters.
fn qp_line(line: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // A space or tab ending the line must be encoded.
    let plain_end = if line.ends_with(b" ") || line.ends_with(b"\t") {
        line.len() - 1
    } else {
        line.len()
    };
    let (mut col, mut i) = (0, 0);
    while i < line.len() {
        let run = line[i..plain_end.max(i)]
            .iter()
            .position(|&c| !literal(c))
            .map_or(plain_end.max(i), |n| i + n);
        while i < run {
            // The line's last piece may fill all 76 columns; any other leaves one for `=`.
            let take = if run == line.len() && run - i <= 76 - col {
                run - i
            } else {
                (75 - col).min(run - i)
            };
            if take == 0 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
                continue;
            }
            out.extend_from_slice(&line[i..i + take]);
            col += take;
            i += take;
        }
        if i < line.len() {
            let c = line[i];
            if col + 3 > if i + 1 == line.len() { 76 } else { 75 } {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            out.extend_from_slice(&[b'=', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
            col += 3;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(html: &str) -> String {
        String::from_utf8(built_with(html, Arc::from([]))).unwrap()
    }

    /// What differs for Ann, with the open pixel at `pixel` if given.
    fn ann(pixel: Option<&str>) -> PerMember<'_> {
        PerMember {
            to: "ann@example.org",
            name: None,
            message_id: "<c.1@example.org>",
            unsubscribe_url: "https://example.org/u/1",
            subject: None,
            envelope_from: None,
            pixel,
        }
    }

    /// Ann's message with `html` (and the text `Hi`), carrying `inline`.
    fn built_with(html: &str, inline: Arc<[Inline]>) -> Vec<u8> {
        let sender = Sender { inline, ..sender() };
        let per = ann(None);
        let rendered = Rendered {
            subject: "Hi".into(),
            html: html.into(),
            text: "Hi".into(),
        };
        build(&sender, &per, &rendered).unwrap().bytes
    }

    #[test]
    fn the_open_pixel_is_written_before_the_body_ends_in_7bit_and_quoted_printable_html() {
        let sender = sender();
        let per = ann(Some("https://x.org/o/t.gif"));
        let with = |html: &str| {
            let rendered = Rendered {
                subject: "Hi".into(),
                html: html.into(),
                text: "Hi".into(),
            };
            let bytes = build(&sender, &per, &rendered).unwrap().bytes;
            let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            m.body_html(0).unwrap().into_owned()
        };
        let img = Pixel::img("https://x.org/o/t.gif");
        assert_eq!(
            with("<body>\r\n<p>a</p>\r\n</body>\r\n</html>\r\n"),
            format!("<body>\r\n<p>a</p>\r\n{img}</body>\r\n</html>\r\n")
        );
        // Not ASCII: quoted-printable, the pixel in it all the same.
        let html = with("<body><p>\u{e9}t\u{e9}</p></body>");
        assert_eq!(html, format!("<body><p>\u{e9}t\u{e9}</p>\r\n{img}</body>"));
    }

    #[test]
    fn inline_images_go_in_a_multipart_related_after_the_html_with_their_content_ids() {
        let image: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let html = "<img src=\"cid:x-0123456789.png@mailshot\" alt=\"x\">";
        let inline = Inline::new("image/png", "x-0123456789.png", &image);
        let bytes = built_with(html, Arc::from([inline]));
        let text = String::from_utf8(bytes.clone()).unwrap();
        // Base64 in lines of 76, no line over 998 octets anywhere.
        assert!(text.split("\r\n").all(|l| l.len() <= 76), "{text}");
        use mail_parser::MimeHeaders;
        let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let types: Vec<String> = m
            .parts
            .iter()
            .map(|p| {
                let ct = p.content_type().unwrap();
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            types,
            [
                "multipart/alternative",
                "text/plain",
                "multipart/related",
                "text/html",
                "image/png"
            ]
        );
        assert_eq!(m.body_text(0).unwrap(), "Hi");
        assert_eq!(m.body_html(0).unwrap(), html);
        let part = &m.parts[4];
        assert_eq!(part.content_id(), Some("x-0123456789.png@mailshot"));
        assert_eq!(part.contents(), &image[..]);
    }

    fn sender() -> Sender {
        Sender {
            from: "News <news@example.org>".parse().unwrap(),
            reply_to: None,
            list_id: "<news.example.org>".into(),
            feedback_id: None,
            unsubscribe_mailto: None,
            dkim: None,
            inline: Arc::from([]),
        }
    }

    #[test]
    fn every_members_headers_are_checked_as_a_server_would() {
        let rendered = |subject: &str| Rendered {
            subject: subject.into(),
            html: String::new(),
            text: String::new(),
        };
        let per = |to, name: Option<&str>, url| PerMember {
            to,
            name: name.map(String::from),
            message_id: "<c.1@example.org>",
            unsubscribe_url: url,
            subject: None,
            envelope_from: None,
            pixel: None,
        };
        let ok = |to, name, url, subject: &str| {
            check_headers(&sender(), &per(to, name, url), &rendered(subject))
        };
        let url = "https://example.org/u/1";
        assert_eq!(ok("ann@example.org", Some("Ann Lee"), url, "Hi"), Ok(()));
        // Long and non-ASCII names and subjects are folded encoded words: fine.
        let long = "Zoë ".repeat(400);
        assert_eq!(ok("ann@example.org", Some(&long), url, &long), Ok(()));
        // The member's own non-ASCII address is SMTPUTF8's business, not a broken header.
        assert_eq!(ok("zoë@example.org", None, url, "Hi"), Ok(()));
        // A link no header can carry on one line.
        let huge = format!("https://example.org/u/{}", "a".repeat(1000));
        assert_eq!(
            ok("ann@example.org", None, &huge, "Hi"),
            Err(
                "the `List-Unsubscribe` header would have a line of 1042 octets; SMTP allows 998"
                    .into()
            )
        );
        assert!(
            ok("ann@example.org", None, "https://example.org/u/ë", "Hi")
                .unwrap_err()
                .contains("must be ASCII")
        );
    }

    #[test]
    fn a_subject_shaped_like_encoded_words_or_too_long_to_fold_goes_as_encoded_words() {
        assert_eq!(
            encoded_words("Zoë, =?utf-8?b?QQ==?= and 45 bytes more of text!!"),
            "=?utf-8?b?Wm/DqywgPT91dGYtOD9iP1FRPT0/PSBhbmQgNDUgYnl0ZXMgbW9yZSBvZiB0?=\r\n =?utf-8?b?ZXh0ISE=?="
        );
        // A character is never split between two words.
        for w in encoded_words(&"é".repeat(40)).split("\r\n ") {
            let b64 = w.trim_start_matches("=?utf-8?b?").trim_end_matches("?=");
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            assert!(String::from_utf8(bytes).is_ok() && w.len() <= 75, "{w}");
        }
        assert_eq!(
            Subject("Cluster News – April".into()).display(),
            HeaderValue::new(Subject::name(), "Cluster News – April".into()),
            "other subjects go as lettre writes them"
        );
    }

    #[test]
    fn html_ready_for_the_wire_goes_7bit_as_it_is() {
        let html = format!("<p\r\nclass=\"a\">{}</p>\r\n", "x".repeat(998 - 15));
        let m = built(&html);
        assert!(
            m.contains(&format!("Content-Transfer-Encoding: 7bit\r\n\r\n{html}")),
            "{m}"
        );
    }

    #[test]
    fn html_that_cannot_go_as_it_is_goes_quoted_printable() {
        for (html, encoding) in [
            // A line of 1003 octets, and text beyond ASCII: quoted-printable.
            (
                format!("<p>{}</p>\r\n", "x".repeat(996)),
                "quoted-printable",
            ),
            ("<p>Zo\u{eb}</p>\r\n".to_string(), "quoted-printable"),
            // A bare LF is written as CRLF.
            ("<p>a</p>\n<p>b</p>\r\n".to_string(), "7bit"),
        ] {
            let m = built(&html);
            assert!(
                m.contains(&format!("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n")),
                "{m}"
            );
            assert!(
                m.split("\r\n").all(|l| l.len() <= 998 && !l.contains('\n')),
                "{m}"
            );
        }
    }

    /// Decodes quoted-printable as RFC 2045 says, for the tests: soft breaks removed, `=XX`
    /// decoded, hard breaks kept as CRLF.
    fn decode(qp: &[u8]) -> Vec<u8> {
        let s = std::str::from_utf8(qp).unwrap().replace("=\r\n", "");
        let b = s.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < b.len() {
            if b[i] == b'=' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn quoted_printable_round_trips_in_lines_of_76(
            text in "([ -~]{0,200}|[\t =\u{e9}\u{2013}\u{1F600}]{0,90}|\r\n|\n|\r){0,12}"
        ) {
            let qp = quoted_printable(text.as_bytes());
            let lines: Vec<&[u8]> = qp.split(|&c| c == b'\n').collect();
            for l in &lines {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                proptest::prop_assert!(l.len() <= 76, "{:?}", String::from_utf8_lossy(l));
                proptest::prop_assert!(l.iter().all(|c| (b' '..=b'~').contains(c) || *c == b'\t'));
                proptest::prop_assert!(!l.ends_with(b" ") && !l.ends_with(b"\t"));
            }
            proptest::prop_assert!(qp.windows(2).all(|w| (w[1] == b'\n') == (w[0] == b'\r')));
            let expected = text.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n");
            proptest::prop_assert_eq!(String::from_utf8(decode(&qp)).unwrap(), expected);
        }
    }

    #[test]
    fn a_members_name_shaped_like_encoded_words_or_too_long_to_fold_goes_as_encoded_words() {
        let sender = Sender {
            from: "News <news@example.org>".parse().unwrap(),
            reply_to: None,
            list_id: "<news.example.org>".into(),
            feedback_id: None,
            unsubscribe_mailto: None,
            dkim: None,
            inline: Arc::from([]),
        };
        let rendered = Rendered {
            subject: "Hi".into(),
            html: "<p>Hi</p>\r\n".into(),
            text: "Hi\n".into(),
        };
        let lure = "=?utf-8?b?UGF5UGFsOiB5b3VyIGFjY291bnQgaXMgbG9ja2Vk?= Lee".to_string();
        let long = format!("{} L", "b".repeat(995));
        for name in [lure, long, "Ann Lee".to_string()] {
            let per = PerMember {
                to: "ann@example.org",
                name: Some(name.clone()),
                message_id: "<c.1@example.org>",
                unsubscribe_url: "https://example.org/u/1",
                subject: None,
                envelope_from: None,
                pixel: None,
            };
            let bytes = build(&sender, &per, &rendered).unwrap().bytes;
            let head = String::from_utf8_lossy(&bytes);
            assert!(head.split("\r\n").all(|l| l.len() <= 78), "{head}");
            // Shown as typed, never decoded into what the lure encodes.
            let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            let to = m.to().unwrap().first().unwrap();
            assert_eq!(to.name(), Some(name.as_str()));
            assert_eq!(to.address(), Some("ann@example.org"));
        }
    }

    #[test]
    fn an_independent_parser_reads_the_text_part_as_rendered() {
        let text = "Dear Zo\u{eb},\n\nA line of well over seventy-six characters, so that it has to be broken softly somewhere.\nx = 1 \n";
        let sender = Sender {
            from: "News <news@example.org>".parse().unwrap(),
            reply_to: Some("Chair <chair@example.org>".parse().unwrap()),
            list_id: "<news.example.org>".into(),
            feedback_id: Some("a:b:c:news".into()),
            unsubscribe_mailto: None,
            dkim: None,
            inline: Arc::from([]),
        };
        let per = PerMember {
            to: "ann@example.org",
            name: Some("Ann \u{d8}".into()),
            message_id: "<c.1@example.org>",
            unsubscribe_url: "https://example.org/u/1",
            subject: None,
            envelope_from: None,
            pixel: None,
        };
        let rendered = Rendered {
            subject: "Hi \u{2013} there".into(),
            html: "<p>Hi</p>\r\n".into(),
            text: text.into(),
        };
        let bytes = build(&sender, &per, &rendered).unwrap().bytes;
        let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n"), text);
        assert_eq!(m.body_html(0).unwrap().trim_end(), "<p>Hi</p>");
        assert_eq!(m.subject(), Some("Hi \u{2013} there"));
        assert_eq!(m.to().unwrap().first().unwrap().name(), Some("Ann \u{d8}"));
        let head = String::from_utf8_lossy(&bytes);
        let names: Vec<&str> = head
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .split("\r\n")
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "From",
                "To",
                "Subject",
                "Message-ID",
                "Date",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "List-Id",
                "Reply-To",
                "Feedback-ID",
                "MIME-Version",
                "Content-Type"
            ]
        );
    }
}
