//! Where an import's members wait to be merged and written: in memory while they fit (a hash
//! table of indexes over one byte arena, no allocation per member), in a scratch SQLite file
//! beyond [`MEMORY_LIMIT`], so that memory stays bounded whatever the input's size.
//!
//! A member is one record of bytes: its address, then each other value with its column:
//! `len(email) email (column len value)*`, lengths as LEB128 varints, columns as `u16`.
//! The members come out in the order they were first staged: the existing list's, then
//! the new ones in the order the import first named them.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rusqlite::params;

use crate::error::{Error, Result};

/// Bytes of member records held in memory before the merge moves to a scratch file (about
/// 1.5 million members of a five-column export).
pub const MEMORY_LIMIT: usize = 128 << 20;

/// Appends a record: the address, then `(column, value)` for every other value.
pub fn encode<'a>(
    out: &mut Vec<u8>,
    email: &str,
    fields: impl IntoIterator<Item = (u16, &'a [u8])>,
) {
    varint(out, email.len());
    out.extend_from_slice(email.as_bytes());
    for (col, value) in fields {
        out.extend_from_slice(&col.to_le_bytes());
        varint(out, value.len());
        out.extend_from_slice(value);
    }
}

fn varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(rec: &[u8], at: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = rec[*at];
        *at += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

fn bytes<'a>(rec: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = read_varint(rec, at);
    let s = &rec[*at..*at + len];
    *at += len;
    s
}

/// The address a record holds, as bytes (UTF-8: records are only made from `&str`s).
fn email_bytes(rec: &[u8]) -> &[u8] {
    bytes(rec, &mut 0)
}

/// The address a record holds.
pub fn email(rec: &[u8]) -> &str {
    std::str::from_utf8(email_bytes(rec)).expect("records hold UTF-8")
}

/// The values of a record other than the address, with their columns (UTF-8 bytes).
pub fn fields(rec: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    bytes(rec, &mut at);
    std::iter::from_fn(move || {
        if at >= rec.len() {
            return None;
        }
        let col = u16::from_le_bytes([rec[at], rec[at + 1]]);
        at += 2;
        Some((col, bytes(rec, &mut at)))
    })
}

/// Merges `new` into `old` (written to `out`): a later non-empty value replaces an earlier
/// one, an empty one never erases, the address keeps its first spelling. Returns whether any
/// value changed.
pub fn merge(old: &[u8], new: &[u8], out: &mut Vec<u8>) -> bool {
    let mut changed = false;
    let news: Vec<(u16, &[u8])> = fields(new).filter(|(_, v)| !v.is_empty()).collect();
    let mut merged: Vec<(u16, &[u8])> = Vec::new();
    for (col, v) in fields(old) {
        match news.iter().find(|(c, _)| *c == col) {
            Some(&(_, nv)) => {
                changed |= nv != v;
                merged.push((col, nv));
            }
            None => merged.push((col, v)),
        }
    }
    for &(col, v) in &news {
        if !merged.iter().any(|(c, _)| *c == col) {
            changed = true;
            merged.push((col, v));
        }
    }
    encode(out, email(old), merged);
    changed
}

/// Whether the address `stored` has the [`crate::address::key`] `key` (without allocating
/// for an ASCII address, whose key is its lowercase).
fn same_key(stored: &[u8], key: &str) -> bool {
    if stored.is_ascii() {
        stored.eq_ignore_ascii_case(key.as_bytes())
    } else {
        std::str::from_utf8(stored).is_ok_and(|s| crate::address::key(s) == key)
    }
}

/// The table's hash for a 32-bit tag: the tag in both halves, so that hashbrown's bucket
/// (low bits) and control byte (top bits) both come from it.
fn spread(tag: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(tag)
}

/// One staged member, as handed out for writing.
pub struct Member<'a> {
    /// On the list being merged into.
    pub existing: bool,
    /// Named by the import.
    pub imported: bool,
    /// A value of an existing member changed.
    pub changed: bool,
    pub record: &'a [u8],
}

impl Member<'_> {
    /// The address's [`crate::address::key`].
    pub fn key(&self) -> String {
        crate::address::key(email(self.record))
    }
}

const EXISTING: u8 = 1;
const IMPORTED: u8 = 2;
const CHANGED: u8 = 4;

struct Slot {
    start: u32,
    len: u32,
    flags: u8,
}

