//! The journal: how a run records every attempt before it happens, at the cost of a `write`.
//!
//! A run appends each event (a message about to be handed to the server, a reply, an attempt
//! that never started) to a file beside the delivery log, `<store>.<campaign>.journal`, one
//! JSON line each, numbered. The coordinator writes a batch of events with one `write` before
//! any worker of that batch hears "go". A `write` is in the operating system's hands when it
//! returns, so it survives the process being killed: the same promise as a SQLite commit in
//! WAL mode with `synchronous = NORMAL`, which is what the store makes.
//!
//! Every second, every [`FOLD_EVENTS`] events, and whenever nothing is in flight, the events
//! are folded into the store in one transaction that also records the last sequence number
//! folded (`journal_folds`), and the file is emptied. A run that dies leaves the file behind:
//! the next command that opens the campaign (`send`, its dry run, `status`, `log`) folds in
//! what the store does not have yet, by sequence number, so a fold whose file was not emptied
//! is never applied twice. A torn last line (no newline: the run stopped mid-write) is left
//! out with a warning; any other unreadable line is an error naming the file and line, and the
//! file is left alone. The writer holds the file locked while it runs, and the campaign lock
//! keeps a second sender out.
//!
//! Why not commit each batch to SQLite directly: on two cores a commit per batch (a few pages
//! into the WAL, twice per message) cost 17% of throughput; a `write` per batch costs 4.5-15%
//! (`python3 bench/send.py`). Between folds, `status` run beside a send is up to a second
//! behind.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, show};
use crate::outcome::{Reply, ReplyKind};
use crate::store::{CampaignLock, Store};

/// Events held before a fold.
pub const FOLD_EVENTS: usize = 10_000;

/// Longest time an event waits to be folded while a run is busy; also the wait before trying
/// again when the store could not take a fold.
pub const FOLD_EVERY: Duration = Duration::from_secs(1);

/// Events a run holds while the store cannot take them (another program keeps it locked)
/// before it stops.
pub const MAX_UNFOLDED: usize = 10 * FOLD_EVENTS;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    seq: u64,
    #[serde(flatten)]
    event: Event,
}

/// What happened to one member's attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event {
    /// About to be handed to the server.
    Start {
        email: String,
        message_id: String,
        at: String,
    },
    /// The server's reply (or what went wrong).
    Reply {
        email: String,
        message_id: String,
        at: String,
        outcome: ReplyKind,
        code: Option<u16>,
        enhanced: Option<String>,
        text: String,
    },
    /// The attempt never reached the server (the connection or login failed first).
    Unstart { email: String },
}

/// Where `campaign`'s journal lives, beside the store (as its lock does).
pub fn path(store: &Path, campaign: &str) -> PathBuf {
    let name = store
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    store.with_file_name(format!("{name}.{campaign}.journal"))
}

/// A run's journal. [`Journal::off`] records nothing (the benchmark that prices the journal).
pub struct Journal {
    /// `None`: off.
    path: Option<PathBuf>,
    /// Opened at the first write, so a run that sends nothing leaves no file.
    file: Option<File>,
    campaign: String,
    seq: u64,
    /// Lines not yet written.
    buf: Vec<u8>,
    /// Events numbered up to `seq`, not yet folded.
    pending: Vec<Event>,
    last_fold: Instant,
    /// After a fold the store refused: no new try before this.
    not_before: Instant,
    /// The store has refused a fold since the last warning.
    warned: bool,
}

impl Journal {
    /// Opens `campaign`'s journal for a run, first folding in whatever an earlier run left.
    /// The caller holds the campaign's lock.
    pub fn open(
        store: &mut Store,
        store_path: &Path,
        campaign: &str,
        _lock: &CampaignLock,
    ) -> Result<Journal> {
        replay(store, store_path, campaign)?;
        Ok(Journal::new(
            Some(path(store_path, campaign)),
            campaign,
            store.journal_seq(campaign)?,
        ))
    }

    /// A journal that records nothing: never for real mail.
    pub fn off() -> Journal {
        Journal::new(None, "", 0)
    }

