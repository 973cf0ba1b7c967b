//! `mailshot bounces`: real provider bounces (Postfix, Exim, Gmail, Outlook.com, Yahoo's
//! ARF) about a campaign really sent (to aiosmtpd, which records each VERP envelope sender
//! and Message-ID), read from a real Dovecot over IMAP, or from a Maildir or mbox on disk.

use std::collections::HashMap;

use crate::support::dovecot::{self, Dovecot};
use crate::support::{Project, SmtpServer};

/// What one member's message went out with.
#[derive(Debug, Clone)]
struct Sent {
    verp: String,
    message_id: String,
}

/// A project with VERP and a mailto unsubscribe, `n` members, and an SMTP server.
fn project(n: usize) -> (Project, SmtpServer, Vec<String>) {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    p.edit(
        "config.toml",
        "list_id = \"cluster-news.example.org\"",
        "list_id = \"cluster-news.example.org\"\nbounce_address = \"bounces+{token}@example.org\"",
    );
    p.edit(
        "config.toml",
        "secret_env = \"MAILSHOT_TEST_UNSUBSCRIBE_SECRET\"",
        "secret_env = \"MAILSHOT_TEST_UNSUBSCRIBE_SECRET\"\nmailto = \"unsubscribe@example.org\"",
    );
    let members = p.members("lists/members.csv", n);
    (p, server, members)
}

/// Sends `campaign`; each member's envelope sender and Message-ID as the server got them.
fn send(p: &Project, server: &SmtpServer, campaign: &str) -> HashMap<String, Sent> {
    send_at(p, server, campaign, None)
}

/// [`send`], with the test build's clock started at `now` (RFC 3339) when given.
fn send_at(
    p: &Project,
    server: &SmtpServer,
    campaign: &str,
    now: Option<&str>,
) -> HashMap<String, Sent> {
    let before = server.received().len();
    let args = ["send", "--campaign", campaign, "--yes"];
    let r = match now {
        Some(now) => p.run_hooked(&args, &[("MAILSHOT_FAKE_NOW", now)]),
        None => p.run(&args),
    };
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    server
        .received()
        .into_iter()
        .skip(before)
        .map(|m| {
            let text = String::from_utf8_lossy(&m.bytes).into_owned();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .expect("a Message-ID")
                .trim_end_matches('>')
                .to_string();
            assert!(m.mail_from.starts_with("bounces+"), "{}", m.mail_from);
            let sent = Sent {
                verp: m.mail_from.clone(),
                message_id: id,
            };
            (m.rcpt_tos[0].clone(), sent)
        })
        .collect()
}

/// Fixture `name` (tests/fixtures/bounces) filled in for `rcpt`'s message, written now; `id`
/// makes the report's own Message-ID unique.
fn fixture(name: &str, rcpt: &str, sent: &Sent, id: &str) -> String {
    fixture_at(name, rcpt, sent, id, chrono::Utc::now())
}

/// [`fixture`] written at `date`.
fn fixture_at(
    name: &str,
    rcpt: &str,
    sent: &Sent,
    id: &str,
    date: chrono::DateTime<chrono::Utc>,
) -> String {
    let path = crate::support::repo()
        .join("tests/fixtures/bounces")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{VERP}}", &sent.verp)
        .replace("{{RCPT}}", rcpt)
        .replace("{{RCPT_LOCAL}}", rcpt.split('@').next().unwrap())
        .replace("{{MSGID}}", &sent.message_id)
        .replace("{{ID}}", id)
        .replace("{{DATE}}", &date.to_rfc2822())
}

fn imap_config(p: &Project, d: &Dovecot) {
    let config = p.read("config.toml");
    let at = config.find("\n[vars]").unwrap();
    let bounces = format!(
        "\n[bounces]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nuser = \"{}\"\npassword_env = \"TEST_IMAP_PASSWORD\"\ntimeout_secs = 5\n",
        d.port,
        dovecot::USER
    );
    p.write(
        "config.toml",
        &format!("{}{bounces}{}", &config[..at], &config[at..]),
    );
}

