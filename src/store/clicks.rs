//! Clicks on tracked links (`[tracking] clicks`, see [`crate::compose::clicks`]): one row per
//! request `mailshot serve` redirected, with the campaign, the URL, the member's key (only
//! with `per_member`), when, and why `serve` thought it automated, if it did.
//!
//! `serve` marks a HEAD request and a known link scanner's user agent (`serve::clicks`).
//! What only the delivery log and the member's other clicks can tell is judged when the
//! clicks are read ([`Store::clicks_by_link`]), against the log as it is then (a send folds
//! its journal in every second; a click may be written first): for clicks that name a
//! member, one before their message was accepted or within [`SOON_AFTER_DELIVERY`] after (a
//! mail system scanning it on arrival), and clicks on two or more different links by one
//! member within [`BURST`] of each other (a scanner following every link; each click of the
//! burst counts). Without `per_member` a click names nobody, so neither can be told.

use std::collections::{BTreeMap, HashMap};

use rusqlite::named_params;

use super::Store;
use super::deliveries::{Acceptances, arrived_within};
use crate::error::Result;

/// Seconds after a member's message was accepted within which their click counts as
/// automated.
pub const SOON_AFTER_DELIVERY: f64 = 10.0;
/// Seconds within which one member's clicks on different links count as automated.
pub const BURST: f64 = 2.0;

/// One request for a tracked link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub campaign: String,
    pub url: String,
    /// The member's key ([`crate::address::key`]), with `per_member` only.
    pub member: Option<String>,
    /// RFC 3339 UTC with milliseconds, as [`super::now`] writes it.
    pub at: String,
    /// Why it looks automated (`head`, `scanner`), as `serve` saw it; `None`: it did not.
    pub automated: Option<String>,
}

/// A link's clicks in one campaign: those that look like a person's, and the automated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClicks {
    pub url: String,
    pub clicks: u64,
    pub automated: u64,
}

/// One stored click as [`Store::clicks_by_link`] judges it.
struct Row {
    url: String,
    member: Option<String>,
    /// Seconds since 1970 (`None`: not a time; never judged by timing).
    at: Option<f64>,
    automated: bool,
}

