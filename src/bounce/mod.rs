//! `mailshot bounces`: the reports that arrive after a send (bounces, complaints,
//! unsubscribe replies) read from a mailbox, matched to a campaign's member and recorded.
//!
//! - [`dsn`]: RFC 3464 delivery-status fields (no crate reads them);
//! - [`parse`]: one message into a [`parse::Report`] (mail-parser for MIME, mail-auth for ARF);
//! - [`classify`]: what a status code means for the member, and the soft-bounce rule;
//! - [`Reader`] (here): a report matched (VERP token, then Message-ID, then recipient) and
//!   recorded in the store, with what it did;
//! - [`mailbox`]: a Maildir or mbox given as a path; [`imap`]: the IMAP mailbox (async-imap
//!   over tokio, TLS by rustls), with `--watch` on IDLE.

pub mod classify;
pub mod dsn;
pub mod imap;
pub mod mailbox;
pub mod parse;

use std::collections::HashMap;

/// The most of one message that is read: 4 MiB. A report's parts that matter (headers,
/// delivery status, feedback report, the returned headers) come first; a returned message
/// with large attachments is cut, never held whole.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// A report matched by its recipient's address alone (no token, no Message-ID of ours) is
/// about the latest message sent to that address in the this many days before the report
/// was written (its `Date:`; now, when it has none or one in the future); older sends are
/// not matched (it is left in place, said so). A bounce comes within days (servers give up
/// after 4-5), and an address names nobody in particular, so a stray report about a member
/// mailed months before must not suppress them; reading the mailbox weeks later changes
/// nothing, as the report's own date is what counts.
pub const RECIPIENT_MATCH_DAYS: i64 = 7;

use crate::compose::tokens::Tokens;
use crate::config::Config;
use crate::error::Result;
use crate::store::{Effect, LateEvent, Store};
use classify::Class;
use parse::{Context, Kind, Report};

/// What reading one message did; [`Outcome::moves`] says whether it leaves the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded: its events (each a line), the addresses it suppressed.
    Recorded {
        id: String,
        events: Vec<(LateEvent, bool)>,
        unsubscribed: Option<(String, bool)>,
    },
    /// Only `delayed`/`delivered` notices, or a feedback report that is no complaint.
    NoFailure { id: String },
    /// Its Message-ID was read before: nothing changes.
    AlreadyRead { id: String },
    /// A report, but of no member of ours: left in the folder.
    Unmatched { id: String, why: String },
    /// Not a report mailshot reads: left in the folder.
    Unparseable { why: String },
}

impl Outcome {
    /// Whether the message goes to the processed folder (else it stays where it is).
    pub fn moves(&self) -> bool {
        !matches!(
            self,
            Outcome::Unmatched { .. } | Outcome::Unparseable { .. }
        )
    }
}

/// Reads reports into a store: the list's context and its VERP tokens, computed once.
pub struct Reader {
    ctx: Context,
    tokens: Tokens,
    /// VERP token -> (campaign, member), for every message sent; built on first need.
    verp: Option<HashMap<String, (String, String)>>,
    soft_limit: u32,
    soft_campaigns: u32,
}

impl Reader {
    /// A reader for `config`'s list. VERP tokens need the unsubscribe secret (without it in
    /// the environment a file-transport project uses the development secret, as its send
    /// did); without `sender.bounce_address` there are none, and no secret is asked for.
    pub fn new(config: &Config) -> Result<Reader> {
        let tokens = match config.bounce_address {
            Some(_) => Tokens::from_config(config, true)?.0,
            None => Tokens::new(b"", &config.list_id),
        };
        let verp = config.bounce_address.as_ref().and_then(|b| {
            b.split_once("{token}")
                .map(|(a, z)| (a.to_string(), z.to_string()))
        });
        Ok(Reader {
            ctx: Context {
                verp,
                id_domain: config.from_domain(),
                mailto: config
                    .unsubscribe
                    .mailto
                    .as_deref()
                    .map(crate::address::key),
            },
            tokens,
            verp: None,
            soft_limit: config.bounces.soft_limit,
            soft_campaigns: config.bounces.soft_campaigns,
        })
    }

