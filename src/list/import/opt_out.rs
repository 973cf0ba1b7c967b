//! CRM opt-out columns (`Email Opt Out`, `Unsubscribed`...): read to suppress the members who
//! asked for no mail, never kept on the list.

/// Whether a header is a CRM's opt-out flag (Salesforce's `HasOptedOutOfEmail`, HubSpot's
/// `Unsubscribed`, `Email Opt Out`, `Do Not Email`...), matched like
/// [`canonical_column`](super::canonical_column).
pub fn opt_out_column(header: &str) -> bool {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    matches!(
        key.as_str(),
        "emailoptout"
            | "emailoptedout"
            | "optout"
            | "optedout"
            | "unsubscribed"
            | "unsubscribe"
            | "donotemail"
            | "donotmail"
            | "hasoptedoutofemail"
    )
}

/// An opt-out cell: `Some(true)` for yes/true/1/y/x, `Some(false)` for no/false/0/n or
/// empty, `None` for anything else (the row is then rejected: better not to guess).
pub(super) fn opt_out_value(cell: &str) -> Option<bool> {
    let v = cell.trim();
    if ["yes", "true", "1", "y", "x"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
    {
        Some(true)
    } else if v.is_empty()
        || ["no", "false", "0", "n"]
            .iter()
            .any(|t| v.eq_ignore_ascii_case(t))
    {
        Some(false)
    } else {
        None
    }
}

/// An address an opt-out column asked to suppress, and where it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    pub email: String,
    /// `mailshot import FILE line N`.
    pub source: String,
}
