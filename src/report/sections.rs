//! The page's sections, each one function of the [`Report`] returning its HTML. Everything
//! that came from the store is escaped; members appear only as counts and domains.
//!
//! A section is added by writing its function and listing it in [`SECTIONS`].

use super::{DAYS_AFTER, LateKind, Report, charts, percent, plural};
use crate::error::Result;
use crate::store::{ReplyCount, Status};
use crate::web::escape;

/// One section of the page.
type Section = fn(&Report) -> Result<String>;

/// The sections, in page order.
const SECTIONS: &[Section] = &[
    header,
    counts,
    acceptances,
    replies,
    late,
    unsubscribes,
    clicks,
    opens,
];

/// Inline, so the page needs nothing else; print-friendly.
const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
color:#1d1d1f;background:#fff;margin:0}\
main{max-width:760px;margin:0 auto;padding:24px 16px 48px}\
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.meta{color:#555;margin:0}\
table{border-collapse:collapse;width:100%;margin:8px 0}\
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:8px 0}figure svg{width:100%;height:auto;display:block}\
figcaption{color:#555;font-size:.9em}\
.none{color:#555;font-style:italic}\
footer{color:#777;font-size:.85em;margin-top:40px}";

/// The whole page: every section in order.
pub fn page(r: &Report) -> Result<String> {
    let mut body = String::new();
    for section in SECTIONS {
        body.push_str(&section(r)?);
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Campaign report: {id}</title><style>{STYLE}</style></head>\n<body><main>\n{body}\
<footer>Made by mailshot at {made} from its delivery log.</footer>\n</main></body></html>\n",
        id = escape(&r.campaign),
        made = escape(&when(&r.made_at)),
    ))
}

/// A `<section>` with its id and heading.
fn section(id: &str, title: &str, content: &str) -> String {
    format!("<section id=\"{id}\"><h2>{title}</h2>\n{content}</section>\n")
}

/// A chart's SVG with its caption.
fn figure(id: &str, svg: &str, caption: &str) -> String {
    format!(
        "<figure class=\"chart\" id=\"{id}\">{svg}<figcaption>{caption}</figcaption></figure>\n"
    )
}

/// A table: `head` names the columns (a leading `#` marks a numeric one), `rows` are cells
/// already escaped.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let numeric: Vec<bool> = head.iter().map(|h| h.starts_with('#')).collect();
    let class = |i: usize| if numeric[i] { " class=\"n\"" } else { "" };
    let mut out = String::from("<table><thead><tr>");
    for (i, h) in head.iter().enumerate() {
        out.push_str(&format!(
            "<th{}>{}</th>",
            class(i),
            h.trim_start_matches('#')
        ));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            out.push_str(&format!("<td{}>{cell}</td>", class(i)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

fn none(text: &str) -> String {
    format!("<p class=\"none\">{text}</p>\n")
}

/// An RFC 3339 time from the store as people read it (`2023-04-03 08:01 UTC`); as stored if
/// it is not one.
fn when(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string())
}

/// Campaign, subject as sent, when, and the web edition.
fn header(r: &Report) -> Result<String> {
    let finished = match &r.finished_at {
        Some(at) => format!("finished {}", escape(&when(at))),
        None => "not finished".to_string(),
    };
    let web = match &r.web_url {
        Some(url) => format!(
            "<p class=\"meta\">Web edition: <a href=\"{0}\">{0}</a></p>\n",
            escape(url)
        ),
        None => String::new(),
    };
    Ok(format!(
        "<header><h1>{subject}</h1>\n<p class=\"meta\">Campaign <strong>{id}</strong>: \
started {started}, {finished}</p>\n{web}</header>\n",
        subject = escape(&r.subject),
        id = escape(&r.campaign),
        started = escape(&when(&r.started_at)),
    ))
}

/// What became of the members, and of the accepted messages afterwards.
fn counts(r: &Report) -> Result<String> {
    let c = &r.counts;
    let row = |what: &str, n: u64| vec![what.to_string(), n.to_string(), percent(n, c.members)];
    let rows = [
        row("members", c.members),
        row("sent (attempted)", r.sent()),
        row("accepted by the server", c.accepted),
        row("deferred (temporary refusal, attempts ran out)", c.deferred),
        row("failed (refused)", c.failed),
        row("uncertain (no clear reply)", c.uncertain),
        row("suppressed (skipped)", c.suppressed),
        row("pending (not attempted yet)", c.pending),
        row("late hard bounces", r.late_count(LateKind::Hard) as u64),
        row("late soft bounces", r.late_count(LateKind::Soft) as u64),
        row("complaints", r.late_count(LateKind::Complaint) as u64),
    ];
    Ok(section(
        "counts",
        "Members",
        &table(&["", "#members", "#of all"], &rows),
    ))
}

/// Cumulative acceptances against the rate limit they were sent at, and the retries.
fn acceptances(r: &Report) -> Result<String> {
    let mut out = String::new();
    if r.accepted_after.is_empty() {
        out.push_str(&none("No message has been accepted yet."));
    } else {
        let unknown = "(the log does not say what it was sent at)";
        let rate = match (r.rate, r.rate_recorded) {
            (0.0, true) => "its last run was sent with no rate limit".to_string(),
            (0.0, false) => format!("no rate limit is configured now {unknown}"),
            (rate, true) => {
                format!("the grey line is the rate its last run was sent at, {rate} a second")
            }
            (rate, false) => {
                format!("the grey line is the rate configured now, {rate} a second {unknown}")
            }
        };
        let caption = format!("Messages accepted since the first attempt; {rate}.");
        let svg = charts::acceptances(&r.accepted_after, r.rate)?;
        out.push_str(&figure("chart-acceptances", &svg, &caption));
    }
    let retried: u64 = r
        .attempts
        .iter()
        .filter(|(a, _)| *a > 1)
        .map(|(_, n)| n)
        .sum();
    let extra: u64 = r
        .attempts
        .iter()
        .map(|(a, n)| u64::from(a.saturating_sub(1)) * n)
        .sum();
    out.push_str(&format!(
        "<h3>Retries</h3>\n<p id=\"retries\">{} needed more than one attempt ({} in all).</p>\n",
        plural(retried, "member", "members"),
        plural(extra, "retry", "retries"),
    ));
    if !r.attempts.is_empty() {
        let rows: Vec<Vec<String>> = r
            .attempts
            .iter()
            .map(|(a, n)| vec![a.to_string(), n.to_string()])
            .collect();
        out.push_str(&table(&["#attempts", "#members"], &rows));
    }
    Ok(section("acceptances", "Acceptances over time", &out))
}

/// `250`, `421 4.7.28`, `550 5.1.1`: a reply as the table and chart label it.
fn reply_label(x: &ReplyCount) -> String {
    match (x.code, &x.enhanced) {
        (Some(c), Some(e)) => format!("{c} {e}"),
        (Some(c), None) => c.to_string(),
        // The file transport's acceptances have no code.
        (None, _) if x.outcome == Status::Accepted => "no code".to_string(),
        (None, _) => "no reply".to_string(),
    }
}

/// Every attempt's reply by code. Reply texts are left out: they often quote the address.
fn replies(r: &Report) -> Result<String> {
    if r.replies.is_empty() {
        return Ok(section(
            "replies",
            "Server replies",
            &none("No attempt yet."),
        ));
    }
    let total: u64 = r.replies.iter().map(|x| x.attempts).sum();
    let mut bars: Vec<(String, u64)> = Vec::new();
    let mut rows = Vec::new();
    for x in &r.replies {
        let label = reply_label(x);
        match bars.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += x.attempts,
            None => bars.push((label.clone(), x.attempts)),
        }
        let meaning = match &x.reason {
            Some(reason) if reason != x.outcome.as_str() => {
                format!("{}: {}", x.outcome, reason)
            }
            _ => x.outcome.to_string(),
        };
        rows.push(vec![
            escape(&label),
            escape(&meaning),
            x.attempts.to_string(),
            percent(x.attempts, total),
        ]);
    }
    let svg = charts::bars("replies", ("reply", "attempts"), &bars)?;
    let mut out = figure("chart-replies", &svg, "Attempts by the server's reply.");
    out.push_str(&table(&["reply", "meaning", "#attempts", "#of all"], &rows));
    Ok(section("replies", "Server replies", &out))
}

/// How many domains the by-domain table shows; the rest are summed in one row.
const TOP_DOMAINS: usize = 10;

/// Late bounces and complaints by type, and by the recipient's domain.
fn late(r: &Report) -> Result<String> {
    if r.late.is_empty() {
        let text = "No bounce or complaint has been read for this campaign (`mailshot bounces`).";
        return Ok(section(
            "late",
            "Late bounces and complaints",
            &none(&escape(text)),
        ));
    }
    let mut types: Vec<(LateKind, &str, u64)> = Vec::new();
    for l in &r.late {
        match types
            .iter_mut()
            .find(|(k, reason, _)| *k == l.kind && *reason == l.reason)
        {
            Some((.., n)) => *n += 1,
            None => types.push((l.kind, &l.reason, 1)),
        }
    }
    types.sort();
    let rows: Vec<Vec<String>> = types
        .iter()
        .map(|(k, reason, n)| vec![k.label().to_string(), escape(reason), n.to_string()])
        .collect();
    let mut out = String::from("<h3>By type</h3>\n");
    out.push_str(&table(&["type", "reason", "#members"], &rows));
    out.push_str("<h3>By recipient domain</h3>\n");
    out.push_str(&table(
        &["domain", "#hard", "#soft", "#complaints", "#other"],
        &domain_rows(r),
    ));
    Ok(section("late", "Late bounces and complaints", &out))
}

/// The by-domain table's rows: the [`TOP_DOMAINS`] domains with the most events, then the
/// rest summed.
fn domain_rows(r: &Report) -> Vec<Vec<String>> {
    let kinds = [
        LateKind::Hard,
        LateKind::Soft,
        LateKind::Complaint,
        LateKind::NotMember,
    ];
    let mut domains: Vec<(&str, [u64; 4])> = Vec::new();
    for l in &r.late {
        let at = kinds.iter().position(|k| *k == l.kind).unwrap_or(3);
        match domains.iter_mut().find(|(d, _)| *d == l.domain) {
            Some((_, n)) => n[at] += 1,
            None => {
                let mut n = [0; 4];
                n[at] = 1;
                domains.push((&l.domain, n));
            }
        }
    }
    domains.sort_by(|a, b| {
        b.1.iter()
            .sum::<u64>()
            .cmp(&a.1.iter().sum())
            .then(a.0.cmp(b.0))
    });
    let row = |name: String, n: &[u64; 4]| {
        let mut row = vec![name];
        row.extend(n.iter().map(u64::to_string));
        row
    };
    let mut rows: Vec<Vec<String>> = domains
        .iter()
        .take(TOP_DOMAINS)
        .map(|(d, n)| row(escape(d), n))
        .collect();
    let rest = &domains[domains.len().min(TOP_DOMAINS)..];
    if !rest.is_empty() {
        let mut sum = [0; 4];
        for (_, n) in rest {
            for (s, x) in sum.iter_mut().zip(n) {
                *s += x;
            }
        }
        rows.push(row(
            plural(rest.len() as u64, "other domain", "other domains"),
            &sum,
        ));
    }
    rows
}

/// Members of the campaign unsubscribed on each of the days after it started.
fn unsubscribes(r: &Report) -> Result<String> {
    let data: Vec<(String, u64)> = r
        .unsubscribes
        .iter()
        .zip(1..)
        .map(|(n, day)| (day.to_string(), *n))
        .collect();
    let svg = charts::bars("unsubscribes", ("day after the start", "members"), &data)?;
    let caption = format!(
        "Members of this campaign unsubscribed on each day after it started (day 1 is its first \
24 hours), {} in all over {DAYS_AFTER} days.",
        r.unsubscribed()
    );
    Ok(section(
        "unsubscribes",
        "Unsubscribes in the days after",
        &figure("chart-unsubscribes", &svg, &caption),
    ))
}

/// Clicks per tracked link, people's and the automated-looking apart (link scanners, HEAD,
/// instant clicks), most clicked first.
fn clicks(r: &Report) -> Result<String> {
    if r.clicks.is_empty() {
        return Ok(section(
            "clicks",
            "Clicks per link",
            &none(
                "No clicks recorded: click tracking is off (`[tracking] clicks`), or nobody has clicked yet.",
            ),
        ));
    }
    let mut links: Vec<&crate::store::LinkClicks> = r.clicks.iter().collect();
    links.sort_by(|a, b| {
        (b.clicks, b.automated)
            .cmp(&(a.clicks, a.automated))
            .then(a.url.cmp(&b.url))
    });
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|l| {
            vec![
                escape(&l.url),
                l.clicks.to_string(),
                l.automated.to_string(),
            ]
        })
        .collect();
    let content = table(
        &["link", "#clicks by people", "#automated (counted apart)"],
        &rows,
    );
    Ok(section("clicks", "Clicks per link", &content))
}

/// Opens (`[tracking] opens`): people's, the automated apart, the members who opened (with
/// `per_member`), and people's opens per day; said plainly to be a weak signal.
fn opens(r: &Report) -> Result<String> {
    let o = &r.opens;
    if o.people + o.automated == 0 {
        return Ok(section(
            "opens",
            "Opens",
            &none(
                "No opens recorded: open tracking is off (`[tracking] opens`), or no member's copy has loaded its images yet.",
            ),
        ));
    }
    let mut rows = vec![vec![
        "loads that look like a person's".to_string(),
        o.people.to_string(),
    ]];
    if o.members > 0 {
        rows.push(vec![
            format!(
                "members who opened ({} of those accepted)",
                percent(o.members, r.counts.accepted)
            ),
            o.members.to_string(),
        ]);
    }
    rows.push(vec![
        "automated (privacy proxies, scanners, on arrival; counted apart)".to_string(),
        o.automated.to_string(),
    ]);
    let data: Vec<(String, u64)> = o
        .per_day
        .iter()
        .zip(1..)
        .map(|(n, day)| (day.to_string(), *n))
        .collect();
    let svg = charts::bars("opens", ("day after the start", "opens"), &data)?;
    let caption = format!(
        "Opens that look like a person's on each day after the campaign started, over {DAYS_AFTER} days. An open is a weak signal: clients that block images show none, and Apple Mail Privacy Protection loads the images of every message, read or not."
    );
    let content = format!(
        "{}{}",
        table(&["", "#count"], &rows),
        figure("chart-opens", &svg, &caption)
    );
    Ok(section("opens", "Opens", &content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Late;
    use crate::store::Counts;

    /// A campaign begun with `members` and nothing sent yet.
    fn empty(members: u64) -> Report {
        Report {
            campaign: "2023-04".into(),
            subject: "News".into(),
            started_at: "2023-04-03T08:00:00.000Z".into(),
            finished_at: None,
            web_url: None,
            counts: Counts {
                members,
                pending: members,
                ..Counts::default()
            },
            accepted_after: Vec::new(),
            rate: 0.0,
            rate_recorded: true,
            attempts: Vec::new(),
            replies: Vec::new(),
            late: Vec::new(),
            unsubscribes: [0; DAYS_AFTER],
            clicks: Vec::new(),
            opens: Default::default(),
            made_at: "2023-04-03T09:00:00.000Z".into(),
        }
    }

    #[test]
    fn clicks_are_listed_most_clicked_first_escaped_and_said_to_be_off_when_none() {
        let mut r = empty(3);
        assert!(clicks(&r).unwrap().contains("click tracking is off"));
        let link = |url: &str, clicks, automated| crate::store::LinkClicks {
            url: url.into(),
            clicks,
            automated,
        };
        r.clicks = vec![
            link("https://example.org/a?x=1&y=<2>", 1, 4),
            link("https://example.org/b", 5, 0),
        ];
        let html = clicks(&r).unwrap();
        let b = html.find("https://example.org/b").unwrap();
        let a = html
            .find("https://example.org/a?x=1&amp;y=&lt;2&gt;")
            .unwrap();
        assert!(b < a, "{html}");
        assert!(
            html.contains("<td class=\"n\">5</td><td class=\"n\">0</td>"),
            "{html}"
        );
    }

    #[test]
    fn opens_are_counted_with_members_only_when_named_and_said_to_be_unreliable() {
        let mut r = empty(10);
        r.counts.accepted = 8;
        r.opens = crate::report::Opens {
            people: 7,
            automated: 3,
            members: 4,
            per_day: [5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        let html = opens(&r).unwrap();
        for row in [
            "<tr><td>loads that look like a person's</td><td class=\"n\">7</td></tr>",
            "<tr><td>members who opened (50.0% of those accepted)</td><td class=\"n\">4</td></tr>",
            "<tr><td>automated (privacy proxies, scanners, on arrival; counted apart)</td><td class=\"n\">3</td></tr>",
        ] {
            assert!(html.contains(row), "{row} in {html}");
        }
        assert!(html.contains("id=\"chart-opens\"><svg"));
        assert!(html.contains("Apple Mail Privacy Protection"));
        assert!(r.summary().ends_with("; 7 opens by 4 members (unreliable)"));
        // Without per_member nobody is named: no members row.
        r.opens.members = 0;
        assert!(!opens(&r).unwrap().contains("members who opened"));
        assert!(
            r.summary()
                .ends_with("unsubscribed since; 7 opens (unreliable)")
        );
    }

    #[test]
    fn what_came_from_the_store_is_escaped() {
        let mut r = empty(1);
        r.subject = "<script>alert(1)</script> & \"news\"".into();
        r.campaign = "a<b".into();
        r.web_url = Some("https://example.org/bulletins/x/?a=1&b=\"2\"".into());
        r.replies = vec![ReplyCount {
            code: Some(550),
            enhanced: Some("<5.1.1>".into()),
            outcome: Status::Failed,
            reason: Some("hard-bounce <x>".into()),
            attempts: 1,
        }];
        r.late = vec![Late {
            domain: "<img src=x>.example".into(),
            kind: LateKind::Hard,
            reason: "hard-bounce".into(),
        }];
        let html = page(&r).unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;news&quot;</h1>")
        );
        assert!(html.contains("<title>Campaign report: a&lt;b</title>"));
        assert!(html.contains("href=\"https://example.org/bulletins/x/?a=1&amp;b=&quot;2&quot;\""));
        assert!(html.contains("<td>550 &lt;5.1.1&gt;</td><td>failed: hard-bounce &lt;x&gt;</td>"));
        assert!(html.contains("<td>&lt;img src=x&gt;.example</td>"));
    }

    #[test]
    fn the_rate_line_says_whether_the_log_recorded_it_or_it_is_todays_config() {
        let mut r = empty(2);
        r.accepted_after = vec![0.5, 1.0];
        r.rate = 5.0;
        assert!(
            acceptances(&r)
                .unwrap()
                .contains("the grey line is the rate its last run was sent at, 5 a second.")
        );
        r.rate_recorded = false;
        assert!(acceptances(&r).unwrap().contains(
            "the grey line is the rate configured now, 5 a second (the log does not say what it was sent at)."
        ));
        r.rate = 0.0;
        assert!(
            acceptances(&r)
                .unwrap()
                .contains("no rate limit is configured now")
        );
        r.rate_recorded = true;
        assert!(
            acceptances(&r)
                .unwrap()
                .contains("its last run was sent with no rate limit.")
        );
    }

    #[test]
    fn a_campaign_with_nothing_sent_says_so_and_divides_by_nothing() {
        let html = page(&empty(0)).unwrap();
        assert!(
            html.contains("<tr><td>members</td><td class=\"n\">0</td><td class=\"n\">-</td></tr>"),
            "{html}"
        );
        assert!(html.contains("No message has been accepted yet."));
        assert!(html.contains(
            "<p id=\"retries\">0 members needed more than one attempt (0 retries in all).</p>"
        ));
        assert!(html.contains("No attempt yet."));
        assert!(html.contains("No bounce or complaint has been read for this campaign"));
        assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
        assert!(html.contains("started 2023-04-03 08:00 UTC, not finished"));
        assert!(html.contains("No opens recorded: open tracking is off"));
        // The unsubscribes chart is drawn all the same, with its 14 empty days.
        assert!(html.contains("id=\"chart-unsubscribes\"><svg"));
        assert_eq!(
            empty(0).summary(),
            "campaign 2023-04 «News»: 0 members, 0 accepted (-), 0 failed, 0 deferred, 0 uncertain; 0 hard bounces, 0 complaints, 0 unsubscribed since"
        );
    }

    #[test]
    fn the_domain_table_shows_the_top_ten_and_sums_the_rest() {
        let mut r = empty(30);
        for i in 0..12 {
            for _ in 0..=i {
                r.late.push(Late {
                    domain: format!("d{i:02}.example"),
                    kind: if i % 2 == 0 {
                        LateKind::Hard
                    } else {
                        LateKind::Complaint
                    },
                    reason: "x".into(),
                });
            }
        }
        let rows = domain_rows(&r);
        assert_eq!(rows.len(), 11);
        assert_eq!(rows[0], ["d11.example", "0", "0", "12", "0"]);
        assert_eq!(rows[9], ["d02.example", "3", "0", "0", "0"]);
        // d01 (1 complaint... 2 events) and d00 (1 hard bounce).
        assert_eq!(rows[10], ["2 other domains", "1", "0", "2", "0"]);
    }

    #[test]
    fn retries_count_the_attempts_beyond_the_first() {
        let mut r = empty(5);
        r.attempts = vec![(1, 3), (2, 1), (3, 1)];
        let html = acceptances(&r).unwrap();
        assert!(
            html.contains(
                "<p id=\"retries\">2 members needed more than one attempt (3 retries in all).</p>"
            ),
            "{html}"
        );
    }
}
