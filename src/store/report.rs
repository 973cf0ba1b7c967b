//! What `mailshot report` reads about one campaign, beyond [`Store::counts`]: when each
//! acceptance came, the replies by code, attempts per member, the late bounces and complaints,
//! and the unsubscribes that followed. Read only; addresses leave as keys for the report to
//! turn into domains.

use rusqlite::named_params;

use super::{Status, Store};
use crate::error::Result;

/// How many attempts got one kind of reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyCount {
    /// The basic code (`250`); `None` when there was no reply (a timeout, a lost connection).
    pub code: Option<u16>,
    /// The enhanced code (`5.1.1`), when the reply gave one.
    pub enhanced: Option<String>,
    /// The member's state that attempt left.
    pub outcome: Status,
    /// What it meant (`hard-bounce`, `throttled`...), when recorded.
    pub reason: Option<String>,
    pub attempts: u64,
}

/// One late bounce or complaint about a campaign's member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRow {
    /// The member's [`crate::address::key`].
    pub key: String,
    /// `bounced` or `complained`.
    pub status: String,
    /// `hard-bounce`, `mailbox-full`, `policy`, `complaint`...
    pub reason: String,
    /// Counted as a soft bounce.
    pub soft: bool,
}

impl Store {
    /// The times (RFC 3339) of `campaign`'s first attempt and of each acceptance, oldest first.
    pub fn acceptance_times(&self, campaign: &str) -> Result<(Option<String>, Vec<String>)> {
        let first = self.conn.query_row(
            "SELECT min(at) FROM attempts WHERE campaign = ?1",
            [campaign],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare(
            "SELECT at FROM attempts WHERE campaign = :campaign AND outcome = :accepted ORDER BY at",
        )?;
        let times = stmt
            .query_map(
                named_params![":campaign": campaign, ":accepted": Status::Accepted],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok((first, times))
    }

    /// `campaign`'s attempts grouped by reply, most frequent first.
    pub fn reply_counts(&self, campaign: &str) -> Result<Vec<ReplyCount>> {
        let mut stmt = self.conn.prepare(
            "SELECT smtp_code, enhanced_code, outcome, reason, count(*) AS n FROM attempts
             WHERE campaign = ?1 GROUP BY smtp_code, enhanced_code, outcome, reason
             ORDER BY n DESC, smtp_code, enhanced_code",
        )?;
        let rows = stmt.query_map([campaign], |r| {
            Ok(ReplyCount {
                code: r.get(0)?,
                enhanced: r.get(1)?,
                outcome: r.get(2)?,
                reason: r.get(3)?,
                attempts: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many of `campaign`'s members took each number of attempts (1, 2, ...), for those
    /// attempted at all.
    pub fn attempts_per_member(&self, campaign: &str) -> Result<Vec<(u32, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT attempts, count(*) FROM deliveries WHERE campaign = ?1 AND attempts > 0
             GROUP BY attempts ORDER BY attempts",
        )?;
        let rows = stmt.query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `campaign`'s late bounces and complaints, one per member and reason.
    pub fn late_rows(&self, campaign: &str) -> Result<Vec<LateRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT address_key(email), status, reason, soft FROM late_events
             WHERE campaign = ?1 ORDER BY 1, 2, 3",
        )?;
        let rows = stmt.query_map([campaign], |r| {
            Ok(LateRow {
                key: r.get(0)?,
                status: r.get(1)?,
                reason: r.get(2)?,
                soft: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When each of `campaign`'s members who is suppressed as `unsubscribed` was suppressed,
    /// for those in `[from, to)` (RFC 3339 times), oldest first.
    pub fn unsubscribed_between(
        &self,
        campaign: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT at FROM suppressions
             WHERE reason = 'unsubscribed' AND at >= :from AND at < :to
               AND email IN (SELECT address_key(email) FROM deliveries WHERE campaign = :campaign)
             ORDER BY at",
        )?;
        let rows = stmt.query_map(
            named_params![":campaign": campaign, ":from": from, ":to": to],
            |r| r.get(0),
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Reply, ReplyKind};
    use crate::store::CampaignInfo;

    /// Campaign `c` of ann (throttled, then accepted) and bob (refused), and `d` of cat.
    fn store(dir: &std::path::Path) -> Store {
        let mut store = Store::open(&dir.join("t.db")).unwrap();
        for (id, members) in [
            ("c", &["ann@example.org", "bob@example.org"][..]),
            ("d", &["cat@example.org"]),
        ] {
            let info = CampaignInfo {
                id: id.into(),
                template: "t".into(),
                list: "l".into(),
                subject: "s".into(),
                transport: "smtp".into(),
                started_at: "2026-11-24T00:00:00.000Z".into(),
                finished_at: None,
            };
            store
                .begin_campaign(&info, members.iter().map(|m| m.to_string()))
                .unwrap();
        }
        let replies = [
            (
                "ann@example.org",
                ReplyKind::Transient,
                421,
                "421 4.7.28 slow down",
                "2026-11-24T00:00:01.000Z",
            ),
            (
                "bob@example.org",
                ReplyKind::Permanent,
                550,
                "550 5.1.1 unknown",
                "2026-11-24T00:00:02.000Z",
            ),
            (
                "ann@example.org",
                ReplyKind::Accepted,
                250,
                "250 2.0.0 Ok",
                "2026-11-24T00:00:03.000Z",
            ),
        ];
        for (m, kind, code, text, at) in replies {
            let reply = Reply::of(kind, Some(code), text.into());
            store.record("c", m, "id@example.org", &reply, at).unwrap();
        }
        store
    }

    #[test]
    fn acceptances_replies_and_attempts_are_the_campaign_s_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        assert_eq!(
            store.acceptance_times("c").unwrap(),
            (
                Some("2026-11-24T00:00:01.000Z".into()),
                vec!["2026-11-24T00:00:03.000Z".into()]
            )
        );
        assert_eq!(store.acceptance_times("d").unwrap(), (None, vec![]));
        let codes: Vec<(Option<u16>, Option<String>, Status, u64)> = store
            .reply_counts("c")
            .unwrap()
            .into_iter()
            .map(|r| (r.code, r.enhanced, r.outcome, r.attempts))
            .collect();
        assert_eq!(codes.len(), 3);
        assert!(codes.contains(&(Some(421), Some("4.7.28".into()), Status::Deferred, 1)));
        assert!(codes.contains(&(Some(550), Some("5.1.1".into()), Status::Failed, 1)));
        assert_eq!(store.attempts_per_member("c").unwrap(), [(1, 1), (2, 1)]);
        assert_eq!(store.attempts_per_member("d").unwrap(), []);
    }

    #[test]
    fn unsubscribes_count_the_campaign_s_members_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let (from, to) = ("2026-11-24T00:00:00.000Z", "2026-12-08T00:00:00.000Z");
        store
            .suppress_at(
                "Ann@Example.org",
                "unsubscribed",
                None,
                "2026-11-25T10:00:00.000Z",
            )
            .unwrap();
        // Not unsubscribed; not a member of `c`; after the window.
        store
            .suppress_at(
                "bob@example.org",
                "hard-bounce",
                None,
                "2026-11-25T10:00:00.000Z",
            )
            .unwrap();
        store
            .suppress_at(
                "cat@example.org",
                "unsubscribed",
                None,
                "2026-11-25T10:00:00.000Z",
            )
            .unwrap();
        assert_eq!(
            store.unsubscribed_between("c", from, to).unwrap(),
            ["2026-11-25T10:00:00.000Z"]
        );
        assert_eq!(
            store
                .unsubscribed_between("c", "2026-11-26T00:00:00.000Z", to)
                .unwrap(),
            Vec::<String>::new()
        );
    }
}
