//! Campaigns and their members' rows in `deliveries` and `attempts`: a campaign begun and
//! finished, each attempt started and recorded, a crash's `sending` rows made `uncertain`,
//! and the counts and rows `status` and `log` show.

use rusqlite::{OptionalExtension, named_params};
use serde::Serialize;

use super::{Status, Store, now};

/// A campaign's sources by name (see `compose::sources`), and their digest.
pub type Frozen = (String, std::collections::BTreeMap<String, String>);
use crate::error::Result;
use crate::outcome::{Reason, Reply};

/// What a campaign remembers about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignInfo {
    pub id: String,
    pub template: String,
    pub list: String,
    pub subject: String,
    pub transport: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// Per-campaign counts for `status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub members: u64,
    pub accepted: u64,
    pub deferred: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub uncertain: u64,
    pub pending: u64,
    /// Members whose accepted message bounced later (`mailshot bounces`).
    pub bounced: u64,
    /// Members who complained (ARF).
    pub complained: u64,
}

/// One member's row in `log`.
#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    pub email: String,
    pub status: Status,
    pub attempts: u32,
    pub smtp_code: Option<u16>,
    pub enhanced_code: Option<String>,
    pub smtp_reply: Option<String>,
    pub message_id: Option<String>,
    pub first_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// What the outcome means: `hard-bounce`, `policy`, `transient`, `suppressed: unsubscribed`...
    pub reason: Option<String>,
}

