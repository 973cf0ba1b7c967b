//! [`Skip`]: the addresses a run must not send to, held in memory or asked of the store
//! address by address, and kept up to date with suppressions recorded while the run sends.

use std::path::Path;

use rusqlite::{Connection, ToSql, named_params};

use super::{Store, add_functions, now};
use crate::error::{Error, Result};

/// How many addresses [`Store::skip`] keeps in memory (~100 bytes each, ~10 MB) before it asks
/// the store instead (a few microseconds an address).
pub const SKIP_IN_MEMORY: u64 = 100_000;

/// Lookups of [`Skip`] that share one read transaction, at most.
const LOOKUPS_PER_READ: u32 = 10_000;

/// How long [`Skip`]'s lookups share one read transaction, at most: a slow, rate-limited
/// run still sees a suppression within a second.
const READ_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Which deliveries rows a run skips: `:skip_failed`, `:max_attempts`, `:skip_uncertain`
/// (see [`SkipQuery::params`]). The quoted words are [`Status`](super::Status)'s names (a
/// unit test checks).
const SKIP_WHERE: &str = "(status IN ('accepted', 'suppressed') \
     OR (:skip_failed AND status = 'failed') \
     OR (:skip_failed AND status = 'deferred' AND attempts >= :max_attempts) \
     OR (:skip_uncertain AND status IN ('uncertain', 'sending')))";

#[derive(Debug)]
struct SkipQuery {
    campaign: String,
    skip_failed: bool,
    skip_uncertain: bool,
    max_attempts: u32,
}

impl SkipQuery {
    /// `:campaign` and the parameters of [`SKIP_WHERE`].
    fn params(&self) -> Vec<(&'static str, &dyn ToSql)> {
        vec![
            (":campaign", &self.campaign),
            (":skip_failed", &self.skip_failed),
            (":max_attempts", &self.max_attempts),
            (":skip_uncertain", &self.skip_uncertain),
        ]
    }
}

/// The addresses a run must not send to (from [`Store::skip`]); also those unsubscribed
/// through the service and not yet folded into the store (see [`crate::store::unsubscribes`]).
#[derive(Debug)]
pub struct Skip(SkipKind, Option<crate::store::unsubscribes::Watch>);

#[derive(Debug)]
enum SkipKind {
    Memory {
        /// The addresses' keys ([`crate::address::key`]).
        set: std::cell::RefCell<std::collections::HashSet<String>>,
        /// Where suppressions recorded during the run come from; `None` without a store.
        news: Option<News>,
    },
    Lookup {
        conn: Connection,
        query: SkipQuery,
        /// Lookups in the current read transaction, and when it began.
        read: std::cell::Cell<Option<(u32, std::time::Instant)>>,
    },
}

/// Suppressions recorded since the in-memory set was built (an unsubscribe while a run is
/// sending), asked of the store at most every [`READ_FOR`].
#[derive(Debug)]
struct News {
    conn: Connection,
    /// The newest suppression time seen (RFC 3339, compares as text).
    since: std::cell::RefCell<String>,
    /// The highest rowid seen: a suppression folded in from the service's file carries the
    /// time it was received, which may be older than `since`.
    rowid: std::cell::Cell<i64>,
    checked: std::cell::Cell<std::time::Instant>,
}

impl News {
    fn add_to(&self, set: &mut std::collections::HashSet<String>) -> Result<()> {
        if self.checked.get().elapsed() < READ_FOR {
            return Ok(());
        }
        self.checked.set(std::time::Instant::now());
        let mut since = self.since.borrow_mut();
        let mut stmt = self.conn.prepare_cached(
            "SELECT email, at, rowid FROM suppressions WHERE at >= :since OR rowid > :rowid",
        )?;
        let seen = named_params![":since": since.as_str(), ":rowid": self.rowid.get()];
        let rows = stmt.query_map(seen, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut newest = since.clone();
        for row in rows {
            let (email, at, rowid) = row?;
            newest = newest.max(at);
            self.rowid.set(self.rowid.get().max(rowid));
            set.insert(crate::address::key(&email));
        }
        *since = newest;
        Ok(())
    }
}

impl Skip {
    /// Nothing to skip (no delivery log yet).
    pub fn none() -> Skip {
        Skip(
            SkipKind::Memory {
                set: Default::default(),
                news: None,
            },
            None,
        )
    }

