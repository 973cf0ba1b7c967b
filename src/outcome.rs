//! The shared vocabulary of an attempt's outcome: the [`Reply`] a transport hands back, its
//! [`ReplyKind`] (what the journal writes), the [`Reason`] it means for the member and the
//! campaign (what the delivery log writes), and [`Fatal`] (the campaign must stop).
//!
//! Transports build replies, the delivery engine decides on them, the store records them:
//! all three speak this module, and it depends on nothing of ours.

use std::fmt;

/// How a reply classifies the delivery (as the journal writes it: `accepted`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    /// 2xx: the server took responsibility for the message.
    Accepted,
    /// 4xx, a timeout or a connection problem before the whole message was sent: try again.
    Transient,
    /// 5xx: this message to this member will not go.
    Permanent,
    /// The whole message was sent and no clear reply came: it may have been delivered.
    /// Not sent again unless `--resend-uncertain`.
    Uncertain,
    /// This member's message can never be sent as it stands (an address lettre cannot put
    /// in an envelope, a non-ASCII local part for a server without SMTPUTF8, a file name
    /// too long): the member fails, the campaign goes on.
    Unsendable,
}

/// What a reply means for the member and the campaign (see the table in the README); its
/// [`Display`](fmt::Display) is the `reason` column of the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `accepted`: 2xx.
    Accepted,
    /// `hard-bounce`: 5.1.x, 5.2.1: no such mailbox; the address is suppressed.
    HardBounce,
    /// `policy`: 5.7.x: the sender's problem, not the member's.
    Policy,
    /// `message`: 5.3.4, 5.6.x: fix the message.
    Message,
    /// `mailbox-full`: 5.2.2.
    MailboxFull,
    /// `permanent`: another 5xx.
    Permanent,
    /// `throttled`: 421 or 4.7.x: slow down.
    Throttled,
    /// `transient`: another 4xx, a timeout, a connection failure.
    Transient,
    /// `uncertain`: no clear reply to a message sent whole.
    Uncertain,
    /// `unsendable`: cannot be sent to this member.
    Unsendable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Accepted => "accepted",
            Reason::HardBounce => "hard-bounce",
            Reason::Policy => "policy",
            Reason::Message => "message",
            Reason::MailboxFull => "mailbox-full",
            Reason::Permanent => "permanent",
            Reason::Throttled => "throttled",
            Reason::Transient => "transient",
            Reason::Uncertain => "uncertain",
            Reason::Unsendable => "unsendable",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one attempt, as the server worded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// Basic SMTP code (`250`, `451`, `550`), when a server answered.
    pub code: Option<u16>,
    /// Enhanced status code (`5.1.1`), when the reply carried one of its own class.
    pub enhanced: Option<String>,
    /// The whole reply text, or what went wrong; one line.
    pub text: String,
    /// The failure came before the message was offered (connect, greeting, TLS, login, or a
    /// timeout): counts towards the circuit breaker.
    pub connecting: bool,
}

/// Finds an RFC 3463 enhanced status code (`4.7.28`) at the start of a reply text.
pub fn enhanced_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '-')
        .find_map(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            let ok = parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
            ok.then(|| w.to_string())
        })
}

/// The longest reply text kept, in bytes.
const MAX_TEXT: usize = 1000;