    fn new(path: Option<PathBuf>, campaign: &str, seq: u64) -> Journal {
        let now = Instant::now();
        Journal {
            path,
            file: None,
            campaign: campaign.to_string(),
            seq,
            buf: Vec::new(),
            pending: Vec::new(),
            last_fold: now,
            not_before: now,
            warned: false,
        }
    }

    fn push(&mut self, event: Event) {
        if self.path.is_none() {
            return;
        }
        self.seq += 1;
        let line = Line {
            seq: self.seq,
            event,
        };
        serde_json::to_writer(&mut self.buf, &line).expect("a journal line serializes");
        self.buf.push(b'\n');
        self.pending.push(line.event);
    }

    /// `email`'s message is about to be handed to the server.
    pub fn start(&mut self, email: &str, message_id: &str) {
        self.push(Event::Start {
            email: email.to_string(),
            message_id: message_id.to_string(),
            at: crate::store::now(),
        });
    }

    /// The server's reply to `email`'s message.
    pub fn reply(&mut self, email: &str, message_id: &str, reply: &Reply) {
        self.push(Event::Reply {
            email: email.to_string(),
            message_id: message_id.to_string(),
            at: crate::store::now(),
            outcome: reply.kind,
            code: reply.code,
            enhanced: reply.enhanced.clone(),
            text: reply.text.clone(),
        });
    }

    /// `email`'s attempt never reached the server.
    pub fn unstart(&mut self, email: &str) {
        self.push(Event::Unstart {
            email: email.to_string(),
        });
    }

