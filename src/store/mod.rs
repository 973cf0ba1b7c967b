//! The delivery log: an embedded SQLite database (WAL) recording every campaign, every
//! member's current state and every attempt, written as each reply arrives, so a crash loses
//! nothing already recorded.
//!
//! Tables: `campaigns` (template, list, subject, transport, start and finish, the digest of
//! its sources), `campaign_sources` (what it was rendered from, by revision), `campaign_masters` (what it
//! was sent as, by the same revision), `deliveries`
//! (one row per member of a campaign: status, attempts, last reply), `attempts` (one row per
//! try), `images` (the bytes of published local images, by content-hashed name),
//! `suppressions` (addresses never to mail, by [`crate::address::key`]), `bounce_messages`
//! and `late_events` (what `mailshot bounces` read), `clicks` (tracked links followed), `opens`
//! (open pixels loaded) and `journal_folds` (how much of each campaign's journal file is in; see
//! [`crate::store::journal`]). Addresses compare case-insensitively.
//!
//! The files, one concept each; their items are re-exported here, as `store::Skip` etc.:
//! - `mod.rs`: [`Store`] itself (opening, the schema and its migrations, batches, durable
//!   writes, how far a journal is folded in) and [`Status`], a member's state;
//! - `deliveries.rs`: campaigns and their members' rows: starting and recording attempts,
//!   recovering after a crash, counts and the log;
//! - `editions.rs`: what each campaign was sent as ([`Master`]: the once-per-campaign HTML,
//!   subject template, preview text, web edition), and the archive's list of web editions;
//! - `images.rs`: published images ([`Store::put_images`], [`Store::image`],
//!   [`Store::published_images`]);
//! - `suppressions.rs`: the suppression list, and applying it to a campaign;
//! - `bounces.rs`: the reports `mailshot bounces` read, and the late bounces and complaints
//!   (`late_events`) that `log` shows beside a delivery;
//! - `report.rs`: what `mailshot report` reads beyond the counts (acceptance times, replies
//!   by code, attempts per member, late events, the unsubscribes that followed);
//! - `clicks.rs`: clicks on tracked links ([`Store::record_clicks`], classified as automated
//!   or not, and [`Store::clicks_by_link`]);
//! - `opens.rs`: open pixels loaded ([`Store::record_opens`], classified likewise, and
//!   [`Store::open_counts`]);
//! - `skip.rs`: [`Skip`], the addresses a run must not send to;
//! - `lock.rs`: [`CampaignLock`], one sender per campaign;
//! - [`journal`]: the file a run records its attempts in before they are folded in;
//! - [`unsubscribes`]: the file the unsubscribe service writes each unsubscribe to first.

mod bounces;
mod clicks;
mod deliveries;
mod editions;
mod images;
pub mod journal;
mod lock;
mod opens;
mod report;
mod skip;
mod suppressions;
pub mod unsubscribes;

pub use bounces::{Effect, LateEvent, Recorded};
pub use clicks::{Click, LinkClicks};
pub use deliveries::{CampaignInfo, Counts, Frozen, LogRow};
pub use editions::{Edition, Master, WebEdition};
pub use images::StoredImage;
pub use lock::CampaignLock;
pub use opens::{Open, OpenCounts};
pub use report::{LateRow, ReplyCount};
pub use skip::{SKIP_IN_MEMORY, Skip};
pub use suppressions::Suppression;

use std::path::Path;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, named_params};
use serde::Serialize;

use crate::error::{Error, Result, show};
use crate::outcome::{Reason, ReplyKind};