    /// Whether `email` is skipped: compared by [`crate::address::key`], so an unsubscribe
    /// from any spelling of the address counts.
    pub fn contains(&self, email: &str) -> Result<bool> {
        if let Some(pending) = &self.1
            && pending.contains(email)?
        {
            return Ok(true);
        }
        match &self.0 {
            SkipKind::Memory { set, news } => {
                let mut set = set.borrow_mut();
                if let Some(news) = news {
                    news.add_to(&mut set)?;
                }
                Ok(set.contains(&crate::address::key(email)))
            }
            SkipKind::Lookup { conn, query, read } => {
                // Lookups share a read transaction, renewed every `LOOKUPS_PER_READ` lookups
                // or `READ_FOR`, whichever comes first: a transaction (and its file locks)
                // per lookup cost a third of each. A suppression recorded meanwhile is seen
                // at the next renewal.
                let (n, began) = match read.get() {
                    Some((n, began)) if n < LOOKUPS_PER_READ && began.elapsed() < READ_FOR => {
                        (n, began)
                    }
                    _ => {
                        if !conn.is_autocommit() {
                            conn.execute_batch("COMMIT")?;
                        }
                        conn.execute_batch("BEGIN")?;
                        (0, std::time::Instant::now())
                    }
                };
                read.set(Some((n + 1, began)));
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT EXISTS (SELECT 1 FROM suppressions WHERE email = :key) \
                         OR EXISTS (SELECT 1 FROM deliveries \
                                    WHERE campaign = :campaign AND email = :address AND {SKIP_WHERE})"
                    )
                });
                let mut stmt = conn.prepare_cached(&SQL)?;
                let key = crate::address::key(email);
                let mut params = query.params();
                params.push((":address", &email));
                params.push((":key", &key));
                Ok(stmt.query_row(params.as_slice(), |r| r.get(0))?)
            }
        }
    }

    /// Whether the addresses are held in memory (else asked of the store one by one).
    pub fn in_memory(&self) -> bool {
        matches!(self.0, SkipKind::Memory { .. })
    }
}

impl Store {
    /// The addresses a run of `campaign` must not send to: suppressed, or already accepted,
    /// suppressed, and (unless `retry_failed`) failed or out of attempts, and (unless
    /// `resend_uncertain`) uncertain. Held in memory when there are at most `in_memory` of
    /// them, else asked of the store address by address, so memory stays flat in the list
    /// size (see [`SKIP_IN_MEMORY`]).
    pub fn skip(
        &self,
        campaign: &str,
        retry_failed: bool,
        resend_uncertain: bool,
        max_attempts: u32,
        in_memory: u64,
    ) -> Result<Skip> {
        let query = SkipQuery {
            campaign: campaign.to_string(),
            skip_failed: !retry_failed,
            skip_uncertain: !resend_uncertain,
            max_attempts,
        };
        let count: u64 = self.conn.query_row(
            &format!(
                "SELECT (SELECT count(*) FROM suppressions) \
                 + (SELECT count(*) FROM deliveries WHERE campaign = :campaign AND {SKIP_WHERE})"
            ),
            query.params().as_slice(),
            |r| r.get(0),
        )?;
        let pending = Some(crate::store::unsubscribes::Watch::new(Path::new(
            self.conn.path().unwrap_or_default(),
        )));
        if count <= in_memory {
            // Before the set is read: a suppression recorded meanwhile is asked for again.
            let since = now();
            let rowid: i64 = self.conn.query_row(
                "SELECT coalesce(max(rowid), 0) FROM suppressions",
                [],
                |r| r.get(0),
            )?;
            let mut stmt = self.conn.prepare(&format!(
                "SELECT email FROM suppressions UNION ALL \
                 SELECT email FROM deliveries WHERE campaign = :campaign AND {SKIP_WHERE}"
            ))?;
            let mut set = std::collections::HashSet::new();
            for email in stmt.query_map(query.params().as_slice(), |r| r.get::<_, String>(0))? {
                set.insert(crate::address::key(&email?));
            }
            return Ok(Skip(
                SkipKind::Memory {
                    set: std::cell::RefCell::new(set),
                    news: Some(News {
                        conn: self.reader()?,
                        since: std::cell::RefCell::new(since),
                        rowid: std::cell::Cell::new(rowid),
                        checked: std::cell::Cell::new(std::time::Instant::now()),
                    }),
                },
                pending,
            ));
        }
        Ok(Skip(
            SkipKind::Lookup {
                conn: self.reader()?,
                query,
                read: std::cell::Cell::new(None),
            },
            pending,
        ))
    }

    /// Another connection, for [`Skip`]'s lookups: the run's writes go on meanwhile (WAL:
    /// readers never block the writer), and suppressions recorded during the run are seen.
    fn reader(&self) -> Result<Connection> {
        let path = self
            .conn
            .path()
            .ok_or_else(|| Error::runtime("the delivery log has no file to read from"))?;
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        add_functions(&conn)?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CampaignInfo, Status};
    use rusqlite::params;

