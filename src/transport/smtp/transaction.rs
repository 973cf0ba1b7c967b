//! One mail transaction: the envelope (MAIL, RCPT, DATA; pipelined when the server offers
//! PIPELINING), the dot-stuffed content, and the reply to its end.

use tokio::time::Instant;

use super::Stage;
use crate::compose::message::Outgoing;
use crate::outcome::Reply;
use crate::transport::session::{Extensions, Failure, Session};
use crate::transport::{Go, SmtpSpec};

/// MAIL FROM and RCPT TO as they go on the wire: domains in their ASCII (punycode) form;
/// SMTPUTF8 asked for when a local part is not ASCII, BODY=8BITMIME when the content is not.
pub(crate) struct Envelope {
    /// `MAIL FROM:<...> [params]\r\n`
    mail: String,
    /// `RCPT TO:<...>\r\n`
    rcpt: String,
}

impl Envelope {
    /// The envelope for `msg` on a server offering `ext`; a member this server cannot take
    /// (a non-ASCII local part without SMTPUTF8) fails with the reason.
    pub(crate) fn of(
        msg: &Outgoing,
        ext: &Extensions,
        spec: &SmtpSpec,
    ) -> std::result::Result<Envelope, Box<Reply>> {
        let (from, from_utf8) = wire_address(&msg.from);
        let (to, to_utf8) = wire_address(&msg.to);
        let mut mail = format!("MAIL FROM:<{from}>");
        if !msg.bytes.is_ascii() {
            if !ext.eightbitmime {
                return Err(Box::new(Reply::unsendable(format!(
                    "the message to `{}` is not ASCII and {}:{} does not offer 8BITMIME",
                    msg.to, spec.host, spec.port
                ))));
            }
            mail.push_str(" BODY=8BITMIME");
        }
        if from_utf8 || to_utf8 {
            if !ext.smtputf8 {
                let who = if to_utf8 { &msg.to } else { &msg.from };
                return Err(Box::new(Reply::unsendable(format!(
                    "`{who}` has a non-ASCII local part, which needs SMTPUTF8, and {}:{} does not offer it",
                    spec.host, spec.port
                ))));
            }
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        Ok(Envelope {
            mail,
            rcpt: format!("RCPT TO:<{to}>\r\n"),
        })
    }
}

/// An address as the envelope carries it: the domain in its ASCII form (IDNA, UTS #46), and
/// whether the local part needs SMTPUTF8.
fn wire_address(a: &lettre::Address) -> (String, bool) {
    let user = a.user();
    let domain = a.domain();
    let domain = match domain.is_ascii() || domain.starts_with('[') {
        true => domain.to_string(),
        false => idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_string()),
    };
    (format!("{user}@{domain}"), !user.is_ascii())
}

/// One mail transaction: MAIL, RCPT, DATA (pipelined when the connection allows), the
/// dot-stuffed content, and the reply to its end, each reply read in order and required to
/// answer what was asked. `go` is heard before the content may go (a no gets RSET and
/// `None`). Returns the member's reply and whether the connection may be used again.
pub(crate) async fn transaction(
    s: &mut Session,
    spec: &SmtpSpec,
    envelope: &Envelope,
    content: &[u8],
    go: &mut Go,
) -> Option<(Reply, bool)> {
    let pipelining = spec.pipelining && s.ext.pipelining;
    let envelope_sent = if pipelining {
        pipelined_envelope(s, spec, envelope, go).await?
    } else {
        stepwise_envelope(s, spec, envelope, go).await?
    };
    if let Err(ended) = envelope_sent {
        return Some(ended);
    }
    Some(content_and_reply(s, spec, content).await)
}

/// The envelope and DATA in one write. `None` when `go` said no; `Ok` when the server waits
/// for the content; `Err` when the transaction ended before it, with the member's reply and
/// whether the connection may be used again.
async fn pipelined_envelope(
    s: &mut Session,
    spec: &SmtpSpec,
    envelope: &Envelope,
    go: &mut Go,
) -> Option<Result<(), (Reply, bool)>> {
    let before = |failure: Failure| Stage::Before.reply(failure, spec);
    // RFC 2920: the envelope and DATA in one write, their replies read in order; the word
    // is waited for first, as DATA must be followed by the content (a word of no then
    // costs nothing). One round trip instead of three.
    if !go.wait().await {
        return None;
    }
    let deadline = Instant::now() + spec.timeout;
    let group = format!("{}{}DATA\r\n", envelope.mail, envelope.rcpt);
    if let Err(f) = s.write(group.as_bytes(), deadline).await {
        return Some(Err((before(f), false)));
    }
    // All three are read whatever they say, so the connection stays in step; a reply
    // that is no reply at all (garbled, lost) ends the connection there.
    let broken = |r: &Result<_, Failure>| matches!(r, Err(f) if !matches!(f, Failure::Refused(_)));
    let mail = s.expect(2, "MAIL", deadline).await;
    if broken(&mail) {
        return Some(Err((before(mail.err()?), false)));
    }
    let rcpt = s.expect(2, "RCPT", deadline).await;
    if broken(&rcpt) {
        return Some(Err((before(rcpt.err()?), false)));
    }
    let data = s.expect(3, "DATA", deadline).await;
    let first = mail.err().or(rcpt.err());
    match (first, data) {
        (None, Ok(_)) => Some(Ok(())),
        // DATA taken though the envelope was refused: the server waits for content
        // that will not come.
        (Some(f), Ok(_)) => Some(Err((before(f), false))),
        (first, Err(d)) => {
            let in_step = matches!(d, Failure::Refused(_));
            let f = first.unwrap_or(d);
            Some(Err(match in_step {
                true => refusal(s, f, spec, deadline).await,
                false => (before(f), false),
            }))
        }
    }
}