fn suppressions(p: &Project) -> Vec<(String, String)> {
    let r = p.run(&["suppress", "list", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["email"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `email`'s rows in the campaign's log: its delivery and any late events.
fn rows(p: &Project, campaign: &str, email: &str) -> Vec<serde_json::Value> {
    p.log(campaign)
        .into_iter()
        .filter(|r| r["email"] == email)
        .collect()
}

#[test]
fn a_hard_bounce_in_the_imap_box_is_suppressed_logged_and_moved_and_twice_changes_nothing() {
    let d = Dovecot::start();
    let (p, server, members) = project(2);
    let sent = send(&p, &server, "2023-04");
    let ann = &members[0];
    d.deliver(
        "1.bounce",
        fixture("postfix-hard.eml", ann, &sent[ann], "1").as_bytes(),
    );
    d.deliver(
        "2.junk",
        fixture("junk.eml", ann, &sent[ann], "2").as_bytes(),
    );
    imap_config(&p, &d);
    let env = [("TEST_IMAP_PASSWORD", dovecot::PASSWORD)];
    let r = p.run_env(&["bounces"], &env);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "UID 2: left in place: neither a bounce (DSN or failure notice), a complaint (ARF) nor an unsubscribe\n\
         bounces: 2 read: 1 hard (suppressed), 1 unparseable left in INBOX\n"
    );
    assert_eq!(r.stderr, "");
    assert_eq!(suppressions(&p), vec![(ann.clone(), "hard-bounce".into())]);
    let log = rows(&p, "2023-04", ann);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["status"], "accepted");
    assert_eq!(log[1]["status"], "bounced");
    assert_eq!(log[1]["reason"], "hard-bounce");
    assert_eq!(log[1]["enhanced_code"], "5.1.1");
    assert_eq!(log[1]["smtp_code"], 550);
    assert_eq!(log[1]["message_id"], log[0]["message_id"]);
    assert!(
        log[1]["last_attempt_at"].as_str().unwrap() >= log[0]["last_attempt_at"].as_str().unwrap()
    );
    // The bounce went to the processed folder; the junk stayed, untouched.
    let processed = d.messages("mailshot-processed");
    assert_eq!(processed.len(), 1);
    assert!(processed[0].contains("Undelivered Mail Returned to Sender"));
    let inbox = d.messages("");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].contains("Stand at the April showcase?"));

    // Again: the junk is reported again, nothing else changes.
    let r = p.run_env(&["bounces"], &env);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .ends_with("bounces: 1 read: 1 unparseable left in INBOX\n"),
        "{}",
        r.stdout
    );
    // The same bounce delivered twice (a copy put back): already read.
    d.deliver(
        "3.bounce",
        fixture("postfix-hard.eml", ann, &sent[ann], "1").as_bytes(),
    );
    let r = p.run_env(&["bounces", "--verbose"], &env);
    assert!(
        r.stdout.contains(": already read: nothing changed\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("bounces: 2 read: 1 already read, 1 unparseable left in INBOX\n"),
        "{}",
        r.stdout
    );
    assert_eq!(rows(&p, "2023-04", ann).len(), 2);
    assert_eq!(d.messages("mailshot-processed").len(), 2);
    let status = p.run(&["status"]);
    assert!(status.stdout.contains(" bounced"), "{}", status.stdout);
}

