//! One message from the bounce mailbox read into a [`Report`]: an RFC 3464 DSN, an RFC 5965
//! ARF complaint (read by mail-auth), a non-standard bounce (`X-Failed-Recipients`, or a
//! failure notice that quotes one of our Message-IDs), or a reply to the unsubscribe
//! `mailto:` address. MIME by mail-parser; sans I/O.

use mail_parser::{Message, MessageParser, MimeHeaders};

use super::dsn::{self, Recipient};

/// What a report is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `multipart/report; report-type=delivery-status`.
    Dsn,
    /// `multipart/report; report-type=feedback-report`: its Feedback-Type (`abuse`), and
    /// whether that is a complaint.
    Arf { feedback: String, complaint: bool },
    /// A bounce in free text: `X-Failed-Recipients`, or a failure notice quoting our
    /// Message-ID.
    NonStandard,
    /// A reply to the unsubscribe `mailto:` address, subject "unsubscribe".
    Unsubscribe,
}

/// A bounce, complaint or unsubscribe, as read from one message.
#[derive(Debug, Clone)]
pub struct Report {
    /// The report's own Message-ID (without `<>`), or `sha256:<hex>` of its bytes when it has
    /// none: the key that makes reading it twice change nothing.
    pub id: String,
    pub kind: Kind,
    /// Genuine-looking VERP tokens (`bounces+{token}@...`) found in its headers or the
    /// returned message's; verified by the caller.
    pub tokens: Vec<String>,
    /// Message-IDs (without `<>`) of ours it refers to: the returned message's, then any
    /// quoted in its text, In-Reply-To and References.
    pub message_ids: Vec<String>,
    /// The failed recipients (a DSN's groups; ARF's Original-Rcpt-To; an unsubscribe's From).
    pub recipients: Vec<Recipient>,
    /// When it was written (its `Date:`, as seconds since 1970), if it says.
    pub date: Option<i64>,
}

/// What [`parse`] needs to know of the list.
#[derive(Debug, Clone)]
pub struct Context {
    /// `sender.bounce_address` split around `{token}`: what comes before and after it.
    pub verp: Option<(String, String)>,
    /// The domain our Message-IDs are minted on (the From domain).
    pub id_domain: String,
    /// `unsubscribe.mailto`'s address, by [`crate::address::key`].
    pub mailto: Option<String>,
}

/// Subjects of failure notices that carry no machine-readable part.
const FAILURE_SUBJECTS: [&str; 8] = [
    "undeliver",
    "delivery status",
    "delivery failure",
    "failure notice",
    "returned mail",
    "mail delivery failed",
    "not delivered",
    "delivery has failed",
];

/// Reads `raw`; `Err` says why it is none of the reports mailshot knows.
pub fn parse(raw: &[u8], ctx: &Context) -> Result<Report, String> {
    let msg = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or("not a mail message")?;
    let id = match msg.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => format!("sha256:{}", hex_digest(raw)),
    };
    let mut report = Report {
        id,
        kind: Kind::NonStandard,
        tokens: tokens(&String::from_utf8_lossy(raw), ctx),
        message_ids: Vec::new(),
        recipients: Vec::new(),
        date: msg.date().map(|d| d.to_timestamp()),
    };
    if let Some(from) = unsubscribe_reply(&msg, ctx) {
        report.kind = Kind::Unsubscribe;
        report.recipients.push(Recipient {
            address: Some(from),
            ..Recipient::default()
        });
        return Ok(report);
    }
    let returned = returned_message_id(&msg);
    report.message_ids.extend(returned);
    if let Some(kind) = machine_readable(raw, &msg, &mut report) {
        report.kind = kind;
    } else if !non_standard(&msg, ctx, &mut report) {
        return Err(
            "neither a bounce (DSN or failure notice), a complaint (ARF) nor an unsubscribe".into(),
        );
    }
    quoted_ids(&msg, ctx, &mut report.message_ids);
    report.message_ids.dedup();
    Ok(report)
}

