//! Test harness: a scratch project folder, the real `mailshot` binary, and a real SMTP server
//! (aiosmtpd, via `smtp_server.py`) started per test on a free loopback port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

pub mod dovecot;

pub const BIN: &str = env!("CARGO_BIN_EXE_mailshot");
/// mailshot with the test-only switches (`MAILSHOT_FAKE_NOW`, `MAILSHOT_PROGRESS_EVERY_MS`),
/// built only by `cargo test` (src/bin/test_hooks.rs).
pub const HOOKS_BIN: &str = env!("CARGO_BIN_EXE_mailshot-test-hooks");

/// The unsubscribe secret the SMTP test configs read, and its variable.
pub const SECRET_ENV: &str = "MAILSHOT_TEST_UNSUBSCRIBE_SECRET";
pub const SECRET: &str = "test-secret-0123456789abcdef";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch copy of the project: config, templates, list and images in a temporary folder.
pub struct Project {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The `[vars]` section of the shipped config: what the example template needs.
fn example_vars() -> String {
    let config = std::fs::read_to_string(repo().join("config.toml")).unwrap();
    let at = config.find("\n[vars]\n").expect("config.toml has [vars]");
    config[at..].to_string()
}

impl Project {
    /// The shipped config, templates and example list.
    pub fn example() -> Project {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("templates"), &dir.path().join("templates"));
        copy_dir(&repo().join("lists"), &dir.path().join("lists"));
        // The Markdown issues' local images.
        copy_dir(&repo().join("images"), &dir.path().join("images"));
        std::fs::copy(repo().join("config.toml"), dir.path().join("config.toml")).unwrap();
        Project { dir }
    }

    /// [`Project::example`] with the shipped Markdown issues (`issues/`): campaign 2023-04
    /// then renders `issues/2023-04.md` in the layout, not `templates/bulletin.mjml`.
    pub fn with_issues() -> Project {
        let p = Project::example();
        copy_dir(&repo().join("issues"), &p.dir.path().join("issues"));
        p
    }

    /// The example templates, a config pointing at an SMTP server on `port` with no rate
    /// limit, plus `extra` TOML appended to `[rate]`.
    pub fn smtp(port: u16, rate: &str) -> Project {
        let p = Project::example();
        let vars = example_vars();
        p.write(
            "config.toml",
            &format!(
                r#"transport = "smtp"
[sender]
from = "Northvale Cluster News <news@example.org>"
list_id = "cluster-news.example.org"
[unsubscribe]
url = "https://example.org/unsubscribe?email={{{{ email | urlencode }}}}&token={{{{ token }}}}"
secret_env = "MAILSHOT_TEST_UNSUBSCRIBE_SECRET"
[web]
base_url = "https://example.org"
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = 4
timeout_secs = 5
[rate]
messages_per_second = 0
retry_delay_secs = 0.05
{rate}
{vars}"#
            ),
        );
        p
    }

    /// [`Project::smtp`], paced at `per_second` messages a second.
    pub fn smtp_paced(port: u16, per_second: u32) -> Project {
        let p = Project::smtp(port, "");
        p.edit(
            "config.toml",
            "messages_per_second = 0",
            &format!("messages_per_second = {per_second}"),
        );
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Replaces the first `from` in `rel` with `to` and returns the new text; `from` must be
    /// there, so an edit that no longer applies fails the test instead of testing nothing.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> String {
        let text = self.read(rel);
        assert!(text.contains(from), "`{from}` is not in {rel}");
        let text = text.replacen(from, to, 1);
        self.write(rel, &text);
        text
    }

    /// Writes a member list of `n` generated members to `rel`.
    pub fn members(&self, rel: &str, n: usize) -> Vec<String> {
        let mut csv = String::from("email,first_name,last_name,organisation\n");
        let mut emails = Vec::new();
        for i in 0..n {
            let email = format!("member{i:04}@example.org");
            let first = if i % 7 == 0 {
                format!("Zoë{i}")
            } else {
                format!("Name{i}")
            };
            csv.push_str(&format!("{email},{first},Surname{i},\"Org {i}, Ltd\"\n"));
            emails.push(email);
        }
        self.write(rel, &csv);
        emails
    }

