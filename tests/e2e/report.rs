//! `mailshot report`: the example campaign sent to aiosmtpd with scripted refusals and
//! retries, a late bounce read by `mailshot bounces`, an unsubscribe; then the page as a
//! browser shows it (headless Chromium: every chart drawn, nothing fetched) and the summary.

use crate::support::{Project, SmtpServer};

const FAILED: &str = "ngozi.adeyemi@carepath.example.org";
const RETRIED: [&str; 2] = [
    "tom.ellison@northvale-uni.example.org",
    "lukasz.nowak@example.org",
];
const BOUNCED: &str = "zoe.hartley@medtech.example.org";
const UNSUBSCRIBED: &str = "sian.pritchard@example.org";

/// The example campaign sent at 50 a second: one member refused (550 5.1.1), two throttled
/// once (421 4.7.28) then accepted; then a Postfix DSN for `BOUNCED` read from a Maildir
/// and `UNSUBSCRIBED` unsubscribed.
fn sent_with_variety() -> (Project, SmtpServer) {
    let mut script = serde_json::Map::new();
    script.insert(
        FAILED.into(),
        serde_json::json!([format!("550 5.1.1 <{FAILED}>: user unknown")]),
    );
    for m in RETRIED {
        script.insert(
            m.into(),
            serde_json::json!(["421 4.7.28 rate limited, try later", "250 2.0.0 Ok"]),
        );
    }
    let server = SmtpServer::start(Some(serde_json::Value::Object(script)));
    let p = Project::smtp_paced(server.port, 50);
    p.edit(
        "config.toml",
        "list_id = \"cluster-news.example.org\"",
        "list_id = \"cluster-news.example.org\"\nbounce_address = \"bounces+{token}@example.org\"",
    );
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let zoe = server
        .received()
        .into_iter()
        .find(|m| m.rcpt_tos[0] == BOUNCED)
        .expect("zoe's message");
    let text = String::from_utf8_lossy(&zoe.bytes).into_owned();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: <"))
        .expect("a Message-ID")
        .trim_end_matches('>');
    let dsn = std::fs::read_to_string(
        crate::support::repo().join("tests/fixtures/bounces/postfix-hard.eml"),
    )
    .unwrap()
    .replace("{{VERP}}", &zoe.mail_from)
    .replace("{{RCPT}}", BOUNCED)
    .replace("{{MSGID}}", id)
    .replace("{{DATE}}", &chrono::Utc::now().to_rfc2822());
    p.write("bounce-box/new/1.eml", &dsn);
    for sub in ["cur", "tmp"] {
        std::fs::create_dir_all(p.path("bounce-box").join(sub)).unwrap();
    }
    let r = p.run(&["bounces", "--from", "bounce-box"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.run(&["suppress", "add", UNSUBSCRIBED, "--reason", "unsubscribed"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    (p, server)
}

/// What headless Chromium made of the page (tests/support/browser/report.mjs), its
/// `charts` (`id=#colour`) counted, and the screenshot's path (kept in `shots`).
pub(crate) fn in_chromium(
    page: &std::path::Path,
    shots: &std::path::Path,
    charts: &[&str],
) -> (serde_json::Value, String) {
    let shot = shots.join("report.png").display().to_string();
    let mut args = vec![page.display().to_string(), shot.clone()];
    args.extend(charts.iter().map(|c| c.to_string()));
    (crate::support::in_browser("report.mjs", &args), shot)
}

#[test]
fn the_report_shows_counts_replies_bounces_by_domain_and_unsubscribes_in_chromium() {
    let (p, _server) = sent_with_variety();
    // The rate changed since: the chart's line is the one the campaign was sent at.
    p.edit(
        "config.toml",
        "messages_per_second = 50",
        "messages_per_second = 7",
    );
    let r = p.run(&["report", "--campaign", "2023-04"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "campaign 2023-04 «Cluster News – April 2023»: 12 members, 11 accepted (91.7%), 1 failed, 0 deferred, 0 uncertain; 1 hard bounce, 0 complaints, 1 unsubscribed since; report written to report-2023-04.html\n"
    );
    assert_eq!(r.stderr, "");
    let html = p.read("report-2023-04.html");

    // The counts, the replies table and the domain table, row by row.
    for row in [
        "<tr><td>members</td><td class=\"n\">12</td><td class=\"n\">100.0%</td></tr>",
        "<tr><td>accepted by the server</td><td class=\"n\">11</td><td class=\"n\">91.7%</td></tr>",
        "<tr><td>failed (refused)</td><td class=\"n\">1</td><td class=\"n\">8.3%</td></tr>",
        "<tr><td>late hard bounces</td><td class=\"n\">1</td><td class=\"n\">8.3%</td></tr>",
        "<tr><td>250 2.0.0</td><td>accepted</td><td class=\"n\">11</td><td class=\"n\">78.6%</td></tr>",
        "<tr><td>421 4.7.28</td><td>deferred: throttled</td><td class=\"n\">2</td><td class=\"n\">14.3%</td></tr>",
        "<tr><td>550 5.1.1</td><td>failed: hard-bounce</td><td class=\"n\">1</td><td class=\"n\">7.1%</td></tr>",
        "<tr><td>hard bounce</td><td>hard-bounce</td><td class=\"n\">1</td></tr>",
        "<tr><td>medtech.example.org</td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td></tr>",
        "<tr><td class=\"n\">2</td><td class=\"n\">2</td></tr>",
        "<p id=\"retries\">2 members needed more than one attempt (2 retries in all).</p>",
        "Messages accepted since the first attempt; the grey line is the rate its last run was sent at, 50 a second.",
    ] {
        assert!(html.contains(row), "missing {row}\n{html}");
    }
    // Self-contained: no script, nothing to fetch; the only link is the web edition's.
    assert!(!html.contains("<script"));
    assert!(!html.contains(" src="), "{html}");
    assert!(!html.contains("<link"));
    assert_eq!(html.matches("href=").count(), 1);
    assert!(html.contains("<a href=\"https://example.org/bulletins/2023-04/\">"));
    // Domains, never addresses: not one `@` on the page.
    assert!(!html.contains('@'), "an address is on the page");
    assert_eq!(html.matches("<svg").count(), 3);

    let shots = tempfile::Builder::new()
        .prefix("mailshot-report-")
        .tempdir()
        .unwrap()
        .keep();
    let charts = [
        "chart-acceptances=#1f6fb4",
        "chart-replies=#2a8c6e",
        "chart-unsubscribes=#2a8c6e",
    ];
    let (shown, shot) = in_chromium(&p.path("report-2023-04.html"), &shots, &charts);
    let says = format!("screenshot: {shot}\n{shown:#}");
    assert_eq!(shown["title"], "Campaign report: 2023-04", "{says}");
    assert_eq!(shown["scripts"], 0, "{says}");
    assert_eq!(shown["requests"], serde_json::json!([]), "{says}");
    let text = shown["text"].as_str().unwrap();
    for seen in [
        "Cluster News – April 2023",
        "Acceptances over time",
        "medtech.example.org",
    ] {
        assert!(text.contains(seen), "{seen} not shown\n{says}");
    }
    for chart in shown["charts"].as_array().unwrap() {
        let (w, h) = (
            chart["size"][0].as_f64().unwrap(),
            chart["size"][1].as_f64().unwrap(),
        );
        assert!(w > 300.0 && h > 100.0, "{} is {w}x{h}\n{says}", chart["id"]);
        // The data's own colour: the acceptance line, the bars.
        assert!(
            chart["marks"].as_u64().unwrap() > 200,
            "{} has no marks\n{says}",
            chart["id"]
        );
    }
    std::fs::remove_dir_all(&shots).unwrap();
}

#[test]
fn out_is_written_or_named_in_the_error_and_an_unknown_campaign_or_unreadable_store_fails() {
    let (p, _server) = sent_with_variety();
    let out = [
        "report",
        "--campaign",
        "2023-04",
        "--out",
        "board/april.html",
    ];
    // A file where the folder should be.
    p.write("board", "");
    let r = p.run(&out);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .starts_with("error: failed to write report `board/april.html`: "),
        "{}",
        r.stderr
    );
    std::fs::remove_file(p.path("board")).unwrap();
    let r = p.run(&out);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.ends_with("; report written to board/april.html\n"),
        "{}",
        r.stdout
    );
    assert!(p.read("board/april.html").starts_with("<!DOCTYPE html>"));

    let r = p.run(&["report", "--campaign", "2023-05"]);
    assert_eq!((r.code, r.stdout.as_str()), (2, ""));
    assert_eq!(r.stderr, "error: no campaign `2023-05` in `mailshot.db`\n");

    let fresh = Project::example();
    let r = fresh.run(&["report", "--campaign", "2023-04"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "error: no campaign `2023-04` in `mailshot.db`\n");

    fresh.write(
        "mailshot.db",
        "this is not a database, and is long enough to be read as one...",
    );
    let r = fresh.run(&["report", "--campaign", "2023-04"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: failed to open delivery log `mailshot.db`: "),
        "{}",
        r.stderr
    );
}