struct Memory {
    /// (slot, tag): the tag, 32 bits of the address's hash, is compared before the record
    /// is touched, so a lookup reads no record but its own.
    table: HashTable<(u32, u32)>,
    slots: Vec<Slot>,
    arena: Vec<u8>,
    hasher: std::hash::RandomState,
}

impl Memory {
    fn record(&self, i: u32) -> &[u8] {
        let s = &self.slots[i as usize];
        &self.arena[s.start as usize..(s.start + s.len) as usize]
    }

    fn tag(&self, key: &str) -> u32 {
        let h = self.hasher.hash_one(key);
        (h as u32) ^ ((h >> 32) as u32)
    }

    fn find(&self, key: &str, tag: u32) -> Option<u32> {
        self.table
            .find(spread(tag), |&(i, t)| {
                t == tag && same_key(email_bytes(self.record(i)), key)
            })
            .map(|&(i, _)| i)
    }

    fn push(&mut self, tag: u32, record: &[u8], flags: u8) {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(record);
        let i = self.slots.len() as u32;
        self.slots.push(Slot {
            start,
            len: record.len() as u32,
            flags,
        });
        self.table
            .insert_unique(spread(tag), (i, tag), |&(_, t)| spread(t));
    }
}

/// The staged members.
pub struct Stage {
    memory: Option<Memory>,
    disk: Option<Disk>,
    limit: usize,
    scratch: Vec<u8>,
}

impl Default for Stage {
    fn default() -> Self {
        Stage::with_limit(MEMORY_LIMIT)
    }
}

impl Stage {
    /// A stage that moves to disk beyond `limit` bytes of records.
    pub fn with_limit(limit: usize) -> Stage {
        Stage {
            memory: Some(Memory {
                table: HashTable::new(),
                slots: Vec::new(),
                arena: Vec::new(),
                hasher: std::hash::RandomState::new(),
            }),
            disk: None,
            limit,
            scratch: Vec::new(),
        }
    }

    /// Moves to disk if `extra` more bytes would pass the limit.
    fn make_room(&mut self, extra: usize) -> Result<()> {
        let Some(m) = &self.memory else {
            return Ok(());
        };
        if m.arena.len() + extra <= self.limit {
            return Ok(());
        }
        let m = self.memory.take().expect("checked above");
        let disk = Disk::new()?;
        for (i, s) in m.slots.iter().enumerate() {
            let rec = m.record(i as u32);
            disk.insert(&crate::address::key(email(rec)), s.flags, rec)?;
        }
        self.disk = Some(disk);
        Ok(())
    }

    /// A member of the list being merged into (a second one with the same address is ignored).
    pub fn existing(&mut self, key: &str, record: &[u8]) -> Result<()> {
        self.make_room(record.len())?;
        if let Some(m) = &mut self.memory {
            let tag = m.tag(key);
            if m.find(key, tag).is_none() {
                m.push(tag, record, EXISTING);
            }
            return Ok(());
        }
        self.disk
            .as_ref()
            .expect("memory or disk")
            .insert(key, EXISTING, record)?;
        Ok(())
    }

    /// A row of an import; returns true when its address came earlier in the import (a
    /// duplicate, merged into that member).
    pub fn imported(&mut self, key: &str, record: &[u8]) -> Result<bool> {
        self.make_room(record.len() * 2)?;
        if let Some(m) = &mut self.memory {
            let tag = m.tag(key);
            let Some(i) = m.find(key, tag) else {
                m.push(tag, record, IMPORTED);
                return Ok(false);
            };
            self.scratch.clear();
            let changed = merge(m.record(i), record, &mut self.scratch);
            let start = m.arena.len() as u32;
            let slot = &mut m.slots[i as usize];
            let duplicate = slot.flags & IMPORTED != 0;
            slot.flags |= IMPORTED;
            if changed {
                // The merged record replaces the old one, which stays unused in the arena.
                slot.start = start;
                slot.len = self.scratch.len() as u32;
                slot.flags |= CHANGED;
                m.arena.extend_from_slice(&self.scratch);
            }
            return Ok(duplicate);
        }
        let disk = self.disk.as_ref().expect("memory or disk");
        disk.imported(key, record, &mut self.scratch)
    }

