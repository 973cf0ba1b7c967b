//! The file transport: each message written to `[file] outbox/<campaign>/` as
//! `<address>.eml`, through a temporary file and a rename.

use std::io;
use std::path::Path;

use crate::compose::message::Outgoing;
use crate::error::show;
use crate::outcome::{Fatal, Reply};
use crate::transport::Go;

/// Writes `msg` to `dir` once `go` says so. `None`: `go` said no, and nothing was written.
/// `Some(Err)` means the whole campaign must stop.
pub(crate) async fn send(
    dir: &Path,
    msg: &Outgoing,
    go: &mut Go,
) -> Option<std::result::Result<Reply, Fatal>> {
    if !go.wait().await {
        return None;
    }
    let path = dir.join(eml_name(msg.to.as_ref()));
    let bytes = msg.bytes.clone();
    let p = path.clone();
    let written = tokio::task::spawn_blocking(move || write_atomic(&p, &bytes))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
    Some(match written {
        Ok(()) => Ok(Reply::accepted(None, format!("written to {}", show(&path)))),
        // The name, not the disk: this member's file can never be written.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidFilename | io::ErrorKind::InvalidInput
            ) =>
        {
            Ok(Reply::unsendable(format!(
                "cannot write `{}`: {e}",
                show(&path)
            )))
        }
        Err(e) => Err(Fatal(format!("failed to write `{}`: {e}", show(&path)))),
    })
}

/// A file name a person can find a member by: the address, with path characters replaced.
pub fn eml_name(address: &str) -> String {
    let safe: String = address
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{safe}.eml")
}

/// Writes `bytes` to `path` through a temporary file and a rename: never half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_the_address_readable() {
        assert_eq!(eml_name("zoë@example.org"), "zoë@example.org.eml");
        assert_eq!(eml_name("a/b@example.org"), "a_b@example.org.eml");
    }
}
