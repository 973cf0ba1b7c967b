//! A real IMAP server for the bounce tests: Dovecot (Debian's `dovecot-imapd`), started in
//! the foreground with a generated config in a temporary folder: 127.0.0.1 on a free port,
//! no TLS, one user (`bounces`, password [`PASSWORD`]) from a passwd-file, mail in
//! `<tmp>/home/Maildir`, its log and sockets in the folder too. Stopped when dropped.
//!
//! Dovecot never gives mail to uid 0: run as root (CI), the mail belongs to `nobody`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "bounces";
pub const PASSWORD: &str = "imap-pass-7f3c9a21";

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    /// Plain IMAP (STARTTLS offered when started with a certificate).
    pub port: u16,
    /// Implicit TLS (IMAPS), when started with a certificate.
    pub tls_port: u16,
    child: Child,
    uid: u32,
    gid: u32,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Who owns the mail: the running user, or `nobody` for root.
fn mail_owner(dir: &Path) -> (String, String, u32, u32) {
    let meta = std::fs::metadata(dir).unwrap();
    if meta.uid() != 0 {
        let name = |flag: &str| {
            let out = Command::new("id").arg(flag).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        return (name("-un"), name("-gn"), meta.uid(), meta.gid());
    }
    let group = if std::fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .contains("\nnogroup:")
    {
        "nogroup"
    } else {
        "nobody"
    };
    ("nobody".into(), group.into(), 65534, 65534)
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with(None, "")
    }

    /// With TLS: `cert` and `key` (PEM files) for STARTTLS on `port` and IMAPS on `tls_port`;
    /// `extra`: more settings (`imap_capability = ...`).
    pub fn start_with(tls: Option<(&Path, &Path)>, extra: &str) -> Dovecot {
        assert!(
            Path::new("/usr/sbin/dovecot").exists(),
            "Dovecot is needed for the bounce tests: run tests/install-deps.sh (dovecot-imapd)"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let (user, group, uid, gid) = mail_owner(root);
        let (port, tls_port) = (free_port(), free_port());
        let ssl = match tls {
            None => "ssl = no".to_string(),
            Some((cert, key)) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}",
                cert.display(),
                key.display()
            ),
        };
        let imaps = match tls {
            None => 0,
            Some(_) => tls_port,
        };
        for sub in [
            "base",
            "state",
            "home/Maildir/new",
            "home/Maildir/cur",
            "home/Maildir/tmp",
            "home/rawlog",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let r = root.display();
        let conf = format!(
            "protocols = imap
listen = 127.0.0.1
base_dir = {r}/base
state_dir = {r}/state
log_path = {r}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={r}/home
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
protocol imap {{
  rawlog_dir = {r}/home/rawlog
}}
{extra}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"
        );
        std::fs::write(root.join("dovecot.conf"), conf).unwrap();
        chown_all(&root.join("home"), uid, gid);
        let child = spawn(root);
        let d = Dovecot {
            dir,
            port,
            tls_port,
            child,
            uid,
            gid,
        };
        d.wait_ready();
        d
    }

    /// Disconnects every session of the user (`doveadm kick`): a connection dropped under
    /// the client.
    pub fn kick(&self) {
        let out = Command::new("/usr/bin/doveadm")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(["kick", USER])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "doveadm kick: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&mut self) {
        // SIGTERM, so the master takes its login and imap processes with it.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Waits (up to 10 s) for the greeting on the port.
    fn wait_ready(&self) {
        use std::io::Read;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let mut buf = [0u8; 4];
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if s.read_exact(&mut buf).is_ok() && &buf == b"* OK" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "Dovecot did not start: {}",
            std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
        );
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("home/Maildir")
    }

    /// Delivers `bytes` into INBOX as a new message, as a local delivery agent would: written
    /// in `tmp/`, renamed into `new/`.
    pub fn deliver(&self, name: &str, bytes: &[u8]) {
        let tmp = self.maildir().join("tmp").join(name);
        std::fs::write(&tmp, bytes).unwrap();
        std::os::unix::fs::chown(&tmp, Some(self.uid), Some(self.gid)).unwrap();
        std::fs::rename(&tmp, self.maildir().join("new").join(name)).unwrap();
    }

    /// What each IMAP session's client sent after its login, in order of the sessions' start
    /// (Dovecot's rawlog: one `.in` file a session, each line `<unix time> <line>`).
    pub fn client_sessions(&self) -> Vec<String> {
        let dir = self.dir.path().join("home/rawlog");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "in"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    }

    /// The messages (file contents) in `folder` (`""` for INBOX), new and cur.
    pub fn messages(&self, folder: &str) -> Vec<String> {
        let base = match folder {
            "" => self.maildir(),
            f => self.maildir().join(format!(".{f}")),
        };
        let mut all = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(base.join(sub)) else {
                continue;
            };
            for e in entries {
                all.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
            }
        }
        all
    }
}

fn chown_all(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_all(&e.unwrap().path(), uid, gid);
        }
    }
}

fn spawn(root: &Path) -> Child {
    Command::new("/usr/sbin/dovecot")
        .arg("-F")
        .arg("-c")
        .arg(root.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
