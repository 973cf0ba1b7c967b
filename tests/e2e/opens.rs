//! Open tracking (`[tracking] opens`): the example campaign sent with it on, each member's
//! copy loaded in headless Chromium from `mailshot serve` (or fetched with curl), the opens
//! read back from the store and the chair's report.

use mailshot::store::{OpenCounts, Store};

use crate::images::{html_of, shown_in_chromium};
use crate::support::Project;
use crate::unsubscribe::Service;
use crate::web::fetch;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The open pixel's address in `html` (the one `/o/` image), checking it stands on its own
/// line just before `</body>`.
fn pixel_of(html: &str) -> String {
    let found: Vec<&str> = html.match_indices("/o/").map(|(i, _)| &html[..i]).collect();
    assert_eq!(found.len(), 1, "one pixel in {html}");
    let start = found[0].rfind("src=\"").unwrap() + 5;
    let end = start + html[start..].find('"').unwrap();
    let tail = &html[end..];
    assert!(
        tail.starts_with(
            "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0;\" />"
        ),
        "{tail}"
    );
    let after = &tail[tail.find("/>").unwrap() + 2..];
    assert!(
        after.trim_start().starts_with("</body>"),
        "the pixel ends the body: {after}"
    );
    html[start..end].to_string()
}

/// The text part of a member's message.
fn text_of(p: &Project, rel: &str) -> String {
    let eml = std::fs::read(p.path(rel)).unwrap();
    let m = mail_parser::MessageParser::default().parse(&eml).unwrap();
    m.body_text(0).unwrap().into_owned()
}

