//! Opens (`[tracking] opens`, see [`crate::compose::opens`]): one row per request for a
//! member's open pixel that `mailshot serve` answered, with the campaign, the member's key
//! (only with `per_member`), when, and why it looks automated, if it does.
//!
//! `serve` marks a HEAD request and a known scanner's or privacy proxy's user agent
//! (`serve::opens`). The store adds what only the delivery log can tell, for opens that name
//! a member: one within [`SOON_AFTER_DELIVERY`] of the member's message being accepted (a
//! mail system fetching the images on arrival, as Apple Mail Privacy Protection and
//! security scanners do). Without `per_member` an open names nobody, so that cannot be told,
//! and nobody can be counted once.

use rusqlite::named_params;

use super::Store;
use super::clicks::accepted_within;
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
    /// Records `opens` in one transaction, each member's open classified against the delivery
    /// log (see the module's doc).
    pub fn record_opens(&mut self, opens: &[Open]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for o in opens {
            let automated = match (&o.automated, &o.member) {
                (Some(why), _) => Some(why.clone()),
                (None, Some(member)) => on_arrival(&tx, o, member)?,
                (None, None) => None,
            };
            tx.execute(
                "INSERT INTO opens (campaign, member, at, automated)
                 VALUES (:campaign, :member, :at, :automated)",
                named_params![
                    ":campaign": o.campaign,
                    ":member": o.member,
                    ":at": o.at,
                    ":automated": automated,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `campaign`'s opens, people's and the automated apart.
    pub fn open_counts(&self, campaign: &str) -> Result<OpenCounts> {
        let (opens, automated, members): (i64, i64, i64) = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE automated IS NULL),
                    count(*) FILTER (WHERE automated IS NOT NULL),
                    count(DISTINCT member) FILTER (WHERE automated IS NULL)
             FROM opens WHERE campaign = ?1",
            [campaign],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut stmt = self.conn.prepare(
            "SELECT at FROM opens WHERE campaign = ?1 AND automated IS NULL ORDER BY at",
        )?;
        let times = stmt
            .query_map([campaign], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(OpenCounts {
            opens: n(opens),
            automated: n(automated),
            members: n(members),
            times,
        })
    }
}

/// `on arrival` when a member's open came within [`SOON_AFTER_DELIVERY`] of their message's
/// acceptance.
fn on_arrival(
    tx: &rusqlite::Transaction,
    o: &Open,
    member: &str,
) -> rusqlite::Result<Option<String>> {
    let soon = accepted_within(tx, &o.campaign, member, &o.at, SOON_AFTER_DELIVERY)?;
    Ok(soon.then(|| "on arrival".into()))
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
}