    /// Forgets the VERP tokens computed so far, so that messages sent since (by a send
    /// running beside `--watch`) are matched by token too; called before each pass.
    pub fn refresh(&mut self) {
        self.verp = None;
    }

    /// Reads one message `raw` and records what it reports in `store`.
    pub fn read(&mut self, store: &mut Store, raw: &[u8]) -> Result<Outcome> {
        let report = match parse::parse(raw, &self.ctx) {
            Ok(r) => r,
            Err(why) => return Ok(Outcome::Unparseable { why }),
        };
        let id = report.id.clone();
        if store.bounce_seen(&id)? {
            return Ok(Outcome::AlreadyRead { id });
        }
        if report.kind == Kind::Unsubscribe {
            let email = report
                .recipients
                .first()
                .and_then(|r| r.address.clone())
                .unwrap_or_default();
            let Some(done) = store.record_report(&id, "unsubscribe", &[], Some(&email))? else {
                return Ok(Outcome::AlreadyRead { id });
            };
            let new = !done.suppressed.is_empty();
            return Ok(Outcome::Recorded {
                id,
                events: Vec::new(),
                unsubscribed: Some((email, new)),
            });
        }
        let events = self.events(store, &report)?;
        if events.is_empty() {
            let failures = report
                .recipients
                .iter()
                .any(|r| self.class(&report, r) != Class::NoFailure);
            if failures {
                let why = "no campaign member matches its token, Message-ID or recipient".into();
                return Ok(Outcome::Unmatched { id, why });
            }
            return Ok(
                match store.record_report(&id, kind_name(&report.kind), &[], None)? {
                    Some(_) => Outcome::NoFailure { id },
                    None => Outcome::AlreadyRead { id },
                },
            );
        }
        let Some(done) = store.record_report(&id, kind_name(&report.kind), &events, None)? else {
            return Ok(Outcome::AlreadyRead { id });
        };
        let events = events
            .into_iter()
            .map(|e| {
                let new = done.suppressed.contains(&e.email);
                (e, new)
            })
            .collect();
        Ok(Outcome::Recorded {
            id,
            events,
            unsubscribed: None,
        })
    }

    fn class(&self, report: &Report, r: &dsn::Recipient) -> Class {
        match &report.kind {
            Kind::Arf {
                complaint: true, ..
            } => Class::Complaint,
            Kind::Arf { .. } => Class::NoFailure,
            _ => classify::bounce(r.action.as_deref(), r.status.as_deref()).0,
        }
    }

    /// Each failed recipient of `report`, matched and classified.
    fn events(&mut self, store: &Store, report: &Report) -> Result<Vec<LateEvent>> {
        let mut events = Vec::new();
        let failing: Vec<&dsn::Recipient> = report
            .recipients
            .iter()
            .filter(|r| self.class(report, r) != Class::NoFailure)
            .collect();
        for r in &failing {
            let Some((campaign, email, matched_by)) = self.find(store, report, r, failing.len())?
            else {
                continue;
            };
            let class = self.class(report, r);
            let reason = match class {
                Class::Complaint => "complaint",
                _ => classify::bounce(r.action.as_deref(), r.status.as_deref()).1,
            };
            let effect = match class {
                Class::Hard | Class::Complaint => Effect::Suppress,
                Class::Soft => Effect::Soft {
                    suppress: self.soft_reaches_limit(store, &email, &campaign)?,
                },
                Class::NotMember | Class::NoFailure => Effect::Record,
            };
            events.push(LateEvent {
                campaign,
                email,
                status: class.status(),
                smtp_code: r.diagnostic.as_deref().and_then(dsn::reply_code),
                enhanced_code: r.status.clone(),
                diagnostic: r.diagnostic.clone(),
                reason,
                matched_by,
                effect,
            });
        }
        Ok(events)
    }

    /// Whether one more soft bounce of `email`, in `campaign`, reaches the limit.
    fn soft_reaches_limit(&self, store: &Store, email: &str, campaign: &str) -> Result<bool> {
        let (n, mut campaigns) = store.soft_bounces(email)?;
        if !campaigns.iter().any(|c| c == campaign) {
            campaigns.push(campaign.to_string());
        }
        Ok(classify::soft_suppresses(
            n + 1,
            campaigns.len() as u64,
            self.soft_limit,
            self.soft_campaigns,
        ))
    }