/// A DSN's recipients or an ARF report, if `msg` has one.
fn machine_readable(raw: &[u8], msg: &Message, report: &mut Report) -> Option<Kind> {
    for part in msg.parts.iter() {
        let is = |t, s| part.is_content_type(t, s);
        if is("message", "delivery-status") || is("message", "global-delivery-status") {
            let body = String::from_utf8_lossy(part.contents());
            report.recipients = dsn::recipients(&body);
            if !report.recipients.is_empty() {
                return Some(Kind::Dsn);
            }
        }
        if is("message", "feedback-report") {
            let feedback = mail_auth::report::Feedback::parse_rfc5322(raw).ok()?;
            let kind = Kind::Arf {
                feedback: format!("{:?}", feedback.feedback_type()).to_ascii_lowercase(),
                complaint: super::classify::is_complaint(feedback.feedback_type()),
            };
            let rcpt = feedback.original_rcpt_to().map(|a| {
                a.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
                    .to_string()
            });
            report.recipients = vec![Recipient {
                address: rcpt.filter(|a| a.contains('@')),
                action: Some("failed".into()),
                ..Recipient::default()
            }];
            // The returned message's headers (Yahoo redacts the recipient; the
            // Message-ID stays).
            if let Some(h) = feedback.message().or(feedback.headers()) {
                report.message_ids.extend(ids_of_headers(h.as_bytes()));
            }
            return Some(kind);
        }
    }
    None
}

/// `X-Failed-Recipients`, or a failure notice (by its subject) quoting one of our
/// Message-IDs: its recipients with the first enhanced code in its text.
fn non_standard(msg: &Message, ctx: &Context, report: &mut Report) -> bool {
    let text: String = (0..msg.text_body_count())
        .filter_map(|i| msg.body_text(i))
        .collect::<Vec<_>>()
        .join("\n");
    let status = dsn::status_code(&text);
    let failed: Vec<String> = msg
        .header_values("X-Failed-Recipients")
        .filter_map(|v| v.as_text())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().trim_matches(['<', '>']).to_string())
        .filter(|a| a.contains('@'))
        .collect();
    let subject = msg.subject().unwrap_or("").to_ascii_lowercase();
    let notice = FAILURE_SUBJECTS.iter().any(|s| subject.contains(s));
    let mut quoted = Vec::new();
    quoted_ids(msg, ctx, &mut quoted);
    if failed.is_empty() && (!notice || quoted.is_empty()) {
        return false;
    }
    let diagnostic = status.as_ref().and_then(|s| {
        text.lines()
            .find(|l| l.contains(s.as_str()))
            .map(|l| l.trim().to_string())
    });
    let one = |address: Option<String>| Recipient {
        address,
        action: Some("failed".into()),
        status: status.clone(),
        diagnostic: diagnostic.clone(),
        ..Recipient::default()
    };
    report.recipients = match failed.is_empty() {
        true => vec![one(None)],
        false => failed.into_iter().map(|a| one(Some(a))).collect(),
    };
    true
}

/// The sender of a reply to the unsubscribe address whose subject is "unsubscribe".
fn unsubscribe_reply(msg: &Message, ctx: &Context) -> Option<String> {
    let mailto = ctx.mailto.as_ref()?;
    let subject = msg.subject()?.trim().to_ascii_lowercase();
    let subject = subject.strip_prefix("re:").unwrap_or(&subject).trim();
    if subject != "unsubscribe" {
        return None;
    }
    let to_us = ["To", "Delivered-To", "X-Original-To", "Cc"]
        .iter()
        .any(|h| {
            msg.header_values(*h).any(|v| match v {
                mail_parser::HeaderValue::Address(a) => a
                    .iter()
                    .filter_map(|a| a.address())
                    .any(|a| crate::address::key(a) == *mailto),
                mail_parser::HeaderValue::Text(t) => {
                    crate::address::key(t.trim_matches(['<', '>'])) == *mailto
                }
                _ => false,
            })
        });
    let from = msg.from()?.first()?.address()?.to_string();
    to_us.then_some(from)
}