/// Without PIPELINING: MAIL and RCPT one reply at a time before the word, then DATA.
/// `None` when `go` said no; `Ok` when the server waits for the content; `Err` when the
/// transaction ended before it, with the member's reply and whether the connection may be
/// used again.
async fn stepwise_envelope(
    s: &mut Session,
    spec: &SmtpSpec,
    envelope: &Envelope,
    go: &mut Go,
) -> Option<Result<(), (Reply, bool)>> {
    let deadline = Instant::now() + spec.timeout;
    let steps = async {
        s.command(&envelope.mail, 2, "MAIL", deadline).await?;
        s.command(&envelope.rcpt, 2, "RCPT", deadline).await
    };
    if let Err(f) = steps.await {
        if !go.wait().await {
            s.broken = true;
            return None;
        }
        return Some(Err(refusal(s, f, spec, deadline).await));
    }
    if !go.wait().await {
        // Held back: the transaction is reset, the connection kept if that works.
        let reset = s.command("RSET\r\n", 2, "RSET", Instant::now() + spec.timeout);
        if reset.await.is_err() {
            s.broken = true;
        }
        return None;
    }
    let deadline = Instant::now() + spec.timeout;
    if let Err(f) = s.write(b"DATA\r\n", deadline).await {
        return Some(Err((Stage::Before.reply(f, spec), false)));
    }
    if let Err(f) = s.expect(3, "DATA", deadline).await {
        return Some(Err(refusal(s, f, spec, deadline).await));
    }
    Some(Ok(()))
}

/// The dot-stuffed content, once the server waits for it, and the reply to its end: the
/// member's reply, and whether the connection may be used again.
async fn content_and_reply(s: &mut Session, spec: &SmtpSpec, content: &[u8]) -> (Reply, bool) {
    let before = |failure: Failure| Stage::Before.reply(failure, spec);
    let deadline = Instant::now() + spec.timeout;
    // The server must have said nothing more: a reply waiting now would be read as the
    // answer to the message.
    if let Err(f) = s.unsolicited().await {
        return (before(f), false);
    }
    if let Err(f) = s.write(&dot_stuffed(content), deadline).await {
        return (before(f), false);
    }
    // From here the server may have the message: only a clear reply to it decides.
    let after = |failure: Failure| (Stage::After.reply(failure, spec), false);
    let reply = match s.read(deadline).await {
        Ok(reply) => reply,
        Err(f) => return after(f),
    };
    if !matches!(reply.class(), 2 | 4 | 5) {
        return after(Failure::Protocol(format!(
            "unexpected reply `{}` to the end of the message",
            reply.text()
        )));
    }
    if s.nothing_more().is_err() {
        // Two replies to one message: which one answers it is anyone's guess.
        return after(Failure::Protocol(format!(
            "`{}` and more replies to the end of the message",
            reply.text()
        )));
    }
    (Reply::from_response(&reply), true)
}

/// A command refused (or misanswered) before the content went: the member's reply, and
/// whether the connection is still fit (in step, and reset with RSET).
async fn refusal(s: &mut Session, f: Failure, spec: &SmtpSpec, deadline: Instant) -> (Reply, bool) {
    let in_step = matches!(f, Failure::Refused(_));
    let reply = Stage::Before.reply(f, spec);
    let keep = in_step && s.command("RSET\r\n", 2, "RSET", deadline).await.is_ok();
    (reply, keep)
}

/// Message content as SMTP's DATA carries it (RFC 5321 4.5.2): a `.` doubled where it starts
/// a line (after CRLF, as lettre's codec does), then the terminating `CRLF . CRLF`.
fn dot_stuffed(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 8);
    let mut from = 0;
    if content.first() == Some(&b'.') {
        out.push(b'.');
    }
    for at in memchr::memmem::find_iter(content, b"\r\n.") {
        // Through the CRLF and the dot, then the dot again.
        out.extend_from_slice(&content[from..at + 3]);
        out.push(b'.');
        from = at + 3;
    }
    out.extend_from_slice(&content[from..]);
    out.extend_from_slice(b"\r\n.\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// lettre 0.11's `ClientCodec::encode` state machine, then its terminator: the reference.
    fn lettre_codec(text: &str) -> String {
        let (mut out, mut start, mut cr) = (String::new(), true, false);
        for c in text.chars() {
            out.push(c);
            if c == '.' && start {
                out.push('.');
            }
            start = cr && c == '\n';
            cr = c == '\r';
        }
        out + "\r\n.\r\n"
    }

    #[test]
    fn dot_stuffing_doubles_a_dot_that_starts_a_line() {
        assert_eq!(
            dot_stuffed(b".a\r\n.\r\nb\n.c\r.d\r\n..e"),
            b"..a\r\n..\r\nb\n.c\r.d\r\n...e\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b""), b"\r\n.\r\n");
    }

    proptest! {
        #[test]
        fn dot_stuffing_writes_what_lettre_would(text in "[.\r\na]{0,40}") {
            prop_assert_eq!(dot_stuffed(text.as_bytes()), lettre_codec(&text).into_bytes());
        }
    }
}