    /// The campaign and member `r` is about: by the VERP token, then the original
    /// Message-ID, then the recipient's address; and which of them matched.
    fn find(
        &mut self,
        store: &Store,
        report: &Report,
        r: &dsn::Recipient,
        failing: usize,
    ) -> Result<Option<(String, String, &'static str)>> {
        let addresses: Vec<String> = [&r.original, &r.address]
            .into_iter()
            .flatten()
            .map(|a| crate::address::key(a))
            .collect();
        // A token or Message-ID names one member: it is this recipient's if the report has
        // only one failure, or no address, or this address.
        let ours = |email: &str| {
            failing == 1 || addresses.is_empty() || addresses.contains(&crate::address::key(email))
        };
        let verp = self.verp(store)?;
        for t in &report.tokens {
            if let Some((c, e)) = verp.get(t).filter(|(_, e)| ours(e)) {
                return Ok(Some((c.clone(), e.clone(), "token")));
            }
        }
        for id in &report.message_ids {
            if let Some((c, e)) = store.delivery_of_message_id(id)?.filter(|(_, e)| ours(e)) {
                return Ok(Some((c, e, "message-id")));
            }
        }
        // An address names nobody in particular: only a message sent to it in the days
        // before the report, while a bounce about it could still come (servers give up after
        // 4-5 days, RFC 5321 4.5.4.1).
        let (since, until) = recipient_window(report.date, crate::clock::now());
        for a in &addresses {
            if let Some((c, e)) = store.latest_delivery_to(a, &since, &until)? {
                return Ok(Some((c, e, "recipient")));
            }
        }
        Ok(None)
    }

    /// The VERP tokens of every message sent: a token is genuine if it is one of them (an
    /// HMAC over campaign and member under the list's secret).
    fn verp(&mut self, store: &Store) -> Result<&HashMap<String, (String, String)>> {
        if self.verp.is_none() {
            let mut map = HashMap::new();
            if self.ctx.verp.is_some() {
                store.sent_deliveries(|campaign, email| {
                    map.insert(
                        self.tokens.bounce_token(campaign, email),
                        (campaign.to_string(), email.to_string()),
                    );
                })?;
            }
            self.verp = Some(map);
        }
        Ok(self.verp.get_or_insert_with(HashMap::new))
    }
}

/// The times (RFC 3339) between which a message matched by its recipient alone must have
/// been sent: [`RECIPIENT_MATCH_DAYS`] before the report was written (`date`, seconds since
/// 1970; `now` when it has none or says a time after `now`), up to an hour after it (the
/// clocks of two machines).
fn recipient_window(date: Option<i64>, now: chrono::DateTime<chrono::Utc>) -> (String, String) {
    let written = date
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .filter(|t| *t <= now)
        .unwrap_or(now);
    let fmt = crate::clock::format;
    (
        fmt(written - chrono::Duration::days(RECIPIENT_MATCH_DAYS)),
        fmt(written + chrono::Duration::hours(1)),
    )
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Dsn => "dsn",
        Kind::Arf { .. } => "arf",
        Kind::NonStandard => "non-standard",
        Kind::Unsubscribe => "unsubscribe",
    }
}

/// The counts a run prints at its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub read: u64,
    pub hard: u64,
    pub soft: u64,
    /// Soft bounces that reached the limit and suppressed.
    pub soft_suppressed: u64,
    pub policy: u64,
    pub complaints: u64,
    pub unsubscribes: u64,
    pub no_failure: u64,
    pub already: u64,
    pub unmatched: u64,
    pub unparseable: u64,
}

impl Tally {
    pub fn add(&mut self, outcome: &Outcome) {
        self.read += 1;
        match outcome {
            Outcome::Recorded {
                events,
                unsubscribed,
                ..
            } => {
                self.unsubscribes += u64::from(unsubscribed.is_some());
                for (e, new) in events {
                    match (e.reason, e.effect) {
                        ("complaint", _) => self.complaints += 1,
                        (_, Effect::Suppress) => self.hard += 1,
                        (_, Effect::Soft { .. }) => {
                            self.soft += 1;
                            self.soft_suppressed += u64::from(*new);
                        }
                        (_, Effect::Record) => self.policy += 1,
                    }
                }
            }
            Outcome::NoFailure { .. } => self.no_failure += 1,
            Outcome::AlreadyRead { .. } => self.already += 1,
            Outcome::Unmatched { .. } => self.unmatched += 1,
            Outcome::Unparseable { .. } => self.unparseable += 1,
        }
    }