    /// A campaign with a member in every state, and suppressions (one in another case).
    fn store_with_every_state(dir: &Path) -> Store {
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
        let members = [
            "pending@example.org",
            "Accepted@example.org",
            "failed@example.org",
            "deferred-once@example.org",
            "deferred-out@example.org",
            "uncertain@example.org",
            "sending@example.org",
            "suppressed@example.org",
        ];
        store
            .begin_campaign(&info, members.iter().map(|m| m.to_string()))
            .unwrap();
        for (email, status, attempts) in [
            ("Accepted@example.org", Status::Accepted, 1),
            ("failed@example.org", Status::Failed, 1),
            ("deferred-once@example.org", Status::Deferred, 1),
            ("deferred-out@example.org", Status::Deferred, 3),
            ("uncertain@example.org", Status::Uncertain, 1),
            ("sending@example.org", Status::Sending, 1),
            ("suppressed@example.org", Status::Suppressed, 0),
        ] {
            store
                .conn
                .execute(
                    "UPDATE deliveries SET status = ?1, attempts = ?2 WHERE email = ?3",
                    params![status, attempts, email],
                )
                .unwrap();
        }
        store
            .suppress("Gone@Example.org", "unsubscribed", None)
            .unwrap();
        store
    }

    #[test]
    fn skip_answers_the_same_in_memory_and_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_every_state(dir.path());
        let always = [
            "accepted@example.org",
            "SUPPRESSED@example.org",
            "gone@example.org",
        ];
        let never = [
            "pending@example.org",
            "deferred-once@example.org",
            "new@example.org",
        ];
        for (retry_failed, resend_uncertain) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let mut expect: Vec<(&str, bool)> = always.iter().map(|e| (*e, true)).collect();
            expect.extend(never.iter().map(|e| (*e, false)));
            expect.push(("Failed@example.org", !retry_failed));
            expect.push(("deferred-out@example.org", !retry_failed));
            expect.push(("uncertain@example.org", !resend_uncertain));
            expect.push(("sending@example.org", !resend_uncertain));
            for in_memory in [SKIP_IN_MEMORY, 0] {
                let skip = store
                    .skip("c", retry_failed, resend_uncertain, 3, in_memory)
                    .unwrap();
                assert_eq!(skip.in_memory(), in_memory > 0);
                for (email, skipped) in &expect {
                    assert_eq!(
                        skip.contains(email).unwrap(),
                        *skipped,
                        "{email}, retry_failed {retry_failed}, resend_uncertain {resend_uncertain}, in memory {}",
                        skip.in_memory()
                    );
                }
            }
        }
    }

    #[test]
    fn a_suppression_recorded_during_a_run_is_seen_within_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_every_state(dir.path());
        let skip = store.skip("c", false, false, 3, 0).unwrap();
        assert!(!skip.contains("pending@example.org").unwrap());
        store
            .suppress("pending@example.org", "unsubscribed", None)
            .unwrap();
        for _ in 1..LOOKUPS_PER_READ {
            skip.contains("new@example.org").unwrap();
        }
        assert!(skip.contains("pending@example.org").unwrap());
        // And after a second, however few lookups there were; in memory too.
        let in_memory = store.skip("c", false, false, 3, SKIP_IN_MEMORY).unwrap();
        assert!(!in_memory.contains("deferred-once@example.org").unwrap());
        assert!(!skip.contains("deferred-once@example.org").unwrap());
        store
            .suppress("deferred-once@example.org", "unsubscribed", None)
            .unwrap();
        assert!(!skip.contains("deferred-once@example.org").unwrap());
        assert!(!in_memory.contains("deferred-once@example.org").unwrap());
        std::thread::sleep(READ_FOR);
        assert!(skip.contains("deferred-once@example.org").unwrap());
        assert!(in_memory.contains("deferred-once@example.org").unwrap());
    }

    #[test]
    fn the_statuses_in_sql_text_are_status_names() {
        // SKIP_WHERE keeps its statuses as quoted words: each must be one of Status's names.
        let quoted: Vec<&str> = SKIP_WHERE.split('\'').skip(1).step_by(2).collect();
        assert_eq!(quoted.len(), 6, "{SKIP_WHERE}");
        for word in quoted {
            assert!(
                Status::ALL.iter().any(|s| s.as_str() == word),
                "`{word}` in SKIP_WHERE is not a Status"
            );
        }
    }
}