/// A member's state in a campaign, the `status` column of `deliveries` (and `outcome` of
/// `attempts`): stored as its lowercase name, which `log` and `status` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not attempted yet.
    Pending,
    /// The server accepted it (2xx). Never sent again.
    Accepted,
    /// The last attempt was refused temporarily (4xx, timeout, connection) and attempts ran out.
    Deferred,
    /// Refused permanently (5xx).
    Failed,
    /// On the suppression list: not sent.
    Suppressed,
    /// Handed to the server; no reply recorded yet.
    Sending,
    /// Was `sending` when a run died: it may or may not have been delivered. Not sent again
    /// unless `--resend-uncertain`.
    Uncertain,
    /// A bounce that arrived after the server accepted the message: only in the `log`'s
    /// row for it (see `bounces`), never a delivery's own status.
    Bounced,
    /// A complaint (ARF) about an accepted message: only in the `log`'s row for it.
    Complained,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pending,
        Status::Accepted,
        Status::Deferred,
        Status::Failed,
        Status::Suppressed,
        Status::Sending,
        Status::Uncertain,
        Status::Bounced,
        Status::Complained,
    ];

    /// The status an attempt's reply leaves the member in.
    pub fn of(kind: ReplyKind) -> Status {
        match kind {
            ReplyKind::Accepted => Status::Accepted,
            ReplyKind::Transient => Status::Deferred,
            ReplyKind::Permanent | ReplyKind::Unsendable => Status::Failed,
            ReplyKind::Uncertain => Status::Uncertain,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Accepted => "accepted",
            Status::Deferred => "deferred",
            Status::Failed => "failed",
            Status::Suppressed => "suppressed",
            Status::Sending => "sending",
            Status::Uncertain => "uncertain",
            Status::Bounced => "bounced",
            Status::Complained => "complained",
        }
    }

    /// The `IN (...)` list of `statuses`, for SQL built here (the names are fixed
    /// identifiers, never input).
    fn sql_list(statuses: &[Status]) -> String {
        let names: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
        format!("({})", names.join(", "))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| FromSqlError::Other(format!("unknown delivery status `{name}`").into()))
    }
}

