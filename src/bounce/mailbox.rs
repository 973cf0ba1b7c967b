//! A bounce mailbox given as a path (`mailshot bounces --from PATH`): a Maildir (a folder
//! with `cur/` and `new/`) or an mbox file.
//!
//! In a Maildir a message read is moved (renamed, never copied and deleted) into the
//! Maildir++ subfolder `.<processed_folder>/cur/`, as Dovecot and Courier lay folders out.
//! An mbox is only read, never written: re-reading it changes nothing, since every report
//! is recorded by its Message-ID.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, show};

/// A mailbox on disk.
#[derive(Debug, Clone)]
pub enum Mailbox {
    Maildir(PathBuf),
    Mbox(PathBuf),
}

/// One message of a mailbox on disk.
#[derive(Debug)]
pub struct Item {
    /// Where it is, for messages (`Maildir/new/1700000000.M1.host`, `bounces.mbox` message 3).
    pub name: String,
    pub raw: Vec<u8>,
    /// Its file, in a Maildir.
    file: Option<PathBuf>,
}

impl Mailbox {
    /// The mailbox at `path`: a folder must be a Maildir (`cur/` or `new/` in it), a file is
    /// read as mbox.
    pub fn open(path: &Path) -> Result<Mailbox> {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::input(format!("failed to read mailbox `{}`: {e}", show(path))))?;
        if meta.is_file() {
            return Ok(Mailbox::Mbox(path.to_path_buf()));
        }
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            return Ok(Mailbox::Maildir(path.to_path_buf()));
        }
        Err(Error::input(format!(
            "`{}` is neither a Maildir (no `cur/` or `new/` in it) nor an mbox file",
            show(path)
        )))
    }

    /// Every message, oldest first (Maildir: `new/` then `cur/`, each by name).
    pub fn messages(&self) -> Result<Vec<Item>> {
        match self {
            Mailbox::Maildir(dir) => {
                let mut items = Vec::new();
                for sub in ["new", "cur"] {
                    let mut files = list(&dir.join(sub))?;
                    files.sort();
                    for f in files {
                        let raw = read_capped(&f)?;
                        let name = show(&f).to_string();
                        items.push(Item {
                            name,
                            raw,
                            file: Some(f),
                        });
                    }
                }
                Ok(items)
            }
            Mailbox::Mbox(file) => {
                let text = std::fs::read(file).map_err(|e| Error::io("read", file, e))?;
                Ok(split_mbox(&text)
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut raw)| {
                        raw.truncate(super::MAX_MESSAGE_BYTES);
                        Item {
                            name: format!("{} message {}", show(file), i + 1),
                            raw,
                            file: None,
                        }
                    })
                    .collect())
            }
        }
    }

    /// Moves a read message into the processed folder (a Maildir only; see the module).
    pub fn processed(&self, item: &Item, folder: &str) -> Result<()> {
        let (Mailbox::Maildir(dir), Some(file)) = (self, &item.file) else {
            return Ok(());
        };
        let target = dir.join(format!(".{folder}"));
        for sub in ["cur", "new", "tmp"] {
            let d = target.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| Error::io("create", &d, e))?;
        }
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // Maildir's `cur/` names carry flags after `:2,`: a message moved there is seen.
        let name = match name.contains(":2,") {
            true => name,
            false => format!("{name}:2,S"),
        };
        let to = target.join("cur").join(name);
        std::fs::rename(file, &to).map_err(|e| Error::io("move", file, e))
    }
}

/// The first [`super::MAX_MESSAGE_BYTES`] of the file at `path`.
fn read_capped(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut raw = Vec::new();
    file.take(super::MAX_MESSAGE_BYTES as u64)
        .read_to_end(&mut raw)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(raw)
}

/// The files in `dir` (none if it does not exist).
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            files.push(entry.path());
        }
    }
    Ok(files)
}

/// The messages of an mbox: each begins with a `From ` line at the start of the file or
/// after a blank line; `>From ` lines (mboxrd quoting) lose one `>`.
pub fn split_mbox(text: &[u8]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut after_blank = true;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if after_blank && line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(m);
            }
            current = Some(Vec::new());
            after_blank = false;
            continue;
        }
        after_blank = line == b"\n" || line == b"\r\n";
        if let Some(m) = current.as_mut() {
            let quoted = line.iter().take_while(|&&b| b == b'>').count();
            match quoted > 0 && line[quoted..].starts_with(b"From ") {
                true => m.extend_from_slice(&line[1..]),
                false => m.extend_from_slice(line),
            }
        }
    }
    messages.extend(current);
    // The blank line that separates messages belongs to the mbox, not the message.
    for m in &mut messages {
        while m.ends_with(b"\n\n") || m.ends_with(b"\r\n\r\n") {
            m.pop();
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_splits_at_from_lines_after_blank_lines_only() {
        let mbox = b"From MAILER-DAEMON Mon Apr  3 09:00:00 2023\nSubject: one\n\nbody\nFrom here\n>From there\n\nFrom x@y Mon Apr  3 09:00:01 2023\nSubject: two\n\nb\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(
            String::from_utf8_lossy(&m[0]),
            "Subject: one\n\nbody\nFrom here\nFrom there\n"
        );
        assert_eq!(String::from_utf8_lossy(&m[1]), "Subject: two\n\nb\n");
        assert!(split_mbox(b"").is_empty());
        assert!(split_mbox(b"no from line\n").is_empty());
    }
}