    /// Runs mailshot in the project folder with standard input closed.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs mailshot with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_bin(BIN, args, env)
    }

    /// Runs `mailshot-test-hooks` (mailshot with the test-only switches) with `env` set.
    pub fn run_hooked(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_bin(HOOKS_BIN, args, env)
    }

    /// Runs mailshot with its standard output a pipe whose reader has already gone, as in
    /// `mailshot log | head -1` once `head` has its line: every write fails with EPIPE.
    pub fn run_into_closed_pipe(&self, args: &[&str]) -> Run {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        out.into()
    }

    fn run_bin(&self, bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env(SECRET_ENV, SECRET)
            .env("MAILSHOT_UNSUBSCRIBE_SECRET", SECRET);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap().into()
    }

    /// Runs mailshot on a pseudo-terminal (util-linux `script`), typing `input` after a moment.
    /// Returns everything the terminal showed, with carriage returns removed.
    pub fn run_on_terminal(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let line = std::iter::once(BIN)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .env(SECRET_ENV, SECRET)
            .env("MAILSHOT_UNSUBSCRIBE_SECRET", SECRET)
            .args(["-qec", &line, "/dev/null"])
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux `script` is needed for terminal tests");
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let mut run: Run = child.wait_with_output().unwrap().into();
        run.stdout = run.stdout.replace('\r', "");
        run
    }

    /// `log --format json` parsed.
    pub fn log(&self, campaign: &str) -> Vec<serde_json::Value> {
        let r = self.run(&["log", "--campaign", campaign, "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// `email`'s row of the delivery log.
    pub fn log_row(&self, campaign: &str, email: &str) -> serde_json::Value {
        self.log(campaign)
            .into_iter()
            .find(|r| r["email"] == email)
            .unwrap_or_else(|| panic!("no row for {email}"))
    }
}

/// A real SMTP server (aiosmtpd) on a free loopback port, stopped when dropped.
pub struct SmtpServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    pub dump: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt_tos: Vec<String>,
    pub mail_from: String,
    pub bytes: Vec<u8>,
}

impl SmtpServer {
    /// Starts the server; `script` maps an address to the replies it gets, in order.
    pub fn start(script: Option<serde_json::Value>) -> SmtpServer {
        SmtpServer::start_with(script, &[])
    }

    pub fn start_with(script: Option<serde_json::Value>, extra: &[&str]) -> SmtpServer {
        let dump = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/support/smtp_server.py"))
            .arg("--dump")
            .arg(dump.path())
            .args(extra);
        if let Some(s) = script {
            let p = dump.path().join("script.json");
            std::fs::write(&p, s.to_string()).unwrap();
            cmd.arg("--script").arg(p);
        }
        SmtpServer::spawn(cmd, dump)
    }

    /// The tests' own hostile server (`hostile_smtp.py`), misbehaving as `fault` says.
    pub fn hostile(fault: &str, extra: &[&str]) -> SmtpServer {
        let dump = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/support/hostile_smtp.py"))
            .arg("--dump")
            .arg(dump.path())
            .args(["--fault", fault])
            .args(extra);
        SmtpServer::spawn(cmd, dump)
    }

    /// The hostile server: the recipient of every message it read to its end, sorted.
    pub fn copies(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.dump.path().join("received.jsonl")).unwrap_or_default();
        let mut got: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["rcpt_tos"][0].as_str().unwrap().to_string()
            })
            .collect();
        got.sort();
        got
    }

    fn spawn(mut cmd: Command, dump: tempfile::TempDir) -> SmtpServer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed (run tests/install-deps.sh)");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start (is aiosmtpd installed? run tests/install-deps.sh): {line:?}"));
        SmtpServer {
            child,
            stdin,
            port,
            dump,
        }
    }

    /// Waits (up to 20 s) until `n` messages have arrived.
    pub fn wait_for(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.received().len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The recipient of each message received, sorted.
    pub fn recipients(&self) -> Vec<String> {
        let mut got: Vec<String> = self
            .received()
            .into_iter()
            .map(|m| m.rcpt_tos[0].clone())
            .collect();
        got.sort();
        got
    }

    /// For each MAIL command, `pipelined` or `alone` (see `smtp_server.py`).
    pub fn pipelining(&self) -> Vec<String> {
        std::fs::read_to_string(self.dump.path().join("pipelining.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Messages the server accepted, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        let Ok(text) = std::fs::read_to_string(self.dump.path().join("received.jsonl")) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                Received {
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect(),
                    mail_from: v["mail_from"].as_str().unwrap().to_string(),
                    bytes: std::fs::read(self.dump.path().join(v["file"].as_str().unwrap()))
                        .unwrap(),
                }
            })
            .collect()
    }

    /// Every DATA attempt as (recipients, reply).
    pub fn attempts(&self) -> Vec<(Vec<String>, String)> {
        let Ok(text) = std::fs::read_to_string(self.dump.path().join("attempts.jsonl")) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect(),
                    v["reply"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Runs the openssl command in `dir`; its standard output.
/// `s` as it stands in the HTML on the wire: characters beyond ASCII as numeric references
/// (`Zoë` is `Zo&#235;`), which every client displays as the character.
pub fn html_refs(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("&#{};", c as u32)
            }
        })
        .collect()
}

pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A throwaway CA and a certificate for `localhost` / 127.0.0.1 signed by it, made with
/// the openssl command: (ca.pem, cert.pem, key.pem).
pub fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        openssl(dir, args);
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=mailshot test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// What a reader sees of an HTML page: its visible text as Python's html.parser reads it
/// (tests/support/visible_text.py).
pub fn visible_text(html: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, html).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("tests/support/visible_text.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The HTML the official mjml (bench/mjml-js) writes for the MJML `file`, includes followed.
/// Runs `tests/support/browser/<script>` (headless Chromium through playwright-core) with
/// `args`, and reads the JSON it prints.
pub fn in_browser<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> serde_json::Value {
    let browser = repo().join("tests/support/browser");
    let out = Command::new("node")
        .arg(browser.join(script))
        .args(args)
        .current_dir(&browser)
        .output()
        .expect("node must be installed (tests/install-deps.sh)");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn official_mjml(file: &Path) -> String {
    let js = repo().join("bench/mjml-js");
    assert!(
        js.join("node_modules/mjml").is_dir(),
        "the official mjml is needed: tests/install-deps.sh"
    );
    let out = Command::new("node")
        .arg(js.join("to_html.mjs"))
        .arg(file)
        .current_dir(&js)
        .output()
        .expect("node must be installed (tests/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