/// A reason is stored as the delivery log shows it (`hard-bounce`, ...).
impl ToSql for Reason {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    list TEXT NOT NULL,
    subject TEXT NOT NULL,
    transport TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    campaign TEXT NOT NULL REFERENCES campaigns(id),
    email TEXT NOT NULL COLLATE NOCASE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    smtp_code INTEGER,
    enhanced_code TEXT,
    smtp_reply TEXT,
    reason TEXT,
    message_id TEXT,
    first_attempt_at TEXT,
    last_attempt_at TEXT,
    PRIMARY KEY (campaign, email)
);
CREATE TABLE IF NOT EXISTS attempts (
    campaign TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    smtp_code INTEGER,
    enhanced_code TEXT,
    smtp_reply TEXT,
    reason TEXT,
    message_id TEXT
);
-- No index by member: nothing queries one, and it cost a random page per attempt recorded.
DROP INDEX IF EXISTS attempts_by_member;
CREATE INDEX IF NOT EXISTS attempts_by_time ON attempts (at);
-- How far each campaign's journal file has been folded in (see `journal`).
CREATE TABLE IF NOT EXISTS journal_folds (
    campaign TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
-- What each campaign was rendered from (see `compose::sources`), by revision: 1 at its
-- first send, one more at each `--accept-changes`.
CREATE TABLE IF NOT EXISTS campaign_sources (
    campaign TEXT NOT NULL REFERENCES campaigns(id),
    revision INTEGER NOT NULL,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (campaign, revision, name)
);
-- Local images a campaign publishes, by content-hashed name (see `store::images`).
CREATE TABLE IF NOT EXISTS images (
    name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    stored_at TEXT NOT NULL
);
-- Which images each campaign's send published (see `store::images`): `publish` writes only
-- those of campaigns with a web edition, so an image a `--test-to` copy stored stays off
-- the public host until its campaign goes.
CREATE TABLE IF NOT EXISTS campaign_images (
    campaign TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (campaign, name)
);
-- What each campaign was sent as (see `editions`), by the revision of its sources.
CREATE TABLE IF NOT EXISTS campaign_masters (
    campaign TEXT NOT NULL REFERENCES campaigns(id),
    revision INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    subject_template TEXT NOT NULL,
    preview TEXT NOT NULL,
    html TEXT,
    web_subject TEXT,
    web_html TEXT,
    PRIMARY KEY (campaign, revision)
);
CREATE TABLE IF NOT EXISTS suppressions (
    email TEXT PRIMARY KEY COLLATE NOCASE,
    reason TEXT NOT NULL,
    source TEXT,
    at TEXT NOT NULL
);
-- Each report `mailshot bounces` read, by its Message-ID (see `bounces`).
CREATE TABLE IF NOT EXISTS bounce_messages (
    message_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    read_at TEXT NOT NULL
);
-- A bounce or complaint about a message the server had accepted (see `bounces`).
CREATE TABLE IF NOT EXISTS late_events (
    report TEXT NOT NULL,
    campaign TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    smtp_code INTEGER,
    enhanced_code TEXT,
    diagnostic TEXT,
    reason TEXT NOT NULL,
    matched_by TEXT NOT NULL,
    -- 1 for a soft bounce, which counts towards `[bounces] soft_limit`.
    soft INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS late_events_by_delivery ON late_events (campaign, email);
-- Requests for tracked links (`[tracking] clicks`, see `clicks`); `member` only with
-- `per_member`; `automated` says why one looks automated (NULL: it does not).
CREATE TABLE IF NOT EXISTS clicks (
    campaign TEXT NOT NULL,
    url TEXT NOT NULL,
    member TEXT,
    at TEXT NOT NULL,
    automated TEXT
);
CREATE INDEX IF NOT EXISTS clicks_by_member ON clicks (campaign, member);
-- Requests for open pixels (`[tracking] opens`, see `opens`); `member` only with
-- `per_member`; `automated` says why one looks automated (NULL: it does not).
CREATE TABLE IF NOT EXISTS opens (
    campaign TEXT NOT NULL,
    member TEXT,
    at TEXT NOT NULL,
    automated TEXT
);
CREATE INDEX IF NOT EXISTS opens_by_campaign ON opens (campaign, at);
";

/// How long a write waits for another process's transaction before it fails as busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long opening the store waits to fold in waiting unsubscribes (see
/// [`crate::store::unsubscribes`]); when busy they wait for the next command, and a running send
/// honours them meanwhile.
pub const FOLD_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    crate::clock::format(crate::clock::now())
}

pub struct Store {
    conn: Connection,
    /// Inside [`Store::begin_batch`]: writes join that transaction.
    in_batch: bool,
}

/// `address_key(email)` in SQL: [`crate::address::key`], for comparing a member's address
/// as the list spells it with the suppression list's keys.
fn add_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "address_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(crate::address::key(&ctx.get::<String>(0)?)),
    )
}

/// The store's format version (`PRAGMA user_version`) this build writes.
const VERSION: i64 = 3;

/// The store's journal mode, tables and migrations, each safe to run again.
fn initialise(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Not in a write transaction: on a store that has its tables this only reads, so a
    // reader (`suppress list`, `log`) opens a store another process holds locked.
    conn.execute_batch(SCHEMA)?;
    migrate(conn)
}

/// Brings a store written by an older build up to [`VERSION`], once, in one transaction:
/// - 1: suppressions are keyed by [`crate::address::key`] (before, by the address as given,
///   compared ignoring ASCII case only, so `Ünal@` did not match `ünal@`). Where two rows
///   share a key the earliest is kept.
/// - 2: `campaigns.sources_digest`, the digest of the sources in `campaign_sources` (the
///   table is in [`SCHEMA`]); campaigns begun before it have none, and are not compared.
/// - 3: `campaigns.rate`, the `[rate] messages_per_second` of its last run (for the report);
///   campaigns sent before it have none.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= VERSION {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    // Checked again inside the write lock: another process may have just done it.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        key_suppressions(&tx)?;
    }
    if version < 2 {
        tx.execute_batch("ALTER TABLE campaigns ADD COLUMN sources_digest TEXT")?;
    }
    if version < 3 {
        tx.execute_batch("ALTER TABLE campaigns ADD COLUMN rate REAL")?;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
}

