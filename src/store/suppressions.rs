//! The suppression list: addresses never to mail again, in any campaign, each kept by its
//! [`crate::address::key`] with the first reason and source recorded.

use std::path::Path;

use rusqlite::{ToSql, named_params};
use serde::Serialize;

use super::{Status, Store, now};
use crate::error::Result;

/// An address that must never be mailed again, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Suppression {
    pub email: String,
    /// `unsubscribed`, `hard-bounce`, `soft-bounces`, `complaint` or `manual`.
    pub reason: String,
    /// Where it came from: a file, a campaign, the unsubscribe service.
    pub source: Option<String>,
    pub at: String,
}

impl Store {
    /// Suppresses `email` (every spelling of it: the list keeps its
    /// [`crate::address::key`]); returns false if it already was (the first reason is kept).
    pub fn suppress(&self, email: &str, reason: &str, source: Option<&str>) -> Result<bool> {
        self.suppress_at(email, reason, source, &now())
    }

    /// [`Store::suppress`], recorded as of `at` (RFC 3339).
    pub fn suppress_at(
        &self,
        email: &str,
        reason: &str,
        source: Option<&str>,
        at: &str,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(SUPPRESS)?
            .execute(suppress_params(email, reason, source, at).as_slice())?;
        Ok(n == 1)
    }

    /// Suppresses each `(email, source)` with `reason` in one transaction; returns how many
    /// were not suppressed before.
    pub fn suppress_all<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
        reason: &str,
    ) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let at = now();
        let mut n = 0;
        {
            let mut insert = tx.prepare(SUPPRESS)?;
            for (email, source) in entries {
                let params = suppress_params(email, reason, Some(source), &at);
                n += insert.execute(params.as_slice())? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Lifts a suppression; returns false if there was none.
    pub fn unsuppress(&self, email: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM suppressions WHERE email = ?1",
            [crate::address::key(email)],
        )? == 1)
    }

    /// Every suppression, and after them those the service has waiting that the store could
    /// not take yet.
    pub fn suppressions(&self) -> Result<Vec<Suppression>> {
        let mut stmt = self
            .conn
            .prepare("SELECT email, reason, source, at FROM suppressions ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| {
            Ok(Suppression {
                email: r.get(0)?,
                reason: r.get(1)?,
                source: r.get(2)?,
                at: r.get(3)?,
            })
        })?;
        let mut all: Vec<Suppression> = rows.collect::<rusqlite::Result<_>>()?;
        if let Some(path) = self.conn.path().filter(|p| !p.is_empty()) {
            let mut seen: std::collections::HashSet<String> =
                all.iter().map(|s| s.email.clone()).collect();
            for e in crate::store::unsubscribes::pending(Path::new(path))? {
                let key = crate::address::key(&e.email);
                if seen.insert(key.clone()) {
                    all.push(Suppression {
                        email: key,
                        reason: e.reason,
                        source: Some(e.source),
                        at: e.at,
                    });
                }
            }
        }
        Ok(all)
    }

    /// Marks the campaign's pending and deferred members that are on the suppression list as
    /// `suppressed` (a member that failed keeps its failure on record)
    /// with the reason, and puts back to `pending` any whose suppression was lifted.
    /// Returns how many are suppressed.
    pub fn apply_suppressions(&mut self, campaign: &str) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let (pending, deferred, suppressed) =
            (Status::Pending, Status::Deferred, Status::Suppressed);
        tx.execute(
            "UPDATE deliveries SET status = :pending, reason = NULL
             WHERE campaign = :campaign AND status = :suppressed
               AND address_key(email) NOT IN (SELECT email FROM suppressions)",
            named_params![":campaign": campaign, ":pending": pending, ":suppressed": suppressed],
        )?;
        tx.execute(
            "UPDATE deliveries SET status = :suppressed, reason = :suppressed || ': ' || s.reason
             FROM suppressions AS s
             WHERE deliveries.campaign = :campaign AND deliveries.status IN (:pending, :deferred)
               AND address_key(deliveries.email) = s.email",
            named_params![
                ":campaign": campaign,
                ":pending": pending,
                ":deferred": deferred,
                ":suppressed": suppressed,
            ],
        )?;
        let n: u64 = tx.query_row(
            "SELECT count(*) FROM deliveries WHERE campaign = :campaign AND status = :suppressed",
            named_params![":campaign": campaign, ":suppressed": suppressed],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Every suppressed address, by its [`crate::address::key`].
    pub fn suppressed_set(&self) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT email FROM suppressions")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| Ok(crate::address::key(&r?))).collect()
    }
}

/// Adds a suppression unless the address already has one: [`suppress_params`].
const SUPPRESS: &str = "INSERT INTO suppressions (email, reason, source, at)
     VALUES (:key, :reason, :source, :at) ON CONFLICT DO NOTHING";

/// The parameters of [`SUPPRESS`]: the address by its [`crate::address::key`].
fn suppress_params<'a>(
    email: &str,
    reason: &'a str,
    source: Option<&'a str>,
    at: &'a str,
) -> Vec<(&'static str, Box<dyn ToSql + 'a>)> {
    vec![
        (":key", Box::new(crate::address::key(email))),
        (":reason", Box::new(reason)),
        (":source", Box::new(source)),
        (":at", Box::new(at)),
    ]
}