/// The campaign's opens once the store has `total` (people's and automated; the writer is
/// asynchronous), waiting at most 10 s.
fn opens(p: &Project, total: u64) -> OpenCounts {
    let mut last = OpenCounts::default();
    for _ in 0..100 {
        if let Ok(Some(store)) = Store::open_read_only(&p.path("mailshot.db")) {
            last = store.open_counts("2023-04").unwrap();
            if last.opens + last.automated == total {
                return last;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the store never had {total} opens: {last:?}");
}

#[test]
fn each_members_copy_loads_its_pixel_from_serve_in_chromium_and_the_open_is_counted() {
    let p = Project::example();
    let service = Service::start(&p);
    p.edit(
        "config.toml",
        "base_url = \"https://example.org\"",
        &format!("base_url = \"{}\"", service.base),
    );
    p.edit("config.toml", "\nopens = false\n", "\nopens = true\n");
    // `check` reminds of consent and of what an open is worth.
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let reminder = format!(
        "warning: open tracking is on (`[tracking] opens`): each member's copy loads an image from `{}/o/`; opens are unreliable (Apple Mail Privacy Protection loads every image, many clients block images) and need the readers' consent (PECR; README, \"Open tracking\")\n",
        service.base
    );
    assert!(r.stdout.contains(&reminder), "{}", r.stdout);
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // One pixel per copy, the last thing in the body; without `per_member` the same for all.
    let zoe = "outbox/2023-04/zoe.hartley@medtech.example.org.eml";
    let html = html_of(&p, zoe);
    let pixel = pixel_of(&html);
    assert!(
        pixel.starts_with(&format!("{}/o/", service.base)),
        "{pixel}"
    );
    assert!(pixel.ends_with(".gif"));
    let hannah = pixel_of(&html_of(&p, "outbox/2023-04/hannah.obi@example.org.eml"));
    assert_eq!(hannah, pixel);
    // Not in the text part, a test copy, or the web edition.
    assert!(!text_of(&p, zoe).contains("/o/"));
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-04",
        "--test-to",
        "chair@example.org",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let test = html_of(&p, "outbox/2023-04/test/chair@example.org.eml");
    assert!(test.contains("</body>") && !test.contains("/o/"), "{test}");
    let web = fetch(&format!("{}/bulletins/2023-04/", service.base), &[]);
    assert_eq!(web.status, 200);
    assert!(!String::from_utf8_lossy(&web.body).contains("/o/"));

    // A browser opening the message loads the pixel: a 1x1 image, shown 1x1.
    let seen = shown_in_chromium(&p, &html, &["640"]);
    let img = seen["640"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["src"] == pixel.as_str())
        .unwrap_or_else(|| panic!("no pixel in {seen}"));
    assert_eq!(img["loaded"], true, "{img}");
    assert_eq!(img["natural"], serde_json::json!([1, 1]), "{img}");
    assert_eq!(img["shown"], serde_json::json!([1, 1]), "{img}");
    let counted = opens(&p, 1);
    assert_eq!(
        (counted.opens, counted.automated, counted.members),
        (1, 0, 0)
    );

    // What curl sees: the GIF itself, never cached; HEAD and the privacy proxy's user agent
    // are counted apart; an altered token is a 404 and counts nothing.
    let got = fetch(&pixel, &["-A", FIREFOX]);
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/gif"));
    assert_eq!(got.header("cache-control"), Some("no-store, private"));
    assert_eq!(got.body.len(), 43);
    assert!(got.body.starts_with(b"GIF89a\x01\x00\x01\x00"));
    assert_eq!(fetch(&pixel, &["-I", "-A", FIREFOX]).status, 200);
    assert_eq!(fetch(&pixel, &["-A", "Mozilla/5.0"]).status, 200);
    let mut altered = pixel.clone().into_bytes();
    let at = pixel.find("/o/").unwrap() + 5;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(fetch(&altered, &["-A", FIREFOX]).status, 404);
    assert_eq!(fetch(&pixel.replace(".gif", ".png"), &[]).status, 404);
    let counted = opens(&p, 4);
    assert_eq!((counted.opens, counted.automated), (2, 2), "{counted:?}");

    // The chair's report: the summary line and the section.
    let r = p.run(&["report", "--campaign", "2023-04", "--out", "report.html"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("0 unsubscribed since; 2 opens (unreliable); report written to report.html"),
        "{}",
        r.stdout
    );
    let page = p.read("report.html");
    let section = &page[page
        .find("<section id=\"opens\">")
        .expect("an opens section")..];
    assert!(
        section.contains("<tr><td>loads that look like a person's</td><td class=\"n\">2</td></tr>"),
        "{section}"
    );
    assert!(!section.contains("members who opened"));
}

#[test]
fn per_member_opens_name_the_member_and_images_loaded_on_arrival_are_counted_apart() {
    let p = Project::example();
    p.edit("config.toml", "\nopens = false\n", "\nopens = true\n");
    p.edit(
        "config.toml",
        "\nper_member = false\n",
        "\nper_member = true\n",
    );
    // Eleven members accepted an hour ago (the test build's clock), the last one now.
    let an_hour_ago = mailshot::clock::format(chrono::Utc::now() - chrono::Duration::hours(1));
    let r = p.run_hooked(
        &["send", "--campaign", "2023-04", "--yes", "--limit", "11"],
        &[("MAILSHOT_FAKE_NOW", &an_hour_ago)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pixel = |member: &str| pixel_of(&html_of(&p, &format!("outbox/2023-04/{member}.eml")));
    let (zoe, hannah) = (
        pixel("zoe.hartley@medtech.example.org"),
        pixel("hannah.obi@example.org"),
    );
    assert_ne!(zoe, hannah, "each member's own token");
    // The service's clock starts a second after Hannah's message was accepted: her copy is
    // fetched on arrival (a mail system, not Hannah), an hour after Zoë's.
    let accepted = p.log_row("2023-04", "hannah.obi@example.org")["last_attempt_at"]
        .as_str()
        .unwrap()
        .to_string();
    let accepted = chrono::DateTime::parse_from_rfc3339(&accepted).unwrap();
    let start = mailshot::clock::format((accepted + chrono::Duration::seconds(1)).to_utc());
    let service = Service::start_with(
        &p,
        crate::support::HOOKS_BIN,
        &[("MAILSHOT_FAKE_NOW", &start)],
    );
    let local = |url: &str| url.replace("https://example.org", &service.base);
    // Hannah's first, a second after her acceptance by the service's clock (inside the
    // 10 s unless the test stalls for nine); then Zoë reads hers twice.
    for url in [&hannah, &zoe, &zoe] {
        assert_eq!(fetch(&local(url), &["-A", FIREFOX]).status, 200, "{url}");
    }
    // Zoë's MAC on Hannah's name: refused.
    let (zoe_data, zoe_mac) = zoe.rsplit_once('.').unwrap().0.rsplit_once('.').unwrap();
    let (hannah_data, _) = hannah.rsplit_once('.').unwrap().0.rsplit_once('.').unwrap();
    let forged = format!("{hannah_data}.{zoe_mac}.gif");
    assert_ne!(zoe_data, hannah_data);
    assert_eq!(fetch(&local(&forged), &["-A", FIREFOX]).status, 404);
    let counted = opens(&p, 3);
    assert_eq!(
        (counted.opens, counted.automated, counted.members),
        (2, 1, 1),
        "{counted:?}"
    );
    let r = p.run(&["report", "--campaign", "2023-04", "--out", "report.html"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("; 2 opens by 1 member (unreliable)"),
        "{}",
        r.stdout
    );
    let page = p.read("report.html");
    assert!(page.contains(
        "<tr><td>members who opened (8.3% of those accepted)</td><td class=\"n\">1</td></tr>"
    ));
    assert!(page.contains(
        "<tr><td>automated (privacy proxies, scanners, on arrival; counted apart)</td><td class=\"n\">1</td></tr>"
    ));
    // In Chromium: the section reads as it should and its chart has its bar (day 1).
    let shots = tempfile::tempdir().unwrap();
    let (shown, shot) = crate::report::in_chromium(
        &p.path("report.html"),
        shots.path(),
        &["chart-opens=#2a8c6e"],
    );
    let text = shown["text"].as_str().unwrap();
    for seen in [
        "Opens",
        "members who opened",
        "Apple Mail Privacy Protection",
    ] {
        assert!(text.contains(seen), "{seen} not shown ({shot})\n{shown:#}");
    }
    let chart = &shown["charts"][0];
    assert!(chart["size"][0].as_f64().unwrap() > 300.0, "{shown:#}");
    assert!(chart["marks"].as_u64().unwrap() > 200, "no bar\n{shown:#}");
}

#[test]
fn turning_opens_on_for_a_campaign_already_sent_is_a_change_of_its_sources() {
    let p = Project::example();
    p.edit("config.toml", "\nclicks = false\n", "\nclicks = true\n");
    let r = p.run(&["send", "--campaign", "2023-04", "--yes", "--limit", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p.edit("config.toml", "\nopens = false\n", "\nopens = true\n");
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("from other sources: tracking changed (`clicks` -> `clicks and opens`)"),
        "{}",
        r.stderr
    );
    assert!(!p.path("outbox/2023-04/hannah.obi@example.org.eml").exists());
}
