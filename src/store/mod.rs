//! The delivery log: an embedded SQLite database (WAL) recording every campaign, every
//! member's current state and every attempt, written as each reply arrives, so a crash loses
//! nothing already recorded.
//!
//! Tables: `campaigns` (template, list, subject, transport, start and finish), `deliveries`
//! (one row per member of a campaign: status, attempts, last reply), `attempts` (one row per
//! try) and `journal_folds` (how much of each campaign's journal file is in; see
//! [`crate::store::journal`]). Addresses compare case-insensitively.

pub mod journal;
pub mod unsubscribes;

use std::path::Path;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, named_params};
use serde::Serialize;

use crate::error::{Error, Result, show};
use crate::outcome::{Reason, Reply, ReplyKind};

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
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Accepted,
        Status::Deferred,
        Status::Failed,
        Status::Suppressed,
        Status::Sending,
        Status::Uncertain,
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
CREATE TABLE IF NOT EXISTS suppressions (
    email TEXT PRIMARY KEY COLLATE NOCASE,
    reason TEXT NOT NULL,
    source TEXT,
    at TEXT NOT NULL
);
";

/// How long a write waits for another process's transaction before it fails as busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long opening the store waits to fold in waiting unsubscribes (see
/// [`crate::store::unsubscribes`]); when busy they wait for the next command, and a running send
/// honours them meanwhile.
pub const FOLD_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How many addresses [`Store::skip`] keeps in memory (~100 bytes each, ~10 MB) before it asks
/// the store instead (a few microseconds an address).
pub const SKIP_IN_MEMORY: u64 = 100_000;

/// Lookups of [`Skip`] that share one read transaction, at most.
const LOOKUPS_PER_READ: u32 = 10_000;

/// How long [`Skip`]'s lookups share one read transaction, at most: a slow, rate-limited
/// run still sees a suppression within a second.
const READ_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Which deliveries rows a run skips: `:skip_failed`, `:max_attempts`, `:skip_uncertain`
/// (see [`SkipQuery::params`]). The quoted words are [`Status`]'s names (a unit test checks).
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

/// An address that must never be mailed again, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Suppression {
    pub email: String,
    /// `unsubscribed`, `hard-bounce`, `complaint` or `manual`.
    pub reason: String,
    /// Where it came from: a file, a campaign, the unsubscribe service.
    pub source: Option<String>,
    pub at: String,
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    crate::clock::format(crate::clock::now())
}

pub struct Store {
    conn: Connection,
    /// Inside [`Store::begin_batch`]: writes join that transaction.
    in_batch: bool,
}

/// An exclusive lock on sending one campaign: a second `send` of the same campaign refuses.
/// The OS releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct CampaignLock {
    _file: std::fs::File,
}

