//! MIME: one member's rendering becomes the bytes that go on the wire.
//!
//! multipart/alternative with text/plain first and text/html last, UTF-8 (the HTML goes 7bit
//! as rendered when it can, see `html_part`; otherwise lettre picks quoted-printable or
//! base64, so no line exceeds 998 octets); `From`, optional
//! `Reply-To`, `To` with the member's name, `Subject` (RFC 2047 encoded when not ASCII, and when
//! member data would otherwise be misread or overlong: see `Subject`), `Date`,
//! a unique `Message-ID` on the sender's domain, and the bulk-mail headers mailbox providers
//! require: `List-Unsubscribe` (+ `List-Unsubscribe-Post` for RFC 8058 one-click), `List-Id`
//! and optionally `Feedback-ID`. A DKIM signature ([`crate::compose::dkim`]), when configured, is added
//! last and covers all of them. Member data reaches headers only through lettre's encoders, after the list
//! check has refused every control character.

use std::sync::Arc;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use crate::compose::dkim;
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
        if s.contains("=?") || s.split_whitespace().any(|w| w.len() > MAX_WORD) {
            HeaderValue::dangerous_new_pre_encoded(Self::name(), s.clone(), encoded_words(s))
        } else {
            HeaderValue::new(Self::name(), s.clone())
        }
    }
}

/// The longest word written as it is in a header: RFC 5322 asks for lines of 78 characters.
const MAX_WORD: usize = 76;

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

/// The text/html part: as it is, 7bit, when it is ASCII with CRLF line ends and no line over
/// 998 octets, which [`crate::compose::render::wire_html`] makes of every rendering unless a value
/// stands in `<style>` or has a stray CR; otherwise quoted-printable, chosen by lettre.
/// Encoding ~40 KB of quoted-printable per member cost more than everything else in the
/// message put together.
fn html_part(html: &str) -> SinglePart {
    let part = SinglePart::builder().header(ContentType::TEXT_HTML);
    if seven_bit(html.as_bytes()) {
        part.body(Body::dangerous_pre_encoded(
            html.as_bytes().to_vec(),
            ContentTransferEncoding::SevenBit,
        ))
    } else {
        part.body(html.to_string())
    }
}

/// Whether `b` may go as 7bit (RFC 2045 section 2.7) as it is: ASCII without NUL, every line
/// ended by CRLF (no bare CR or LF) and at most 998 octets long.
fn seven_bit(b: &[u8]) -> bool {
    if !b.is_ascii() || memchr::memchr(0, b).is_some() {
        return false;
    }
    let (mut start, mut lines) = (0, 0);
    for end in memchr::memchr_iter(b'\n', b) {
        // The line without its CRLF.
        if end == start || b[end - 1] != b'\r' || end - 1 - start > 998 {
            return false;
        }
        start = end + 1;
        lines += 1;
    }
    b.len() - start <= 998 && memchr::memchr_iter(b'\r', b).count() == lines
}

/// Seconds since 1970, as the `Date` header is written (the real clock).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Builds, and signs when configured, one member's message.
pub fn build(
    sender: &Sender,
    m: &PerMember,
    rendered: &Rendered,
) -> std::result::Result<Outgoing, String> {
    let to_addr: Address =
        m.to.parse()
            .map_err(|e| format!("`{}` is not a valid address: {e}", m.to))?;
    check_unsubscribe_url(m.unsubscribe_url)?;
    let mut list_unsubscribe = format!("<{}>", m.unsubscribe_url);
    if let Some(mailto) = &sender.unsubscribe_mailto {
        list_unsubscribe.push_str(&format!(", <mailto:{mailto}?subject=unsubscribe>"));
    }
    let mut builder = Message::builder()
        .from(sender.from.clone())
        .to(Mailbox::new(m.name.clone(), to_addr.clone()))
        .header(Subject(m.subject.unwrap_or(&rendered.subject).to_string()))
        .message_id(Some(m.message_id.to_string()))
        .date_now()
        .header(ListUnsubscribe(list_unsubscribe))
        .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()))
        .header(ListId(sender.list_id.clone()));
    if let Some(r) = &sender.reply_to {
        builder = builder.reply_to(r.clone());
    }
    if let Some(f) = &sender.feedback_id {
        builder = builder.header(FeedbackId(f.clone()));
    }
    let message = builder
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(rendered.text.clone()))
                .singlepart(html_part(&rendered.html)),
        )
        .map_err(|e| format!("cannot build the message: {e}"))?;
    let mut bytes = message.formatted();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn built(html: &str) -> String {
        let sender = Sender {
            from: "News <news@example.org>".parse().unwrap(),
            reply_to: None,
            list_id: "<news.example.org>".into(),
            feedback_id: None,
            unsubscribe_mailto: None,
            dkim: None,
        };
        let per = PerMember {
            to: "ann@example.org",
            name: None,
            message_id: "<c.1@example.org>",
            unsubscribe_url: "https://example.org/u/1",
            subject: None,
            envelope_from: None,
        };
        let rendered = Rendered {
            subject: "Hi".into(),
            html: html.into(),
            text: "Hi".into(),
        };
        String::from_utf8(build(&sender, &per, &rendered).unwrap().bytes).unwrap()
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
    fn html_that_is_not_goes_through_lettres_encoder() {
        for (html, encoding) in [
            // A line of 1003 octets, and text beyond ASCII: quoted-printable.
            (
                format!("<p>{}</p>\r\n", "x".repeat(996)),
                "quoted-printable",
            ),
            ("<p>Zo\u{eb}</p>\r\n".to_string(), "quoted-printable"),
            // A bare LF: lettre writes it as CRLF.
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
}
