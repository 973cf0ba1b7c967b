//! `mailshot report`: one campaign at a glance, for the chair and the board. A
//! self-contained HTML page (inline CSS and SVG charts drawn by plotters, no script, nothing
//! fetched) and a one-line summary for the terminal.
//!
//! [`Report::gather`] reads everything from the store once into plain data; each section of
//! the page is then one function of that data returning HTML (`sections`), its charts drawn
//! by `charts`. Member addresses never reach the page: late bounces are shown by domain.

mod charts;
mod sections;

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result, show};
use crate::store::{Counts, ReplyCount, Store};

/// How many days after a campaign starts its unsubscribes and opens are counted, one bar a
/// day.
pub const DAYS_AFTER: usize = 14;

/// What a late bounce or complaint means for the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LateKind {
    /// No such mailbox (5.1.x, 5.2.1): suppressed.
    Hard,
    /// Counted towards `[bounces] soft_limit`.
    Soft,
    /// A spam complaint (ARF).
    Complaint,
    /// Policy or the message itself (5.7.x, 5.3.4, 5.6.x): not the member's doing.
    NotMember,
}

impl LateKind {
    pub fn label(self) -> &'static str {
        match self {
            LateKind::Hard => "hard bounce",
            LateKind::Soft => "soft bounce",
            LateKind::Complaint => "complaint",
            LateKind::NotMember => "not the member's (policy, message)",
        }
    }
}

/// One late bounce or complaint, its member reduced to a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Late {
    /// The recipient's domain (`example.org`).
    pub domain: String,
    pub kind: LateKind,
    /// As `log` shows it: `hard-bounce`, `mailbox-full`, `complaint`, `policy`...
    pub reason: String,
}

/// Everything the report shows about one campaign.
#[derive(Debug, Clone)]
pub struct Report {
    pub campaign: String,
    /// The subject as sent: the web edition's (no member data), else the subject template.
    pub subject: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub web_url: Option<String>,
    pub counts: Counts,
    /// Seconds from the campaign's first attempt to each acceptance, in order.
    pub accepted_after: Vec<f64>,
    /// `[rate] messages_per_second` of the campaign's last run as the store recorded it, or
    /// (`rate_recorded` false: sent by an older build) as configured now; 0 is no limit.
    pub rate: f64,
    pub rate_recorded: bool,
    /// Members by number of attempts: (attempts, members), for the members attempted.
    pub attempts: Vec<(u32, u64)>,
    pub replies: Vec<ReplyCount>,
    pub late: Vec<Late>,
    /// Members of the campaign unsubscribed on each day after it started (day 1 is its
    /// first 24 hours).
    pub unsubscribes: [u64; DAYS_AFTER],
    /// Clicks on each tracked link (`[tracking] clicks`), the automated-looking counted apart;
    /// empty when the campaign's links were not tracked.
    pub clicks: Vec<crate::store::LinkClicks>,
    /// Open pixels loaded (`[tracking] opens`).
    pub opens: Opens,
    /// When the report was made (RFC 3339, UTC).
    pub made_at: String,
}

/// A campaign's opens as the report shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opens {
    /// Loads that look like a person's.
    pub people: u64,
    /// Loads that look automated (privacy proxies, scanners, on arrival), counted apart.
    pub automated: u64,
    /// Members with a person-like open; only with `per_member` (else 0).
    pub members: u64,
    /// Person-like opens on each day after the campaign started (day 1: its first 24 hours).
    pub per_day: [u64; DAYS_AFTER],
}

/// How many of `times` (RFC 3339) fall on each day after `started`, for [`DAYS_AFTER`] days.
fn per_day(
    store_path: &std::path::Path,
    started: DateTime<Utc>,
    times: &[String],
) -> Result<[u64; DAYS_AFTER]> {
    let mut days = [0; DAYS_AFTER];
    for at in times {
        let since = time(store_path, at)? - started;
        let day = usize::try_from(since.num_hours() / 24).ok();
        if since >= Duration::zero()
            && let Some(n) = day.and_then(|d| days.get_mut(d))
        {
            *n += 1;
        }
    }
    Ok(days)
}

/// An RFC 3339 time from the store, or an error naming it.
fn time(store_path: &std::path::Path, at: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::runtime(format!(
                "delivery log `{}` holds `{at}`, which is not a time",
                show(store_path)
            ))
        })
}

