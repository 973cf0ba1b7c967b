//! `mailshot preview`: the page in headless Chromium (tests/support/browser/preview.mjs)
//! following the files as they are saved; `--as`, the port, and who it answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{HOOKS_BIN, Project, html_refs, repo};

/// `mailshot-test-hooks preview --port 0 ARGS` in the project, killed when dropped.
struct Preview {
    child: Child,
    /// `http://127.0.0.1:PORT/`, as it printed it.
    url: String,
    port: u16,
}

impl Preview {
    fn start(p: &Project, args: &[&str]) -> Preview {
        let mut child = Command::new(HOOKS_BIN)
            .args(["preview", "--port", "0"])
            .args(args)
            .current_dir(p.dir.path())
            .env_remove("MAILSHOT_UNSUBSCRIBE_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(p.path("preview.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .strip_prefix("preview: ")
            .unwrap_or_else(|| panic!("preview prints its address first, not {line:?}"))
            .trim_end()
            .to_string();
        let port = url
            .strip_prefix("http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a 127.0.0.1 URL: {url}"));
        Preview { child, url, port }
    }

    /// A GET of `path` with `host` as the Host header: the status line and the body.
    fn get(&self, path: &str, host: &str) -> (String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    }
}

impl Drop for Preview {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tests/support/browser/preview.mjs, one command at a time.
struct Browser {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Browser {
    fn start() -> Browser {
        let mut child = Command::new("node")
            .arg(repo().join("tests/support/browser/preview.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node must be installed (tests/install-deps.sh)");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Browser {
            child,
            input,
            output,
        }
    }

    fn ask(&mut self, cmd: Value) -> Value {
        writeln!(self.input, "{cmd}").unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{e}: the browser script answered {line:?}"));
        assert!(answer.get("error").is_none(), "{cmd}: {answer}");
        answer
    }

    /// Waits until `text` shows in both frames (`where_` "frames") or in the page; returns
    /// the page's state then, failing with it if `text` never showed.
    fn wait(&mut self, text: &str, where_: &str) -> Value {
        let a = self.ask(json!({"op": "wait", "text": text, "where": where_}));
        assert_eq!(
            a["ok"], true,
            "`{text}` never showed in the {where_}: {a:#}"
        );
        assert_eq!(
            a["state"]["reloaded"], false,
            "the page updated itself, unreloaded"
        );
        a["state"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of each frame, and the width in CSS pixels its bulletin is laid out in (the
/// frame's window, inside its border).
fn frames(state: &Value) -> Vec<(u64, String)> {
    state["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["innerWidth"].as_u64().unwrap(),
                f["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const SECRET_WARNING: &str = "warning: `MAILSHOT_UNSUBSCRIBE_SECRET` is not set: unsubscribe links use a development secret; set it before sending for real";

#[test]
fn the_page_shows_the_bulletin_and_follows_the_files_as_they_are_saved() {
    let p = Project::with_issues();
    let preview = Preview::start(&p, &[]);
    let mut b = Browser::start();
    let s = b.ask(json!({"op": "goto", "url": preview.url}));
    assert_eq!(s["subject"], "Cluster News – May 2023");
    assert_eq!(
        s["from"],
        "Northvale Health Technology Cluster <news@example.org>"
    );
    assert_eq!(
        s["previewText"],
        "Programme news, the next Topical Tuesday, awards nominations and our member spotlight."
    );
    let shown = frames(&s);
    assert_eq!(
        shown.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
        vec![640, 375]
    );
    for (w, text) in &shown {
        assert!(text.contains("Dear Zoë,"), "{w} px: {text}");
        assert!(text.contains("Northvale Health Innovation Programme"));
    }
    assert!(s["textPart"].as_str().unwrap().contains("Dear Zoë,"));
    assert_eq!(s["findings"], json!([SECRET_WARNING]));
    assert_eq!(s["selected"], "zoe.hartley@medtech.example.org");
    // The issue's local image (images/topical-tuesday-banner.png) comes from the preview
    // itself, not from its published address, which need not answer yet.
    for f in s["frames"].as_array().unwrap() {
        let images = f["localImages"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{f}");
        assert!(
            images[0]["alt"]
                .as_str()
                .unwrap()
                .starts_with("Topical Tuesday: AI"),
            "{f}"
        );
        assert!(
            images[0]["path"]
                .as_str()
                .unwrap()
                .starts_with("/bulletins/images/topical-tuesday-banner-"),
            "{f}"
        );
        assert_eq!(images[0]["naturalWidth"], 552, "{f}");
    }

    // A member with every field empty gets the fallback.
    b.ask(json!({"op": "select", "value": "(empty)"}));
    let s = b.wait("Dear colleague,", "frames");
    assert!(s["textPart"].as_str().unwrap().contains("Dear colleague,"));
    assert_eq!(s["selected"], "(empty)");

    // The Markdown saved: the new text shows, unreloaded.
    p.edit(
        "issues/2023-05.md",
        "Welcome to this month’s round-up",
        "Welcome to this month’s bumper round-up",
    );
    let s = b.wait("Welcome to this month’s bumper round-up", "frames");
    assert!(s["textPart"].as_str().unwrap().contains("bumper round-up"));

    // Broken, then mended: the error with its file and line, then the bulletin again.
    let good = p.read("issues/2023-05.md");
    p.edit(
        "issues/2023-05.md",
        "Dear {{ first_name or \"colleague\" }},",
        "Dear {{ first_name or \"colleague\" }} {{ nosuchvar }},",
    );
    let s = b.wait(
        "error: issue `issues/2023-05.md` line 9: undefined variable in `nosuchvar` (all 12 members of `lists/members.csv`)",
        "page",
    );
    assert_eq!(
        s["frames"],
        json!([]),
        "no bulletin while it does not render"
    );
    assert_eq!(
        s["problem"],
        "This member's bulletin does not render\nissue `issues/2023-05.md` line 9: undefined variable in `nosuchvar`\n\nThe page updates when the file is saved again."
    );
    p.write("issues/2023-05.md", &good);
    b.wait("Dear colleague,", "frames");

    let layout = p.read("templates/layout.mjml");
    p.edit(
        "templates/layout.mjml",
        "View this issue in your browser",
        "View this issue {{ in your browser",
    );
    let s = b.wait("invalid template: template `templates/layout.mjml` line 35: syntax error: unexpected identifier, expected end of variable block", "page");
    assert!(
        s["problem"]
            .as_str()
            .unwrap()
            .contains("The campaign does not open")
    );
    p.write("templates/layout.mjml", &layout);
    b.wait("bumper round-up", "frames");

    // A partial saved.
    p.edit(
        "templates/partials/footer.mjml",
        "is on our member mailing list.",
        "is on our members' mailing list.",
    );
    b.wait("is on our members' mailing list.", "frames");

    // The member list and the config saved.
    b.ask(json!({"op": "select", "value": "zoe.hartley@medtech.example.org"}));
    b.wait("Dear Zoë,", "frames");
    p.edit("lists/members.csv", ",Zoë,Hartley,", ",Zoya,Hartley,");
    b.wait("Dear Zoya,", "frames");
    p.edit(
        "config.toml",
        "from = \"Northvale Health Technology Cluster <news@example.org>\"",
        "from = \"Northvale Cluster News <news@example.org>\"",
    );
    let s = b.wait("Northvale Cluster News <news@example.org>", "page");
    assert_eq!(s["from"], "Northvale Cluster News <news@example.org>");

    // Any member by address.
    b.ask(json!({"op": "search", "value": "Hannah.Obi@example.org"}));
    b.wait("Dear Hannah,", "frames");

    // The banner rewritten (bytes added after its end): the page shows it under its new
    // content-hashed name. Regression: the images' folder was not watched.
    let banner_path = |s: &Value| -> Vec<String> {
        s["frames"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["localImages"].as_array().unwrap().clone())
            .map(|i| i["path"].as_str().unwrap().to_string())
            .collect()
    };
    let before = banner_path(&b.ask(json!({"op": "state"})));
    assert_eq!(before.len(), 2, "{before:?}");
    let mut banner = std::fs::read(p.path("images/topical-tuesday-banner.png")).unwrap();
    banner.extend(b"rewritten");
    std::fs::write(p.path("images/topical-tuesday-banner.png"), &banner).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = banner_path(&b.ask(json!({"op": "state"})));
        if now.len() == 2 && now.iter().all(|p| !before.contains(p)) {
            assert!(now[0].starts_with("/bulletins/images/topical-tuesday-banner-"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rewritten banner never showed: still {now:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // It wrote nothing: no delivery log, no outbox.
    assert!(!p.path("mailshot.db").exists());
    assert!(!p.path("outbox").exists());
}

#[test]
fn member_data_is_escaped_in_the_page() {
    let p = Project::with_issues();
    p.edit(
        "lists/members.csv",
        ",Zoë,Hartley,",
        ",<b>Zoë</b>,\"Hart\"\"ley<script>x()</script>\",",
    );
    let preview = Preview::start(&p, &[]);
    let (status, page) = preview.get("/", &format!("127.0.0.1:{}", preview.port));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        page.contains(
            "(&lt;b&gt;Zoë&lt;/b&gt; Hart&quot;ley&lt;script&gt;x()&lt;/script&gt;)</option>"
        ),
        "{page}"
    );
    assert!(!page.contains("<script>x()"));
    let (_, html) = preview.get("/render", &format!("127.0.0.1:{}", preview.port));
    assert!(
        html.contains(&html_refs("Dear &lt;b&gt;Zoë&lt;")),
        "the bulletin escapes it too"
    );
}

#[test]
fn as_shows_that_member_first_and_an_unknown_address_exits_2() {
    let p = Project::with_issues();
    let r = p.run_hooked(
        &["preview", "--port", "0", "--as", "nobody@example.org"],
        &[],
    );
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: --as: `nobody@example.org` is not in `lists/members.csv`\n"
    );
    assert_eq!(r.stdout, "");

    let preview = Preview::start(&p, &["--as", "sian.pritchard@example.org"]);
    let host = format!("127.0.0.1:{}", preview.port);
    let (_, page) = preview.get("/", &host);
    assert!(page.contains(
        "<option value=\"sian.pritchard@example.org\" selected>sian.pritchard@example.org (Siân Pritchard)</option>"
    ));
    let (_, html) = preview.get("/render", &host);
    // The HTML part as the message carries it: ASCII, non-ASCII as character references.
    assert!(html.contains(&html_refs("Dear Siân,")), "{html}");
}

#[test]
fn it_answers_only_on_127_0_0_1_and_only_for_itself() {
    let p = Project::with_issues();
    let preview = Preview::start(&p, &[]);
    // Bound to 127.0.0.1 alone: another loopback address is refused.
    let other = TcpStream::connect_timeout(
        &(std::net::Ipv4Addr::new(127, 0, 0, 2), preview.port).into(),
        Duration::from_secs(2),
    );
    assert_eq!(
        other.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    let (status, _) = preview.get("/", &format!("localhost:{}", preview.port));
    assert_eq!(status, "HTTP/1.1 200 OK");
    // A page elsewhere that rebinds its name to 127.0.0.1 reads nothing.
    let (status, body) = preview.get("/render", &format!("evil.example:{}", preview.port));
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    assert_eq!(
        body,
        format!("preview answers only http://127.0.0.1:{}/\n", preview.port)
    );
}

#[test]
fn sigterm_ends_it_with_status_0_even_while_the_page_waits_for_a_change() {
    let p = Project::with_issues();
    let mut preview = Preview::start(&p, &[]);
    // The page's long poll, waiting for a change that does not come.
    let mut poll = TcpStream::connect(("127.0.0.1", preview.port)).unwrap();
    write!(
        poll,
        "GET /changes?since=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        preview.port
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &preview.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Well before the poll's 15 s would run out.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = preview.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut answer = String::new();
    poll.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n1"), "{answer}");
}

#[test]
fn a_taken_port_is_refused_saying_what_to_do() {
    let p = Project::with_issues();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = p.run_hooked(&["preview", "--port", &port], &[]);
    assert_eq!(r.code, 3);
    assert_eq!(
        r.stderr,
        format!(
            "error: port {port} on 127.0.0.1 is taken (another preview?): pass `--port` another port, or `--port 0` for any free one\n"
        )
    );
}