impl CampaignLock {
    /// The lock for a sender, or an error naming the process that holds it. A reader
    /// (`status`, `log`) may hold it for a moment: this tries for two seconds.
    pub fn acquire(store: &Path, campaign: &str) -> Result<CampaignLock> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match CampaignLock::take(store, campaign, Hold::Sender)? {
                Ok(lock) => return Ok(lock),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Err(pid) => {
                    return Err(Error::input(format!(
                        "campaign `{campaign}` is already being sent by another mailshot (process {pid}); wait for it to finish"
                    )));
                }
            }
        }
    }

    /// The lock, to fold in what a dead run left, or (inner `Err`) the process ID of the
    /// mailshot sending the campaign now. The lock file keeps the sender's process ID.
    pub fn try_acquire(
        store: &Path,
        campaign: &str,
    ) -> Result<std::result::Result<CampaignLock, String>> {
        CampaignLock::take(store, campaign, Hold::Reader)
    }

    /// The process ID of the mailshot sending the campaign now, if one is. Takes nothing
    /// another reader would need (a shared lock, at once let go).
    pub fn sender(store: &Path, campaign: &str) -> Result<Option<String>> {
        let path = CampaignLock::path(store, campaign);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read the lock file", &path, e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Some(
                std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }

    fn path(store: &Path, campaign: &str) -> std::path::PathBuf {
        let name = store
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        store.with_file_name(format!("{name}.{campaign}.lock"))
    }

    fn take(
        store: &Path,
        campaign: &str,
        hold: Hold,
    ) -> Result<std::result::Result<CampaignLock, String>> {
        use std::io::{Read, Seek, Write};
        let path = CampaignLock::path(store, campaign);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("create the lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {
                if hold == Hold::Sender {
                    let _ = file.set_len(0);
                    let _ = file.rewind();
                    let _ = write!(file, "{}", std::process::id());
                }
                Ok(Ok(CampaignLock { _file: file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Ok(Err(pid.trim().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// A `send`: its process ID goes in the file, for the others to name.
    Sender,
    /// A command folding in a dead run's journal: brief, and leaves the file as it is.
    Reader,
}

/// What a campaign remembers about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignInfo {
    pub id: String,
    pub template: String,
    pub list: String,
    pub subject: String,
    pub transport: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// Per-campaign counts for `status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub members: u64,
    pub accepted: u64,
    pub deferred: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub uncertain: u64,
    pub pending: u64,
}

/// One member's row in `log`.
#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    pub email: String,
    pub status: Status,
    pub attempts: u32,
    pub smtp_code: Option<u16>,
    pub enhanced_code: Option<String>,
    pub smtp_reply: Option<String>,
    pub message_id: Option<String>,
    pub first_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// What the outcome means: `hard-bounce`, `policy`, `transient`, `suppressed: unsubscribed`...
    pub reason: Option<String>,
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
const VERSION: i64 = 1;

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
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= VERSION {
        return Ok(());
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    // Checked again inside the write lock: another process may have just done it.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
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
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
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

    pub fn campaign(&self, id: &str) -> Result<Option<CampaignInfo>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, template, list, subject, transport, started_at, finished_at FROM campaigns WHERE id = ?1",
                [id],
                |r| {
                    Ok(CampaignInfo {
                        id: r.get(0)?,
                        template: r.get(1)?,
                        list: r.get(2)?,
                        subject: r.get(3)?,
                        transport: r.get(4)?,
                        started_at: r.get(5)?,
                        finished_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn campaigns(&self) -> Result<Vec<CampaignInfo>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM campaigns ORDER BY started_at, id")?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.iter()
            .map(|id| Ok(self.campaign(id)?.expect("listed just now")))
            .collect()
    }

    /// Records the campaign (first run) and adds any member not yet in it as pending.
    /// Runs in one transaction.
    pub fn begin_campaign(
        &mut self,
        info: &CampaignInfo,
        members: impl Iterator<Item = String>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO campaigns (id, template, list, subject, transport, started_at)
             VALUES (:campaign, :template, :list, :subject, :transport, :started_at)
             ON CONFLICT(id) DO UPDATE SET subject = excluded.subject, transport = excluded.transport, finished_at = NULL",
            named_params![
                ":campaign": info.id,
                ":template": info.template,
                ":list": info.list,
                ":subject": info.subject,
                ":transport": info.transport,
                ":started_at": info.started_at,
            ],
        )?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO deliveries (campaign, email, status) VALUES (:campaign, :address, :status)
                 ON CONFLICT DO NOTHING",
            )?;
            for m in members {
                ins.execute(
                    named_params![":campaign": info.id, ":address": m, ":status": Status::Pending],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn finish_campaign(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE campaigns SET finished_at = :at WHERE id = :campaign",
            named_params![":campaign": id, ":at": now()],
        )?;
        Ok(())
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

    /// Records that `email`'s message was about to be handed to the server at `at`: if the
    /// run dies before the reply is recorded, the member is `uncertain`, never silently resent.
    pub fn start_attempt(
        &mut self,
        campaign: &str,
        email: &str,
        message_id: &str,
        at: &str,
    ) -> Result<()> {
        // An upsert: a member missing from the campaign (the list was rewritten during the
        // run) is recorded all the same, never mailed unrecorded.
        self.conn
            .prepare_cached(
                "INSERT INTO deliveries (campaign, email, status, message_id, first_attempt_at, last_attempt_at)
                 VALUES (:campaign, :address, :status, :message_id, :at, :at)
                 ON CONFLICT (campaign, email) DO UPDATE SET status = :status, message_id = :message_id,
                     first_attempt_at = coalesce(first_attempt_at, :at), last_attempt_at = :at",
            )?
            .execute(named_params![
                ":campaign": campaign,
                ":address": email,
                ":status": Status::Sending,
                ":message_id": message_id,
                ":at": at,
            ])?;
        Ok(())
    }

    /// The attempt recorded by [`Store::start_attempt`] never reached the server (the
    /// connection or login failed first): the member is pending again.
    pub fn unstart(&mut self, campaign: &str, email: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE deliveries SET status = :pending
                 WHERE campaign = :campaign AND email = :address AND status = :sending",
            )?
            .execute(named_params![
                ":campaign": campaign,
                ":address": email,
                ":pending": Status::Pending,
                ":sending": Status::Sending,
            ])?;
        Ok(())
    }

    /// After a crash: members left `sending` become `uncertain`. Returns how many.
    pub fn recover(&mut self, campaign: &str) -> Result<u64> {
        Ok(self.conn.execute(
            "UPDATE deliveries SET status = :uncertain, reason = :reason
             WHERE campaign = :campaign AND status = :sending",
            named_params![
                ":campaign": campaign,
                ":uncertain": Status::Uncertain,
                ":sending": Status::Sending,
                ":reason": format!("{}: the run stopped before the reply was recorded", Reason::Uncertain),
            ],
        )? as u64)
    }

    /// Times (RFC 3339) of the messages handed to any server since `since`, oldest first:
    /// the quota windows are the relay's, across campaigns.
    pub fn sent_since(&self, since: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT at FROM attempts WHERE at >= ?1 ORDER BY at")?;
        let rows = stmt.query_map([since], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

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

    /// Records one attempt's outcome (the reply, received at `at`) and the member's new status.
    pub fn record(
        &mut self,
        campaign: &str,
        email: &str,
        message_id: &str,
        reply: &Reply,
        at: &str,
    ) -> Result<()> {
        let status = Status::of(reply.kind);
        let reason = reply.reason();
        // Its own transaction alone, or part of the batch (no savepoint: the SQL of one
        // cost more than the writes).
        let own = match self.in_batch {
            true => None,
            false => Some(self.conn.unchecked_transaction()?),
        };
        let tx = &self.conn;
        // Cached statements: parsing the SQL again for every message cost more than running it.
        let attempt: u32 = tx
            .prepare_cached(
                "INSERT INTO deliveries (campaign, email, status, attempts, smtp_code, enhanced_code,
                     smtp_reply, message_id, first_attempt_at, last_attempt_at, reason)
                 VALUES (:campaign, :address, :status, 1, :code, :enhanced, :text, :message_id, :at, :at, :reason)
                 ON CONFLICT (campaign, email) DO UPDATE SET status = :status, attempts = attempts + 1,
                     smtp_code = :code, enhanced_code = :enhanced, smtp_reply = :text,
                     message_id = :message_id, first_attempt_at = coalesce(first_attempt_at, :at),
                     last_attempt_at = :at, reason = :reason
                 RETURNING attempts",
            )?
            .query_row(
                named_params![
                    ":campaign": campaign,
                    ":address": email,
                    ":status": status,
                    ":code": reply.code,
                    ":enhanced": reply.enhanced,
                    ":text": reply.text,
                    ":message_id": message_id,
                    ":at": at,
                    ":reason": reason,
                ],
                |r| r.get(0),
            )?;
        tx.prepare_cached(
            "INSERT INTO attempts (campaign, email, attempt, at, outcome, smtp_code, enhanced_code,
                 smtp_reply, message_id, reason)
             VALUES (:campaign, :address, :attempt, :at, :status, :code, :enhanced, :text,
                 :message_id, :reason)",
        )?
        .execute(named_params![
            ":campaign": campaign,
            ":address": email,
            ":attempt": attempt,
            ":at": at,
            ":status": status,
            ":code": reply.code,
            ":enhanced": reply.enhanced,
            ":text": reply.text,
            ":message_id": message_id,
            ":reason": reason,
        ])?;
        // The mailbox does not exist: never mail it again, in any campaign.
        if reason == Reason::HardBounce {
            let source = format!("campaign {campaign}: {}", reply.text);
            self.suppress_at(email, reason.as_str(), Some(&source), at)?;
        }
        if let Some(own) = own {
            own.commit()?;
        }
        Ok(())
    }

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

    pub fn counts(&self, campaign: &str) -> Result<Counts> {
        let mut c = Counts::default();
        let mut stmt = self.conn.prepare(
            "SELECT status, count(*) FROM deliveries WHERE campaign = ?1 GROUP BY status",
        )?;
        let rows = stmt.query_map([campaign], |r| {
            Ok((r.get::<_, Status>(0)?, r.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (status, n) = row?;
            c.members += n;
            match status {
                Status::Accepted => c.accepted += n,
                Status::Deferred => c.deferred += n,
                Status::Failed => c.failed += n,
                Status::Suppressed => c.suppressed += n,
                Status::Uncertain | Status::Sending => c.uncertain += n,
                Status::Pending => c.pending += n,
            }
        }
        Ok(c)
    }

    /// The first `limit` failed, deferred or uncertain members, in list order.
    pub fn unfinished(&self, campaign: &str, limit: usize) -> Result<Vec<LogRow>> {
        let unfinished = [
            Status::Failed,
            Status::Deferred,
            Status::Uncertain,
            Status::Sending,
        ];
        let filter = format!("AND status IN {}", Status::sql_list(&unfinished));
        self.log_where(campaign, &filter, limit)
    }

    /// Every member's row of `campaign`, in list order, handed to `each` one at a time: a
    /// million-member log is never held whole.
    pub fn each_log_row(
        &self,
        campaign: &str,
        mut each: impl FnMut(LogRow) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {LOG_COLUMNS} FROM deliveries WHERE campaign = ?1 ORDER BY rowid"
        ))?;
        let mut rows = stmt.query([campaign])?;
        while let Some(r) = rows.next()? {
            each(log_row(r)?)?;
        }
        Ok(())
    }

    fn log_where(&self, campaign: &str, filter: &str, limit: usize) -> Result<Vec<LogRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {LOG_COLUMNS} FROM deliveries WHERE campaign = :campaign {filter} ORDER BY rowid LIMIT :limit"
        ))?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = stmt.query_map(
            named_params![":campaign": campaign, ":limit": limit],
            log_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

const LOG_COLUMNS: &str = "email, status, attempts, smtp_code, enhanced_code, smtp_reply, \
                           message_id, first_attempt_at, last_attempt_at, reason";

/// A row of [`LOG_COLUMNS`].
fn log_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogRow> {
    Ok(LogRow {
        email: r.get(0)?,
        status: r.get(1)?,
        attempts: r.get(2)?,
        smtp_code: r.get(3)?,
        enhanced_code: r.get(4)?,
        smtp_reply: r.get(5)?,
        message_id: r.get(6)?,
        first_attempt_at: r.get(7)?,
        last_attempt_at: r.get(8)?,
        reason: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
