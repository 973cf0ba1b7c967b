//! Click tracking (`[tracking] clicks`): the example campaign sent with it on, its links
//! followed through `mailshot serve` with curl (no redirect followed), the counts read back
//! from the store.

use std::collections::BTreeSet;

use mailshot::store::{LinkClicks, Store};

use crate::support::Project;
use crate::web::{Served, fetch};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const TRACKED: &str = "https://example.org/c/";

/// The example project with clicks on (and `per_member` as given) and campaign 2023-04 sent.
fn sent_with(per_member: bool) -> Project {
    let p = Project::example();
    p.edit("config.toml", "\nclicks = false\n", "\nclicks = true\n");
    if per_member {
        p.edit(
            "config.toml",
            "\nper_member = false\n",
            "\nper_member = true\n",
        );
    }
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p
}

/// Every `href` of the HTML part of a member's message, in order.
fn hrefs_of(p: &Project, member: &str) -> Vec<String> {
    let eml = p.read(&format!("outbox/2023-04/{member}.eml"));
    let html = &eml[eml.find("Content-Type: text/html").expect("an HTML part")..];
    html.split("href=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect()
}

/// [`hrefs_of`] the first member of the example list.
fn hrefs(p: &Project) -> Vec<String> {
    hrefs_of(p, "aoife.obriain@example.org")
}

/// The URL a link token signs, read from its first part (base64url of campaign and URL).
fn signed_url(token: &str) -> String {
    use base64::Engine;
    let data = token.split(['.', '~']).next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data)
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    text.strip_prefix("2023-04\n").unwrap().to_string()
}