    /// `bounces: 7 read: 3 hard (suppressed), 2 soft, 1 complaint (suppressed), 1
    /// unparseable left in INBOX`: the parts that are not zero.
    pub fn summary(&self, folder: &str) -> String {
        let mut parts = Vec::new();
        let mut part = |n: u64, what: String| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        part(self.hard, "hard (suppressed)".into());
        let soft = match self.soft_suppressed {
            0 => "soft".to_string(),
            n => format!("soft ({n} reached the limit: suppressed)"),
        };
        part(self.soft, soft);
        part(
            self.policy,
            "policy or message (recorded, not suppressed)".into(),
        );
        part(
            self.complaints,
            plural(self.complaints, "complaint", "complaints") + " (suppressed)",
        );
        part(
            self.unsubscribes,
            plural(self.unsubscribes, "unsubscribe", "unsubscribes") + " (suppressed)",
        );
        part(self.no_failure, "not failures (delays, delivered)".into());
        part(self.already, "already read".into());
        part(self.unmatched, format!("unmatched left in {folder}"));
        part(self.unparseable, format!("unparseable left in {folder}"));
        match parts.is_empty() {
            true => format!("bounces: {} read", self.read),
            false => format!("bounces: {} read: {}", self.read, parts.join(", ")),
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    match n {
        1 => one.to_string(),
        _ => many.to_string(),
    }
}

/// One line about one message, for `--verbose` (and always for what is left in place).
pub fn describe(outcome: &Outcome) -> Vec<String> {
    match outcome {
        Outcome::Recorded {
            id,
            events,
            unsubscribed,
        } => {
            let mut lines: Vec<String> = events
                .iter()
                .map(|(e, new)| {
                    let code = e.enhanced_code.as_deref().unwrap_or("no code");
                    let done = match (new, e.effect) {
                        (true, _) => "suppressed",
                        (false, Effect::Record) => "recorded",
                        (false, Effect::Soft { .. }) => "counted",
                        (false, Effect::Suppress) => "already suppressed",
                    };
                    format!(
                        "<{id}>: {} {} ({code}) in campaign `{}`, matched by {}: {done}",
                        e.email, e.reason, e.campaign, e.matched_by
                    )
                })
                .collect();
            if let Some((email, new)) = unsubscribed {
                let done = if *new {
                    "suppressed"
                } else {
                    "already suppressed"
                };
                lines.push(format!(
                    "<{id}>: {email} asked to unsubscribe by mail: {done}"
                ));
            }
            lines
        }
        Outcome::NoFailure { id } => vec![format!("<{id}>: not a failure: nothing recorded")],
        Outcome::AlreadyRead { id } => vec![format!("<{id}>: already read: nothing changed")],
        Outcome::Unmatched { id, why } => vec![format!("<{id}>: left in place: {why}")],
        Outcome::Unparseable { why } => vec![format!("left in place: {why}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipient_window_is_the_week_before_the_report_was_written() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .to_utc();
        // Written on 3 November (read weeks later): the week before it.
        let written = chrono::DateTime::parse_from_rfc3339("2026-11-03T09:00:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(
            recipient_window(Some(written), now),
            (
                "2026-10-27T09:00:00.000Z".to_string(),
                "2026-11-03T10:00:00.000Z".to_string()
            )
        );
        // No date, or one in the future: the week before now.
        let week = (
            "2026-11-24T12:00:00.000Z".to_string(),
            "2026-12-01T13:00:00.000Z".to_string(),
        );
        assert_eq!(recipient_window(None, now), week);
        assert_eq!(recipient_window(Some(now.timestamp() + 86_400), now), week);
        // Nonsense that no calendar holds: now.
        assert_eq!(recipient_window(Some(i64::MAX), now), week);
    }
}
