//! What a bounce means for the member (the table in the README, "Bounces and complaints"),
//! and when soft bounces add up to a suppression. Sans I/O: codes in, a verdict out.

use crate::outcome::Reason;

/// What a reported failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 5.1.x, 5.2.1: no such mailbox, or disabled: the address is suppressed at once.
    Hard,
    /// 4.x.x (but 4.7.x), 5.2.2 mailbox full, any other 5.x.x (or no code at all): counted;
    /// `[bounces] soft_limit` of them over `soft_campaigns` campaigns suppress.
    Soft,
    /// x.7.x (policy, authentication, DMARC), 5.3.4 and 5.6.x (the message): recorded; the
    /// member is not at fault and is not suppressed.
    NotMember,
    /// A complaint (ARF `abuse`, `fraud` or `virus`): suppressed at once.
    Complaint,
    /// Not a failure: a DSN's `delayed`, `delivered`, `relayed` or `expanded`. Nothing recorded.
    NoFailure,
}

impl Class {
    /// `bounced` or `complained`: the status of the row `log` shows.
    pub fn status(self) -> &'static str {
        match self {
            Class::Complaint => "complained",
            _ => "bounced",
        }
    }
}

/// The class of a DSN recipient's `action` and `status` (`5.1.1`), and the reason the log
/// shows (`hard-bounce`, `mailbox-full`, `transient`, `permanent`, `policy`, `message`).
pub fn bounce(action: Option<&str>, status: Option<&str>) -> (Class, &'static str) {
    if action.is_some_and(|a| a != "failed") {
        return (Class::NoFailure, "");
    }
    // No code (a non-standard bounce that gives none): a permanent failure of unknown kind.
    let code = status.unwrap_or("5.0.0");
    let mut parts = code.split('.');
    let (class, subject, detail) = (parts.next(), parts.next(), parts.next());
    let reason = match (class, subject, detail) {
        (Some("2"), _, _) => return (Class::NoFailure, ""),
        (_, Some("7"), _) => Reason::Policy,
        (Some("5"), Some("1"), _) | (Some("5"), Some("2"), Some("1")) => Reason::HardBounce,
        (Some("5"), Some("3"), Some("4")) | (Some("5"), Some("6"), _) => Reason::Message,
        (_, Some("2"), Some("2")) => Reason::MailboxFull,
        (Some("4"), _, _) => Reason::Transient,
        _ => Reason::Permanent,
    };
    let class = match reason {
        Reason::HardBounce => Class::Hard,
        Reason::Policy | Reason::Message => Class::NotMember,
        _ => Class::Soft,
    };
    (class, reason.as_str())
}

/// Whether an ARF feedback type is a complaint: `abuse`, `fraud`, `virus` (and `other`, which
/// Yahoo's and Outlook.com's loops send for "this is spam"). `not-spam` and `auth-failure`
/// are not.
pub fn is_complaint(feedback: mail_auth::report::FeedbackType) -> bool {
    use mail_auth::report::FeedbackType as F;
    !matches!(feedback, F::NotSpam | F::AuthFailure)
}

/// Whether `bounces` soft bounces of one address, from `campaigns` different campaigns,
/// suppress it under `[bounces] soft_limit` and `soft_campaigns`.
pub fn soft_suppresses(bounces: u64, campaigns: u64, limit: u32, over: u32) -> bool {
    bounces >= u64::from(limit) && campaigns >= u64::from(over)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify_as_the_table_says() {
        let failed = |s| bounce(Some("failed"), Some(s));
        assert_eq!(failed("5.1.1"), (Class::Hard, "hard-bounce"));
        assert_eq!(failed("5.1.10"), (Class::Hard, "hard-bounce"));
        assert_eq!(failed("5.2.1"), (Class::Hard, "hard-bounce"));
        assert_eq!(failed("5.2.2"), (Class::Soft, "mailbox-full"));
        assert_eq!(failed("4.2.2"), (Class::Soft, "mailbox-full"));
        assert_eq!(failed("4.4.7"), (Class::Soft, "transient"));
        assert_eq!(failed("5.4.4"), (Class::Soft, "permanent"));
        assert_eq!(failed("5.7.1"), (Class::NotMember, "policy"));
        assert_eq!(failed("5.7.26"), (Class::NotMember, "policy"));
        assert_eq!(failed("4.7.28"), (Class::NotMember, "policy"));
        assert_eq!(failed("5.3.4"), (Class::NotMember, "message"));
        assert_eq!(failed("5.6.0"), (Class::NotMember, "message"));
        assert_eq!(bounce(None, None), (Class::Soft, "permanent"));
        assert_eq!(bounce(None, Some("5.1.1")).0, Class::Hard);
    }

    #[test]
    fn what_is_not_a_failure_is_not_counted() {
        for action in ["delayed", "delivered", "relayed", "expanded"] {
            assert_eq!(bounce(Some(action), Some("4.4.7")).0, Class::NoFailure);
        }
        assert_eq!(bounce(Some("failed"), Some("2.0.0")).0, Class::NoFailure);
    }

    #[test]
    fn soft_bounces_suppress_only_over_enough_campaigns() {
        assert!(!soft_suppresses(2, 2, 3, 3));
        // Three retries' bounces from one campaign: a full mailbox that may empty.
        assert!(!soft_suppresses(3, 1, 3, 3));
        assert!(soft_suppresses(3, 3, 3, 3));
        assert!(soft_suppresses(1, 1, 1, 1));
    }

    #[test]
    fn complaints_are_the_feedback_types_that_say_spam() {
        use mail_auth::report::FeedbackType as F;
        assert!(is_complaint(F::Abuse));
        assert!(is_complaint(F::Other));
        assert!(!is_complaint(F::NotSpam));
        assert!(!is_complaint(F::AuthFailure));
    }
}
