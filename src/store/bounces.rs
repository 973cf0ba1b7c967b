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

    /// The latest campaign that `address` (any spelling of it) was sent in, of those sent
    /// between `since` and `until` (RFC 3339).
    pub fn latest_delivery_to(
        &self,
        address: &str,
        since: &str,
        until: &str,
    ) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT campaign, email FROM deliveries
                 WHERE address_key(email) = ?1 AND message_id IS NOT NULL
                   AND julianday(last_attempt_at) BETWEEN julianday(?2) AND julianday(?3)
                 ORDER BY last_attempt_at DESC LIMIT 1",
                [
                    crate::address::key(address),
                    since.to_string(),
                    until.to_string(),
                ],
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
    /// report). `None`: the report was recorded already (by another `mailshot bounces`
    /// meanwhile, say), and nothing changed; reading it again later is seen by
    /// [`Store::bounce_seen`].
    pub fn record_report(
        &mut self,
        id: &str,
        kind: &str,
        events: &[LateEvent],
        unsubscribe: Option<&str>,
    ) -> Result<Option<Recorded>> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        let source = format!("bounce {id}");
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO bounce_messages (message_id, kind, read_at) VALUES (?1, ?2, ?3)",
            [id, kind, &at],
        )?;
        if fresh == 0 {
            return Ok(None);
        }
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
        Ok(Some(done))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reply;
    use crate::store::{CampaignInfo, Status};

    fn sent(dir: &std::path::Path) -> Store {
        let mut store = Store::open(&dir.join("t.db")).unwrap();
        let info = CampaignInfo {
            id: "c".into(),
            template: "t".into(),
            list: "l".into(),
            subject: "s".into(),
            transport: "file".into(),
            started_at: "2026-11-24T00:00:00Z".into(),
            finished_at: None,
        };
        let members = ["ann@example.org", "bob@example.org"];
        store
            .begin_campaign(&info, members.iter().map(|m| m.to_string()))
            .unwrap();
        for (i, m) in members.iter().enumerate() {
            let reply = Reply::accepted(Some(250), "250 2.0.0 Ok".into());
            let id = format!("id{i}@example.org");
            store
                .record("c", m, &id, &reply, "2026-11-24T00:00:01Z")
                .unwrap();
        }
        store
    }

    fn event(email: &str, effect: Effect) -> LateEvent {
        LateEvent {
            campaign: "c".into(),
            email: email.into(),
            status: "bounced",
            smtp_code: Some(550),
            enhanced_code: Some("5.1.1".into()),
            diagnostic: Some("550 5.1.1 unknown".into()),
            reason: "hard-bounce",
            matched_by: "token",
            effect,
        }
    }

    #[test]
    fn a_late_event_is_a_log_row_after_its_delivery_and_a_report_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = sent(dir.path());
        assert!(!store.bounce_seen("r1@mx").unwrap());
        let ann = [event("ann@example.org", Effect::Suppress)];
        let done = store.record_report("r1@mx", "dsn", &ann, None).unwrap();
        assert_eq!(
            done.unwrap().suppressed,
            vec!["ann@example.org".to_string()]
        );
        assert!(store.bounce_seen("r1@mx").unwrap());
        // Recorded again (by a second process that read it too): nothing changes.
        assert_eq!(
            store.record_report("r1@mx", "dsn", &ann, None).unwrap(),
            None
        );
        let mut rows = Vec::new();
        store
            .each_log_row("c", |r| {
                rows.push((r.email, r.status, r.reason, r.enhanced_code));
                Ok(())
            })
            .unwrap();
        let row = |e: &str, s, r: &str, c: Option<&str>| {
            (e.to_string(), s, Some(r.to_string()), c.map(String::from))
        };
        assert_eq!(
            rows,
            vec![
                row(
                    "ann@example.org",
                    Status::Accepted,
                    "accepted",
                    Some("2.0.0")
                ),
                row(
                    "ann@example.org",
                    Status::Bounced,
                    "hard-bounce",
                    Some("5.1.1")
                ),
                row(
                    "bob@example.org",
                    Status::Accepted,
                    "accepted",
                    Some("2.0.0")
                ),
            ]
        );
        let counts = store.counts("c").unwrap();
        assert_eq!(
            (counts.accepted, counts.bounced, counts.complained),
            (2, 1, 0)
        );
        assert_eq!(
            store.delivery_of_message_id("<id1@example.org>").unwrap(),
            Some(("c".to_string(), "bob@example.org".to_string()))
        );
        let (week_before, after) = ("2026-11-17T00:00:01.000Z", "2026-11-24T01:00:00.000Z");
        let latest = |address: &str, (since, until): (&str, &str)| {
            store.latest_delivery_to(address, since, until).unwrap()
        };
        assert_eq!(
            latest("BOB@example.org", (week_before, after)),
            Some(("c".to_string(), "bob@example.org".to_string()))
        );
        assert_eq!(latest("carl@example.org", (week_before, after)), None);
        // Sent before `since` (a report written weeks on) or after `until` (a report about
        // an earlier message): not this one.
        let later = ("2026-11-24T00:00:02.000Z", "2026-12-24T00:00:00.000Z");
        assert_eq!(latest("bob@example.org", later), None);
        let earlier = ("2026-11-01T00:00:00.000Z", "2026-11-23T00:00:00.000Z");
        assert_eq!(latest("bob@example.org", earlier), None);
    }

    #[test]
    fn soft_bounces_are_counted_by_campaign_and_suppress_only_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = sent(dir.path());
        let soft = |suppress| event("bob@example.org", Effect::Soft { suppress });
        store
            .record_report("r1", "dsn", &[soft(false)], None)
            .unwrap();
        store
            .record_report("r2", "dsn", &[soft(false)], None)
            .unwrap();
        assert_eq!(
            store.soft_bounces("Bob@Example.org").unwrap(),
            (2, vec!["c".to_string()])
        );
        assert!(store.suppressions().unwrap().is_empty());
        let done = store
            .record_report("r3", "dsn", &[soft(true)], None)
            .unwrap();
        assert_eq!(
            done.unwrap().suppressed,
            vec!["bob@example.org".to_string()]
        );
        assert_eq!(store.suppressions().unwrap()[0].reason, "soft-bounces");
        assert_eq!(
            store.suppressions().unwrap()[0].source.as_deref(),
            Some("bounce r3")
        );
        // A policy bounce is recorded, never counted.
        store
            .record_report(
                "r4",
                "dsn",
                &[event("ann@example.org", Effect::Record)],
                None,
            )
            .unwrap();
        assert_eq!(store.soft_bounces("ann@example.org").unwrap(), (0, vec![]));
    }
}
