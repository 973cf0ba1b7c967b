//! The web edition, the archive and its Atom feed: sent with the file transport, then read
//! over HTTP from `mailshot serve` (curl, headless Chromium) and written by `mailshot publish`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{BIN, Project, SECRET, SECRET_ENV};

/// `mailshot serve` on a free port, killed when dropped (the clicks tests use it too).
pub(crate) struct Served {
    child: Child,
    pub(crate) base: String,
}

impl Served {
    pub(crate) fn start(p: &Project) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(p.dir.path())
            .env("MAILSHOT_UNSUBSCRIBE_SECRET", SECRET)
            .env(SECRET_ENV, SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("serve prints its address")
            .to_string();
        Served { child, base }
    }

    pub(crate) fn get(&self, path: &str) -> Got {
        fetch(&format!("{}{path}", self.base), &[])
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer as curl got it: status, header lines (lowercased names), body bytes.
pub(crate) struct Got {
    pub(crate) status: u16,
    headers: String,
    pub(crate) body: Vec<u8>,
}

impl Got {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub(crate) fn fetch(url: &str, extra: &[&str]) -> Got {
    let dir = tempfile::tempdir().unwrap();
    let (headers, body) = (dir.path().join("h"), dir.path().join("b"));
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "%{http_code}", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(extra)
        .arg(url)
        .output()
        .expect("curl must be installed");
    Got {
        status: String::from_utf8_lossy(&out.stdout).parse().unwrap(),
        headers: std::fs::read_to_string(&headers).unwrap(),
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

/// The example project with campaign 2023-04 sent (file transport).
fn sent() -> Project {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p
}

/// Every member of the example list: address, first name and organisation.
fn members(p: &Project) -> Vec<Vec<String>> {
    p.read("lists/members.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let mut r = csv_fields(l);
            r.truncate(4);
            r
        })
        .collect()
}

/// The fields of one CSV line (quotes honoured; the example has no escaped quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Every unsubscribe token the members' messages carry.
fn tokens(p: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p.path("outbox/2023-04")).unwrap() {
        let eml = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let at = eml.find("https://example.org/unsubscribe/").unwrap();
        let token: String = eml[at + "https://example.org/unsubscribe/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        out.push(token);
    }
    out
}

#[test]
fn the_web_edition_shows_the_bulletin_with_no_member_data() {
    let p = sent();
    let s = Served::start(&p);
    let got = s.get("/bulletins/2023-04/");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        got.header("content-security-policy"),
        Some("script-src 'none'; object-src 'none'; base-uri 'none'")
    );
    let html = got.text();
    let text = crate::support::visible_text(&got.body);
    for shown in [
        "Cluster News – April 2023",
        "Dear colleague,",
        "for everyone at our member organisations:",
        "Cluster News for our members · View this issue in your browser",
        "Topical Tuesday",
        "You are receiving this because your organisation is a member of Northvale Health Technology Cluster and your address is on our member mailing list.",
    ] {
        assert!(text.contains(shown), "`{shown}` not in {text}");
    }
    assert!(html.contains("href=\"https://example.org/bulletins/2023-04/\""));
    // Its unsubscribe link is the archive's note, never a member's link.
    assert!(html.contains("href=\"https://example.org/bulletins/#unsubscribe\""));
    assert!(!html.contains("/unsubscribe/"), "a member's link");
    let tokens = tokens(&p);
    assert_eq!(tokens.len(), 12);
    for t in &tokens {
        assert!(t.len() > 30 && !html.contains(t.as_str()), "token {t}");
        let (address_part, mac) = t.split_once('.').unwrap();
        assert!(!html.contains(address_part) && !html.contains(mac));
    }
    let members = members(&p);
    assert_eq!(members.len(), 12);
    let template = p.read("templates/bulletin.mjml");
    for m in &members {
        // (One member's organisation is also in the bulletin's news.)
        for field in [&m[0], &m[1], &m[3]]
            .into_iter()
            .filter(|f| !template.contains(f.as_str()))
        {
            assert!(
                !text.contains(field.as_str()),
                "`{field}` in the web edition"
            );
        }
        assert!(!html.to_lowercase().contains(&m[0].to_lowercase()));
    }
    // HEAD answers alike, without the body.
    let head = fetch(&format!("{}/bulletins/2023-04/", s.base), &["-I"]);
    assert_eq!(head.status, 200);
    // (curl -I writes the headers where the body would go.)
    assert!(!String::from_utf8_lossy(&head.body).contains("<html"));
    assert_eq!(
        head.header("content-length"),
        Some(got.body.len().to_string().as_str())
    );
}

/// The Atom feed read by Python's XML parser (strict: a malformed feed fails): the feed's
/// fields and each entry's, as JSON.
fn parse_atom(xml: &[u8]) -> serde_json::Value {
    let script = r#"
import json, sys
import xml.etree.ElementTree as ET
A = "{http://www.w3.org/2005/Atom}"
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == A + "feed", root.tag
def one(e, name):
    found = e.findall(A + name)
    assert len(found) == 1, (name, len(found))
    return found[0]
def links(e):
    return {l.get("rel"): [l.get("href"), l.get("type")] for l in e.findall(A + "link")}
print(json.dumps({
    "id": one(root, "id").text, "title": one(root, "title").text,
    "updated": one(root, "updated").text, "author": one(one(root, "author"), "name").text,
    "links": links(root),
    "entries": [{
        "id": one(e, "id").text, "title": one(e, "title").text,
        "updated": one(e, "updated").text, "published": one(e, "published").text,
        "links": links(e), "summary": one(e, "summary").text,
    } for e in root.findall(A + "entry")],
}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(xml).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An RFC 3339 UTC timestamp as the store writes them.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 24 && b[4] == b'-' && b[10] == b'T' && s.ends_with('Z')
}

#[test]
fn the_archive_and_the_atom_feed_list_the_sent_issue() {
    let p = sent();
    // A second campaign with a subject that needs escaping, sent later.
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-04-b",
        "--subject",
        "Q&A: <b>costs</b> & \"more\"",
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let s = Served::start(&p);

    let index = s.get("/bulletins/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = index.text();
    let first = html
        .find("<a href=\"https://example.org/bulletins/2023-04-b/\">Q&amp;A: &lt;b&gt;costs&lt;/b&gt; &amp; &quot;more&quot;</a>")
        .expect("the newest issue, escaped");
    let second = html
        .find("<a href=\"https://example.org/bulletins/2023-04/\">Cluster News – April 2023</a>")
        .expect("the first issue");
    assert!(first < second, "newest first");
    let text = crate::support::visible_text(&index.body);
    assert!(
        text.contains("Northvale Cluster News: past issues"),
        "{text}"
    );
    assert!(
        text.contains("Cluster News – April 2023 20")
            && text.contains("Programme news, the next Topical Tuesday"),
        "subject, date and preview: {text}"
    );
    assert!(html.contains("<h2 id=\"unsubscribe\">"));
    assert!(text.contains("Each email has its own unsubscribe link"));

    let feed = s.get("/bulletins/feed.atom");
    assert_eq!(feed.status, 200);
    assert_eq!(
        feed.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    let atom = parse_atom(&feed.body);
    assert_eq!(atom["id"], "https://example.org/bulletins/");
    assert_eq!(atom["title"], "Northvale Cluster News");
    assert_eq!(atom["author"], "Northvale Cluster News");
    assert_eq!(
        atom["links"]["self"],
        serde_json::json!([
            "https://example.org/bulletins/feed.atom",
            "application/atom+xml"
        ])
    );
    let entries = atom["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["title"], "Q&A: <b>costs</b> & \"more\"");
    assert_eq!(entries[1]["id"], "https://example.org/bulletins/2023-04/");
    assert_eq!(entries[1]["title"], "Cluster News – April 2023");
    assert_eq!(
        entries[1]["links"]["alternate"][0],
        "https://example.org/bulletins/2023-04/"
    );
    assert_eq!(
        entries[1]["summary"],
        "Programme news, the next Topical Tuesday, awards nominations and our member spotlight."
    );
    for e in entries {
        assert!(is_timestamp(e["updated"].as_str().unwrap()), "{e}");
    }
    // The feed's `updated` is its newest entry's.
    assert_eq!(atom["updated"], entries[0]["updated"]);
}

#[test]
fn an_unsent_campaign_is_not_found_and_a_missing_slash_redirects() {
    let p = sent();
    // Checked and dry-run, never sent: no web edition.
    assert_eq!(
        p.run(&["send", "--campaign", "2023-06", "--dry-run"]).code,
        0
    );
    let s = Served::start(&p);
    for path in ["/bulletins/2023-06/", "/bulletins/nothing-here/"] {
        let got = s.get(path);
        assert_eq!(got.status, 404, "{path}");
        assert!(
            crate::support::visible_text(&got.body).contains("There is no issue at this address")
        );
    }
    let got = s.get("/bulletins/2023-04");
    assert_eq!(got.status, 308);
    assert_eq!(got.header("location"), Some("/bulletins/2023-04/"));
    let got = s.get("/bulletins");
    assert_eq!(got.status, 308);
    assert_eq!(got.header("location"), Some("/bulletins/"));
    // The unsubscribe service is still there beside it.
    assert_eq!(s.get("/unsubscribe/").status, 400);
}

#[test]
fn publish_writes_the_bytes_serve_answers() {
    let p = sent();
    // And May's Markdown issue, with its local banner image.
    send_may(&p, &["--yes"]);
    let banner = std::fs::read(p.path("images/topical-tuesday-banner.png")).unwrap();
    let name = banner_in(&p, "outbox/2023-05/hannah.obi@example.org.eml");
    assert_eq!(publish(&p), "2 issues and 1 image");
    assert_eq!(
        std::fs::read(p.path(&format!("site/bulletins/images/{name}"))).unwrap(),
        banner
    );
    let s = Served::start(&p);
    let image = format!("/bulletins/images/{name}");
    let image_file = format!("site{image}");
    for (file, path) in [
        ("site/bulletins/index.html", "/bulletins/"),
        ("site/bulletins/feed.atom", "/bulletins/feed.atom"),
        ("site/bulletins/2023-04/index.html", "/bulletins/2023-04/"),
        ("site/bulletins/2023-05/index.html", "/bulletins/2023-05/"),
        (&image_file, &image),
    ] {
        let got = s.get(path);
        assert_eq!(got.status, 200, "{path}");
        assert!(
            std::fs::read(p.path(file)).unwrap() == got.body,
            "{file} differs from {path}"
        );
    }
    // Nothing else: no temporary file left behind.
    let mut files: Vec<String> = walk(&p.path("site"));
    files.sort();
    assert_eq!(
        files,
        [
            "bulletins/2023-04/index.html".to_string(),
            "bulletins/2023-05/index.html".to_string(),
            "bulletins/feed.atom".to_string(),
            format!("bulletins/images/{name}"),
            "bulletins/index.html".to_string(),
        ]
    );
    // Again: the files are replaced, the same.
    let before = std::fs::read(p.path("site/bulletins/index.html")).unwrap();
    assert_eq!(p.run(&["publish", "--out", "site"]).code, 0);
    assert_eq!(
        std::fs::read(p.path("site/bulletins/index.html")).unwrap(),
        before
    );
}

/// Regression: the web edition's anonymous member has every list column empty, and columns
/// override campaign values: a list column `cluster_name` blanked the `[vars]` one there.
#[test]
fn a_list_column_named_like_a_campaign_value_leaves_it_in_the_web_edition() {
    let p = Project::example();
    let list = std::fs::read_to_string(p.path("lists/members.csv")).unwrap();
    let list: String = list
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.is_empty()) {
            (_, true) => "\n".to_string(),
            (0, _) => format!("{l},cluster_name\n"),
            _ => format!("{l},Northvale\n"),
        })
        .collect();
    p.write("lists/members.csv", &list);
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let s = Served::start(&p);
    let got = s.get("/bulletins/2023-04/");
    assert_eq!(got.status, 200);
    let text = crate::support::visible_text(&got.body);
    let shown = "is a member of Northvale Health Technology Cluster and your address";
    assert!(text.contains(shown), "`{shown}` not in {text}");
}

/// Regression: with `[web] inline_images` the web edition kept the messages' `cid:`
/// references, which mean nothing on a web page: its images were broken.
#[test]
fn with_inline_images_the_web_edition_links_its_images_and_publish_writes_them() {
    let p = Project::example();
    p.edit(
        "config.toml",
        "\nbase_url = \"https://example.org\"\n",
        "\nbase_url = \"https://example.org\"\ninline_images = true\n",
    );
    send_may(&p, &["--yes"]);
    let eml = std::fs::read_to_string(p.path("outbox/2023-05/hannah.obi@example.org.eml")).unwrap();
    let name = regex::Regex::new(r"cid:(topical-tuesday-banner-[0-9a-f]{10}\.png)@mailshot")
        .unwrap()
        .captures(&eml)
        .expect("the message references its inline banner")[1]
        .to_string();
    let s = Served::start(&p);
    let html = s.get("/bulletins/2023-05/").text();
    assert!(!html.contains("cid:"), "{html}");
    assert!(html.contains(&format!(
        "src=\"https://example.org/bulletins/images/{name}\""
    )));
    assert_eq!(publish(&p), "1 issue and 1 image");
    assert_eq!(
        std::fs::read(p.path(&format!("site/bulletins/images/{name}"))).unwrap(),
        std::fs::read(p.path("images/topical-tuesday-banner.png")).unwrap()
    );
}

/// May's Markdown issue (with its local banner image) added to `p` and sent with `args`.
fn send_may(p: &Project, args: &[&str]) {
    let may = crate::support::repo().join("issues/2023-05.md");
    p.write("issues/2023-05.md", &std::fs::read_to_string(may).unwrap());
    let r = p.run(&[&["send", "--campaign", "2023-05"], args].concat());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// `mailshot publish --out site`, which must succeed: what it says it published (`2 issues
/// and 1 image`).
fn publish(p: &Project) -> String {
    let r = p.run(&["publish", "--out", "site"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .strip_prefix("published ")
        .and_then(|s| s.strip_suffix(" to `site/bulletins` (with `bulletins/index.html` and `bulletins/feed.atom`), for https://example.org/bulletins/\n"))
        .unwrap_or_else(|| panic!("{}", r.stdout))
        .to_string()
}

/// The published name of May's banner as the message in `rel` (under the project) names it.
fn banner_in(p: &Project, rel: &str) -> String {
    let eml = std::fs::read_to_string(p.path(rel)).unwrap();
    regex::Regex::new(r"bulletins/images/(topical-tuesday-banner-[0-9a-f]{10}\.png)")
        .unwrap()
        .captures(&eml)
        .expect("the banner's published address in the message")[1]
        .to_string()
}

/// Regression: a `--test-to` copy stored its images and `publish` wrote every stored image,
/// so an unsent issue's (embargoed) banner reached the public host before the send. `serve`
/// still answers it: the chair's test copy shows its images.
#[test]
fn publish_leaves_out_the_images_of_a_campaign_only_tested() {
    let p = sent();
    send_may(&p, &["--test-to", "chair@example.org"]);
    let name = banner_in(&p, "outbox/2023-05/test/chair@example.org.eml");
    assert_eq!(publish(&p), "1 issue and 0 images");
    assert!(!p.path("site/bulletins/images").exists());
    let s = Served::start(&p);
    let got = s.get(&format!("/bulletins/images/{name}"));
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body,
        std::fs::read(p.path("images/topical-tuesday-banner.png")).unwrap()
    );
}

/// The files under `dir`, relative, `/`-separated.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            out.push(name);
        }
    }
    out
}

#[test]
fn publish_a_check_and_a_send_need_base_url() {
    let p = Project::example();
    p.edit(
        "config.toml",
        "\nbase_url = \"https://example.org\"",
        "\n# base_url = \"https://example.org\"",
    );
    let r = p.run(&["publish", "--out", "site"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `mailshot publish` needs `[web] base_url` in `config.toml`: the address the published files will be served from (e.g. `base_url = \"https://example.org\"`)\n"
    );
    assert!(!p.path("site").exists());
    // The shipped template links to its web edition: refused, with the line.
    let t = p.read("templates/bulletin.mjml");
    let line = t.lines().position(|l| l.contains("{{ web_url }}")).unwrap() + 1;
    for args in [
        &["check", "--campaign", "2023-04"][..],
        &["send", "--campaign", "2023-04", "--yes"],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert_eq!(
            r.stderr,
            format!(
                "error: `templates/bulletin.mjml` line {line} uses `{{{{ web_url }}}}` (the web edition's address), but `[web] base_url` is not set in `config.toml`: set it to the address `mailshot serve` answers on or `mailshot publish`'s files are served from (e.g. `base_url = \"https://example.org\"`)\n"
            )
        );
    }
    assert!(!p.path("outbox").exists());
    // Without the link, it sends, with no web edition: the archive is empty.
    p.edit(
        "templates/bulletin.mjml",
        "{{ web_url }}",
        "https://example.org/",
    );
    assert_eq!(p.run(&["send", "--campaign", "2023-04", "--yes"]).code, 0);
    p.edit(
        "config.toml",
        "\n# base_url = \"https://example.org\"",
        "\nbase_url = \"https://example.org\"",
    );
    let s = Served::start(&p);
    assert_eq!(s.get("/bulletins/2023-04/").status, 404);
    assert!(crate::support::visible_text(&s.get("/bulletins/").body).contains("No issues yet."));
}

#[test]
fn a_template_changed_after_the_send_leaves_the_web_edition_as_sent() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes", "--limit", "5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = Served::start(&p);
    let was = s.get("/bulletins/2023-04/").body;
    assert!(crate::support::visible_text(&was).contains("Dear colleague,"));
    p.edit("templates/bulletin.mjml", "Dear {{", "Hello {{");
    p.edit(
        "templates/bulletin.mjml",
        "<mj-title>Cluster News – {{ month }}</mj-title>",
        "<mj-title>Renamed – {{ month }}</mj-title>",
    );
    assert_eq!(s.get("/bulletins/2023-04/").body, was);
    let mut published = p.run(&["publish", "--out", "site"]);
    assert_eq!(published.code, 0);
    assert_eq!(
        std::fs::read(p.path("site/bulletins/2023-04/index.html")).unwrap(),
        was
    );
    let status = p.run(&["status", "--campaign", "2023-04"]);
    assert_eq!(status.code, 0);
    assert!(
        status.stdout.ends_with(
            "subject: Cluster News – April 2023\nweb edition: https://example.org/bulletins/2023-04/\n"
        ),
        "{}",
        status.stdout
    );
    // Accepting the changes for the members still to get it: what they get is the web
    // edition from then on.
    let r = p.run(&["send", "--campaign", "2023-04", "--yes", "--accept-changes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let now = s.get("/bulletins/2023-04/").text();
    assert!(crate::support::visible_text(now.as_bytes()).contains("Hello colleague,"));
    assert!(now.contains("<title>Renamed &#8211; April 2023</title>"));
    let status = p.run(&["status", "--campaign", "2023-04"]);
    assert!(
        status.stdout.ends_with(
            "subject: Renamed – April 2023\nsources: revision 2 (changes accepted)\nweb edition: https://example.org/bulletins/2023-04/\n"
        ),
        "{}",
        status.stdout
    );
    published = p.run(&["publish", "--out", "site"]);
    assert_eq!(published.code, 0);
    let feed = parse_atom(&std::fs::read(p.path("site/bulletins/feed.atom")).unwrap());
    assert_eq!(feed["entries"][0]["title"], "Renamed – April 2023");
    assert_ne!(
        feed["entries"][0]["published"],
        feed["entries"][0]["updated"]
    );
}

#[test]
fn the_web_edition_reads_in_a_real_browser() {
    let p = sent();
    let s = Served::start(&p);
    let edition = format!("{}/bulletins/2023-04/", s.base);
    let v = crate::support::in_browser("text.mjs", &[edition.as_str(), "375"]);
    assert_eq!(v["status"], 200);
    let text = v["text"].as_str().unwrap();
    for shown in [
        "View this issue in your browser",
        "Cluster News – April 2023",
        "Dear colleague,",
        "Book your place",
        "Unsubscribe",
    ] {
        assert!(text.contains(shown), "`{shown}` not shown: {text}");
    }
    for m in members(&p) {
        assert!(!text.contains(m[0].as_str()) && !text.contains(m[1].as_str()));
    }
    // Laid out for a phone: nothing wider than the screen.
    assert_eq!(v["width"], 375);
}

#[test]
fn a_web_edition_that_does_not_render_is_an_error_before_anything_is_sent() {
    let p = Project::example();
    // Fine for every member (each has a first name), not for the web edition.
    let t = p.edit(
        "templates/bulletin.mjml",
        "Dear {{ first_name or \"colleague\" }},",
        "Dear {{ first_name[0] }}.,",
    );
    let line = t.lines().position(|l| l.contains("first_name[0]")).unwrap() + 1;
    let error = format!(
        "the web edition (rendered with every member column empty) fails: template `templates/bulletin.mjml` line {line}: undefined variable in `first_name[0]`: give it a fallback (`{{{{ first_name or \"colleague\" }}}}`) or an `{{% if %}}`"
    );
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stdout,
        format!("error: {error}\ncheck: 1 error, 0 warnings\n")
    );
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.ends_with(&format!(
            "error: {error}\nnothing was sent: 1 problem found\n"
        )),
        "{}",
        r.stderr
    );
    assert!(!p.path("outbox").exists());
}

#[test]
fn the_web_edition_is_served_while_another_process_writes_to_the_store() {
    let p = sent();
    let s = Served::start(&p);
    // Python holds the store in a write transaction (as a send folding its journal does)
    // while curl asks for the web edition and the archive.
    let script = "import sqlite3, subprocess, sys, time\n\
                  c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                  c.execute('BEGIN EXCLUSIVE')\n\
                  c.execute(\"INSERT INTO suppressions VALUES ('x@example.org', 'test', NULL, 'now')\")\n\
                  for path in ('/bulletins/2023-04/', '/bulletins/'):\n\
                  \x20   t = time.time()\n\
                  \x20   code = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', sys.argv[2] + path], capture_output=True, text=True).stdout\n\
                  \x20   print(code, time.time() - t < 1)\n\
                  c.execute('ROLLBACK')\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(p.path("mailshot.db"))
        .arg(&s.base)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 True\n200 True\n");
}