    /// Writes the events so far: once this returns they survive the process being killed.
    pub fn write(&mut self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::io("open the journal", path, e))?;
                // Held until the run ends: no other command folds this file in meanwhile.
                file.try_lock().map_err(|e| {
                    Error::runtime(format!("failed to lock the journal `{}`: {e}", show(path)))
                })?;
                self.file.insert(file)
            }
        };
        file.write_all(&self.buf)
            .map_err(|e| Error::io("write the journal", path, e))?;
        self.buf.clear();
        Ok(())
    }

    /// When the events written should be folded in: now if there are many or nothing is in
    /// flight; `None` if there is nothing to fold.
    pub fn fold_at(&self, in_flight: usize) -> Option<Instant> {
        let at = match self.pending.len() {
            0 => return None,
            n if n >= FOLD_EVENTS || in_flight == 0 => self.last_fold,
            _ => self.last_fold + FOLD_EVERY,
        };
        Some(at.max(self.not_before))
    }

    /// Folds during a run. A store that cannot take the events now (another program holds
    /// it locked longer than the busy timeout) is no reason to stop: they are safe in the
    /// file, so this warns and tries again a second later. Errors only when writing the
    /// journal fails, or when [`MAX_UNFOLDED`] events are waiting.
    pub fn fold_or_wait(&mut self, store: &mut Store) -> Result<()> {
        self.write()?;
        match self.fold(store) {
            Ok(()) => {
                self.warned = false;
                Ok(())
            }
            Err(e) if self.pending.len() < MAX_UNFOLDED => {
                if !self.warned {
                    eprintln!(
                        "warning: the delivery log cannot take the journal's events now ({e}); they are safe in `{}` and go in when it can",
                        self.path.as_deref().map(show).unwrap_or_default()
                    );
                    self.warned = true;
                }
                self.not_before = Instant::now() + FOLD_EVERY;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Folds the events written into the store, and empties the file.
    pub fn fold(&mut self, store: &mut Store) -> Result<()> {
        self.write()?;
        self.last_fold = Instant::now();
        let (Some(file), Some(path)) = (&self.file, &self.path) else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        apply(store, &self.campaign, &self.pending, self.seq)?;
        self.pending.clear();
        // Folded (and the store knows up to where): what the file holds is no longer needed.
        // Were this lost, the next run would skip those lines by their numbers.
        file.set_len(0)
            .map_err(|e| Error::io("empty the journal", path, e))?;
        Ok(())
    }

    /// Folds in the rest and removes the file: the run is over.
    pub fn close(mut self, store: &mut Store) -> Result<()> {
        self.fold(store)?;
        if let (Some(_), Some(path)) = (self.file.take(), &self.path) {
            std::fs::remove_file(path).map_err(|e| Error::io("remove the journal", path, e))?;
        }
        Ok(())
    }
}

/// Applies `events` (the last numbered `seq`) to the store in one transaction.
fn apply(store: &mut Store, campaign: &str, events: &[Event], seq: u64) -> Result<()> {
    store.begin_batch()?;
    let applied = (|| {
        for event in events {
            match event {
                Event::Start {
                    email,
                    message_id,
                    at,
                } => store.start_attempt(campaign, email, message_id, at)?,
                Event::Reply {
                    email,
                    message_id,
                    at,
                    outcome,
                    code,
                    enhanced,
                    text,
                } => {
                    let reply = Reply {
                        kind: *outcome,
                        code: *code,
                        enhanced: enhanced.clone(),
                        text: text.clone(),
                        connecting: false,
                    };
                    store.record(campaign, email, message_id, &reply, at)?
                }
                Event::Unstart { email } => store.unstart(campaign, email)?,
            }
        }
        store.set_journal_seq(campaign, seq)
    })();
    match applied {
        Ok(()) => store.end_batch(),
        Err(e) => {
            store.abort_batch();
            Err(e)
        }
    }
}

/// Folds in what a run of `campaign` that died left in its journal, then removes the file.
/// Returns how many events were folded in. The caller holds the campaign's lock.
fn replay(store: &mut Store, store_path: &Path, campaign: &str) -> Result<u64> {
    let path = path(store_path, campaign);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("read the journal", &path, e)),
    };
    // Its writer holds it locked while it runs: a belt to the campaign lock's braces (say,
    // someone deleted the lock file during a send).
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(0),
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
    }
    let folded = store.journal_seq(campaign)?;
    let mut bytes = Vec::new();
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read the journal", &path, e))?;
    // The last line may lack its newline: the writer stopped in the middle of a write.
    let complete = bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes
        .strip_suffix(b"\n")
        .unwrap_or(&bytes)
        .split(|b| *b == b'\n')
        .collect();
    let mut events = Vec::new();
    let mut last = folded;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() && lines.len() == 1 {
            break;
        }
        match serde_json::from_slice::<Line>(line) {
            Ok(l) if l.seq > last => {
                last = l.seq;
                events.push(l.event);
            }
            Ok(_) => {}
            Err(_) if i + 1 == lines.len() && !complete => {
                eprintln!(
                    "warning: the journal `{}` ends in a torn record (line {}), left out: the run stopped while writing it",
                    show(&path),
                    i + 1
                );
            }
            Err(_) => {
                return Err(Error::runtime(format!(
                    "failed to read the journal `{}`: line {}: not a journal record; the file is left as it is",
                    show(&path),
                    i + 1
                )));
            }
        }
    }
    let n = events.len() as u64;
    if n > 0 && store.campaign(campaign)?.is_none() {
        return Err(Error::runtime(format!(
            "the journal `{}` holds {n} event{} of campaign `{campaign}`, which the delivery log `{}` does not have (was it replaced?): put that delivery log back, or move the journal away to start afresh",
            show(&path),
            if n == 1 { "" } else { "s" },
            show(store_path)
        )));
    }
    if n > 0 {
        apply(store, campaign, &events, last)?;
    }
    std::fs::remove_file(&path).map_err(|e| Error::io("remove the journal", &path, e))?;
    Ok(n)
}