    /// Hands out every member in order.
    pub fn for_each(&self, mut f: impl FnMut(Member<'_>) -> Result<()>) -> Result<()> {
        if let Some(m) = &self.memory {
            for (i, s) in m.slots.iter().enumerate() {
                let record = m.record(i as u32);
                f(Member {
                    existing: s.flags & EXISTING != 0,
                    imported: s.flags & IMPORTED != 0,
                    changed: s.flags & CHANGED != 0,
                    record,
                })?;
            }
            return Ok(());
        }
        self.disk.as_ref().expect("memory or disk").for_each(f)
    }

    /// Whether the members have moved to the scratch file.
    pub fn on_disk(&self) -> bool {
        self.disk.is_some()
    }
}

/// The scratch SQLite file the members move to beyond the memory limit.
struct Disk {
    _dir: tempfile::TempDir,
    db: rusqlite::Connection,
}

impl Disk {
    fn new() -> Result<Disk> {
        let dir = tempfile::tempdir()
            .map_err(|e| Error::runtime(format!("failed to create a scratch folder: {e}")))?;
        let db =
            rusqlite::Connection::open(dir.path().join("import.db")).map_err(Error::scratch)?;
        db.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -16000;
             CREATE TABLE rows (ord INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
                                flags INTEGER NOT NULL, data BLOB NOT NULL);
             BEGIN;",
        )
        .map_err(Error::scratch)?;
        Ok(Disk { _dir: dir, db })
    }

    /// Inserts a member unless its address is there; returns whether it was inserted.
    fn insert(&self, key: &str, flags: u8, record: &[u8]) -> Result<bool> {
        self.try_insert(key, flags, record).map_err(Error::scratch)
    }

    fn try_insert(&self, key: &str, flags: u8, record: &[u8]) -> rusqlite::Result<bool> {
        Ok(self
            .db
            .prepare_cached(
                "INSERT INTO rows (key, flags, data) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?
            .execute(params![key, flags, record])?
            == 1)
    }

    fn imported(&self, key: &str, record: &[u8], scratch: &mut Vec<u8>) -> Result<bool> {
        self.try_imported(key, record, scratch)
            .map_err(Error::scratch)
    }

    fn try_imported(
        &self,
        key: &str,
        record: &[u8],
        scratch: &mut Vec<u8>,
    ) -> rusqlite::Result<bool> {
        // Most rows are new: try the insert first, merge only on a conflict.
        if self.try_insert(key, IMPORTED, record)? {
            return Ok(false);
        }
        let (flags, data): (u8, Vec<u8>) = self
            .db
            .prepare_cached("SELECT flags, data FROM rows WHERE key = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        scratch.clear();
        let changed = merge(&data, record, scratch);
        let duplicate = flags & IMPORTED != 0;
        let flags = flags | IMPORTED | if changed { CHANGED } else { 0 };
        self.db
            .prepare_cached("UPDATE rows SET flags = ?2, data = ?3 WHERE key = ?1")?
            .execute(params![key, flags, &scratch[..]])?;
        Ok(duplicate)
    }

    fn for_each(&self, mut f: impl FnMut(Member<'_>) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .db
            .prepare("SELECT flags, data FROM rows ORDER BY ord")
            .map_err(Error::scratch)?;
        let mut rows = stmt.query([]).map_err(Error::scratch)?;
        while let Some(r) = rows.next().map_err(Error::scratch)? {
            let flags: u8 = r.get(0).map_err(Error::scratch)?;
            let record = r
                .get_ref(1)
                .and_then(|v| v.as_blob().map_err(rusqlite::Error::from))
                .map_err(Error::scratch)?;
            f(Member {
                existing: flags & EXISTING != 0,
                imported: flags & IMPORTED != 0,
                changed: flags & CHANGED != 0,
                record,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_earlier_values_that_later_rows_leave_empty() {
        let (mut a, mut b, mut out) = (Vec::new(), Vec::new(), Vec::new());
        encode(&mut a, "A@x.org", [(1, &b"Ann"[..]), (2, b"Lee")]);
        encode(&mut b, "a@x.org", [(1, &b""[..]), (3, b"Acme"), (4, b"")]);
        assert!(merge(&a, &b, &mut out));
        assert_eq!(email(&out), "A@x.org", "the first spelling stays");
        assert_eq!(
            fields(&out).collect::<Vec<_>>(),
            vec![(1, &b"Ann"[..]), (2, b"Lee"), (3, b"Acme")]
        );
        let mut same = Vec::new();
        encode(&mut same, "a@x.org", [(2, &b"Lee"[..]), (1, b"")]);
        assert!(!merge(&a, &same, &mut Vec::new()), "nothing changed");
    }
}
