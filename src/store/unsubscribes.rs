//! Unsubscribes that `mailshot serve` has promised but the store may not hold yet.
//!
//! The service answers 200 only once an unsubscribe is on disk, and the store can be busy for
//! seconds (a send planning a large run) or replaced under it. So each unsubscribe is first
//! appended to `<store>.unsubscribes` (one JSON line, fsynced, under an exclusive file lock)
//! and only then folded into the store's `suppressions` table by [`fold`]: by the service at
//! once and every second while any wait, and by every command that opens the store
//! ([`crate::store::Store::open`]). A running send reads the file itself ([`Watch`]) so a
//! member unsubscribed meanwhile is not mailed, however busy the store.
//!
//! The file's first line names it and carries a random id, written afresh each time the file
//! is emptied, so a reader notices that the file was folded and refilled. A line without its
//! newline (a crash mid-write) was never answered 200 and is ignored; the next append starts
//! a new line. Folding is idempotent: a crash between the store's commit and the emptying of
//! the file folds the same lines again, harmlessly.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Store;

/// How often a [`Watch`] looks at the file, at most: a stat before each member would cost a
/// system call each; every 10 ms is before each member of any paced run.
const WATCH_EVERY: Duration = Duration::from_millis(10);

/// One unsubscribe, as a line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub email: String,
    /// `unsubscribed`.
    pub reason: String,
    pub source: String,
    /// When it was received (RFC 3339 UTC).
    pub at: String,
}

/// The first line of the file.
#[derive(Serialize, Deserialize)]
struct Header {
    mailshot: String,
    id: String,
}

/// `<store>.unsubscribes`, beside the store.
pub fn path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".unsubscribes");
    PathBuf::from(name)
}

/// Appends `entries` to the file beside `store` and syncs them to disk (the file, and the
/// folder when the file is new) before returning: one write and one sync for them all.
pub fn append(store: &Path, entries: &[Entry]) -> Result<()> {
    let path = path(store);
    let io = |e: std::io::Error| Error::io("record the unsubscribe in", &path, e);
    let open = |create| {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(create)
            .open(&path)
    };
    // Created here: the folder's entry is synced too. (An existing file emptied by a fold
    // needs no more than its own sync.)
    let (mut file, created) = match open(false) {
        Ok(f) => (f, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match open(true) {
            Ok(f) => (f, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                (open(false).map_err(io)?, false)
            }
            Err(e) => return Err(io(e)),
        },
        Err(e) => return Err(io(e)),
    };
    file.lock().map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut line = Vec::new();
    if len == 0 {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| Error::runtime(format!("no randomness: {e}")))?;
        let header = Header {
            mailshot: "unsubscribes".into(),
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
        };
        line.extend(serde_json::to_vec(&header).expect("plain strings"));
        line.push(b'\n');
    } else {
        // A line a crash cut short is closed first, so this one stands alone.
        let mut last = [0u8];
        file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
        file.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    for entry in entries {
        line.extend(serde_json::to_vec(entry).expect("plain strings"));
        line.push(b'\n');
    }
    file.write_all(&line).map_err(io)?;
    file.sync_data().map_err(io)?;
    if created && let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// The entries in `bytes` (the file's content) up to its last newline; the header and any
/// line that does not parse (cut short by a crash: never answered) are skipped.
fn entries(bytes: &[u8]) -> Vec<Entry> {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes[..end]
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Entry>(l).ok())
        .collect()
}

/// What [`fold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folded {
    /// The file holds no unsubscribe.
    Nothing,
    /// This many were written into the store (some perhaps already there) and the file emptied.
    Done(usize),
    /// The store stayed busy for the whole wait; this many still wait in the file.
    Busy(usize),
}

/// Folds the file beside `store_path` into `store`'s suppressions (one transaction, synced to
/// disk before the file is emptied), waiting at most `wait` for the store.
pub fn fold(store: &mut Store, store_path: &Path, wait: Duration) -> Result<Folded> {
    let path = path(store_path);
    let io = |e: std::io::Error| Error::io("fold in the unsubscribes of", &path, e);
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Folded::Nothing),
        Err(e) => return Err(io(e)),
    };
    if file.metadata().map_err(io)?.len() == 0 {
        return Ok(Folded::Nothing);
    }
    // The store first, then the file: the service's appends wait only for the commit.
    let n = store.write_durably(wait, |s| {
        file.lock().map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let entries = entries(&bytes);
        for e in &entries {
            s.suppress_at(&e.email, &e.reason, Some(&e.source), &e.at)?;
        }
        Ok(entries.len())
    })?;
    match n {
        Some(n) => {
            // Not synced: should the emptying be lost in a crash, the lines are folded again,
            // harmlessly.
            file.set_len(0).map_err(io)?;
            Ok(if n == 0 {
                Folded::Nothing
            } else {
                Folded::Done(n)
            })
        }
        None => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io)?;
            Ok(Folded::Busy(entries(&bytes).len()))
        }
    }
}