impl Store {
    /// Records `clicks` as `serve` saw them, in one transaction.
    pub fn record_clicks(&mut self, clicks: &[Click]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO clicks (campaign, url, member, at, automated)
                 VALUES (:campaign, :url, :member, :at, :automated)",
            )?;
            for c in clicks {
                insert.execute(named_params![
                    ":campaign": c.campaign,
                    ":url": c.url,
                    ":member": c.member,
                    ":at": c.at,
                    ":automated": c.automated,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Each link's clicks in `campaign`, people's and the automated apart (see the module's
    /// doc), the most clicked by people first (then by URL).
    pub fn clicks_by_link(&self, campaign: &str) -> Result<Vec<LinkClicks>> {
        let mut rows = self.click_rows(campaign)?;
        mark_bursts(&mut rows);
        let mut links: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for r in &rows {
            let n = links.entry(&r.url).or_default();
            match r.automated {
                true => n.1 += 1,
                false => n.0 += 1,
            }
        }
        let mut out: Vec<LinkClicks> = links
            .into_iter()
            .map(|(url, (clicks, automated))| LinkClicks {
                url: url.to_string(),
                clicks,
                automated,
            })
            .collect();
        out.sort_by(|a, b| b.clicks.cmp(&a.clicks).then_with(|| a.url.cmp(&b.url)));
        Ok(out)
    }

    /// `campaign`'s clicks, each marked automated when `serve` said so or it came on its
    /// member's message's arrival.
    fn click_rows(&self, campaign: &str) -> Result<Vec<Row>> {
        // The member's delivery: by primary key for most, one by one for the rest (see
        // `accepted_at`).
        let mut stmt = self.conn.prepare(
            "SELECT c.url, c.member, c.at, c.automated IS NOT NULL, d.last_attempt_at
             FROM clicks c LEFT JOIN deliveries d
               ON d.campaign = c.campaign AND d.email = c.member AND d.status = 'accepted'
             WHERE c.campaign = ?1 ORDER BY c.at",
        )?;
        let mut found = stmt.query([campaign])?;
        let mut acceptances = Acceptances::new(&self.conn, campaign);
        let mut rows = Vec::new();
        while let Some(r) = found.next()? {
            let (member, at): (Option<String>, String) = (r.get(1)?, r.get(2)?);
            let accepted = match &member {
                Some(m) => acceptances.of(m, r.get(4)?)?,
                None => None,
            };
            let on_arrival = accepted.is_some_and(|a| arrived_within(&at, &a, SOON_AFTER_DELIVERY));
            rows.push(Row {
                url: r.get(0)?,
                at: chrono::DateTime::parse_from_rfc3339(&at)
                    .ok()
                    .map(|t| t.timestamp_millis() as f64 / 1000.0),
                member,
                automated: r.get::<_, bool>(3)? || on_arrival,
            });
        }
        Ok(rows)
    }
}

/// Marks automated every click (of `rows`, oldest first) that has a click by the same member
/// on another link within [`BURST`] seconds, before or after it.
fn mark_bursts(rows: &mut [Row]) {
    let mut by_member: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let (Some(m), Some(_)) = (&r.member, r.at) {
            by_member.entry(m.as_str()).or_default().push(i);
        }
    }
    let mut burst = vec![false; rows.len()];
    for clicks in by_member.values() {
        for (n, &i) in clicks.iter().enumerate() {
            let at = rows[i].at.unwrap_or_default();
            for &j in &clicks[n + 1..] {
                if rows[j].at.unwrap_or_default() - at > BURST {
                    break;
                }
                if rows[j].url != rows[i].url {
                    burst[i] = true;
                    burst[j] = true;
                }
            }
        }
    }
    for (r, b) in rows.iter_mut().zip(burst) {
        r.automated |= b;
    }
}

/// A store with campaign `2023-04` begun and Ann's message accepted at 10:00:00 on
/// 2026-01-01, for the click and open tests.
#[cfg(test)]
pub(super) fn store_with_ann(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("m.db")).unwrap();
    store
        .conn
        .execute_batch(
            "INSERT INTO campaigns (id, template, list, subject, transport, started_at)
             VALUES ('2023-04', 't', 'l', 's', 'file', '2026-01-01T09:00:00.000Z');
             INSERT INTO deliveries (campaign, email, status, last_attempt_at)
             VALUES ('2023-04', 'Ann@Example.org', 'accepted', '2026-01-01T10:00:00.000Z');",
        )
        .unwrap();
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(url: &str, member: Option<&str>, at: &str, automated: Option<&str>) -> Click {
        Click {
            campaign: "2023-04".into(),
            url: url.into(),
            member: member.map(Into::into),
            at: at.into(),
            automated: automated.map(Into::into),
        }
    }

    #[test]
    fn clicks_are_counted_per_link_with_the_automated_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_ann(dir.path());
        let (a, b) = ("https://example.org/a", "https://example.org/b");
        store
            .record_clicks(&[
                // Anonymous clicks: only what serve saw.
                click(a, None, "2026-01-01T10:00:01.000Z", None),
                click(a, None, "2026-01-01T10:00:01.000Z", Some("head")),
                // Ann's mail scanned on arrival, 5 s after acceptance.
                click(a, Some("ann@example.org"), "2026-01-01T10:00:05.000Z", None),
                // Bob (no delivery row) clicks a, then b 1.5 s later: both a burst.
                click(a, Some("bob@example.org"), "2026-01-01T11:00:00.000Z", None),
                click(b, Some("bob@example.org"), "2026-01-01T11:00:01.500Z", None),
                // Ann, an hour on, clicks b; then a again 3 s later: a person.
                click(b, Some("ann@example.org"), "2026-01-01T11:00:00.000Z", None),
                click(a, Some("ann@example.org"), "2026-01-01T11:00:03.000Z", None),
            ])
            .unwrap();
        assert_eq!(
            store.clicks_by_link("2023-04").unwrap(),
            [
                LinkClicks {
                    url: a.into(),
                    clicks: 2,
                    automated: 3
                },
                LinkClicks {
                    url: b.into(),
                    clicks: 1,
                    automated: 1
                },
            ]
        );
        assert_eq!(store.clicks_by_link("2023-05").unwrap(), []);
    }

    #[test]
    fn a_click_is_judged_against_the_log_as_it_is_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_ann(dir.path());
        let a = "https://example.org/a";
        // Written before the send's journal reached the store: Cat's gateway following the
        // link before it answered 250, and 4 s after; Dan, half an hour on.
        store
            .record_clicks(&[
                click(a, Some("cat@example.org"), "2026-01-01T10:59:59.000Z", None),
                click(a, Some("cat@example.org"), "2026-01-01T11:00:04.000Z", None),
                click(a, Some("dan@example.org"), "2026-01-01T11:30:00.000Z", None),
            ])
            .unwrap();
        store
            .conn
            .execute_batch(
                "INSERT INTO deliveries (campaign, email, status, last_attempt_at) VALUES
                 ('2023-04', 'cat@example.org', 'accepted', '2026-01-01T11:00:00.000Z'),
                 ('2023-04', 'Dan@Example.org', 'accepted', '2026-01-01T11:00:00.000Z');",
            )
            .unwrap();
        assert_eq!(
            store.clicks_by_link("2023-04").unwrap(),
            [LinkClicks {
                url: a.into(),
                clicks: 1,
                automated: 2
            }]
        );
    }
}
