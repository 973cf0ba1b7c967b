//! Opens (`[tracking] opens`, see [`crate::compose::opens`]): one row per request for a
//! member's open pixel that `mailshot serve` answered, with the campaign, the member's key
//! (only with `per_member`), when, and why `serve` thought it automated, if it did (`head`,
//! `scanner`, `proxy`).
//!
//! What only the delivery log can tell is judged when the opens are read
//! ([`Store::open_counts`]), not when they are written: an open that names a member and
//! came before their message was accepted or within [`SOON_AFTER_DELIVERY`] after (a mail
//! system fetching the images on arrival, as Apple Mail Privacy Protection and security
//! scanners do) is automated. Judged then, the log is complete (a send folds its journal in
//! every second; an open may be written first), and writing an open is one insert, however
//! many come at once. Without `per_member` an open names nobody, so that cannot be told,
//! and nobody can be counted once.

use std::collections::HashSet;

use rusqlite::named_params;

use super::Store;
use super::deliveries::{Acceptances, arrived_within};
use crate::error::Result;

/// Seconds after a member's message was accepted within which their open counts as
/// automated (fetched on arrival, not read).
pub const SOON_AFTER_DELIVERY: f64 = 10.0;

/// One request for an open pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub campaign: String,
    /// The member's key ([`crate::address::key`]), with `per_member` only.
    pub member: Option<String>,
    /// RFC 3339 UTC with milliseconds, as [`super::now`] writes it.
    pub at: String,
    /// Why it looks automated (`head`, `scanner`, `proxy`), as `serve` saw it; `None`: it
    /// did not.
    pub automated: Option<String>,
}

/// A campaign's opens, in sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenCounts {
    /// Opens that look like a person's (every load counts, a member's second look too).
    pub opens: u64,
    /// Opens that look automated, counted apart.
    pub automated: u64,
    /// Members with at least one person-like open: only opens that name a member
    /// (`per_member`) can say this; 0 without.
    pub members: u64,
    /// When each person-like open came (RFC 3339), oldest first.
    pub times: Vec<String>,
}

impl Store {
    /// Records `opens` as `serve` saw them, in one transaction.
    pub fn record_opens(&mut self, opens: &[Open]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO opens (campaign, member, at, automated)
                 VALUES (:campaign, :member, :at, :automated)",
            )?;
            for o in opens {
                insert.execute(named_params![
                    ":campaign": o.campaign,
                    ":member": o.member,
                    ":at": o.at,
                    ":automated": o.automated,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// `campaign`'s opens, people's and the automated apart (see the module's doc).
    pub fn open_counts(&self, campaign: &str) -> Result<OpenCounts> {
        // The member's delivery by its key: the primary key finds most (an ASCII address's
        // key is its lowercase, and `email` compares without ASCII case); the rest are
        // looked up one by one below.
        let mut stmt = self.conn.prepare(
            "SELECT o.member, o.at, o.automated IS NOT NULL, d.last_attempt_at
             FROM opens o LEFT JOIN deliveries d
               ON d.campaign = o.campaign AND d.email = o.member AND d.status = 'accepted'
             WHERE o.campaign = ?1 ORDER BY o.at",
        )?;
        let mut rows = stmt.query([campaign])?;
        let mut counts = OpenCounts::default();
        let mut members = HashSet::new();
        let mut acceptances = Acceptances::new(&self.conn, campaign);
        while let Some(r) = rows.next()? {
            let (member, at): (Option<String>, String) = (r.get(0)?, r.get(1)?);
            let accepted = match &member {
                Some(m) => acceptances.of(m, r.get(3)?)?,
                None => None,
            };
            let on_arrival = accepted.is_some_and(|a| arrived_within(&at, &a, SOON_AFTER_DELIVERY));
            if r.get::<_, bool>(2)? || on_arrival {
                counts.automated += 1;
                continue;
            }
            counts.opens += 1;
            members.extend(member);
            counts.times.push(at);
        }
        counts.members = members.len() as u64;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(member: Option<&str>, at: &str, automated: Option<&str>) -> Open {
        Open {
            campaign: "2023-04".into(),
            member: member.map(Into::into),
            at: at.into(),
            automated: automated.map(Into::into),
        }
    }

    #[test]
    fn opens_are_counted_with_the_automated_apart_and_each_member_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::clicks::store_with_ann(dir.path());
        store
            .record_opens(&[
                // Nobody named: only what serve saw.
                open(None, "2026-01-01T10:00:01.000Z", None),
                open(None, "2026-01-01T10:00:02.000Z", Some("proxy")),
                // Ann's images fetched 3 s after acceptance: on arrival.
                open(Some("ann@example.org"), "2026-01-01T10:00:03.000Z", None),
                // Ann reads it twice, later; Bob once.
                open(Some("ann@example.org"), "2026-01-01T12:00:00.000Z", None),
                open(Some("ann@example.org"), "2026-01-02T08:00:00.000Z", None),
                open(Some("bob@example.org"), "2026-01-01T11:00:00.000Z", None),
                open(
                    Some("bob@example.org"),
                    "2026-01-01T11:00:00.000Z",
                    Some("head"),
                ),
            ])
            .unwrap();
        assert_eq!(
            store.open_counts("2023-04").unwrap(),
            OpenCounts {
                opens: 4,
                automated: 3,
                members: 2,
                times: vec![
                    "2026-01-01T10:00:01.000Z".into(),
                    "2026-01-01T11:00:00.000Z".into(),
                    "2026-01-01T12:00:00.000Z".into(),
                    "2026-01-02T08:00:00.000Z".into(),
                ],
            }
        );
        assert_eq!(store.open_counts("2023-05").unwrap(), OpenCounts::default());
    }

    #[test]
    fn on_arrival_is_judged_against_the_log_as_it_is_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = super::super::clicks::store_with_ann(dir.path());
        // Written while the send's journal still held these members' acceptances: a gateway
        // fetching Cat's images before it answered 250, Ünal's and Eve's (her domain's key is
        // in punycode) proxies 2 s after, Dan later.
        let eve = crate::address::key("eve@bücher.example");
        assert!(eve.is_ascii());
        store
            .record_opens(&[
                open(Some("cat@example.org"), "2026-01-01T10:59:58.000Z", None),
                open(Some("ünal@example.org"), "2026-01-01T11:00:02.000Z", None),
                open(Some(&eve), "2026-01-01T11:00:02.000Z", None),
                open(Some("dan@example.org"), "2026-01-01T11:05:00.000Z", None),
            ])
            .unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO deliveries (campaign, email, status, last_attempt_at) VALUES
                 ('2023-04', 'Cat@Example.org', 'accepted', '2026-01-01T11:00:00.000Z'),
                 ('2023-04', 'Ünal@Example.org', 'accepted', '2026-01-01T11:00:00.000Z'),
                 ('2023-04', 'Eve@Bücher.example', 'accepted', '2026-01-01T11:00:00.000Z'),
                 ('2023-04', 'dan@example.org', 'accepted', '2026-01-01T11:00:00.000Z');",
            )
            .unwrap();
        let counts = store.open_counts("2023-04").unwrap();
        assert_eq!(
            (counts.opens, counts.automated, counts.members),
            (1, 3, 1),
            "{counts:?}"
        );
        assert_eq!(counts.times, ["2026-01-01T11:05:00.000Z"]);
    }
}