/// The written-out http(s) links of the example's template and footer: what is tracked.
fn template_links(p: &Project) -> BTreeSet<String> {
    let src = p.read("templates/bulletin.mjml") + &p.read("templates/partials/footer.mjml");
    src.split("href=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .filter(|h| h.starts_with("http") && !h.contains("{{"))
        .collect()
}

/// The campaign's clicks per link once the store has `total` of them (the writer is
/// asynchronous), waiting at most 10 s.
fn counts(p: &Project, total: u64) -> Vec<LinkClicks> {
    let mut last = Vec::new();
    for _ in 0..100 {
        if let Ok(Some(store)) = Store::open_read_only(&p.path("mailshot.db")) {
            last = store.clicks_by_link("2023-04").unwrap();
            if last.iter().map(|l| l.clicks + l.automated).sum::<u64>() == total {
                return last;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the store never had {total} clicks: {last:?}");
}

#[test]
fn tracked_links_redirect_to_their_url_and_are_counted_with_the_automated_apart() {
    let p = sent_with(false);
    let hrefs = hrefs(&p);
    // The unsubscribe link, the web edition's and mailto: stay as they were.
    for kept in [
        "https://example.org/bulletins/2023-04/",
        "mailto:manager@example.org",
        "mailto:chair@example.org",
    ] {
        assert!(hrefs.iter().any(|h| h == kept), "{kept} in {hrefs:?}");
    }
    assert!(
        hrefs
            .iter()
            .any(|h| h.starts_with("https://example.org/unsubscribe/"))
    );
    let tokens: Vec<&str> = hrefs
        .iter()
        .filter_map(|h| h.strip_prefix(TRACKED))
        .collect();
    let others = hrefs.iter().filter(|h| h.starts_with("http")).count();
    assert_eq!(
        others - tokens.len(),
        2,
        "only unsubscribe and web edition untracked"
    );

    // `check` reminds of consent, with how many links are tracked.
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let reminder = format!(
        "warning: click tracking is on (`[tracking] clicks`): {} links go through `{TRACKED}`; make sure the readers have consented (PECR; README, \"Click tracking\")\n",
        tokens.len()
    );
    assert!(r.stdout.contains(&reminder), "{}", r.stdout);

    let served = Served::start(&p);
    let mut landed = BTreeSet::new();
    for t in &tokens {
        let got = fetch(&format!("{}/c/{t}", served.base), &["-A", FIREFOX]);
        assert_eq!(got.status, 302, "{t}");
        assert_eq!(got.header("cache-control"), Some("no-store"));
        assert_eq!(got.header("referrer-policy"), Some("no-referrer"));
        landed.insert(got.header("location").unwrap().to_string());
    }
    // Every link lands where the template pointed, and nowhere else.
    assert_eq!(landed, template_links(&p));

    // A token altered in its URL part or cut short: 403, a page, no Location.
    let book_url = "https://example.org/events/topical-tuesday/book";
    let book = *tokens.iter().find(|t| signed_url(t) == book_url).unwrap();
    let mut altered = book.to_string().into_bytes();
    altered[12] = if altered[12] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [altered.as_str(), &book[..book.len() - 2]] {
        let got = served.get(&format!("/c/{bad}"));
        assert_eq!(got.status, 403, "{bad}");
        assert_eq!(got.header("location"), None);
        assert!(String::from_utf8_lossy(&got.body).contains("This link is not valid"));
    }

    // A HEAD and a scanner's user agent: redirected, counted apart.
    let bing = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b";
    for extra in [["-I", "-A", FIREFOX], ["-A", bing, "-s"]] {
        let got = fetch(&format!("{}/c/{book}", served.base), &extra);
        assert_eq!(got.status, 302);
        assert_eq!(got.header("location"), Some(book_url));
    }
    let counts = counts(&p, tokens.len() as u64 + 2);
    let row = counts.iter().find(|l| l.url == book_url).unwrap();
    assert_eq!((row.clicks, row.automated), (1, 2), "{counts:?}");
    // The two links that appear twice in the message were followed twice.
    let twice = counts.iter().filter(|l| l.clicks == 2).count();
    assert_eq!(twice, tokens.len() - landed.len(), "{counts:?}");
    assert_eq!(counts.len(), landed.len());

    // The chair's report lists them: the booking link's row, people's clicks and the rest.
    let r = p.run(&["report", "--campaign", "2023-04", "--out", "report.html"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let html = p.read("report.html");
    let clicks = &html[html
        .find("<section id=\"clicks\">")
        .expect("a clicks section")..];
    assert!(
        clicks.contains(&format!(
            "<td>{book_url}</td><td class=\"n\">1</td><td class=\"n\">2</td>"
        )),
        "{clicks}"
    );
}

#[test]
fn with_per_member_a_link_names_the_member_and_clicks_on_arrival_look_automated() {
    let p = sent_with(true);
    let hrefs = hrefs(&p);
    let tracked: Vec<&str> = hrefs
        .iter()
        .filter_map(|h| h.strip_prefix(TRACKED))
        .collect();
    assert!(tracked.len() > 2 && tracked.iter().all(|t| t.contains('~')));
    let served = Served::start(&p);
    // Straight after the send: within seconds of delivery, and two links at once.
    for t in &tracked[..2] {
        let got = fetch(&format!("{}/c/{t}", served.base), &["-A", FIREFOX]);
        assert_eq!(got.status, 302);
    }
    // Another member's genuine part on this member's link names that member; a broken
    // one is refused.
    let (link, _) = tracked[0].split_once('~').unwrap();
    let hannah = hrefs_of(&p, "hannah.obi@example.org");
    let hannah = hannah.iter().find_map(|h| h.split_once('~')).unwrap().1;
    assert_eq!(served.get(&format!("/c/{link}~{hannah}")).status, 302);
    let forged = format!("/c/{link}~{}", &hannah[1..]);
    assert_eq!(served.get(&forged).status, 403);
    let counts = counts(&p, 3);
    assert_eq!(
        counts.iter().map(|l| l.automated).sum::<u64>(),
        3,
        "{counts:?}"
    );
}

#[test]
fn without_tracking_the_links_are_left_alone() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let hrefs = hrefs(&p);
    assert!(hrefs.iter().all(|h| !h.starts_with(TRACKED)), "{hrefs:?}");
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert!(!r.stdout.contains("click tracking"), "{}", r.stdout);
    let written: BTreeSet<String> = hrefs
        .into_iter()
        .filter(|h| h.starts_with("http") && !h.contains("/unsubscribe/"))
        .filter(|h| !h.contains("/bulletins/"))
        .collect();
    assert_eq!(written, template_links(&p));
}

#[test]
fn clicks_or_opens_without_a_base_url_are_config_errors() {
    let p = Project::example();
    p.edit("config.toml", "clicks = false", "clicks = true");
    p.edit("config.toml", "base_url = \"https://example.org\"", "");
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 2);
    let line = p
        .read("config.toml")
        .lines()
        .position(|l| l == "clicks = true")
        .unwrap()
        + 1;
    assert_eq!(
        r.stderr,
        format!(
            "error: invalid config `config.toml`: line {line}: tracking.clicks: needs `[web] base_url`: tracked links are `{{base_url}}/c/<token>`, answered by `mailshot serve` there\n"
        )
    );
    let p = Project::example();
    p.edit("config.toml", "opens = false", "opens = true");
    p.edit("config.toml", "base_url = \"https://example.org\"", "");
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "tracking.opens: needs `[web] base_url`: the open pixel is `{base_url}/o/<token>.gif`, answered by `mailshot serve` there\n"
        ),
        "{}",
        r.stderr
    );
    assert!(!p.path("outbox").exists());
}

#[test]
fn a_busy_store_never_delays_the_redirect_and_the_click_is_counted_after() {
    let p = sent_with(false);
    let hrefs = hrefs(&p);
    let token = hrefs.iter().find_map(|h| h.strip_prefix(TRACKED)).unwrap();
    let served = Served::start(&p);
    // Python holds the store in a write transaction for 2 s while curl follows the link
    // three times: each answer comes at once.
    let script = "import sqlite3, subprocess, sys, time\n\
                  c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                  c.execute('BEGIN EXCLUSIVE')\n\
                  start = time.time()\n\
                  for _ in range(3):\n\
                  \x20   t = time.time()\n\
                  \x20   code = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', sys.argv[2]], capture_output=True, text=True).stdout\n\
                  \x20   print(code, time.time() - t < 1)\n\
                  time.sleep(max(0, 2 - (time.time() - start)))\n\
                  c.execute('ROLLBACK')\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(p.path("mailshot.db"))
        .arg(format!("{}/c/{token}", served.base))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "302 True\n302 True\n302 True\n"
    );
    let counts = counts(&p, 3);
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].url, signed_url(token));
}

#[test]
fn turning_tracking_on_for_a_campaign_already_sent_is_a_change_of_its_sources() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p.edit("config.toml", "\nclicks = false\n", "\nclicks = true\n");
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("tracking added"), "{}", r.stdout);
}

#[test]
fn a_markdown_issues_links_are_tracked_too() {
    let p = Project::with_issues();
    p.edit("config.toml", "\nclicks = false\n", "\nclicks = true\n");
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let targets: BTreeSet<String> = hrefs(&p)
        .iter()
        .filter_map(|h| h.strip_prefix(TRACKED))
        .map(signed_url)
        .collect();
    // The issue's links (a text link, an image's, a button's) and the layout's.
    for url in [
        "https://example.org/programme",
        "https://example.org/events/topical-tuesday",
        "https://example.org/events/topical-tuesday/book",
        "https://example.org/privacy",
    ] {
        assert!(targets.contains(url), "{url} in {targets:?}");
    }
    let html = hrefs(&p);
    assert!(!html.iter().any(|h| h == "https://example.org/programme"));
}