impl Report {
    /// Reads `campaign` from `store`; an input error when the store has no such campaign.
    pub fn gather(store: &Store, config: &crate::config::Config, campaign: &str) -> Result<Report> {
        let path = &config.store;
        let info = store
            .campaign(campaign)?
            .ok_or_else(|| Error::input(format!("no campaign `{campaign}` in `{}`", show(path))))?;
        let master = store.master(campaign)?.map(|(_, m)| m);
        let subject = match &master {
            Some(m) => m.web.as_ref().map_or(&m.subject_template, |w| &w.subject),
            None => &info.subject,
        }
        .clone();
        let web_url = master
            .as_ref()
            .filter(|m| m.web.is_some())
            .and_then(|_| config.web.web_url(campaign));
        let started = time(path, &info.started_at)?;
        let (first, accepted) = store.acceptance_times(campaign)?;
        let first = match first {
            Some(at) => time(path, &at)?,
            None => started,
        };
        let accepted_after = accepted
            .iter()
            .map(|at| Ok((time(path, at)? - first).num_milliseconds().max(0) as f64 / 1000.0))
            .collect::<Result<_>>()?;
        let end = started + Duration::hours(24) * DAYS_AFTER as i32;
        let fmt = crate::clock::format;
        let unsubscribed = store.unsubscribed_between(campaign, &fmt(started), &fmt(end))?;
        let opened = store.open_counts(campaign)?;
        let recorded_rate = store.campaign_rate(campaign)?;
        let opens = Opens {
            people: opened.opens,
            automated: opened.automated,
            members: opened.members,
            per_day: per_day(path, started, &opened.times)?,
        };
        Ok(Report {
            campaign: info.id,
            subject,
            started_at: info.started_at,
            finished_at: info.finished_at,
            web_url,
            counts: store.counts(campaign)?,
            accepted_after,
            rate: recorded_rate.unwrap_or(config.rate.messages_per_second),
            rate_recorded: recorded_rate.is_some(),
            attempts: store.attempts_per_member(campaign)?,
            replies: store.reply_counts(campaign)?,
            late: late(store.late_rows(campaign)?),
            unsubscribes: per_day(path, started, &unsubscribed)?,
            clicks: store.clicks_by_link(campaign)?,
            opens,
            made_at: crate::store::now(),
        })
    }

    /// Members attempted at least once: accepted, deferred, failed or uncertain.
    pub fn sent(&self) -> u64 {
        let c = &self.counts;
        c.accepted + c.deferred + c.failed + c.uncertain
    }

    /// How many members' late events are of `kind`.
    pub fn late_count(&self, kind: LateKind) -> usize {
        self.late.iter().filter(|l| l.kind == kind).count()
    }

    pub fn unsubscribed(&self) -> u64 {
        self.unsubscribes.iter().sum()
    }

    /// The terminal's one line (without where the page was written); opens only when any
    /// were recorded.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let opens = match &self.opens {
            o if o.people + o.automated == 0 => String::new(),
            o if o.members > 0 => format!(
                "; {} by {} (unreliable)",
                plural(o.people, "open", "opens"),
                plural(o.members, "member", "members")
            ),
            o => format!("; {} (unreliable)", plural(o.people, "open", "opens")),
        };
        format!(
            "campaign {} «{}»: {}, {} accepted ({}), {} failed, {} deferred, {} uncertain; {}, {}, {} unsubscribed since{}",
            self.campaign,
            self.subject,
            plural(c.members, "member", "members"),
            c.accepted,
            percent(c.accepted, c.members),
            c.failed,
            c.deferred,
            c.uncertain,
            plural(
                self.late_count(LateKind::Hard) as u64,
                "hard bounce",
                "hard bounces"
            ),
            plural(
                self.late_count(LateKind::Complaint) as u64,
                "complaint",
                "complaints"
            ),
            self.unsubscribed(),
            opens,
        )
    }

    /// The whole page.
    pub fn html(&self) -> Result<String> {
        sections::page(self)
    }
}

/// The store's late rows as the report shows them: each member once per reason, by domain.
fn late(rows: Vec<crate::store::LateRow>) -> Vec<Late> {
    rows.into_iter()
        .map(|r| {
            let kind = if r.status == "complained" {
                LateKind::Complaint
            } else if r.soft {
                LateKind::Soft
            } else if r.reason == "hard-bounce" {
                LateKind::Hard
            } else {
                LateKind::NotMember
            };
            let domain = r.key.rsplit_once('@').map_or("", |(_, d)| d).to_string();
            Late {
                domain,
                kind,
                reason: r.reason,
            }
        })
        .collect()
}

/// `n` and its noun, singular for 1.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `part` of `whole` as a percentage with one decimal (`87.5%`); `-` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Writes `html` to `path` through a temporary file beside it and a rename: never half a
/// page.
pub fn write(path: &std::path::Path, html: &str) -> Result<()> {
    crate::transport::write_atomic(path, html.as_bytes())
        .map_err(|e| Error::io("write report", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LateRow;

    fn row(key: &str, status: &str, reason: &str, soft: bool) -> LateRow {
        LateRow {
            key: key.into(),
            status: status.into(),
            reason: reason.into(),
            soft,
        }
    }

    #[test]
    fn late_events_are_classified_and_reduced_to_their_domain() {
        let got: Vec<(String, LateKind)> = late(vec![
            row("ann@a.example", "bounced", "hard-bounce", false),
            row("bob@b.example", "bounced", "mailbox-full", true),
            row("cat@c.example", "complained", "complaint", false),
            row("dan@d.example", "bounced", "policy", false),
            row("no-at-sign", "bounced", "permanent", true),
        ])
        .into_iter()
        .map(|l| (l.domain, l.kind))
        .collect();
        let want = [
            ("a.example", LateKind::Hard),
            ("b.example", LateKind::Soft),
            ("c.example", LateKind::Complaint),
            ("d.example", LateKind::NotMember),
            ("", LateKind::Soft),
        ];
        let want: Vec<(String, LateKind)> = want.iter().map(|(d, k)| (d.to_string(), *k)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn percentages_and_plurals() {
        assert_eq!(percent(11, 12), "91.7%");
        assert_eq!(percent(0, 0), "-");
        assert_eq!(plural(1, "hard bounce", "hard bounces"), "1 hard bounce");
        assert_eq!(plural(0, "complaint", "complaints"), "0 complaints");
    }
}