#[test]
fn a_wrong_password_is_a_clear_error_and_no_password_is_ever_printed() {
    let d = Dovecot::start();
    let (p, _server, _) = project(1);
    imap_config(&p, &d);
    let r = p.run_env(&["bounces"], &[("TEST_IMAP_PASSWORD", "wrong-pass-41")]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: IMAP server `127.0.0.1:{}` refused the login of `bounces`: ",
            d.port
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("wrong-pass-41") && !r.stdout.contains("wrong-pass-41"));
    let r = p.run(&["bounces"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: environment variable `TEST_IMAP_PASSWORD` is not set: it must hold the password of `bounces` on `127.0.0.1`"),
        "{}",
        r.stderr
    );
    let r = p.run_env(
        &["bounces", "--verbose"],
        &[("TEST_IMAP_PASSWORD", dovecot::PASSWORD)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "bounces: 0 read\n");
    assert!(!r.stderr.contains(dovecot::PASSWORD));
}

#[test]
fn each_provider_s_report_is_matched_and_classified_from_a_maildir() {
    let (p, server, m) = project(7);
    let sent = send(&p, &server, "2023-04");
    let dir = p.path("bounce-box");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mut outlook = fixture("outlook-soft.eml", &m[3], &sent[&m[3]], "4");
    // Matched by its recipient alone: no token, no Message-ID of ours in it.
    outlook = outlook.replace(&sent[&m[3]].verp, "news@example.org");
    let files = [
        fixture("postfix-hard.eml", &m[0], &sent[&m[0]], "1"),
        fixture("gmail-hard.eml", &m[1], &sent[&m[1]], "2"),
        fixture("exim-hard.eml", &m[2], &sent[&m[2]], "3"),
        outlook,
        fixture("yahoo-arf.eml", &m[4], &sent[&m[4]], "5"),
        fixture("gmail-policy.eml", &m[5], &sent[&m[5]], "6"),
        fixture("unsubscribe-reply.eml", &m[6], &sent[&m[6]], "7"),
    ];
    for (i, f) in files.iter().enumerate() {
        std::fs::write(dir.join("new").join(format!("{i}.eml")), f).unwrap();
    }
    let r = p.run(&["bounces", "--from", "bounce-box", "--verbose"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let expect = [
        format!(
            "{} hard-bounce (5.1.1) in campaign `2023-04`, matched by token: suppressed",
            m[0]
        ),
        format!(
            "{} hard-bounce (5.1.1) in campaign `2023-04`, matched by message-id: suppressed",
            m[1]
        ),
        format!(
            "{} hard-bounce (5.1.1) in campaign `2023-04`, matched by token: suppressed",
            m[2]
        ),
        format!(
            "{} mailbox-full (5.2.2) in campaign `2023-04`, matched by recipient: counted",
            m[3]
        ),
        format!(
            "{} complaint (no code) in campaign `2023-04`, matched by token: suppressed",
            m[4]
        ),
        format!(
            "{} policy (5.7.26) in campaign `2023-04`, matched by token: recorded",
            m[5]
        ),
        format!("{} asked to unsubscribe by mail: suppressed", m[6]),
    ];
    assert_eq!(lines.len(), 8, "{}", r.stdout);
    for (line, want) in lines.iter().zip(&expect) {
        assert!(line.ends_with(want.as_str()), "{line}\nwanted ...{want}");
    }
    assert_eq!(
        lines[7],
        "bounces: 7 read: 3 hard (suppressed), 1 soft, 1 policy or message (recorded, not suppressed), 1 complaint (suppressed), 1 unsubscribe (suppressed)"
    );
    let mut s = suppressions(&p);
    s.sort();
    let mut want = vec![
        (m[0].clone(), "hard-bounce".to_string()),
        (m[1].clone(), "hard-bounce".into()),
        (m[2].clone(), "hard-bounce".into()),
        (m[4].clone(), "complaint".into()),
        (m[6].clone(), "unsubscribed".into()),
    ];
    want.sort();
    assert_eq!(s, want);
    let complaint = rows(&p, "2023-04", &m[4]);
    assert_eq!(complaint[1]["status"], "complained");
    assert_eq!(complaint[1]["reason"], "complaint");
    // The CSV log: the bounce's row right after the member's own.
    let csv = p.run(&["log", "--campaign", "2023-04"]).stdout;
    let lines: Vec<&str> = csv.lines().filter(|l| l.starts_with(&m[0])).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[0].starts_with(&format!("{},accepted,1,250,", m[0])),
        "{csv}"
    );
    assert!(
        lines[1].starts_with(&format!("{},bounced,1,550,5.1.1,", m[0]))
            && lines[1].ends_with(",hard-bounce"),
        "{csv}"
    );
    let policy = rows(&p, "2023-04", &m[5]);
    assert_eq!(policy[1]["status"], "bounced");
    assert_eq!(policy[1]["reason"], "policy");
    // Every message read went to the processed Maildir++ folder; none is left.
    assert_eq!(std::fs::read_dir(dir.join("new")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(dir.join(".mailshot-processed/cur"))
            .unwrap()
            .count(),
        7
    );
    let status = p.run(&["status", "--campaign", "2023-04"]);
    let row = status.stdout.lines().nth(1).unwrap().to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    // members accepted deferred failed suppressed uncertain pending bounced complained
    assert_eq!(
        &cells[1..10],
        ["7", "7", "0", "0", "0", "0", "0", "5", "1"],
        "{}",
        status.stdout
    );
}

#[test]
fn soft_bounces_suppress_only_after_the_configured_count_over_campaigns_from_an_mbox() {
    let (p, server, m) = project(1);
    let config = p.read("config.toml");
    let at = config.find("\n[vars]").unwrap();
    p.write(
        "config.toml",
        &format!(
            "{}\n[bounces]\nsoft_limit = 2\nsoft_campaigns = 2\n{}",
            &config[..at],
            &config[at..]
        ),
    );
    let first = send(&p, &server, "c1");
    let second = send(&p, &server, "c2");
    let ann = &m[0];
    let mbox = |reports: &[String]| {
        let mut text = String::new();
        for r in reports {
            text.push_str("From MAILER-DAEMON Mon Apr  3 09:00:00 2023\n");
            text.push_str(&r.replace("\nFrom ", "\n>From "));
            text.push('\n');
        }
        p.write("bounces.mbox", &text);
    };
    // Two soft bounces, both from campaign c1: counted, not suppressed.
    let a = fixture("outlook-soft.eml", ann, &first[ann], "a");
    let b = fixture("outlook-soft.eml", ann, &first[ann], "b");
    mbox(&[a.clone(), b.clone()]);
    let r = p.run(&["bounces", "--from", "bounces.mbox"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "bounces: 2 read: 2 soft\n");
    assert_eq!(suppressions(&p), vec![]);
    // The mbox is read again, with one from c2 added: the two already read change
    // nothing, the third reaches the limit over two campaigns.
    let c = fixture("outlook-soft.eml", ann, &second[ann], "c");
    mbox(&[a, b, c]);
    let r = p.run(&["bounces", "--from", "bounces.mbox", "--verbose"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "bounces.mbox message 3: <0b1c2d3e-c@DB8EUR05HT123.eop-eur05.prod.protection.outlook.com>: {ann} mailbox-full (5.2.2) in campaign `c2`, matched by token: suppressed\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with(
            "bounces: 3 read: 1 soft (1 reached the limit: suppressed), 2 already read\n"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(suppressions(&p), vec![(ann.clone(), "soft-bounces".into())]);
}

#[test]
fn a_forged_token_matches_nobody_and_the_report_stays() {
    let (p, server, m) = project(1);
    let sent = send(&p, &server, "2023-04");
    let ann = &m[0];
    let forged = Sent {
        verp: "bounces+0123456789abcdef@example.org".into(),
        message_id: "nothing-of-ours@example.org".into(),
    };
    // Neither the token, the Message-ID nor the recipient is ours.
    let text = fixture(
        "postfix-hard.eml",
        "stranger@elsewhere.example",
        &forged,
        "9",
    );
    let dir = p.path("box");
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("new/1.eml"), text).unwrap();
    // No IMAP server configured and no --from: said how to give one.
    let r = p.run(&["bounces"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: no bounce mailbox: set `[bounces] host` (and `user`) in `config.toml`, or give `--from PATH` (a Maildir or mbox)\n"
    );
    let r = p.run(&["bounces", "--from", "box"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(
            ": left in place: no campaign member matches its token, Message-ID or recipient\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("bounces: 1 read: 1 unmatched left in box\n"),
        "{}",
        r.stdout
    );
    assert!(dir.join("new/1.eml").exists());
    assert_eq!(suppressions(&p), vec![]);
    assert_eq!(rows(&p, "2023-04", ann).len(), 1);
    let _ = sent;
}

#[test]
fn a_bounce_naming_only_an_address_matches_a_message_sent_the_week_before_it_was_written() {
    let (p, server, m) = project(2);
    let weeks_ago = chrono::Utc::now() - chrono::Duration::days(20);
    let old = send_at(
        &p,
        &server,
        "2023-04",
        Some(&mailshot::clock::format(weeks_ago)),
    );
    // No token and no Message-ID of ours: the recipient's address is all they have.
    let stranger = Sent {
        verp: "news@example.org".into(),
        message_id: "not-ours@elsewhere.example".into(),
    };
    // Written today about an address last mailed 20 days ago: nobody. Written the day after
    // that send (and read only now): that send's.
    let today = fixture("postfix-hard.eml", &m[0], &stranger, "1");
    let then = weeks_ago + chrono::Duration::days(1);
    let on_time = fixture_at("gmail-hard.eml", &m[1], &stranger, "2", then);
    assert!(!today.contains(&old[&m[0]].message_id));
    let dir = p.path("box");
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("new/1.eml"), &today).unwrap();
    std::fs::write(dir.join("new/2.eml"), &on_time).unwrap();
    let r = p.run(&["bounces", "--from", "box", "--verbose"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            ": left in place: no campaign member matches its token, Message-ID or recipient\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "{} hard-bounce (5.1.1) in campaign `2023-04`, matched by recipient: suppressed",
            m[1]
        )) && r
            .stdout
            .ends_with("bounces: 2 read: 1 hard (suppressed), 1 unmatched left in box\n"),
        "{}",
        r.stdout
    );
    assert_eq!(suppressions(&p), vec![(m[1].clone(), "hard-bounce".into())]);
    // Sent again today: the report written today is about today's message.
    send(&p, &server, "2023-05");
    let r = p.run(&["bounces", "--from", "box", "--verbose"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{} hard-bounce (5.1.1) in campaign `2023-05`, matched by recipient: suppressed",
            m[0]
        )),
        "{}",
        r.stdout
    );
    assert_eq!(suppressions(&p).len(), 2);
}

#[test]
fn watch_reads_bounces_as_they_arrive_connects_again_after_a_drop_and_stops_on_sigterm() {
    let d = Dovecot::start();
    let (p, server, m) = project(2);
    let sent = send(&p, &server, "2023-04");
    imap_config(&p, &d);
    let child = watch(&p, &["--verbose"]);
    // Connected and idle before the bounce arrives.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.deliver(
        "1.bounce",
        fixture("exim-hard.eml", &m[1], &sent[&m[1]], "1").as_bytes(),
    );
    until_suppressed(&p, 1);
    assert_eq!(suppressions(&p), vec![(m[1].clone(), "hard-bounce".into())]);
    // The connection is dropped under it: the watch connects again and reads on.
    d.kick();
    d.deliver(
        "2.bounce",
        fixture("postfix-hard.eml", &m[0], &sent[&m[0]], "2").as_bytes(),
    );
    until_suppressed(&p, 2);
    assert_eq!(suppressions(&p).len(), 2);
    let out = terminate(child);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "watching `INBOX` on `127.0.0.1:{}` (Ctrl-C or SIGTERM stops)\n",
            d.port
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("bounces: 2 read: 2 hard (suppressed)\n"),
        "{stdout}"
    );
    assert!(
        stderr.starts_with(&format!("warning: IMAP server `127.0.0.1:{}`: ", d.port)),
        "{stderr}"
    );
    assert!(stderr.contains("; connecting again in 1 s\n"), "{stderr}");
    assert_eq!(d.messages("mailshot-processed").len(), 2);
}

#[test]
fn watch_renews_its_idle_every_idle_secs_on_one_connection_and_still_reads_what_arrives() {
    // Servers may end an IDLE after 30 minutes (RFC 2177): the watch ends it with DONE and
    // starts another every `idle_secs`. Here 1 s, so that a few renewals pass in the test.
    let d = Dovecot::start();
    let (p, server, m) = project(1);
    let sent = send(&p, &server, "2023-04");
    imap_config(&p, &d);
    p.edit(
        "config.toml",
        "\"TEST_IMAP_PASSWORD\"\n",
        "\"TEST_IMAP_PASSWORD\"\nidle_secs = 1\n",
    );
    let mut child = watch(&p, &[]);
    // Connected (it says so), then left idle for five renewals' worth before the bounce.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut said = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut said).unwrap();
    assert!(said.starts_with("watching `INBOX`"), "{said}");
    std::thread::sleep(std::time::Duration::from_millis(5500));
    let delivered = unix_now();
    d.deliver(
        "1.bounce",
        fixture("postfix-hard.eml", &m[0], &sent[&m[0]], "1").as_bytes(),
    );
    until_suppressed(&p, 1);
    assert_eq!(suppressions(&p), vec![(m[0].clone(), "hard-bounce".into())]);
    let out = terminate(child);
    std::io::Read::read_to_string(&mut stdout, &mut said).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}{stderr}");
    assert_eq!(stderr, "", "no reconnection, no warning");
    assert!(
        said.ends_with("bounces: 1 read: 1 hard (suppressed)\n"),
        "{said}"
    );
    // One session, as its client wrote it (Dovecot's rawlog, once it has the LOGOUT):
    // before the bounce came, IDLE, DONE a second later, a look for new mail, IDLE again...
    let lines = logged_out_session(&d);
    let idles: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].1.ends_with(" IDLE") && lines[i].0 < delivered)
        .collect();
    let renewed: Vec<usize> = idles
        .iter()
        .copied()
        .filter(|&i| lines.get(i + 1).is_some_and(|(at, _)| *at < delivered))
        .collect();
    assert!(renewed.len() >= 3, "{lines:#?}");
    for &i in &renewed {
        let (start, _) = lines[i];
        let (end, done) = &lines[i + 1];
        assert_eq!(done, "DONE", "{lines:#?}");
        assert!((0.9..3.0).contains(&(end - start)), "{lines:#?}");
        assert!(
            lines[i + 2].1.ends_with(" UID SEARCH UNDELETED"),
            "{lines:#?}"
        );
    }
}

/// `mailshot bounces --watch` with `extra` arguments, in `p`, its output piped.
fn watch(p: &Project, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(crate::support::BIN)
        .args(["bounces", "--watch"])
        .args(extra)
        .current_dir(p.dir.path())
        .env("TEST_IMAP_PASSWORD", dovecot::PASSWORD)
        .env(crate::support::SECRET_ENV, crate::support::SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (up to 20 s) until `p`'s store has `n` suppressions.
fn until_suppressed(p: &Project, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while suppressions(p).len() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Stops a watch with SIGTERM, as a service manager would: what it left.
fn terminate(child: std::process::Child) -> std::process::Output {
    std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Seconds since 1970, as Dovecot's rawlog writes them.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The one IMAP session Dovecot logged, `(time, line)`, waiting (up to 5 s) for it to end
/// with the client's LOGOUT.
fn logged_out_session(d: &Dovecot) -> Vec<(f64, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let sessions = d.client_sessions();
        let ended = sessions.len() == 1 && sessions[0].trim_end().ends_with(" LOGOUT");
        if ended || std::time::Instant::now() > deadline {
            assert_eq!(sessions.len(), 1, "one connection: {sessions:?}");
            assert!(ended, "no LOGOUT: {sessions:?}");
            return sessions[0]
                .lines()
                .map(|l| {
                    let (at, line) = l.split_once(' ').unwrap();
                    (at.parse().unwrap(), line.to_string())
                })
                .collect();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn tls_and_starttls_reach_the_mailbox_through_a_private_ca_and_an_unknown_ca_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::support::make_certs(certs.path());
    let d = Dovecot::start_with(Some((&cert, &key)), "");
    let (p, server, m) = project(1);
    let sent = send(&p, &server, "2023-04");
    d.deliver(
        "1.bounce",
        fixture("gmail-hard.eml", &m[0], &sent[&m[0]], "1").as_bytes(),
    );
    imap_config(&p, &d);
    let env = [("TEST_IMAP_PASSWORD", dovecot::PASSWORD)];
    // Implicit TLS, without the CA: refused before the login.
    p.edit(
        "config.toml",
        "security = \"none\"\nuser",
        "security = \"tls\"\nuser",
    );
    p.edit(
        "config.toml",
        &format!("port = {}\nsecurity = \"tls\"", d.port),
        &format!("port = {}\nsecurity = \"tls\"", d.tls_port),
    );
    let r = p.run_env(&["bounces"], &env);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: IMAP server `127.0.0.1:{}`: TLS failed: invalid peer certificate: UnknownIssuer",
            d.tls_port
        )),
        "{}",
        r.stderr
    );
    assert_eq!(d.messages("").len(), 1);
    // With the CA: read, and moved.
    p.edit(
        "config.toml",
        "password_env = \"TEST_IMAP_PASSWORD\"",
        &format!(
            "password_env = \"TEST_IMAP_PASSWORD\"\nca_file = \"{}\"",
            ca.display()
        ),
    );
    let r = p.run_env(&["bounces"], &env);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "bounces: 1 read: 1 hard (suppressed)\n");
    assert_eq!(d.messages("mailshot-processed").len(), 1);
    // STARTTLS on the plain port.
    p.edit(
        "config.toml",
        &format!("port = {}\nsecurity = \"tls\"", d.tls_port),
        &format!("port = {}\nsecurity = \"starttls\"", d.port),
    );
    let r = p.run_env(&["bounces"], &env);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "bounces: 0 read\n");
}

/// The Maildir flags of the files in `dir` (`S` seen, `T` `\Deleted`), one string per message.
fn flags(dir: &std::path::Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flatten()
        .map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.split_once(":2,")
                .map(|(_, f)| f.to_string())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn without_move_a_bounce_is_copied_and_only_its_own_uid_expunged_or_flagged() {
    // Servers that announce UIDPLUS but not MOVE, then neither.
    for (caps, expunged) in [
        (
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS",
            true,
        ),
        (
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+",
            false,
        ),
    ] {
        let d = Dovecot::start_with(None, &format!("imap_capability = {caps}"));
        let (p, server, m) = project(1);
        let sent = send(&p, &server, "2023-04");
        d.deliver(
            "1.bounce",
            fixture("postfix-hard.eml", &m[0], &sent[&m[0]], "1").as_bytes(),
        );
        d.deliver(
            "2.junk",
            fixture("junk.eml", &m[0], &sent[&m[0]], "2").as_bytes(),
        );
        imap_config(&p, &d);
        let env = [("TEST_IMAP_PASSWORD", dovecot::PASSWORD)];
        let r = p.run_env(&["bounces"], &env);
        assert_eq!(r.code, 1, "{caps}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout
                .ends_with("bounces: 2 read: 1 hard (suppressed), 1 unparseable left in INBOX\n"),
            "{caps}: {}",
            r.stdout
        );
        assert_eq!(d.messages("mailshot-processed").len(), 1, "{caps}");
        let mut inbox = flags(&d.maildir());
        inbox.sort();
        // The junk is never flagged; the bounce is gone, or flagged \Deleted for its owner.
        match expunged {
            true => assert_eq!(inbox, vec![String::new()], "{caps}"),
            false => assert_eq!(inbox, vec![String::new(), "T".to_string()], "{caps}"),
        }
        // Read again: the flagged copy is not read twice.
        let r = p.run_env(&["bounces"], &env);
        assert!(
            r.stdout
                .ends_with("bounces: 1 read: 1 unparseable left in INBOX\n"),
            "{caps}: {}",
            r.stdout
        );
        assert_eq!(d.messages("mailshot-processed").len(), 1, "{caps}");
    }
}
