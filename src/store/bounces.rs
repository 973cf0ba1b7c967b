//! What `mailshot bounces` read: `bounce_messages` (each report once, by its Message-ID, so
//! reading it again changes nothing) and `late_events` (a bounce or complaint about a
//! message the server had accepted, shown by `log` as a row of its own beside the delivery's
//! `accepted` row, whose status stays: the attempts history is untouched and a later run
//! never mails the member again anyway).

use rusqlite::{OptionalExtension, named_params};

use super::{Store, now};
use crate::error::Result;

/// A bounce or complaint matched to a campaign's member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateEvent {
    pub campaign: String,
    pub email: String,
    /// `bounced` or `complained`.
    pub status: &'static str,
    pub smtp_code: Option<u16>,
    pub enhanced_code: Option<String>,
    pub diagnostic: Option<String>,
    /// `hard-bounce`, `mailbox-full`, `policy`, `complaint`...
    pub reason: &'static str,
    /// How it was matched: `token`, `message-id` or `recipient`.
    pub matched_by: &'static str,
    /// What it does to the address: `suppress`, `soft` (counted) or `record`.
    pub effect: Effect,
}

/// What a late event does to its address (decided by `bounce::Reader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Suppressed at once, with the event's reason (hard bounce, complaint).
    Suppress,
    /// A soft bounce, counted; `suppress`: it is the one that reaches `[bounces] soft_limit`
    /// over `soft_campaigns`, and suppresses (reason `soft-bounces`).
    Soft { suppress: bool },
    /// Recorded only.
    Record,
}

/// What recording a report did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Addresses newly suppressed.
    pub suppressed: Vec<String>,
}

impl Store {
    /// Whether the report with this Message-ID was read before.
    pub fn bounce_seen(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM bounce_messages WHERE message_id = ?1",
                [id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The campaign and member a Message-ID of ours was sent to.
    pub fn delivery_of_message_id(&self, id: &str) -> Result<Option<(String, String)>> {
        let id = id.trim_matches(['<', '>']);
        Ok(self
            .conn
            .query_row(
                "SELECT campaign, email FROM deliveries WHERE message_id IN (?1, ?2) LIMIT 1",
                [id.to_string(), format!("<{id}>")],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The latest campaign that `address` (any spelling of it) was sent in.
    pub fn latest_delivery_to(&self, address: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT campaign, email FROM deliveries
                 WHERE address_key(email) = ?1 AND message_id IS NOT NULL
                 ORDER BY last_attempt_at DESC LIMIT 1",
                [crate::address::key(address)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Every (campaign, member) a message was sent to: to recompute VERP tokens.
    pub fn sent_deliveries(&self, mut each: impl FnMut(&str, &str)) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT campaign, email FROM deliveries WHERE message_id IS NOT NULL")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            each(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?);
        }
        Ok(())
    }

    /// Records report `id` (`kind`: `dsn`, `arf`, `non-standard`, `unsubscribe`) and its
    /// events in one transaction, and suppresses what they call for (`source` names the
    /// report). Reading the same report again later is seen by [`Store::bounce_seen`].
    pub fn record_report(
        &mut self,
        id: &str,
        kind: &str,
        events: &[LateEvent],
        unsubscribe: Option<&str>,
    ) -> Result<Recorded> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        let source = format!("bounce {id}");
        tx.execute(
            "INSERT OR IGNORE INTO bounce_messages (message_id, kind, read_at) VALUES (?1, ?2, ?3)",
            [id, kind, &at],
        )?;
        let mut done = Recorded::default();
        if let Some(email) = unsubscribe
            && self.suppress_at(email, "unsubscribed", Some(&source), &at)?
        {
            done.suppressed.push(email.to_string());
        }
        for e in events {
            tx.execute(
                "INSERT INTO late_events (report, campaign, email, status, at, smtp_code,
                     enhanced_code, diagnostic, reason, matched_by, soft)
                 VALUES (:report, :campaign, :email, :status, :at, :code, :enhanced, :diagnostic,
                     :reason, :by, :soft)",
                named_params![
                    ":report": id, ":campaign": e.campaign, ":email": e.email, ":status": e.status,
                    ":at": at, ":code": e.smtp_code, ":enhanced": e.enhanced_code,
                    ":diagnostic": e.diagnostic, ":reason": e.reason, ":by": e.matched_by,
                    ":soft": matches!(e.effect, Effect::Soft { .. }),
                ],
            )?;
            let suppress = match e.effect {
                Effect::Suppress => Some(e.reason),
                Effect::Soft { suppress } => suppress.then_some("soft-bounces"),
                Effect::Record => None,
            };
            if let Some(reason) = suppress
                && self.suppress_at(&e.email, reason, Some(&source), &at)?
            {
                done.suppressed.push(e.email.clone());
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// The soft bounces recorded for `email` (any spelling), and the campaigns they came from.
    pub fn soft_bounces(&self, email: &str) -> Result<(u64, Vec<String>)> {
        let mut stmt = self.conn.prepare(
            "SELECT campaign, count(*) FROM late_events
             WHERE address_key(email) = ?1 AND soft = 1
             GROUP BY campaign",
        )?;
        let rows = stmt.query_map([crate::address::key(email)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))
        })?;
        let mut total = 0;
        let mut campaigns = Vec::new();
        for row in rows {
            let (campaign, n) = row?;
            total += n;
            campaigns.push(campaign);
        }
        Ok((total, campaigns))
    }

    /// How many of `campaign`'s members bounced and complained after acceptance.
    pub fn late_counts(&self, campaign: &str) -> Result<(u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT count(DISTINCT CASE WHEN status = 'bounced' THEN address_key(email) END),
                    count(DISTINCT CASE WHEN status = 'complained' THEN address_key(email) END)
             FROM late_events WHERE campaign = ?1",
            [campaign],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }
}