/// Folds in a journal left by a run of `campaign` that died, unless a run is sending it now
/// (that run folds its own): then returns that run's process ID. For the commands that read
/// the store; they take the campaign's lock only while there is a journal to fold in.
pub fn settle(store: &mut Store, store_path: &Path, campaign: &str) -> Result<Option<String>> {
    if !path(store_path, campaign).exists() {
        return CampaignLock::sender(store_path, campaign);
    }
    match CampaignLock::try_acquire(store_path, campaign)? {
        Ok(_lock) => replay(store, store_path, campaign).map(|_| None),
        Err(running) => Ok(Some(running)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Status;
    use crate::store::{CampaignInfo, Store};

    fn store(dir: &Path, members: &[&str]) -> Store {
        let mut store = Store::open(&dir.join("m.db")).unwrap();
        let info = CampaignInfo {
            id: "c".into(),
            template: "t".into(),
            list: "l".into(),
            subject: "s".into(),
            transport: "x".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            finished_at: None,
        };
        store
            .begin_campaign(&info, members.iter().map(|m| m.to_string()))
            .unwrap();
        store
    }

    fn status(store: &Store, email: &str) -> (Status, u32) {
        let mut out = None;
        store
            .each_log_row("c", |r| {
                if r.email == email {
                    out = Some((r.status, r.attempts));
                }
                Ok(())
            })
            .unwrap();
        out.unwrap()
    }

    #[test]
    fn a_killed_run_is_folded_in_once_by_the_next_command() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut s = store(
            dir.path(),
            &["a@example.org", "b@example.org", "c@example.org"],
        );
        {
            let lock = CampaignLock::acquire(&db, "c").unwrap();
            let mut j = Journal::open(&mut s, &db, "c", &lock).unwrap();
            j.start("a@example.org", "<1@x>");
            j.reply(
                "a@example.org",
                "<1@x>",
                &Reply::accepted(Some(250), "250 ok".into()),
            );
            j.fold(&mut s).unwrap();
            j.start("b@example.org", "<2@x>");
            j.reply(
                "b@example.org",
                "<2@x>",
                &Reply::accepted(Some(250), "250 ok".into()),
            );
            j.start("c@example.org", "<3@x>");
            j.write().unwrap();
            // Killed here: the last three events are only in the file.
        }
        assert_eq!(status(&s, "a@example.org"), (Status::Accepted, 1));
        assert_eq!(status(&s, "b@example.org"), (Status::Pending, 0));
        let text = std::fs::read_to_string(path(&db, "c")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.starts_with(r#"{"seq":3,"event":"start","email":"b@example.org""#),
            "{text}"
        );

        settle(&mut s, &db, "c").unwrap();
        assert_eq!(status(&s, "b@example.org"), (Status::Accepted, 1));
        assert_eq!(status(&s, "c@example.org"), (Status::Sending, 0));
        assert!(!path(&db, "c").exists());
        assert_eq!(s.journal_seq("c").unwrap(), 5);

        // A file that was folded but not emptied (killed between the two) is not applied twice.
        std::fs::write(path(&db, "c"), text).unwrap();
        settle(&mut s, &db, "c").unwrap();
        assert_eq!(status(&s, "b@example.org"), (Status::Accepted, 1));
        let mut attempts = 0;
        s.each_log_row("c", |r| {
            attempts += r.attempts;
            Ok(())
        })
        .unwrap();
        assert_eq!(attempts, 2);
    }

    #[test]
    fn events_are_folded_when_many_when_idle_or_after_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut s = store(dir.path(), &["a@example.org"]);
        let lock = CampaignLock::acquire(&db, "c").unwrap();
        let mut j = Journal::open(&mut s, &db, "c", &lock).unwrap();
        assert_eq!(j.fold_at(4), None);
        j.start("a@example.org", "<1@x>");
        let last = j.last_fold;
        assert_eq!(j.fold_at(4), Some(last + FOLD_EVERY));
        assert_eq!(j.fold_at(0), Some(last));
        for _ in 1..FOLD_EVENTS {
            j.unstart("a@example.org");
        }
        assert_eq!(j.fold_at(4), Some(last));
        j.fold(&mut s).unwrap();
        assert_eq!(j.fold_at(0), None);
        assert_eq!(std::fs::metadata(path(&db, "c")).unwrap().len(), 0);
        j.close(&mut s).unwrap();
        assert!(!path(&db, "c").exists());
        assert_eq!(s.journal_seq("c").unwrap(), FOLD_EVENTS as u64);
    }

    #[test]
    fn a_store_locked_by_another_program_delays_the_fold_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut s = store(dir.path(), &["a@example.org"]);
        s.set_busy_timeout_for_tests(std::time::Duration::from_millis(50));
        let lock = CampaignLock::acquire(&db, "c").unwrap();
        let mut j = Journal::open(&mut s, &db, "c", &lock).unwrap();
        j.start("a@example.org", "<1@x>");
        let other = rusqlite::Connection::open(&db).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // Busy: a warning, the event kept, and no new try for a second.
        j.fold_or_wait(&mut s).unwrap();
        assert_eq!(j.pending.len(), 1);
        assert!(j.fold_at(0).unwrap() >= Instant::now() + FOLD_EVERY - Duration::from_millis(100));
        other.execute_batch("COMMIT").unwrap();
        j.fold_or_wait(&mut s).unwrap();
        assert!(j.pending.is_empty());
        assert_eq!(status(&s, "a@example.org"), (Status::Sending, 0));
        // The batch that failed left no transaction open: the store takes writes again.
        j.reply(
            "a@example.org",
            "<1@x>",
            &Reply::accepted(Some(250), "250 ok".into()),
        );
        j.close(&mut s).unwrap();
        assert_eq!(status(&s, "a@example.org"), (Status::Accepted, 1));
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_a_torn_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut s = store(dir.path(), &["a@example.org", "b@example.org"]);
        let good = r#"{"seq":1,"event":"start","email":"a@example.org","message_id":"<1@x>","at":"2026-01-01T00:00:01.000Z"}"#;
        std::fs::write(path(&db, "c"), format!("{good}\n{{\"seq\":2,\"ev")).unwrap();
        settle(&mut s, &db, "c").unwrap();
        assert_eq!(status(&s, "a@example.org"), (Status::Sending, 0));
        assert!(!path(&db, "c").exists());

        // A bad line with its newline was written whole: not torn, an error.
        std::fs::write(path(&db, "c"), format!("{good}\ngarbage\n")).unwrap();
        let e = settle(&mut s, &db, "c").unwrap_err().to_string();
        assert!(
            e.ends_with("line 2: not a journal record; the file is left as it is"),
            "{e}"
        );

        let broken = format!("garbage\n{}\n", good.replace("\"seq\":1", "\"seq\":2"));
        std::fs::write(path(&db, "c"), &broken).unwrap();
        let e = settle(&mut s, &db, "c").unwrap_err().to_string();
        assert!(
            e.ends_with("m.db.c.journal`: line 1: not a journal record; the file is left as it is"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(path(&db, "c")).unwrap(), broken);
    }

    #[test]
    fn a_journal_without_its_campaign_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut s = Store::open(&db).unwrap();
        let line = r#"{"seq":1,"event":"start","email":"a@example.org","message_id":"<1@x>","at":"2026-01-01T00:00:01.000Z"}"#;
        std::fs::write(path(&db, "c"), format!("{line}\n")).unwrap();
        let e = settle(&mut s, &db, "c").unwrap_err().to_string();
        assert!(
            e.ends_with(&format!(
                "m.db.c.journal` holds 1 event of campaign `c`, which the delivery log `{}` does not have (was it replaced?): put that delivery log back, or move the journal away to start afresh",
                show(&db)
            )),
            "{e}"
        );
        assert!(path(&db, "c").exists());
    }

    #[test]
    fn a_journal_being_written_by_a_running_send_is_left_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let mut s = store(dir.path(), &["a@example.org"]);
        let lock = CampaignLock::acquire(&db, "c").unwrap();
        let mut j = Journal::open(&mut s, &db, "c", &lock).unwrap();
        j.start("a@example.org", "<1@x>");
        j.write().unwrap();
        // `status` from another process: the lock is taken, so it reads what is folded.
        let mut other = Store::open(&db).unwrap();
        let held = std::thread::spawn(move || settle(&mut other, &db, "c").map(|pid| (pid, other)));
        let (pid, other) = held.join().unwrap().unwrap();
        assert_eq!(pid, Some(std::process::id().to_string()));
        assert_eq!(status(&other, "a@example.org"), (Status::Pending, 0));
        j.fold(&mut s).unwrap();
        assert_eq!(status(&other, "a@example.org"), (Status::Sending, 0));
        drop(lock);
    }
}
