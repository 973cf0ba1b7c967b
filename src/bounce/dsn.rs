//! The `message/delivery-status` body of an RFC 3464 DSN: header-like fields in groups, the
//! first per message (Reporting-MTA, Arrival-Date), then one per recipient (Final-Recipient,
//! Original-Recipient, Action, Status, Diagnostic-Code). No crate reads it (mail-parser
//! leaves the part as bytes), so this does, sans I/O.

/// One recipient's group of a DSN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipient {
    /// Final-Recipient's address, its `rfc822;` type dropped.
    pub address: Option<String>,
    /// Original-Recipient's address (the RCPT TO as we sent it), if the MTA kept it.
    pub original: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed` or `expanded`, lowercased.
    pub action: Option<String>,
    /// The enhanced status code (`5.1.1`), its comment dropped.
    pub status: Option<String>,
    /// Diagnostic-Code's text (`550 5.1.1 <ann@...>: Recipient address rejected`), its
    /// `smtp;` type dropped, unfolded to one line.
    pub diagnostic: Option<String>,
}

/// The groups of fields of a delivery-status body: blank lines separate groups, a line
/// starting with white space continues the field before it, names are lowercased.
pub fn groups(body: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The recipients of a delivery-status body: every group with a Final-Recipient or
/// Original-Recipient.
pub fn recipients(body: &str) -> Vec<Recipient> {
    groups(body)
        .into_iter()
        .filter_map(|g| {
            let field = |name: &str| {
                g.iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .filter(|v| !v.is_empty())
            };
            let r = Recipient {
                address: field("final-recipient").and_then(typed_address),
                original: field("original-recipient").and_then(typed_address),
                action: field("action").map(|a| a.to_ascii_lowercase()),
                status: field("status").and_then(status_code),
                diagnostic: field("diagnostic-code").map(|d| untyped(d).to_string()),
            };
            (r.address.is_some() || r.original.is_some()).then_some(r)
        })
        .collect()
}

/// `rfc822; <ann@example.org>` -> `ann@example.org`.
fn typed_address(value: &str) -> Option<String> {
    let a = untyped(value)
        .trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
        .to_string();
    a.contains('@').then_some(a)
}

/// The value after `type;` (`smtp; 550 ...` -> `550 ...`), or the whole value without one.
fn untyped(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.contains(' ') && !kind.is_empty() => rest.trim(),
        _ => value.trim(),
    }
}

/// The first `class.subject.detail` in `text` (`5.1.1 (bad destination mailbox)` ->
/// `5.1.1`): class 2, 4 or 5, subject and detail of 1 to 3 digits.
pub fn status_code(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// The SMTP reply code at the start of a diagnostic (`550 5.1.1 ...` -> 550).
pub fn reply_code(diagnostic: &str) -> Option<u16> {
    let word = diagnostic.split([' ', '-']).next()?;
    (word.len() == 3 && word.starts_with(['4', '5']))
        .then(|| word.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTFIX: &str = "Reporting-MTA: dns; mx.example.net\r\n\
        X-Postfix-Queue-ID: 4F1B2C3D\r\n\
        Arrival-Date: Mon,  3 Apr 2023 09:00:01 +0100 (BST)\r\n\
        \r\n\
        Final-Recipient: rfc822; Ann@Example.net\r\n\
        Original-Recipient: rfc822;ann@example.net\r\n\
        Action: failed\r\n\
        Status: 5.1.1\r\n\
        Remote-MTA: dns; mx1.example.net\r\n\
        Diagnostic-Code: smtp; 550 5.1.1 <ann@example.net>: Recipient address\r\n\
        \trejected: User unknown in virtual mailbox table\r\n\
        \r\n\
        Final-Recipient: rfc822; bob@example.net\r\n\
        Action: delayed\r\n\
        Status: 4.2.2 (mailbox full)\r\n";

    #[test]
    fn a_postfix_dsn_gives_each_recipient_its_fields() {
        let r = recipients(POSTFIX);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            Recipient {
                address: Some("Ann@Example.net".into()),
                original: Some("ann@example.net".into()),
                action: Some("failed".into()),
                status: Some("5.1.1".into()),
                diagnostic: Some(
                    "550 5.1.1 <ann@example.net>: Recipient address rejected: User unknown in virtual mailbox table"
                        .into()
                ),
            }
        );
        assert_eq!(r[1].status.as_deref(), Some("4.2.2"));
        assert_eq!(r[1].action.as_deref(), Some("delayed"));
        assert_eq!(r[1].diagnostic, None);
    }

    #[test]
    fn the_per_message_group_is_no_recipient() {
        assert_eq!(recipients("Reporting-MTA: dns; a.example\n\n"), vec![]);
        assert_eq!(recipients(""), vec![]);
        // A Final-Recipient that is no address is not one.
        assert_eq!(
            recipients("Final-Recipient: rfc822; nobody\nAction: failed\n"),
            vec![]
        );
    }

    #[test]
    fn status_codes_are_read_strictly() {
        assert_eq!(status_code("5.1.1").as_deref(), Some("5.1.1"));
        assert_eq!(
            status_code("smtp; 550 5.7.26 unauthenticated").as_deref(),
            Some("5.7.26")
        );
        assert_eq!(
            status_code("4.4.7 (delivery time expired)").as_deref(),
            Some("4.4.7")
        );
        assert_eq!(status_code("version 1.2.3 of 10.0.0.1"), None);
        assert_eq!(status_code("5.1234.1"), None);
        assert_eq!(reply_code("550 5.1.1 no"), Some(550));
        assert_eq!(reply_code("550-5.1.1 no"), Some(550));
        assert_eq!(reply_code("250 ok"), None);
        assert_eq!(reply_code("X.1.1"), None);
    }
}