/// The Message-ID of the returned message (`message/rfc822`) or headers
/// (`text/rfc822-headers`).
fn returned_message_id(msg: &Message) -> Option<String> {
    msg.parts.iter().find_map(|part| {
        if let Some(inner) = part.message() {
            return inner.message_id().map(str::to_string);
        }
        (part.is_content_type("text", "rfc822-headers")
            || part.is_content_type("message", "rfc822-headers"))
        .then(|| ids_of_headers(part.contents()).into_iter().next())
        .flatten()
    })
}

/// The Message-ID in a block of header fields.
fn ids_of_headers(headers: &[u8]) -> Vec<String> {
    let mut block = headers.to_vec();
    block.extend_from_slice(b"\r\n\r\n");
    MessageParser::default()
        .parse_headers(&block)
        .and_then(|m| m.message_id().map(str::to_string))
        .into_iter()
        .collect()
}

/// Message-IDs on our domain in any `Message-ID:`, `In-Reply-To:` or `References:` field of
/// the message, its parts or its quoted text (a failure notice that pastes the original
/// headers; a reply to the bulletin), with their folded continuation lines. Addresses in
/// angle brackets elsewhere (`<news@example.org>`) are not Message-IDs.
fn quoted_ids(msg: &Message, ctx: &Context, into: &mut Vec<String>) {
    let raw = String::from_utf8_lossy(msg.raw_message());
    let suffix = format!("@{}>", ctx.id_domain.to_ascii_lowercase());
    let mut in_field = false;
    for line in raw.lines() {
        let lower = line.to_ascii_lowercase();
        let continued = in_field && line.starts_with([' ', '\t']);
        in_field = continued
            || ["message-id:", "in-reply-to:", "references:"]
                .iter()
                .any(|f| lower.contains(f));
        if !in_field {
            continue;
        }
        for (start, _) in line.match_indices('<') {
            let Some(len) = line[start..].find('>') else {
                break;
            };
            let candidate = &line[start..=start + len];
            if candidate.to_ascii_lowercase().ends_with(&suffix)
                && !candidate[1..].contains(['<', ' ', '\t'])
            {
                let id = candidate[1..candidate.len() - 1].to_string();
                if !into.contains(&id) {
                    into.push(id);
                }
            }
        }
    }
}

/// VERP tokens in `text`: what stands between the bounce address's prefix and suffix, if it
/// looks like a token (16 hex digits, as `Tokens::bounce_token` makes them).
fn tokens(text: &str, ctx: &Context) -> Vec<String> {
    let Some((before, after)) = &ctx.verp else {
        return Vec::new();
    };
    let lower = text.to_ascii_lowercase();
    let (before, after) = (before.to_ascii_lowercase(), after.to_ascii_lowercase());
    let mut found: Vec<String> = Vec::new();
    for (i, _) in lower.match_indices(before.as_str()) {
        let rest = &lower[i + before.len()..];
        let token: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if token.len() == 16 && rest[16..].starts_with(after.as_str()) && !found.contains(&token) {
            found.push(token);
        }
    }
    found
}

