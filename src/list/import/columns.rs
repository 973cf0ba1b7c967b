//! Headers mapped to the list's columns: the canonical ones recognised whatever their
//! spelling, or named on the command line; the rest snake_case.

use super::quoted_list;
use crate::error::{Error, Result};
use crate::list::normalize_header;

/// The canonical columns, in the order they are written.
pub const CANONICAL: [&str; 4] = ["email", "first_name", "last_name", "organisation"];

/// Maps a header to a canonical column, ignoring case, spaces and punctuation.
pub fn canonical_column(header: &str) -> Option<&'static str> {
    let key: String = header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    Some(match key.as_str() {
        "email" | "emailaddress" | "emailaddr" | "mail" | "mailaddress" | "emails"
        | "primaryemail" | "workemail" | "businessemail" | "emailid" | "contactemail"
        | "email1" | "emailaddress1" => "email",
        "firstname" | "first" | "forename" | "forenames" | "givenname" | "fname"
        | "christianname" => "first_name",
        "lastname" | "last" | "surname" | "familyname" | "lname" | "secondname" => "last_name",
        "organisation" | "organization" | "company" | "companyname" | "org"
        | "organisationname" | "organizationname" | "employer" | "business" | "businessname"
        | "accountname" | "institution" => "organisation",
        _ => return None,
    })
}

/// Columns named on the command line (`--email-column` ...), for exports whose headers
/// cannot be guessed (Google Contacts' `E-mail 1 - Value`).
#[derive(Debug, Clone, Default)]
pub struct ColumnNames {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// The header `given` names: the same text, else the same ignoring case, else the same
/// variable name (`E-mail 1 - Value` and `e_mail_1_value`).
fn find_header(headers: &csv::StringRecord, given: &str) -> Option<usize> {
    let given = given.trim();
    headers
        .iter()
        .position(|h| h.trim() == given)
        .or_else(|| {
            headers
                .iter()
                .position(|h| h.trim().to_lowercase() == given.to_lowercase())
        })
        .or_else(|| {
            let key = normalize_header(given);
            headers.iter().position(|h| normalize_header(h) == key)
        })
}

/// The columns named on the command line (`--email-column` ...), by position: an import's
/// only (the list being merged into has canonical headers).
pub(super) fn given_columns(
    headers: &csv::StringRecord,
    c: &ColumnNames,
    file: &str,
) -> Result<Vec<Option<String>>> {
    let mut given: Vec<Option<String>> = vec![None; headers.len()];
    for (canonical, named, flag) in [
        ("email", &c.email, "--email-column"),
        ("first_name", &c.first_name, "--first-name-column"),
        ("last_name", &c.last_name, "--last-name-column"),
    ] {
        let Some(named) = named else { continue };
        let i = find_header(headers, named).ok_or_else(|| {
            Error::input(format!(
                "`{file}` has no column `{named}` (given by {flag}; headers found: {})",
                quoted_list(headers.iter())
            ))
        })?;
        given[i] = Some(canonical.to_string());
    }
    Ok(given)
}

/// Column names: those `given` first, then canonical where recognised (first one wins), else
/// snake_case; empty headers (Excel's trailing columns) become `column_N` (dropped if always
/// empty). An import's opt-out columns are named too: they are read, never kept.
pub(super) fn column_names(headers: &csv::StringRecord, given: Vec<Option<String>>) -> Vec<String> {
    let mut names = given;
    for (i, h) in headers.iter().enumerate() {
        if names[i].is_some() {
            continue;
        }
        let taken = |n: &str, names: &[Option<String>]| names.iter().flatten().any(|x| x == n);
        let mut n = match canonical_column(h) {
            Some(c) if !taken(c, &names) => c.to_string(),
            _ => normalize_header(h),
        };
        if n.is_empty() {
            n = format!("column_{}", i + 1);
        }
        while taken(&n, &names) {
            n.push_str("_2");
        }
        names[i] = Some(n);
    }
    names.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recognised_whatever_their_spelling() {
        for h in [
            "Email",
            "E-mail Address",
            "email_address",
            "EMAIL ADDRESS",
            "E-Mail",
            "Work Email",
        ] {
            assert_eq!(canonical_column(h), Some("email"), "{h}");
        }
        for h in ["First Name", "Forename", "first_name", "Given name"] {
            assert_eq!(canonical_column(h), Some("first_name"), "{h}");
        }
        for h in ["Surname", "Last Name", "family_name"] {
            assert_eq!(canonical_column(h), Some("last_name"), "{h}");
        }
        for h in ["Company", "Organization", "Organisation Name"] {
            assert_eq!(canonical_column(h), Some("organisation"), "{h}");
        }
        assert_eq!(canonical_column("Job Title"), None);
    }
}