/// Migration 1: suppressions keyed by [`crate::address::key`].
fn key_suppressions(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT rowid, email FROM suppressions ORDER BY at, rowid")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // Duplicates go first: renaming one row onto a key another row still spells would
    // break the table's uniqueness.
    let mut kept = std::collections::HashSet::new();
    let mut renames = Vec::new();
    for (rowid, email) in rows {
        let key = crate::address::key(&email);
        if !kept.insert(key.clone()) {
            tx.execute("DELETE FROM suppressions WHERE rowid = ?1", [rowid])?;
        } else if key != email {
            renames.push((rowid, key));
        }
    }
    for (rowid, key) in renames {
        tx.execute(
            "UPDATE suppressions SET email = :key WHERE rowid = :rowid",
            named_params![":rowid": rowid, ":key": key],
        )?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store at `path`, and folds in the unsubscribes the
    /// service has waiting (see [`crate::store::unsubscribes`]).
    pub fn open(path: &Path) -> Result<Store> {
        let mut store = Store::connect(path)?;
        crate::store::unsubscribes::fold(&mut store, path, FOLD_WAIT)?;
        Ok(store)
    }

    /// [`Store::open`] without the fold.
    pub fn connect(path: &Path) -> Result<Store> {
        let ctx = |e: rusqlite::Error| {
            Error::runtime(format!("failed to open delivery log `{}`: {e}", show(path)))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create the folder of", path, e))?;
        }
        let conn = Connection::open(path).map_err(ctx)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(ctx)?;
        add_functions(&conn).map_err(ctx)?;
        // Two processes opening a new store at once (two campaigns started together) race
        // to switch it to WAL and create its tables; the loser can be told "database is
        // locked" at once, without the busy handler waiting for it. Each step is idempotent,
        // so the set is tried again until the store's usual wait has passed.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match initialise(&conn) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10 + fastrand::u64(0..20)));
                }
                done => break done.map_err(ctx)?,
            }
        }
        Ok(Store {
            conn,
            in_batch: false,
        })
    }

    /// Runs `f` in one write transaction that is on disk (synchronous FULL) when this
    /// returns; waits at most `wait` for the store, then `Ok(None)`: nothing happened.
    pub fn write_durably<T>(
        &mut self,
        wait: std::time::Duration,
        f: impl FnOnce(&Store) -> Result<T>,
    ) -> Result<Option<T>> {
        // FULL: the commit is synced before the caller lets go of its copy. (SQLite
        // refuses to change it inside a transaction.)
        let sync: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.busy_timeout(wait)?;
        let begun = self.conn.execute_batch("BEGIN IMMEDIATE");
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        let done = match begun {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
            Ok(()) => {
                f(self).and_then(|v| Ok(self.conn.execute_batch("COMMIT").map(|()| Some(v))?))
            }
        };
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.conn.pragma_update(None, "synchronous", sync)?;
        done
    }

    #[cfg(test)]
    pub(crate) fn set_busy_timeout_for_tests(&self, wait: std::time::Duration) {
        let _ = self.conn.busy_timeout(wait);
    }

    /// Makes every commit survive a power cut too (for the unsubscribe service, where each
    /// write is a person's objection).
    pub fn durable(&self) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(())
    }

    /// Opens an existing store read-only; `None` if there is none yet.
    pub fn open_existing(path: &Path) -> Result<Option<Store>> {
        if !path.exists() && !crate::store::unsubscribes::path(path).exists() {
            return Ok(None);
        }
        Store::open(path).map(Some)
    }

    /// Opens an existing store for reading only (SQLite's read-only mode: no tables made, no
    /// unsubscribes folded in, nothing written); `None` if there is none. For `preview`, which
    /// must never write the store.
    pub fn open_read_only(path: &Path) -> Result<Option<Store>> {
        if !path.exists() {
            return Ok(None);
        }
        let ctx = |e: rusqlite::Error| {
            Error::runtime(format!("failed to open delivery log `{}`: {e}", show(path)))
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(ctx)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(ctx)?;
        add_functions(&conn).map_err(ctx)?;
        Ok(Some(Store {
            conn,
            in_batch: false,
        }))
    }

    /// Opens a transaction that groups the writes until [`Store::end_batch`] (group commit).
    pub fn begin_batch(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.in_batch = true;
        Ok(())
    }

    /// Commits the batch: everything in it is on disk (in the WAL) before this returns.
    pub fn end_batch(&mut self) -> Result<()> {
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.in_batch = false;
                Ok(())
            }
            // Busy, say: the transaction is still open; none of it happened.
            Err(e) => {
                self.abort_batch();
                Err(e.into())
            }
        }
    }

    /// Abandons the batch: none of its writes happened.
    pub fn abort_batch(&mut self) {
        if std::mem::take(&mut self.in_batch) {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// The last journal sequence number folded into the store for `campaign` (0: none).
    pub fn journal_seq(&self, campaign: &str) -> Result<u64> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq FROM journal_folds WHERE campaign = ?1",
                [campaign],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Records that the journal is folded in up to `seq` (in the same batch as the fold).
    pub fn set_journal_seq(&mut self, campaign: &str, seq: u64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO journal_folds (campaign, seq) VALUES (:campaign, :seq)
                 ON CONFLICT(campaign) DO UPDATE SET seq = excluded.seq",
            )?
            .execute(named_params![":campaign": campaign, ":seq": seq])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_as_it_was_written() {
        let conn = Connection::open_in_memory().unwrap();
        for status in Status::ALL {
            let back: Status = conn.query_row("SELECT ?1", [status], |r| r.get(0)).unwrap();
            assert_eq!(back, status);
        }
        let unknown = conn.query_row("SELECT 'sent'", [], |r| r.get::<_, Status>(0));
        assert!(unknown.unwrap_err().to_string().contains("`sent`"));
    }

    #[test]
    fn a_store_of_version_one_migrates_and_its_campaigns_have_no_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            // The schema as version 1 wrote it (campaigns without `sources_digest`).
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE campaigns (id TEXT PRIMARY KEY, template TEXT NOT NULL,
                 list TEXT NOT NULL, subject TEXT NOT NULL, transport TEXT NOT NULL,
                 started_at TEXT NOT NULL, finished_at TEXT);
                 INSERT INTO campaigns VALUES ('old', 't.mjml', 'l.csv', 'Hi', 'outbox', 'x', NULL);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.campaign_sources("old").unwrap(), None);
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        let info = CampaignInfo {
            id: "new".into(),
            template: "t.mjml".into(),
            list: "l.csv".into(),
            subject: "Hi".into(),
            transport: "outbox".into(),
            started_at: now(),
            finished_at: None,
        };
        let sources = [("subject".to_string(), "Hi".to_string())].into();
        let frozen = ("d1".to_string(), sources);
        store
            .begin_campaign_frozen(&info, Some(&frozen), None, std::iter::empty())
            .unwrap();
        assert_eq!(store.campaign_sources("new").unwrap(), Some(frozen.clone()));
        // A second revision is the one compared; opening again migrates nothing twice.
        let second = (
            "d2".to_string(),
            [("subject".to_string(), "Ho".to_string())].into(),
        );
        store
            .begin_campaign_frozen(&info, Some(&second), None, std::iter::empty())
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.campaign_sources("new").unwrap(), Some(second));
    }
}