impl Store {
    pub fn campaign(&self, id: &str) -> Result<Option<CampaignInfo>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, template, list, subject, transport, started_at, finished_at FROM campaigns WHERE id = ?1",
                [id],
                |r| {
                    Ok(CampaignInfo {
                        id: r.get(0)?,
                        template: r.get(1)?,
                        list: r.get(2)?,
                        subject: r.get(3)?,
                        transport: r.get(4)?,
                        started_at: r.get(5)?,
                        finished_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn campaigns(&self) -> Result<Vec<CampaignInfo>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM campaigns ORDER BY started_at, id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter()
            .map(|id| Ok(self.campaign(id)?.expect("listed just now")))
            .collect()
    }

    /// Records the campaign (first run) and adds any member not yet in it as pending.
    /// Runs in one transaction.
    pub fn begin_campaign(
        &mut self,
        info: &CampaignInfo,
        members: impl Iterator<Item = String>,
    ) -> Result<()> {
        self.begin_campaign_frozen(info, None, None, members)
    }

    /// Records the `[rate] messages_per_second` a run of `campaign` is sent at (0: no
    /// limit), over the previous run's, for the report's acceptance chart.
    pub fn set_campaign_rate(&mut self, campaign: &str, rate: f64) -> Result<()> {
        self.conn.execute(
            "UPDATE campaigns SET rate = ?2 WHERE id = ?1",
            rusqlite::params![campaign, rate],
        )?;
        Ok(())
    }

    /// The rate `campaign`'s last run was sent at; `None` for a campaign sent before the
    /// store recorded it (or not at all).
    pub fn campaign_rate(&self, campaign: &str) -> Result<Option<f64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT rate FROM campaigns WHERE id = ?1",
                [campaign],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// The sources `campaign` was last recorded with (the highest revision), and their
    /// digest; `None` for a campaign begun without them (before the store kept them).
    pub fn campaign_sources(&self, campaign: &str) -> Result<Option<Frozen>> {
        let digest: Option<String> = self
            .conn
            .query_row(
                "SELECT sources_digest FROM campaigns WHERE id = ?1",
                [campaign],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let Some(digest) = digest else {
            return Ok(None);
        };
        let mut stmt = self.conn.prepare(
            "SELECT name, content FROM campaign_sources WHERE campaign = ?1
             AND revision = (SELECT MAX(revision) FROM campaign_sources WHERE campaign = ?1)",
        )?;
        let entries = stmt
            .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some((digest, entries)))
    }

    /// [`Store::begin_campaign`], also recording `sources` (when given: their digest and
    /// themselves by name) as the campaign's next revision, and `master` (what it is sent
    /// as) under the same revision: all in one transaction, so a campaign with members
    /// always has the sources it was begun with.
    pub fn begin_campaign_frozen(
        &mut self,
        info: &CampaignInfo,
        sources: Option<&Frozen>,
        master: Option<&super::Master>,
        members: impl Iterator<Item = String>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO campaigns (id, template, list, subject, transport, started_at)
             VALUES (:campaign, :template, :list, :subject, :transport, :started_at)
             ON CONFLICT(id) DO UPDATE SET subject = excluded.subject, transport = excluded.transport, finished_at = NULL",
            named_params![
                ":campaign": info.id,
                ":template": info.template,
                ":list": info.list,
                ":subject": info.subject,
                ":transport": info.transport,
                ":started_at": info.started_at,
            ],
        )?;
        if let Some(sources) = sources {
            record_sources(&tx, &info.id, sources)?;
            if let Some(master) = master {
                super::editions::record_master(&tx, &info.id, master)?;
            }
        }
        {
            let mut ins = tx.prepare(
                "INSERT INTO deliveries (campaign, email, status) VALUES (:campaign, :address, :status)
                 ON CONFLICT DO NOTHING",
            )?;
            for m in members {
                ins.execute(
                    named_params![":campaign": info.id, ":address": m, ":status": Status::Pending],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn finish_campaign(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE campaigns SET finished_at = :at WHERE id = :campaign",
            named_params![":campaign": id, ":at": now()],
        )?;
        Ok(())
    }

    /// Records that `email`'s message was about to be handed to the server at `at`: if the
    /// run dies before the reply is recorded, the member is `uncertain`, never silently resent.
    pub fn start_attempt(
        &mut self,
        campaign: &str,
        email: &str,
        message_id: &str,
        at: &str,
    ) -> Result<()> {
        // An upsert: a member missing from the campaign (the list was rewritten during the
        // run) is recorded all the same, never mailed unrecorded.
        self.conn
            .prepare_cached(
                "INSERT INTO deliveries (campaign, email, status, message_id, first_attempt_at, last_attempt_at)
                 VALUES (:campaign, :address, :status, :message_id, :at, :at)
                 ON CONFLICT (campaign, email) DO UPDATE SET status = :status, message_id = :message_id,
                     first_attempt_at = coalesce(first_attempt_at, :at), last_attempt_at = :at",
            )?
            .execute(named_params![
                ":campaign": campaign,
                ":address": email,
                ":status": Status::Sending,
                ":message_id": message_id,
                ":at": at,
            ])?;
        Ok(())
    }

    /// The attempt recorded by [`Store::start_attempt`] never reached the server (the
    /// connection or login failed first): the member is pending again.
    pub fn unstart(&mut self, campaign: &str, email: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE deliveries SET status = :pending
                 WHERE campaign = :campaign AND email = :address AND status = :sending",
            )?
            .execute(named_params![
                ":campaign": campaign,
                ":address": email,
                ":pending": Status::Pending,
                ":sending": Status::Sending,
            ])?;
        Ok(())
    }

    /// After a crash: members left `sending` become `uncertain`. Returns how many.
    pub fn recover(&mut self, campaign: &str) -> Result<u64> {
        Ok(self.conn.execute(
            "UPDATE deliveries SET status = :uncertain, reason = :reason
             WHERE campaign = :campaign AND status = :sending",
            named_params![
                ":campaign": campaign,
                ":uncertain": Status::Uncertain,
                ":sending": Status::Sending,
                ":reason": format!("{}: the run stopped before the reply was recorded", Reason::Uncertain),
            ],
        )? as u64)
    }

    /// Times (RFC 3339) of the messages handed to any server since `since`, oldest first:
    /// the quota windows are the relay's, across campaigns.
    pub fn sent_since(&self, since: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at FROM attempts WHERE at >= ?1 ORDER BY at")?;
        let rows = stmt.query_map([since], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records one attempt's outcome (the reply, received at `at`) and the member's new status.
    pub fn record(
        &mut self,
        campaign: &str,
        email: &str,
        message_id: &str,
        reply: &Reply,
        at: &str,
    ) -> Result<()> {
        let status = Status::of(reply.kind);
        let reason = reply.reason();
        // Its own transaction alone, or part of the batch (no savepoint: the SQL of one
        // cost more than the writes).
        let own = match self.in_batch {
            true => None,
            false => Some(self.conn.unchecked_transaction()?),
        };
        let tx = &self.conn;
        // Cached statements: parsing the SQL again for every message cost more than running it.
        let attempt: u32 = tx
            .prepare_cached(
                "INSERT INTO deliveries (campaign, email, status, attempts, smtp_code, enhanced_code,
                     smtp_reply, message_id, first_attempt_at, last_attempt_at, reason)
                 VALUES (:campaign, :address, :status, 1, :code, :enhanced, :text, :message_id, :at, :at, :reason)
                 ON CONFLICT (campaign, email) DO UPDATE SET status = :status, attempts = attempts + 1,
                     smtp_code = :code, enhanced_code = :enhanced, smtp_reply = :text,
                     message_id = :message_id, first_attempt_at = coalesce(first_attempt_at, :at),
                     last_attempt_at = :at, reason = :reason
                 RETURNING attempts",
            )?
            .query_row(
                named_params![
                    ":campaign": campaign,
                    ":address": email,
                    ":status": status,
                    ":code": reply.code,
                    ":enhanced": reply.enhanced,
                    ":text": reply.text,
                    ":message_id": message_id,
                    ":at": at,
                    ":reason": reason,
                ],
                |r| r.get(0),
            )?;
        tx.prepare_cached(
            "INSERT INTO attempts (campaign, email, attempt, at, outcome, smtp_code, enhanced_code,
                 smtp_reply, message_id, reason)
             VALUES (:campaign, :address, :attempt, :at, :status, :code, :enhanced, :text,
                 :message_id, :reason)",
        )?
        .execute(named_params![
            ":campaign": campaign,
            ":address": email,
            ":attempt": attempt,
            ":at": at,
            ":status": status,
            ":code": reply.code,
            ":enhanced": reply.enhanced,
            ":text": reply.text,
            ":message_id": message_id,
            ":reason": reason,
        ])?;
        // The mailbox does not exist: never mail it again, in any campaign.
        if reason == Reason::HardBounce {
            let source = format!("campaign {campaign}: {}", reply.text);
            self.suppress_at(email, reason.as_str(), Some(&source), at)?;
        }
        if let Some(own) = own {
            own.commit()?;
        }
        Ok(())
    }

    pub fn counts(&self, campaign: &str) -> Result<Counts> {
        let mut c = Counts::default();
        let mut stmt = self.conn.prepare(
            "SELECT status, count(*) FROM deliveries WHERE campaign = ?1 GROUP BY status",
        )?;
        let rows = stmt.query_map([campaign], |r| {
            Ok((r.get::<_, Status>(0)?, r.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (status, n) = row?;
            c.members += n;
            match status {
                Status::Accepted => c.accepted += n,
                Status::Deferred => c.deferred += n,
                Status::Failed => c.failed += n,
                Status::Suppressed => c.suppressed += n,
                Status::Uncertain | Status::Sending => c.uncertain += n,
                Status::Pending => c.pending += n,
                // Only late events have these; a delivery keeps `accepted`.
                Status::Bounced | Status::Complained => c.accepted += n,
            }
        }
        (c.bounced, c.complained) = self.late_counts(campaign)?;
        Ok(c)
    }

    /// The first `limit` failed, deferred or uncertain members, in list order.
    pub fn unfinished(&self, campaign: &str, limit: usize) -> Result<Vec<LogRow>> {
        let unfinished = [
            Status::Failed,
            Status::Deferred,
            Status::Uncertain,
            Status::Sending,
        ];
        let filter = format!("AND status IN {}", Status::sql_list(&unfinished));
        self.log_where(campaign, &filter, limit)
    }

    /// Every member's row of `campaign`, in list order, handed to `each` one at a time: a
    /// million-member log is never held whole. A member whose message bounced or was
    /// complained about later has a row for each such event after its own (status `bounced`
    /// or `complained`, the report's codes and diagnostic, `last_attempt_at` the time it was
    /// read).
    pub fn each_log_row(
        &self,
        campaign: &str,
        mut each: impl FnMut(LogRow) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {LOG_COLUMNS} FROM (
                 SELECT rowid AS o, 0 AS k, {LOG_COLUMNS} FROM deliveries WHERE campaign = ?1
                 UNION ALL
                 SELECT d.rowid, e.rowid, e.email, e.status, d.attempts, e.smtp_code,
                     e.enhanced_code, e.diagnostic, d.message_id, d.first_attempt_at, e.at,
                     e.reason
                 FROM late_events e JOIN deliveries d
                     ON d.campaign = e.campaign AND d.email = e.email
                 WHERE e.campaign = ?1)
             ORDER BY o, k"
        ))?;
        let mut rows = stmt.query([campaign])?;
        while let Some(r) = rows.next()? {
            each(log_row(r)?)?;
        }
        Ok(())
    }

    fn log_where(&self, campaign: &str, filter: &str, limit: usize) -> Result<Vec<LogRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {LOG_COLUMNS} FROM deliveries WHERE campaign = :campaign {filter} ORDER BY rowid LIMIT :limit"
        ))?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = stmt.query_map(
            named_params![":campaign": campaign, ":limit": limit],
            log_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

const LOG_COLUMNS: &str = "email, status, attempts, smtp_code, enhanced_code, smtp_reply, \
                           message_id, first_attempt_at, last_attempt_at, reason";

/// A row of [`LOG_COLUMNS`].
/// [`accepted_at`] for the members of one campaign's clicks or opens, each looked up by its
/// key once (a member's many requests, when the primary key did not find them).
pub(super) struct Acceptances<'a> {
    conn: &'a rusqlite::Connection,
    campaign: &'a str,
    looked_up: std::collections::HashMap<String, Option<String>>,
}

impl<'a> Acceptances<'a> {
    pub(super) fn new(conn: &'a rusqlite::Connection, campaign: &'a str) -> Self {
        Acceptances {
            conn,
            campaign,
            looked_up: Default::default(),
        }
    }

    /// When `member`'s message was accepted: `joined` (what a join on the primary key
    /// found) or, without it, [`accepted_at`]'s answer, remembered.
    pub(super) fn of(
        &mut self,
        member: &str,
        joined: Option<String>,
    ) -> rusqlite::Result<Option<String>> {
        if joined.is_some() {
            return Ok(joined);
        }
        if let Some(at) = self.looked_up.get(member) {
            return Ok(at.clone());
        }
        let at = accepted_at(self.conn, self.campaign, member)?;
        self.looked_up.insert(member.to_string(), at.clone());
        Ok(at)
    }
}

/// When `campaign`'s message to the member keyed `member` ([`crate::address::key`]) was
/// accepted, if it was. The primary key finds most: an ASCII address's key is the address in
/// lowercase, which `email` (NOCASE) equals; the rest (a non-ASCII address, or one whose
/// domain the key spells in punycode) are compared with every member's key.
fn accepted_at(
    conn: &rusqlite::Connection,
    campaign: &str,
    member: &str,
) -> rusqlite::Result<Option<String>> {
    let find = |member_is: &str| {
        conn.query_row(
            &format!(
                "SELECT last_attempt_at FROM deliveries
                 WHERE campaign = ?1 AND status = 'accepted' AND {member_is}"
            ),
            [campaign, member],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map(Option::flatten)
    };
    match find("email = ?2")? {
        Some(at) => Ok(Some(at)),
        None => find("address_key(email) = ?2"),
    }
}

/// Whether a request at `at` came before a message was accepted at `accepted`, or at most
/// `secs` seconds after (both RFC 3339): what a mail system fetching on arrival does, and a
/// person cannot (a message not yet delivered is not read). False when either is not a time.
pub(super) fn arrived_within(at: &str, accepted: &str, secs: f64) -> bool {
    let parse = chrono::DateTime::parse_from_rfc3339;
    match (parse(at), parse(accepted)) {
        (Ok(at), Ok(accepted)) => (at - accepted).num_milliseconds() as f64 / 1000.0 <= secs,
        _ => false,
    }
}

fn log_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogRow> {
    Ok(LogRow {
        email: r.get(0)?,
        status: r.get(1)?,
        attempts: r.get(2)?,
        smtp_code: r.get(3)?,
        enhanced_code: r.get(4)?,
        smtp_reply: r.get(5)?,
        message_id: r.get(6)?,
        first_attempt_at: r.get(7)?,
        last_attempt_at: r.get(8)?,
        reason: r.get(9)?,
    })
}

/// `sources` as `campaign`'s next revision, and their digest on the campaign.
fn record_sources(
    tx: &rusqlite::Transaction,
    campaign: &str,
    (digest, sources): &Frozen,
) -> Result<()> {
    let revision: i64 = tx.query_row(
        "SELECT COALESCE(MAX(revision), 0) + 1 FROM campaign_sources WHERE campaign = ?1",
        [campaign],
        |r| r.get(0),
    )?;
    let mut ins = tx.prepare(
        "INSERT INTO campaign_sources (campaign, revision, name, content)
         VALUES (:campaign, :revision, :name, :content)",
    )?;
    for (name, content) in sources {
        ins.execute(named_params![
            ":campaign": campaign,
            ":revision": revision,
            ":name": name,
            ":content": content,
        ])?;
    }
    tx.execute(
        "UPDATE campaigns SET sources_digest = :digest WHERE id = :campaign",
        named_params![":campaign": campaign, ":digest": digest],
    )?;
    Ok(())
}
