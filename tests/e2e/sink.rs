//! Against Postfix's `smtp-sink` (Debian package `postfix`, installed by tests/install-deps.sh):
//! a second SMTP server we did not write, with Postfix's own replies and its own ways to refuse
//! or hang up on chosen commands.

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Project;

const SINK: &str = "/usr/sbin/smtp-sink";

/// `smtp-sink` on a free loopback port, dumping each message to a file of its own; killed
/// when dropped.
struct Sink {
    child: Child,
    port: u16,
    dump: tempfile::TempDir,
}

impl Sink {
    fn start(options: &[&str]) -> Sink {
        assert!(
            std::path::Path::new(SINK).exists(),
            "{SINK} is missing: run tests/install-deps.sh (it installs postfix)"
        );
        let dump = tempfile::tempdir().unwrap();
        // smtp-sink drops root for `nobody`, who must be able to write the dumps.
        std::fs::set_permissions(dump.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(SINK);
        if unsafe_is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let template = format!("{}/msg.", dump.path().display());
        let child = cmd
            .args(["-d", &template])
            .args(options)
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink { child, port, dump }
    }

    /// Each message dumped: what smtp-sink recorded of the envelope, then the content.
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.dump.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned())
            .filter(|m| !m.is_empty())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

#[test]
fn the_example_bulletin_reaches_postfixs_smtp_sink_whole() {
    let sink = Sink::start(&[]);
    let p = Project::smtp(sink.port, "");
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("campaign `c`: 12 members, 12 accepted, 0 failed, 0 deferred, 0 pending"),
        "{}",
        r.stdout
    );
    let got = sink.messages();
    assert_eq!(got.len(), 12);
    let zoe = got
        .iter()
        .find(|m| m.contains("X-Rcpt-Args: <zoe.hartley@medtech.example.org>"))
        .expect("zoe's message was dumped");
    assert!(zoe.contains("X-Mail-Args: <news@example.org>"), "{zoe}");
    assert!(zoe.contains("\nSubject: Cluster News =?utf-8?"), "{zoe}");
    assert!(
        zoe.contains("\nList-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{zoe}"
    );
    assert!(zoe.contains("Dear Zo&#235;"), "{zoe}");
    // The whole message: its last MIME boundary arrived.
    let boundary = zoe
        .split("boundary=\"")
        .nth(1)
        .and_then(|b| b.split('"').next())
        .unwrap();
    assert!(zoe.contains(&format!("--{boundary}--")), "{zoe}");
    for row in p.log("c") {
        assert_eq!(row["status"], "accepted");
        assert_eq!(row["smtp_code"], 250);
    }
}

#[test]
fn postfix_refusals_are_recorded_as_its_replies_say() {
    // A hard refusal of every RCPT, with the reply Postfix gives for an unknown user.
    let sink = Sink::start(&[
        "-B",
        "550 5.1.1 Recipient address rejected: User unknown",
        "-f",
        "RCPT",
    ]);
    let p = Project::smtp(sink.port, "");
    p.members("lists/members.csv", 2);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let row = p.log_row("c", "member0000@example.org");
    assert_eq!(row["status"], "failed");
    assert_eq!(row["reason"], "hard-bounce");
    assert_eq!(row["enhanced_code"], "5.1.1");
    assert!(sink.messages().is_empty());
    let suppressed = p.run(&["suppress", "list"]).stdout;
    assert!(
        suppressed.contains("member0001@example.org,hard-bounce,"),
        "{suppressed}"
    );

    // A soft refusal of every RCPT (Postfix's 450 4.3.0): deferred, retried, still deferred.
    let sink = Sink::start(&["-r", "RCPT"]);
    let p = Project::smtp(sink.port, "max_attempts = 2");
    p.members("lists/members.csv", 1);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let row = p.log_row("c", "member0000@example.org");
    assert_eq!(row["status"], "deferred");
    assert_eq!(row["attempts"], 2);
    assert_eq!(row["smtp_code"], 450);
    assert_eq!(row["enhanced_code"], "4.3.0");
    assert!(sink.messages().is_empty());
}