fn hex_digest(raw: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERP: &str = "bounces+0123456789abcdef@example.org";
    const MSGID: &str = "20230403.abc@example.org";

    fn ctx() -> Context {
        Context {
            verp: Some(("bounces+".into(), "@example.org".into())),
            id_domain: "example.org".into(),
            mailto: Some("unsubscribe@example.org".into()),
        }
    }

    /// A fixture of tests/fixtures/bounces filled in for ann@example.net.
    fn filled(text: &str) -> Vec<u8> {
        text.replace("{{VERP}}", VERP)
            .replace("{{RCPT}}", "ann@example.net")
            .replace("{{RCPT_LOCAL}}", "ann")
            .replace("{{MSGID}}", MSGID)
            .replace("{{ID}}", "1")
            .replace("{{DATE}}", "Mon, 03 Apr 2023 08:01:59 +0000")
            .into_bytes()
    }

    #[test]
    fn a_yahoo_feedback_report_is_a_complaint_about_our_message() {
        let raw = filled(include_str!("../../tests/fixtures/bounces/yahoo-arf.eml"));
        let r = parse(&raw, &ctx()).unwrap();
        assert_eq!(
            r.kind,
            Kind::Arf {
                feedback: "abuse".into(),
                complaint: true
            }
        );
        assert_eq!(r.id, "yahoo-cfl-1@feedback.yahoo.com");
        assert_eq!(r.tokens, vec!["0123456789abcdef".to_string()]);
        assert_eq!(r.message_ids, vec![MSGID.to_string()]);
        assert_eq!(r.recipients[0].address.as_deref(), Some("ann@example.net"));
    }

    #[test]
    fn an_exim_bounce_is_read_from_its_text_and_x_failed_recipients() {
        let raw = filled(include_str!("../../tests/fixtures/bounces/exim-hard.eml"));
        let r = parse(&raw, &ctx()).unwrap();
        assert_eq!(r.kind, Kind::NonStandard);
        assert_eq!(r.message_ids, vec![MSGID.to_string()]);
        assert_eq!(r.recipients.len(), 1);
        let ann = &r.recipients[0];
        assert_eq!(ann.address.as_deref(), Some("ann@example.net"));
        assert_eq!(ann.status.as_deref(), Some("5.1.1"));
        assert_eq!(
            ann.diagnostic.as_deref(),
            Some("550 5.1.1 <ann@example.net>: Recipient address rejected: User unknown")
        );
    }

    #[test]
    fn a_gmail_dsn_names_the_returned_message_and_its_in_reply_to() {
        let raw = filled(include_str!("../../tests/fixtures/bounces/gmail-hard.eml"));
        let r = parse(&raw, &ctx()).unwrap();
        assert_eq!(r.kind, Kind::Dsn);
        assert!(r.tokens.is_empty());
        assert_eq!(r.message_ids, vec![MSGID.to_string()]);
        assert_eq!(r.recipients[0].status.as_deref(), Some("5.1.1"));
        assert!(
            r.recipients[0]
                .diagnostic
                .as_deref()
                .unwrap()
                .starts_with("550-5.1.1 The email account that you tried to reach does not exist.")
        );
    }

    #[test]
    fn only_an_unsubscribe_to_our_mailto_address_is_one() {
        let raw = filled(include_str!(
            "../../tests/fixtures/bounces/unsubscribe-reply.eml"
        ));
        let r = parse(&raw, &ctx()).unwrap();
        assert_eq!(r.kind, Kind::Unsubscribe);
        assert_eq!(r.recipients[0].address.as_deref(), Some("ann@example.net"));
        let elsewhere = String::from_utf8(raw)
            .unwrap()
            .replace("To: unsubscribe@example.org", "To: chair@example.org");
        assert!(parse(elsewhere.as_bytes(), &ctx()).is_err());
    }

    #[test]
    fn junk_is_not_a_report_and_a_report_without_message_id_is_keyed_by_its_bytes() {
        let junk = filled(include_str!("../../tests/fixtures/bounces/junk.eml"));
        assert_eq!(
            parse(&junk, &ctx()).unwrap_err(),
            "neither a bounce (DSN or failure notice), a complaint (ARF) nor an unsubscribe"
        );
        assert_eq!(parse(b"", &ctx()).unwrap_err(), "not a mail message");
        let exim = String::from_utf8(filled(include_str!(
            "../../tests/fixtures/bounces/exim-hard.eml"
        )))
        .unwrap();
        let at = exim.find("Message-Id: ").unwrap();
        let end = at + exim[at..].find('\n').unwrap() + 1;
        let anonymous = format!("{}{}", &exim[..at], &exim[end..]);
        let a = parse(anonymous.as_bytes(), &ctx()).unwrap();
        let b = parse(anonymous.as_bytes(), &ctx()).unwrap();
        assert!(
            a.id.starts_with("sha256:") && a.id.len() == 7 + 64,
            "{}",
            a.id
        );
        assert_eq!(a.id, b.id);
    }
}