/// The unsubscribes waiting in the file beside `store`, without taking its lock (a reader,
/// e.g. `suppress list` when the store is busy).
pub fn pending(store: &Path) -> Result<Vec<Entry>> {
    let path = path(store);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(entries(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// A running send's view of the file: every address unsubscribed in it since the send began,
/// re-read only when the file changed. Takes no lock: the service is never held up.
#[derive(Debug)]
pub struct Watch {
    path: PathBuf,
    state: std::cell::RefCell<WatchState>,
}

#[derive(Debug, Default)]
struct WatchState {
    checked: Option<Instant>,
    /// `(len, modified)` when last read.
    seen: Option<(u64, Option<SystemTime>)>,
    /// The header line read, and the bytes consumed after it.
    header: Vec<u8>,
    offset: u64,
    /// The addresses' keys ([`crate::address::key`]), as the store compares them.
    emails: HashSet<String>,
}

impl Watch {
    pub fn new(store: &Path) -> Watch {
        Watch {
            path: path(store),
            state: Default::default(),
        }
    }

    /// Whether `email` was unsubscribed in the file (since this watch began or the file last
    /// changed); the file is looked at again at most every `WATCH_EVERY`.
    pub fn contains(&self, email: &str) -> Result<bool> {
        let mut st = self.state.borrow_mut();
        if st.checked.is_none_or(|t| t.elapsed() >= WATCH_EVERY) {
            st.checked = Some(Instant::now());
            self.refresh(&mut st)?;
        }
        Ok(!st.emails.is_empty() && st.emails.contains(&crate::address::key(email)))
    }

    fn refresh(&self, st: &mut WatchState) -> Result<()> {
        let io = |e: std::io::Error| Error::io("read", &self.path, e);
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        let now = (meta.len(), meta.modified().ok());
        if st.seen == Some(now) {
            return Ok(());
        }
        st.seen = Some(now);
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        // Emptied and refilled since the last read: a new header; read it all again.
        let header_end = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        if bytes[..header_end] != st.header[..] || (bytes.len() as u64) < st.offset {
            st.header = bytes[..header_end].to_vec();
            st.offset = header_end as u64;
        }
        let from = (st.offset as usize).min(bytes.len());
        let end = bytes[from..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(from, |i| from + i + 1);
        for e in entries(&bytes[from..end]) {
            st.emails.insert(crate::address::key(&e.email));
        }
        st.offset = end as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(email: &str) -> Entry {
        Entry {
            email: email.into(),
            reason: "unsubscribed".into(),
            source: "one-click unsubscribe".into(),
            at: crate::store::now(),
        }
    }

    #[test]
    fn appended_unsubscribes_are_seen_by_a_watch_and_folded_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let watch = Watch::new(&db);
        assert!(!watch.contains("ann@example.org").unwrap());
        append(&db, &[entry("Ann@example.org")]).unwrap();
        std::thread::sleep(WATCH_EVERY);
        assert!(watch.contains("ann@example.org").unwrap());
        let waiting: Vec<String> = pending(&db).unwrap().into_iter().map(|e| e.email).collect();
        assert_eq!(waiting, ["Ann@example.org"]);

        // Folded: in the store, the file emptied; a second fold finds nothing.
        let mut store = Store::open(&db).unwrap();
        assert!(std::fs::metadata(path(&db)).unwrap().len() == 0);
        assert_eq!(store.suppressions().unwrap()[0].email, "ann@example.org");
        assert_eq!(
            fold(&mut store, &db, Duration::ZERO).unwrap(),
            Folded::Nothing
        );

        // Refilled past the old length: the watch notices the new header and reads it all.
        append(&db, &[entry("bob.has.a.much.longer.address@example.org")]).unwrap();
        std::thread::sleep(WATCH_EVERY);
        assert!(
            watch
                .contains("bob.has.a.much.longer.address@example.org")
                .unwrap()
        );
        assert!(watch.contains("ann@example.org").unwrap());
        assert_eq!(
            fold(&mut store, &db, Duration::ZERO).unwrap(),
            Folded::Done(1)
        );
    }

    #[test]
    fn a_line_cut_short_is_skipped_and_the_next_one_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        append(&db, &[entry("ann@example.org")]).unwrap();
        let mut f = OpenOptions::new().append(true).open(path(&db)).unwrap();
        f.write_all(b"{\"email\":\"cut@exa").unwrap();
        assert_eq!(pending(&db).unwrap().len(), 1);
        append(&db, &[entry("bob@example.org")]).unwrap();
        let emails: Vec<String> = pending(&db).unwrap().into_iter().map(|e| e.email).collect();
        assert_eq!(emails, ["ann@example.org", "bob@example.org"]);
    }

    #[test]
    fn a_busy_store_keeps_the_unsubscribes_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut store = Store::open(&db).unwrap();
        append(&db, &[entry("ann@example.org")]).unwrap();
        let other = rusqlite::Connection::open(&db).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        assert_eq!(
            fold(&mut store, &db, Duration::from_millis(50)).unwrap(),
            Folded::Busy(1)
        );
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(
            fold(&mut store, &db, Duration::from_millis(50)).unwrap(),
            Folded::Done(1)
        );
        assert_eq!(store.suppressions().unwrap().len(), 1);
    }
}