/// `text` on one line (control characters as spaces), at most [`MAX_TEXT`] bytes.
fn one_line(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

impl Reply {
    /// What the reply means for the member and the campaign (see [`Reason`]).
    pub fn reason(&self) -> Reason {
        let e = self.enhanced.as_deref().unwrap_or("");
        match self.kind {
            ReplyKind::Accepted => Reason::Accepted,
            ReplyKind::Uncertain => Reason::Uncertain,
            ReplyKind::Unsendable => Reason::Unsendable,
            ReplyKind::Transient if self.code == Some(421) || e.starts_with("4.7.") => {
                Reason::Throttled
            }
            ReplyKind::Transient => Reason::Transient,
            ReplyKind::Permanent if e.starts_with("5.1.") || e == "5.2.1" => Reason::HardBounce,
            ReplyKind::Permanent if e.starts_with("5.7.") => Reason::Policy,
            ReplyKind::Permanent if e == "5.3.4" || e.starts_with("5.6.") => Reason::Message,
            ReplyKind::Permanent if e == "5.2.2" => Reason::MailboxFull,
            ReplyKind::Permanent => Reason::Permanent,
        }
    }

    pub fn accepted(code: Option<u16>, text: String) -> Reply {
        Reply::of(ReplyKind::Accepted, code, text)
    }

    /// A reply with its enhanced code, if the text has one of the reply's class (a 2.x.x
    /// never stands beside a refusal).
    pub fn of(kind: ReplyKind, code: Option<u16>, text: String) -> Reply {
        let text = one_line(&text);
        let class = match kind {
            ReplyKind::Accepted => Some('2'),
            ReplyKind::Transient => Some('4'),
            ReplyKind::Permanent => Some('5'),
            _ => None,
        };
        let enhanced = code
            .and(enhanced_code(&text))
            .filter(|e| class.is_some_and(|c| e.starts_with(c)));
        Reply {
            kind,
            code,
            enhanced,
            text,
            connecting: false,
        }
    }

    /// A failure with no SMTP reply, before the message was complete: refused, reset,
    /// timed out, garbled. Counts towards the circuit breaker.
    pub fn transient(text: String) -> Reply {
        Reply {
            connecting: true,
            ..Reply::of(ReplyKind::Transient, None, text)
        }
    }

    /// The whole message went and no clear reply came back.
    pub fn uncertain(text: String) -> Reply {
        Reply::of(ReplyKind::Uncertain, None, text)
    }

    /// This member's message cannot be sent; `text` says why.
    pub fn unsendable(text: String) -> Reply {
        Reply::of(ReplyKind::Unsendable, None, text)
    }

    /// The same reply, counted as a failure to connect (towards the circuit breaker).
    pub fn while_connecting(mut self) -> Reply {
        self.connecting = true;
        self
    }
}

/// Why a whole campaign must stop: retrying member after member would not help.
#[derive(Debug, Clone)]
pub struct Fatal(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_found() {
        assert_eq!(
            enhanced_code("550 5.1.1 <eve@example.org>: mailbox unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            enhanced_code("421-4.7.28 Our system has detected").as_deref(),
            Some("4.7.28")
        );
        assert_eq!(enhanced_code("250 Ok: queued as 1.2"), None);
    }

    #[test]
    fn replies_are_classified_as_the_providers_mean_them() {
        let r = |code: u16, text: &str| {
            let kind = match code / 100 {
                2 => ReplyKind::Accepted,
                4 => ReplyKind::Transient,
                _ => ReplyKind::Permanent,
            };
            Reply {
                kind,
                code: Some(code),
                enhanced: enhanced_code(text),
                text: text.to_string(),
                connecting: false,
            }
            .reason()
            .to_string()
        };
        assert_eq!(
            r(550, "550 5.1.1 <x@example.org>: Recipient address rejected"),
            "hard-bounce"
        );
        assert_eq!(r(553, "553 5.1.3 bad address syntax"), "hard-bounce");
        assert_eq!(r(550, "550 5.2.1 mailbox disabled"), "hard-bounce");
        assert_eq!(r(550, "550 5.7.1 rejected by DMARC policy"), "policy");
        assert_eq!(r(552, "552 5.3.4 message too big"), "message");
        assert_eq!(r(554, "554 5.6.0 malformed"), "message");
        assert_eq!(r(552, "552 5.2.2 mailbox full"), "mailbox-full");
        assert_eq!(r(550, "550 rejected"), "permanent");
        assert_eq!(r(421, "421 4.7.28 rate limited"), "throttled");
        assert_eq!(r(450, "450 4.7.1 try later"), "throttled");
        assert_eq!(r(451, "451 4.3.0 local error"), "transient");
        assert_eq!(r(250, "250 2.0.0 Ok"), "accepted");
        let others = [
            (Reply::uncertain("lost".into()), "uncertain"),
            (Reply::unsendable("no".into()), "unsendable"),
            (Reply::transient("reset".into()), "transient"),
        ];
        for (reply, reason) in others {
            assert_eq!(reply.reason().to_string(), reason);
        }
    }

    #[test]
    fn a_long_reply_text_is_cut_and_a_refusal_has_no_2xx_code() {
        let r = Reply::of(
            ReplyKind::Transient,
            Some(451),
            "451 after 2.1.5 Ok, gave up".into(),
        );
        assert_eq!(
            r.enhanced, None,
            "a 2.x.x in a refusal's text is not its code"
        );
        let long = Reply::transient("x".repeat(MAX_TEXT + 10));
        assert_eq!(long.text.len(), MAX_TEXT + 3);
    }
}
