//! [`CampaignLock`]: one sender per campaign, by an OS file lock beside the store.

use std::path::Path;

use crate::error::{Error, Result};

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
