//! One-click unsubscribe: the headers every message carries, the service behind them (a real
//! HTTP client and headless Chromium), and that an unsubscribed member is never mailed again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{BIN, Project, SECRET, SECRET_ENV, SmtpServer};

/// Starts `cmd` and reads the first line it prints (to say it is ready).
fn first_line(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// `mailshot serve` on a free port, killed when dropped (also used by `images`).
pub(crate) struct Service {
    child: Child,
    pub(crate) base: String,
    /// Where its standard error goes.
    log: std::path::PathBuf,
}

impl Service {
    pub(crate) fn start(p: &Project) -> Service {
        Service::start_with(p, BIN, &[])
    }

    /// [`Service::start`] with the binary `bin` (`HOOKS_BIN` for a fake clock) and `env`.
    pub(crate) fn start_with(p: &Project, bin: &str, env: &[(&str, &str)]) -> Service {
        let log = p.path("serve.log");
        let (child, line) = first_line(
            Command::new(bin)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .envs(env.iter().copied())
                .current_dir(p.dir.path())
                .env("MAILSHOT_UNSUBSCRIBE_SECRET", SECRET)
                .env(SECRET_ENV, SECRET)
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("serve prints its address")
            .to_string();
        Service { child, base, log }
    }

    /// Waits (up to 10 s) until its standard error contains `text`; returns it all.
    fn stderr_with(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap();
            if log.contains(text) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Another process holding the store in an exclusive transaction (Python's sqlite3) until
/// released or dropped.
struct StoreLock {
    child: Child,
}

impl StoreLock {
    fn hold(db: &std::path::Path) -> StoreLock {
        let script = "import sqlite3, sys\n\
                      c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                      c.execute('BEGIN EXCLUSIVE')\n\
                      print('locked', flush=True)\n\
                      sys.stdin.read()\n\
                      c.execute('COMMIT')\n";
        let (child, line) = first_line(
            Command::new("python3")
                .args(["-c", script])
                .arg(db)
                .stdin(Stdio::piped()),
        );
        assert_eq!(line, "locked\n");
        StoreLock { child }
    }

    fn release(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (status, headers and body) of a curl request.
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl must be installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The https URL in a sent message's List-Unsubscribe header, pointed at the local service.
fn link(p: &Project, email: &str, service: &Service) -> String {
    link_in(&p.read(&format!("outbox/c/{email}.eml")), service)
}

/// The https URL in `eml`'s List-Unsubscribe header, pointed at the local service.
fn link_in(eml: &str, service: &Service) -> String {
    let header = eml.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ");
    let value = header
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: "))
        .unwrap();
    let url = value
        .split(['<', '>'])
        .find(|s| s.starts_with("https://"))
        .unwrap();
    url.replace("https://example.org", &service.base)
}

fn suppressed(p: &Project) -> Vec<String> {
    let r = p.run(&["suppress", "list"]);
    r.stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

#[test]
fn every_message_carries_one_click_unsubscribe_headers() {
    let p = Project::example();
    assert_eq!(p.run(&["send", "--campaign", "c", "--yes"]).code, 0);
    let eml = std::fs::read(p.path("outbox/c/zoe.hartley@medtech.example.org.eml")).unwrap();
    let m = mail_parser::MessageParser::default().parse(&eml).unwrap();
    let unsub = m
        .header_raw("List-Unsubscribe")
        .unwrap()
        .replace("\r\n", "");
    let token =
        mailshot::compose::tokens::Tokens::new(SECRET.as_bytes(), "cluster-news.example.org")
            .token("zoe.hartley@medtech.example.org");
    assert_eq!(
        unsub.trim(),
        format!(
            "<https://example.org/unsubscribe/{token}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
        )
    );
    // The address is not in the link (spam filters flag that), only inside the signed token.
    assert!(!unsub.contains("zoe.hartley"));
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").unwrap().trim(),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        m.header_raw("List-Id").unwrap().trim(),
        "\"Northvale Cluster News\" <cluster-news.example.org>"
    );
    // The body's link is the same URL.
    let html = m.body_html(0).unwrap();
    assert!(html.contains(&format!("href=\"https://example.org/unsubscribe/{token}\"")));
    assert!(m.header_raw("Return-Path").is_none());
}

#[test]
fn the_service_confirms_on_get_and_unsubscribes_on_post_only() {
    let p = Project::example();
    assert_eq!(p.run(&["send", "--campaign", "c", "--yes"]).code, 0);
    let s = Service::start(&p);
    let zoe = link(&p, "zoe.hartley@medtech.example.org", &s);

    // GET (what a link scanner does) shows a page with a button and changes nothing.
    let (status, body) = curl(&[&zoe]);
    assert_eq!(status, 200);
    assert!(
        body.contains("<form method=\"post\">")
            && body.contains("<button type=\"submit\">Unsubscribe</button>"),
        "{body}"
    );
    assert!(body.contains("zoe.hartley@medtech.example.org"));
    assert!(suppressed(&p).is_empty());

    // RFC 8058 one-click POST, form-urlencoded: 200, no redirect, recorded.
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "--data",
        "List-Unsubscribe=One-Click",
        &zoe,
    ]);
    assert_eq!(status, 200);
    assert!(!body.to_lowercase().contains("\nlocation:"), "{body}");
    assert!(body.contains("You are unsubscribed"), "{body}");
    assert_eq!(suppressed(&p), vec!["zoe.hartley@medtech.example.org"]);
    // Again: harmless.
    let (status, _) = curl(&["-X", "POST", "--data", "List-Unsubscribe=One-Click", &zoe]);
    assert_eq!(status, 200);
    assert_eq!(suppressed(&p), vec!["zoe.hartley@medtech.example.org"]);

    // multipart/form-data works too.
    let sian = link(&p, "sian.pritchard@example.org", &s);
    let (status, _) = curl(&["-X", "POST", "-F", "List-Unsubscribe=One-Click", &sian]);
    assert_eq!(status, 200);
    assert_eq!(
        suppressed(&p),
        vec![
            "zoe.hartley@medtech.example.org",
            "sian.pritchard@example.org"
        ]
    );

    // Tampered, forged, cut short or missing: a 4xx and nothing changes.
    let jose = link(&p, "jose.alvarez@biolabs.example.org", &s);
    let (base, token) = jose.rsplit_once('/').unwrap();
    let (addr, mac) = token.split_once('.').unwrap();
    let tampered = {
        let mut t: Vec<char> = mac.chars().collect();
        t[0] = if t[0] == 'A' { 'B' } else { 'A' };
        format!("{base}/{addr}.{}", t.into_iter().collect::<String>())
    };
    let lukasz = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        "lukasz.nowak@example.org",
    );
    let other_member = format!("{base}/{lukasz}.{mac}");
    let truncated = jose[..jose.len() - 3].to_string();
    let garbage = format!("{base}/%00%01.zz");
    let no_token = format!("{base}/");
    for (url, want) in [
        (&tampered, 403),
        (&other_member, 403),
        (&truncated, 403),
        (&garbage, 403),
        (&no_token, 400),
    ] {
        assert_eq!(
            curl(&["-X", "POST", "--data", "List-Unsubscribe=One-Click", url]).0,
            want,
            "{url}"
        );
        assert_eq!(curl(&[url]).0, want, "{url}");
    }
    // The token also works as a query parameter.
    assert_eq!(
        curl(&[&format!("{}/unsubscribe?token={token}", s.base)]).0,
        200
    );
    assert_eq!(suppressed(&p).len(), 2);

    // The next send skips them and says so.
    let r = p.run(&["send", "--campaign", "next", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("campaign `next`: 12 members, 10 accepted, 0 failed, 0 deferred, 2 suppressed, 0 pending"), "{}", r.stdout);
    assert!(
        !p.path("outbox/next/zoe.hartley@medtech.example.org.eml")
            .exists()
    );
    assert!(
        !p.path("outbox/next/sian.pritchard@example.org.eml")
            .exists()
    );
    let zoe_row = p.log_row("next", "zoe.hartley@medtech.example.org");
    assert_eq!(zoe_row["status"], "suppressed");
    assert_eq!(zoe_row["reason"], "suppressed: unsubscribed");

    // A re-import takes them off the list and does not bring zoe back; nor does a send.
    p.write("crm.csv", "Email,First Name,Surname,Company\nzoe.hartley@medtech.example.org,Zoë,Hartley,Hartley Medical\nnew@example.org,New,Member,Org\n");
    let r = p.run(&["import", "crm.csv"]);
    assert!(
        r.stdout
            .contains("1 added, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 1 suppressed\ntook 2 suppressed members off the list\n"),
        "{}",
        r.stdout
    );
    assert!(!p.read("lists/members.csv").contains("zoe.hartley"));
    let r = p.run(&["send", "--campaign", "after-import", "--yes"]);
    assert!(
        r.stdout
            .contains("campaign `after-import`: 11 members, 11 accepted"),
        "{}",
        r.stdout
    );
    assert!(
        !p.path("outbox/after-import/zoe.hartley@medtech.example.org.eml")
            .exists()
    );
}

#[test]
fn the_confirmation_page_works_in_a_real_browser() {
    let p = sent_to_zoe();
    let s = Service::start(&p);
    let url = link(&p, "zoe.hartley@medtech.example.org", &s);
    let shot = p.path("confirm.png");
    let v = crate::support::in_browser("click.mjs", &[url.as_str(), &shot.display().to_string()]);
    assert_eq!(
        v["before"],
        "Unsubscribe?\n\nStop sending Northvale Cluster News to zoe.hartley@medtech.example.org?\n\nUnsubscribe"
    );
    assert_eq!(v["status"], 200);
    assert_eq!(
        v["after"],
        "You are unsubscribed\n\nzoe.hartley@medtech.example.org will receive no more Northvale Cluster News."
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "a screenshot was taken"
    );
    assert_eq!(suppressed(&p), vec!["zoe.hartley@medtech.example.org"]);
}

#[test]
fn bounce_address_and_feedback_id_are_per_campaign_and_member() {
    let server = crate::support::SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    p.edit("config.toml", "list_id = \"cluster-news.example.org\"", "list_id = \"cluster-news.example.org\"\nbounce_address = \"bounces+{token}@example.org\"\nfeedback_id = \"{campaign}:bulletin:northvale:mailshot\"");
    p.members("lists/members.csv", 3);
    assert_eq!(p.run(&["send", "--campaign", "c", "--yes"]).code, 0);
    let tokens = mailshot::compose::tokens::Tokens::new(
        crate::support::SECRET.as_bytes(),
        "cluster-news.example.org",
    );
    let got = server.received();
    assert_eq!(got.len(), 3);
    for m in got {
        let to = &m.rcpt_tos[0];
        assert_eq!(
            m.mail_from,
            format!("bounces+{}@example.org", tokens.bounce_token("c", to))
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&m.bytes)
            .unwrap();
        assert_eq!(
            parsed.header_raw("Feedback-ID").unwrap().trim(),
            "c:bulletin:northvale:mailshot"
        );
        assert!(parsed.header_raw("Return-Path").is_none());
        // From stays the sender's own address.
        assert_eq!(
            parsed.from().unwrap().first().unwrap().address(),
            Some("news@example.org")
        );
    }
}

/// A list of members whose addresses are not ASCII, and one plain one.
fn international(p: &Project) {
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\nÜnal@example.org,Ünal,Ak,A\nÉmile@Example.org,Émile,Roux,B\nkate@example.org,Kate,Ng,C\n",
    );
}

#[test]
fn an_unsubscribe_is_honoured_whatever_the_spelling_of_a_non_ascii_address() {
    let p = Project::example();
    international(&p);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = Service::start(&p);
    // Ünal clicks the one-click link of their message.
    let unal = link(&p, "Ünal@example.org", &s);
    let (status, body) = curl(&["-X", "POST", "--data", "List-Unsubscribe=One-Click", &unal]);
    assert_eq!(status, 200, "{body}");
    // Émile's unsubscribe arrives by reply and is typed in another case, accent decomposed.
    let r = p.run(&["suppress", "add", "E\u{301}MILE@example.org"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        suppressed(&p),
        vec!["ünal@example.org", "émile@example.org"]
    );

    let r = p.run(&["send", "--campaign", "next", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "campaign `next`: 3 members, 1 accepted, 0 failed, 0 deferred, 2 suppressed, 0 pending"
        ),
        "{}",
        r.stdout
    );
    assert!(!p.path("outbox/next/Ünal@example.org.eml").exists());
    assert!(!p.path("outbox/next/Émile@example.org.eml").exists());
    assert_eq!(
        p.log_row("next", "Ünal@example.org")["status"],
        "suppressed"
    );

    // An import in yet another spelling does not bring them back.
    p.write("crm.csv", "Email\nÜNAL@EXAMPLE.ORG\nnew@example.org\n");
    let r = p.run(&["import", "crm.csv"]);
    assert!(
        r.stdout
            .contains("1 added, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 1 suppressed\ntook 2 suppressed members off the list\n"),
        "{}",
        r.stdout
    );
    let list = p.read("lists/members.csv");
    assert!(!list.contains("nal@") && !list.contains("mile@"), "{list}");
}

#[test]
fn a_compatibility_character_that_would_alias_another_member_is_refused() {
    let p = Project::example();
    // U+212A KELVIN SIGN in place of `K`: it folds to `k`, so it would share kate's
    // unsubscribe token and suppression.
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\n\u{212A}ate@example.org,K,N,A\nkate@example.org,Kate,Ng,C\n",
    );
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "line 2: field `email`: `\u{212A}ate@example.org` is not a valid address: `\u{212A}` (U+212A) is a compatibility character that some systems read as another letter; write the letter itself"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn a_store_from_an_earlier_version_has_its_suppressions_keyed_once() {
    let p = Project::example();
    international(&p);
    // The store as earlier builds wrote it: the address as given, compared by ASCII case.
    let made = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript('''CREATE TABLE suppressions (email TEXT PRIMARY KEY COLLATE NOCASE,
    reason TEXT NOT NULL, source TEXT, at TEXT NOT NULL);
INSERT INTO suppressions VALUES ('ÜNAL@Example.org', 'unsubscribed', 'one-click unsubscribe', '2026-01-01T00:00:00.000Z');
INSERT INTO suppressions VALUES ('ünal@example.org', 'manual', NULL, '2026-02-01T00:00:00.000Z');''')
db.commit()",
        )
        .arg(p.path("mailshot.db"))
        .status()
        .unwrap();
    assert!(made.success());
    let r = p.run(&["suppress", "list"]);
    assert_eq!(
        r.stdout.lines().skip(1).collect::<Vec<_>>(),
        vec!["ünal@example.org,unsubscribed,one-click unsubscribe,2026-01-01T00:00:00.000Z"],
        "{}",
        r.stderr
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert!(
        r.stdout
            .contains("3 members, 2 accepted, 0 failed, 0 deferred, 1 suppressed"),
        "{}",
        r.stdout
    );
    assert!(!p.path("outbox/c/Ünal@example.org.eml").exists());
}

#[test]
fn serve_refuses_to_start_without_a_real_secret() {
    // The file transport lets `send` fall back to a development secret; `serve` never does,
    // or anyone could forge a link that unsubscribes any member.
    let p = Project::example();
    let serve = |secret: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(p.dir.path())
            .env_remove("MAILSHOT_UNSUBSCRIBE_SECRET");
        if let Some(s) = secret {
            cmd.env("MAILSHOT_UNSUBSCRIBE_SECRET", s);
        }
        // Old behaviour was to start serving: give it 5 s to exit, then fail the test.
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        crate::support::Run::from(child.wait_with_output().unwrap())
    };
    let r = serve(None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: environment variable `MAILSHOT_UNSUBSCRIBE_SECRET` is not set: `mailshot serve` needs the secret that signed the unsubscribe links (the one `send` used), so that nobody can forge one\n"
    );
    assert_eq!(r.stdout, "");
    let r = serve(Some("short"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: environment variable `MAILSHOT_UNSUBSCRIBE_SECRET` is too short: the unsubscribe secret needs at least 16 characters\n"
    );
}

#[test]
fn test_copies_carry_a_test_token_that_unsubscribes_nobody() {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    let r = p.run(&[
        "send",
        "--campaign",
        "c",
        "--test-to",
        "chair@example.org,deputy@example.org",
        "--test-to",
        "editor@example.org",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    for (line, to) in lines.iter().zip(["chair", "deputy", "editor"]) {
        assert!(
            line.starts_with(&format!(
                "test message (rendered for zoe.hartley@medtech.example.org) sent to {to}@example.org via 127.0.0.1:{}: 250 ",
                server.port
            )),
            "{line}"
        );
    }
    assert_eq!(lines[3], "not recorded as a delivery of campaign `c`");
    assert_eq!(
        server.recipients(),
        [
            "chair@example.org",
            "deputy@example.org",
            "editor@example.org"
        ]
    );

    // No copy carries a member's token, in its header or its footer link.
    let tokens =
        mailshot::compose::tokens::Tokens::new(SECRET.as_bytes(), "cluster-news.example.org");
    let list = p.read("lists/members.csv");
    let members: Vec<&str> = list
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(members.len(), 12);
    let s = Service::start(&p);
    let mut urls = Vec::new();
    for m in server.received() {
        let eml = String::from_utf8(m.bytes).unwrap();
        for member in &members {
            assert!(
                !eml.contains(&tokens.token(member)),
                "{member}'s token in a test copy"
            );
        }
        let url = link_in(&eml, &s);
        let token = url.rsplit("token=").next().unwrap();
        assert_eq!(
            tokens.verify_test(token),
            Some(("c".to_string(), m.rcpt_tos[0].clone()))
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(eml.as_bytes())
            .unwrap();
        let html = parsed.body_html(0).unwrap();
        assert!(
            html.contains(&format!("token={token}\"")),
            "the footer link is the test link"
        );
        urls.push(url);
    }
    assert_eq!(urls.len(), 3);

    // The service shows that it was a test copy, for GET and the one-click POST, and records
    // nothing.
    for url in &urls {
        for post in [false, true] {
            let (status, body) = if post {
                curl(&["-X", "POST", "--data", "List-Unsubscribe=One-Click", url])
            } else {
                curl(&[url])
            };
            assert_eq!(status, 200, "{body}");
            assert!(
                body.contains("<h1>This was a test copy: nothing changed</h1>"),
                "{body}"
            );
            assert!(!body.contains("zoe.hartley"), "{body}");
        }
    }
    assert!(suppressed(&p).is_empty());
}

#[test]
fn other_methods_get_405_with_allow_and_an_empty_query_token_hides_nothing() {
    let p = sent_to_zoe();
    let s = Service::start(&p);
    let zoe = link(&p, "zoe.hartley@medtech.example.org", &s);
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let (status, text) = curl(&["-X", method, &zoe]);
        assert_eq!(status, 405, "{method}: {text}");
        assert!(
            text.contains("\r\nallow: GET, HEAD, POST\r\n"),
            "{method}: {text}"
        );
    }
    // A link template that leaves `?token=` empty: the path's token still counts.
    let (status, body) = curl(&[&format!("{zoe}?token=")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("zoe.hartley@medtech.example.org"), "{body}");
    assert!(suppressed(&p).is_empty());
}

/// Sets the example config's `[serve]` limits.
fn limits(p: &Project, header_secs: u64, idle_secs: u64, max_connections: usize) {
    p.edit(
        "config.toml",
        "header_timeout_secs = 10",
        &format!("header_timeout_secs = {header_secs}"),
    );
    p.edit(
        "config.toml",
        "idle_timeout_secs = 30",
        &format!("idle_timeout_secs = {idle_secs}"),
    );
    p.edit(
        "config.toml",
        "max_connections = 256",
        &format!("max_connections = {max_connections}"),
    );
}

/// Seconds until the server closes a connection that sends `start`, then one header line
/// every 200 ms (a slow-loris) or, if `dribble` is false, nothing more; `None` if it was not
/// closed within 15 s.
fn closed_after(addr: &str, start: &[u8], dribble: bool) -> Option<f64> {
    use std::io::{Read, Write};
    let began = std::time::Instant::now();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(start).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    while began.elapsed() < std::time::Duration::from_secs(15) {
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(0) => return Some(began.elapsed().as_secs_f64()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Some(began.elapsed().as_secs_f64()),
        }
        if dribble && c.write_all(b"X-Slow: 1\r\n").is_err() {
            return Some(began.elapsed().as_secs_f64());
        }
    }
    None
}

#[test]
fn slow_and_silent_clients_are_cut_off_and_connections_are_capped() {
    let p = sent_to_zoe();
    limits(&p, 3, 1, 2);
    let s = Service::start(&p);
    let addr = s.base.strip_prefix("http://").unwrap().to_string();
    let zoe = link(&p, "zoe.hartley@medtech.example.org", &s);

    // Silent: closed by the idle timeout (1 s), well before the header timeout.
    let silent = closed_after(&addr, b"", false).expect("a silent connection is closed");
    assert!((0.8..2.5).contains(&silent), "closed after {silent} s");
    // A slow-loris keeps bytes moving, so only the header timeout (3 s) closes it.
    let head = b"GET /unsubscribe/x HTTP/1.1\r\nHost: localhost\r\n";
    let loris = closed_after(&addr, head, true).expect("a slow-loris is closed");
    assert!((2.8..5.0).contains(&loris), "closed after {loris} s");

    // Two slow-lorises hold both slots: a third client is answered only when they are cut
    // off (3 s), and then normally.
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || closed_after(&addr, head, true))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let began = std::time::Instant::now();
    let (status, body) = curl(&[&zoe]);
    let waited = began.elapsed().as_secs_f64();
    assert_eq!(status, 200, "{body}");
    assert!((2.0..5.0).contains(&waited), "answered after {waited} s");
    for h in holders {
        assert!(h.join().unwrap().is_some());
    }
    // With the slots free again, an answer comes at once.
    let began = std::time::Instant::now();
    assert_eq!(curl(&[&zoe]).0, 200);
    assert!(began.elapsed().as_secs_f64() < 1.0);
}

/// The example project after campaign `c` went to its first member, Zoë.
fn sent_to_zoe() -> Project {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    p
}

/// One-click POST; (status, response).
fn one_click(url: &str) -> (u16, String) {
    curl(&["-X", "POST", "--data", "List-Unsubscribe=One-Click", url])
}

#[test]
fn an_unsubscribe_while_the_store_is_locked_answers_200_and_is_never_lost() {
    let p = sent_to_zoe();
    let s = Service::start(&p);
    let zoe = link(&p, "zoe.hartley@medtech.example.org", &s);
    let lock = StoreLock::hold(&p.path("mailshot.db"));
    let began = std::time::Instant::now();
    let (status, body) = one_click(&zoe);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("You are unsubscribed"), "{body}");
    assert!(began.elapsed() < std::time::Duration::from_secs(2));
    // On disk, listed already, and the service says why it is not in the store yet.
    let listed = p.run(&["suppress", "list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .contains("\nzoe.hartley@medtech.example.org,unsubscribed,one-click unsubscribe,"),
        "{}",
        listed.stdout
    );
    let waiting = "note: unsubscribes are recorded in `mailshot.db.unsubscribes` (on disk; a running send honours them) but not yet in the delivery log: the delivery log is busy; 1 wait; trying again every second\n";
    assert_eq!(s.stderr_with(waiting), waiting);

    // The store free again: folded in within a second or so, and the file emptied.
    lock.release();
    let folded =
        "note: the unsubscribes waiting in `mailshot.db.unsubscribes` are in the delivery log\n";
    assert_eq!(s.stderr_with(folded), format!("{waiting}{folded}"));
    assert_eq!(p.read("mailshot.db.unsubscribes"), "");
    assert_eq!(suppressed(&p), ["zoe.hartley@medtech.example.org"]);

    // The next send skips her.
    let r = p.run(&["send", "--campaign", "next", "--yes"]);
    assert!(
        r.stdout
            .contains("campaign `next`: 12 members, 11 accepted, 0 failed, 0 deferred, 1 suppressed, 0 pending"),
        "{}",
        r.stdout
    );
    assert!(
        !p.path("outbox/next/zoe.hartley@medtech.example.org.eml")
            .exists()
    );
}

#[test]
fn unsubscribes_reach_a_store_deleted_or_replaced_while_serving() {
    let p = Project::example();
    assert_eq!(p.run(&["send", "--campaign", "c", "--yes"]).code, 0);
    let s = Service::start(&p);
    let (zoe, sian) = (
        link(&p, "zoe.hartley@medtech.example.org", &s),
        link(&p, "sian.pritchard@example.org", &s),
    );
    // Deleted: the next unsubscribe goes into a new store, not into the deleted file.
    for f in ["mailshot.db", "mailshot.db-wal", "mailshot.db-shm"] {
        let _ = std::fs::remove_file(p.path(f));
    }
    assert_eq!(one_click(&zoe).0, 200);
    wait_folded(&p);
    assert_eq!(
        store_suppressions(&p.path("mailshot.db")),
        ["zoe.hartley@medtech.example.org"]
    );

    // Replaced by a copy renamed over it (a restore, a sync tool): the copy gets the next one.
    std::fs::copy(p.path("mailshot.db"), p.path("copy.db")).unwrap();
    std::fs::rename(p.path("copy.db"), p.path("mailshot.db")).unwrap();
    assert_eq!(one_click(&sian).0, 200);
    wait_folded(&p);
    assert_eq!(
        store_suppressions(&p.path("mailshot.db")),
        [
            "zoe.hartley@medtech.example.org",
            "sian.pritchard@example.org"
        ]
    );
}

/// Waits (up to 5 s) until the service has folded what waits in `mailshot.db.unsubscribes`.
fn wait_folded(p: &Project) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(p.path("mailshot.db.unsubscribes")).map_or(0, |m| m.len()) > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The suppressions table as the store file holds it (read with the sqlite3 Python module:
/// no mailshot command, which would fold the waiting unsubscribes in itself).
fn store_suppressions(db: &std::path::Path) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nfor (e,) in sqlite3.connect(sys.argv[1]).execute('SELECT email FROM suppressions ORDER BY rowid'): print(e)",
        ])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_running_send_skips_a_member_unsubscribed_while_the_store_is_locked() {
    // Paced, on one connection: member0009's turn comes ~2 s in. The store is locked before
    // the unsubscribe and stays locked past her turn, so only the file can tell the send.
    let server = SmtpServer::start(None);
    let p = Project::smtp_paced(server.port, 4);
    p.edit("config.toml", "connections = 4", "connections = 1");
    p.members("lists/members.csv", 10);
    let tokens =
        mailshot::compose::tokens::Tokens::new(SECRET.as_bytes(), "cluster-news.example.org");
    let s = Service::start(&p);
    let last = format!(
        "{}/unsubscribe?token={}",
        s.base,
        tokens.token("member0009@example.org")
    );
    let send = Command::new(BIN)
        .args(["send", "--campaign", "c", "--yes"])
        .current_dir(p.dir.path())
        .env(SECRET_ENV, SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for(1);
    let lock = StoreLock::hold(&p.path("mailshot.db"));
    assert_eq!(one_click(&last).0, 200);
    // Everyone else mailed (the run goes on: its journal waits for the store), then let go.
    server.wait_for(9);
    std::thread::sleep(std::time::Duration::from_millis(700));
    lock.release();
    let r = crate::support::Run::from(send.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let got = server.recipients();
    assert_eq!(got.len(), 9, "{got:?}");
    assert!(!got.contains(&"member0009@example.org".to_string()));
    assert!(
        r.stdout.contains(
            "campaign `c`: 10 members, 9 accepted, 0 failed, 0 deferred, 1 suppressed, 0 pending"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(
        p.log_row("c", "member0009@example.org")["reason"],
        "suppressed: unsubscribed"
    );
}

#[test]
fn when_the_unsubscribe_cannot_be_written_the_answer_is_503_and_stderr_says_why() {
    let p = sent_to_zoe();
    let s = Service::start(&p);
    let zoe = link(&p, "zoe.hartley@medtech.example.org", &s);
    // Something in the way of the file (a folder: no permission stops root, who runs CI).
    std::fs::create_dir(p.path("mailshot.db.unsubscribes")).unwrap();
    let (status, body) = one_click(&zoe);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Please try again"), "{body}");
    let why = "error: answered 503 to an unsubscribe of `zoe.hartley@medtech.example.org`: failed to record the unsubscribe in `mailshot.db.unsubscribes`: Is a directory (os error 21)\n";
    assert_eq!(s.stderr_with(why), why);
}

#[test]
fn serve_limits_out_of_range_are_refused_with_the_key_and_line() {
    let p = Project::example();
    let line_of = |text: &str, key: &str| 1 + text[..text.find(key).unwrap()].matches('\n').count();
    let text = p.edit(
        "config.toml",
        "max_connections = 256",
        "max_connections = 0",
    );
    let r = p.run(&["serve"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!(
            "error: invalid config `config.toml`: line {}: serve.max_connections: `0` must be between 1 and 10000\n",
            line_of(&text, "max_connections = 0")
        )
    );
    p.edit("config.toml", "max_connections = 0", "max_connections = 1");
    let text = p.edit(
        "config.toml",
        "idle_timeout_secs = 30",
        "idle_timeout_secs = 0",
    );
    let r = p.run(&["serve"]);
    assert_eq!(
        r.stderr,
        format!(
            "error: invalid config `config.toml`: line {}: serve.idle_timeout_secs: `0` must be between 1 and 3600\n",
            line_of(&text, "idle_timeout_secs = 0")
        )
    );
}

#[test]
fn a_member_unsubscribed_after_being_taken_from_the_list_is_not_mailed() {
    // One connection at one message every two seconds: the run takes members from the list a
    // few messages ahead of sending them.
    let server = crate::support::SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    p.edit(
        "config.toml",
        "messages_per_second = 0",
        "messages_per_second = 0.5",
    );
    p.edit("config.toml", "connections = 4", "connections = 1");
    p.members("lists/members.csv", 3);
    let child = Command::new(BIN)
        .args(["send", "--campaign", "c", "--yes"])
        .current_dir(p.dir.path())
        .env(crate::support::SECRET_ENV, SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for(1);
    // The third member unsubscribes (by reply) while the second waits its turn.
    let r = p.run(&["suppress", "add", "member0002@example.org"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server.recipients(),
        vec!["member0000@example.org", "member0001@example.org"]
    );
    assert!(
        stdout.contains(
            "campaign `c`: 3 members, 2 accepted, 0 failed, 0 deferred, 1 suppressed, 0 pending"
        ),
        "{stdout}"
    );
    assert_eq!(
        p.log_row("c", "member0002@example.org")["status"],
        "suppressed"
    );
}
