//! The written list: a CSV file that replaces its destination whole or not at all.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, show};

const TMP_PREFIX: &str = ".mailshot-import-";

/// A CSV file written beside its destination and renamed over it only when complete.
pub struct AtomicCsv {
    path: PathBuf,
    writer: csv::Writer<tempfile::NamedTempFile>,
}

impl AtomicCsv {
    pub fn create<S: AsRef<str>>(path: &Path, header: &[S]) -> Result<AtomicCsv> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        // A killed import leaves its temporary file behind; it was never the list.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with(TMP_PREFIX) && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a temporary file in", dir, e))?;
        let mut writer = csv::WriterBuilder::new().from_writer(tmp);
        writer
            .write_record(header.iter().map(|h| h.as_ref()))
            .map_err(|e| Error::runtime(format!("failed to write `{}`: {e}", show(path))))?;
        Ok(AtomicCsv {
            path: path.to_path_buf(),
            writer,
        })
    }

    pub fn write<S: AsRef<[u8]>>(&mut self, fields: &[S]) -> Result<()> {
        self.writer
            .write_record(fields)
            .map_err(|e| Error::runtime(format!("failed to write `{}`: {e}", show(&self.path))))
    }

    /// Flushes, syncs and renames into place. Dropped without this, the temporary file is
    /// deleted and the destination is untouched.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let fail = |e: std::io::Error| Error::io("write", &path, e);
        let mut tmp = self.writer.into_inner().map_err(|e| fail(e.into_error()))?;
        tmp.flush().map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&path).map_err(|e| fail(e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_write_leaves_the_list_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("members.csv");
        std::fs::write(&list, "email\nold@example.org\n").unwrap();
        let mut w = AtomicCsv::create(&list, &["email".to_string()]).unwrap();
        w.write(&["new@example.org"]).unwrap();
        drop(w); // an error midway: the write is abandoned
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "email\nold@example.org\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        let mut w = AtomicCsv::create(&list, &["email".to_string()]).unwrap();
        w.write(&["new@example.org"]).unwrap();
        w.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "email\nnew@example.org\n"
        );
    }
}
