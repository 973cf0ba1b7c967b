//! MIME: one member's rendering becomes the bytes that go on the wire.
//!
//! multipart/alternative with text/plain first and text/html last, UTF-8 (lettre picks
//! 7bit, quoted-printable or base64 per part, so no line exceeds 998 octets); `From`, optional
//! `Reply-To`, `To` with the member's name, `Subject` (RFC 2047 encoded when not ASCII), `Date`
//! and a unique `Message-ID` on the sender's domain. Member data reaches headers only through
//! lettre's encoders, after the list check has refused every control character.

use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};

use crate::render::Rendered;

/// What the message is sent as, shared by every member of a campaign.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

/// A message ready for a transport.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Envelope recipient.
    pub to: Address,
    /// Envelope sender.
    pub from: Address,
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// A fresh `<campaign.random@domain>` Message-ID.
pub fn new_message_id(campaign: &str, domain: &str) -> String {
    let mut rnd = [0u8; 10];
    getrandom::fill(&mut rnd).expect("the OS random source failed");
    let mut hex = String::with_capacity(20);
    for b in rnd {
        hex.push_str(&format!("{b:02x}"));
    }
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

/// Builds the message for `to` (with display `name`), with `subject` replacing the rendered one
/// when given (test sends).
pub fn build(
    sender: &Sender,
    to: &str,
    name: Option<String>,
    rendered: &Rendered,
    subject: Option<&str>,
    message_id: &str,
) -> Result<Outgoing, String> {
    let to_addr: Address = to
        .parse()
        .map_err(|e| format!("`{to}` is not a valid address: {e}"))?;
    let mut builder = Message::builder()
        .from(sender.from.clone())
        .to(Mailbox::new(name, to_addr.clone()))
        .subject(subject.unwrap_or(&rendered.subject))
        .message_id(Some(message_id.to_string()))
        .date_now();
    if let Some(r) = &sender.reply_to {
        builder = builder.reply_to(r.clone());
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            rendered.html.clone(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))?;
    Ok(Outgoing {
        to: to_addr,
        from: sender.from.email.clone(),
        message_id: message_id.to_string(),
        bytes: message.formatted(),
    })
}
