//! Clicks on tracked links (`[tracking] clicks`, see [`crate::compose::clicks`]): one row per
//! request `mailshot serve` redirected, with the campaign, the URL, the member's key (only
//! with `per_member`), when, and why it looks automated, if it does.
//!
//! `serve` marks a HEAD request and a known link scanner's user agent (`serve::clicks`). The
//! store adds what only the delivery log can tell, for clicks that name a member: a click
//! within [`SOON_AFTER_DELIVERY`] of the member's message being accepted (a mail system
//! scanning it on arrival), and clicks on several different links by one member within
//! [`BURST`] (a scanner following every link; each click of the burst is marked). Without
//! `per_member` a click names nobody, so neither can be told.

use rusqlite::named_params;

use super::Store;
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

impl Store {
    /// Records `clicks` in one transaction, each member's click classified against the
    /// delivery log and the member's other clicks (see the module's doc).
    pub fn record_clicks(&mut self, clicks: &[Click]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for c in clicks {
            let automated = match (&c.automated, &c.member) {
                (Some(why), _) => Some(why.clone()),
                (None, Some(member)) => member_pattern(&tx, c, member)?,
                (None, None) => None,
            };
            tx.execute(
                "INSERT INTO clicks (campaign, url, member, at, automated)
                 VALUES (:campaign, :url, :member, :at, :automated)",
                named_params![
                    ":campaign": c.campaign,
                    ":url": c.url,
                    ":member": c.member,
                    ":at": c.at,
                    ":automated": automated,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Each link's clicks in `campaign`, the most clicked first (then by URL).
    pub fn clicks_by_link(&self, campaign: &str) -> Result<Vec<LinkClicks>> {
        let mut stmt = self.conn.prepare(
            "SELECT url, SUM(automated IS NULL), SUM(automated IS NOT NULL) FROM clicks
             WHERE campaign = ?1 GROUP BY url ORDER BY 2 DESC, url",
        )?;
        let rows = stmt.query_map([campaign], |r| {
            Ok(LinkClicks {
                url: r.get(0)?,
                clicks: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
                automated: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Why a member's click looks automated by its timing, if it does: `soon after delivery` or
/// `burst` (then the burst's earlier clicks are marked too).
fn member_pattern(
    tx: &rusqlite::Transaction,
    c: &Click,
    member: &str,
) -> rusqlite::Result<Option<String>> {
    if accepted_within(tx, &c.campaign, member, &c.at, SOON_AFTER_DELIVERY)? {
        return Ok(Some("soon after delivery".into()));
    }
    let burst = tx.execute(
        "UPDATE clicks SET automated = 'burst'
         WHERE campaign = :campaign AND member = :member AND url <> :url
           AND abs(julianday(:at) - julianday(at)) * 86400 <= :burst
           AND (automated IS NULL OR automated = 'burst')",
        named_params![
            ":campaign": c.campaign,
            ":member": member,
            ":url": c.url,
            ":at": c.at,
            ":burst": BURST,
        ],
    )?;
    Ok((burst > 0).then(|| "burst".into()))
}

/// Whether `member`'s message of `campaign` was accepted at most `secs` seconds before `at`
/// (RFC 3339): what a request right on arrival looks like.
fn accepted_within(
    tx: &rusqlite::Transaction,
    campaign: &str,
    member: &str,
    at: &str,
    secs: f64,
) -> rusqlite::Result<bool> {
    let Some(accepted) = super::deliveries::accepted_at(tx, campaign, member)? else {
        return Ok(false);
    };
    let parse = chrono::DateTime::parse_from_rfc3339;
    Ok(match (parse(at), parse(&accepted)) {
        (Ok(at), Ok(accepted)) => {
            let after = (at - accepted).num_milliseconds() as f64 / 1000.0;
            (0.0..=secs).contains(&after)
        }
        _ => false,
    })
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
}
