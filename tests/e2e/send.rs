//! `mailshot send`, `status` and `log`: the real binary, a scratch project, a real SMTP server.

use std::collections::HashMap;

use crate::support::{Project, SmtpServer, html_refs};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::json;

fn parse(bytes: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(bytes)
        .expect("an RFC 5322 message")
}

#[test]
fn quickstart_writes_one_eml_per_member_and_logs_them() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "sending «Cluster News – April 2023» to 12 members via file transport `outbox/2023-04`\n"
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("sent 12 in "), "{}", r.stdout);
    assert!(
        lines[0].ends_with(": 12 accepted, 0 failed, 0 deferred"),
        "{}",
        r.stdout
    );
    assert_eq!(
        lines[1],
        "campaign `2023-04`: 12 members, 12 accepted, 0 failed, 0 deferred, 0 pending"
    );
    assert_eq!(lines.len(), 2);

    let mut files: Vec<String> = std::fs::read_dir(p.path("outbox/2023-04"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    assert!(
        files.contains(&"zoe.hartley@medtech.example.org.eml".to_string()),
        "{files:?}"
    );

    let eml = std::fs::read(p.path("outbox/2023-04/zoe.hartley@medtech.example.org.eml")).unwrap();
    let m = parse(&eml);
    assert_eq!(m.subject(), Some("Cluster News – April 2023"));
    assert_eq!(m.to().unwrap().first().unwrap().name(), Some("Zoë Hartley"));
    // The HTML goes 7bit, ASCII only: the name as a character reference.
    assert!(m.body_html(0).unwrap().contains("Dear Zo&#235;,"));
    let raw = String::from_utf8_lossy(&eml);
    assert!(
        raw.contains(
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
        ),
        "{raw}"
    );
    assert!(m.body_text(0).unwrap().contains("Dear Zoë,"));

    let log = p.log("2023-04");
    assert_eq!(log.len(), 12);
    for row in &log {
        assert_eq!(row["status"], "accepted");
        assert_eq!(row["attempts"], 1);
        let file = format!("outbox/2023-04/{}.eml", row["email"].as_str().unwrap());
        assert_eq!(row["smtp_reply"], format!("written to {file}"));
        let m_id = parse(&std::fs::read(p.path(&file)).unwrap())
            .message_id()
            .unwrap()
            .to_string();
        assert_eq!(row["message_id"], format!("<{m_id}>"));
    }

    // Running it again sends nothing and changes no file.
    let before = std::fs::metadata(p.path("outbox/2023-04/zoe.hartley@medtech.example.org.eml"))
        .unwrap()
        .modified()
        .unwrap();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "nothing to send: campaign `2023-04` has 12 accepted, 0 failed, 0 deferred of 12 members\n"
    );
    let after = std::fs::metadata(p.path("outbox/2023-04/zoe.hartley@medtech.example.org.eml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn smtp_campaign_of_300_members_arrives_exactly_once_each() {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    let emails = p.members("lists/members.csv", 300);
    let r = p.run(&["send", "--campaign", "big", "--yes"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("campaign `big`: 300 members, 300 accepted, 0 failed, 0 deferred, 0 pending"),
        "{}",
        r.stdout
    );

    let received = server.received();
    assert_eq!(received.len(), 300);
    let mut by_rcpt: HashMap<String, Vec<u8>> = HashMap::new();
    for msg in received {
        assert_eq!(msg.rcpt_tos.len(), 1);
        assert_eq!(msg.mail_from, "news@example.org");
        assert!(
            by_rcpt.insert(msg.rcpt_tos[0].clone(), msg.bytes).is_none(),
            "a member got two copies"
        );
    }
    let log = p.log("big");
    assert_eq!(log.len(), 300);
    let log_by_email: HashMap<&str, &serde_json::Value> = log
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r))
        .collect();
    for (i, email) in emails.iter().enumerate() {
        let bytes = by_rcpt
            .get(email)
            .unwrap_or_else(|| panic!("{email} got nothing"));
        // Lines of at most 998 octets, CRLF endings.
        for line in bytes.split(|&b| b == b'\n') {
            assert!(line.len() <= 999, "a line of {} octets", line.len());
        }
        let m = parse(bytes);
        assert_eq!(
            m.from().unwrap().first().unwrap().address(),
            Some("news@example.org")
        );
        assert_eq!(
            m.to().unwrap().first().unwrap().address(),
            Some(email.as_str())
        );
        assert_eq!(m.subject(), Some("Cluster News – April 2023"));
        assert!(m.date().is_some());
        let first = if i % 7 == 0 {
            format!("Zoë{i}")
        } else {
            format!("Name{i}")
        };
        assert_eq!(
            m.to().unwrap().first().unwrap().name(),
            Some(format!("{first} Surname{i}").as_str())
        );
        // multipart/alternative: text/plain first, text/html last.
        let root = &m.parts[0];
        let ct = root.content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        let subs = root.sub_parts().unwrap();
        assert_eq!(subs.len(), 2);
        let kinds: Vec<(String, String)> = subs
            .iter()
            .map(|id| {
                let ct = m.parts[*id as usize].content_type().unwrap();
                (ct.ctype().to_string(), ct.subtype().unwrap().to_string())
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("text".into(), "plain".into()),
                ("text".into(), "html".into())
            ]
        );
        let html = m.body_html(0).unwrap();
        assert!(html.contains(&format!("Dear {},", html_refs(&first))));
        assert!(html.contains(&format!("Org {i}, Ltd")));
        assert!(html.contains(&format!(
            "https://example.org/unsubscribe?email=member{i:04}%40example.org"
        )));
        assert!(m.body_text(0).unwrap().contains(&format!("Dear {first},")));
        let row = log_by_email[email.as_str()];
        assert_eq!(row["status"], "accepted");
        assert_eq!(row["attempts"], 1);
        assert_eq!(row["smtp_code"], 250);
        assert_eq!(row["enhanced_code"], "2.0.0");
        assert!(
            row["smtp_reply"]
                .as_str()
                .unwrap()
                .starts_with("250 2.0.0 Ok: queued as ")
        );
        assert_eq!(row["message_id"], format!("<{}>", m.message_id().unwrap()));
        assert!(m.message_id().unwrap().ends_with("@example.org"));
    }
    let ids: std::collections::HashSet<_> = log
        .iter()
        .map(|r| r["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 300, "Message-IDs are unique");

    // A re-run sends nothing more.
    let r = p.run(&["send", "--campaign", "big", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "nothing to send: campaign `big` has 300 accepted, 0 failed, 0 deferred of 300 members\n"
    );
    assert_eq!(server.received().len(), 300);
}

#[test]
fn transient_replies_are_retried_and_permanent_ones_fail() {
    let server = SmtpServer::start(Some(json!({
        "bob@example.org": ["451 4.3.0 Try again later", "250 2.0.0 Ok: queued at last"],
        "eve@example.org": ["550 5.1.1 <eve@example.org>: Recipient address rejected: User unknown"],
        "tim@example.org": ["451 4.3.0 Local problem"],
    })));
    let p = Project::smtp(server.port, "max_attempts = 3");
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\nann@example.org,Ann,A,Org\nbob@example.org,Bob,B,Org\neve@example.org,Eve,E,Org\ntim@example.org,Tim,T,Org\n",
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].ends_with(": 2 accepted, 1 failed, 1 deferred (3 retries)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        &lines[1..],
        &[
            "campaign `c`: 4 members, 2 accepted, 1 failed, 1 deferred, 0 pending",
            "  failed eve@example.org: 550 5.1.1 <eve@example.org>: Recipient address rejected: User unknown",
            "  deferred tim@example.org: 451 4.3.0 Local problem",
            "to try them again: mailshot send --campaign c --retry-failed",
        ]
    );
    let mut tries: HashMap<String, Vec<String>> = HashMap::new();
    for (rcpt, reply) in server.attempts() {
        tries.entry(rcpt[0].clone()).or_default().push(reply);
    }
    assert_eq!(tries["ann@example.org"].len(), 1);
    assert_eq!(
        tries["bob@example.org"],
        vec!["451 4.3.0 Try again later", "250 2.0.0 Ok: queued at last"]
    );
    assert_eq!(
        tries["eve@example.org"].len(),
        1,
        "a permanent failure is not retried"
    );
    assert_eq!(tries["tim@example.org"].len(), 3, "max_attempts = 3");

    let log = p.log("c");
    let row = |e: &str| log.iter().find(|r| r["email"] == e).unwrap().clone();
    assert_eq!(row("bob@example.org")["status"], "accepted");
    assert_eq!(row("bob@example.org")["attempts"], 2);
    assert_eq!(row("bob@example.org")["smtp_code"], 250);
    assert_eq!(row("eve@example.org")["status"], "failed");
    assert_eq!(row("eve@example.org")["attempts"], 1);
    assert_eq!(row("eve@example.org")["smtp_code"], 550);
    assert_eq!(row("eve@example.org")["enhanced_code"], "5.1.1");
    assert_eq!(
        row("eve@example.org")["smtp_reply"],
        "550 5.1.1 <eve@example.org>: Recipient address rejected: User unknown"
    );
    assert_eq!(row("tim@example.org")["status"], "deferred");
    assert_eq!(row("tim@example.org")["attempts"], 3);
    assert_eq!(row("tim@example.org")["smtp_code"], 451);
    assert_eq!(row("tim@example.org")["enhanced_code"], "4.3.0");
    assert_ne!(
        row("bob@example.org")["first_attempt_at"],
        row("bob@example.org")["last_attempt_at"]
    );

    // The message that finally got through to bob is the one tried first: same Message-ID.
    let bob = server
        .received()
        .into_iter()
        .find(|m| m.rcpt_tos[0] == "bob@example.org")
        .unwrap();
    assert_eq!(
        row("bob@example.org")["message_id"],
        format!("<{}>", parse(&bob.bytes).message_id().unwrap())
    );

    // A plain re-run leaves the failed and the exhausted alone; --retry-failed tries them again.
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        "nothing to send: campaign `c` has 2 accepted, 1 failed, 1 deferred of 4 members\n\
         to try the failed and deferred members again: mailshot send --campaign c --retry-failed\n"
    );
    let before = server.attempts().len();
    let r = p.run(&["send", "--campaign", "c", "--yes", "--retry-failed"]);
    assert_eq!(r.code, 1);
    // eve's 5.1.1 put her on the suppression list (a hard bounce): never again.
    assert_eq!(
        server.attempts().len(),
        before + 3,
        "tim three times more, eve not at all"
    );
    let suppressed = p.run(&["suppress", "list"]);
    assert!(
        suppressed.stdout.contains(
            "\neve@example.org,hard-bounce,campaign c: 550 5.1.1 <eve@example.org>: Recipient address rejected: User unknown,"
        ),
        "{}",
        suppressed.stdout
    );
    let eve = p.log_row("c", "eve@example.org");
    assert_eq!(eve["reason"], "hard-bounce");
    let tim = p.log_row("c", "tim@example.org");
    assert_eq!(tim["reason"], "transient");
}

#[test]
fn the_rate_limit_spaces_the_messages() {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    // Overrides the unlimited rate of the test config.
    p.edit(
        "config.toml",
        "messages_per_second = 0",
        "messages_per_second = 20\nburst = 1",
    );
    p.members("lists/members.csv", 21);
    let r = p.run(&["send", "--campaign", "paced", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut times: Vec<chrono::DateTime<chrono::Utc>> = p
        .log("paced")
        .iter()
        .map(|r| r["first_attempt_at"].as_str().unwrap().parse().unwrap())
        .collect();
    times.sort();
    // 21 messages at 20/s with a burst of 1 cannot take less than 0.95 s (two at once, then 19
    // intervals of 50 ms).
    let span = (times[20] - times[0]).num_milliseconds();
    assert!(span >= 940, "21 messages at 20/s went out in {span} ms");
    // Nor may any one-second window hold more than rate + burst.
    for i in 0..times.len() {
        let n = times[i..]
            .iter()
            .take_while(|t| (**t - times[i]).num_milliseconds() < 1000)
            .count();
        assert!(n <= 21, "{n} messages in one second");
    }
}

#[test]
fn hostile_member_values_are_escaped_or_refused() {
    let p = Project::example();
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\n\
         mal@example.org,<script>alert(1)</script>,\"O'Brien \"\"Q\"\"\",A & B <b>Ltd</b>\n",
    );
    let r = p.run(&["send", "--campaign", "x", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = std::fs::read(p.path("outbox/x/mal@example.org.eml")).unwrap();
    let m = parse(&m);
    let html = m.body_html(0).unwrap();
    assert!(!html.contains("<script>"));
    assert!(
        html.contains("Dear &lt;script&gt;alert(1)&lt;&#x2f;script&gt;,")
            || html.contains("Dear &lt;script&gt;alert(1)&lt;/script&gt;,"),
        "{}",
        &html[..200]
    );
    assert!(html.contains("A &amp; B &lt;b&gt;Ltd&lt;/b&gt;"));
    assert!(!html.contains("<b>Ltd</b>"));
    // The text part carries the values as plain text.
    assert!(
        m.body_text(0)
            .unwrap()
            .contains("Dear <script>alert(1)</script>,")
    );
    assert_eq!(
        m.to().unwrap().first().unwrap().name(),
        Some("<script>alert(1)</script> O'Brien \"Q\"")
    );

    // A line break in a name would be a header injection: the whole send is refused.
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\nann@example.org,Ann,A,Org\nmal@example.org,\"Mal\r\nBcc: victim@example.net\",M,Org\n",
    );
    let r = p.run(&["send", "--campaign", "y", "--yes"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: failed to read member list `lists/members.csv`: line 3: field `first_name` contains a line break\n\
         nothing was sent: 1 problem found\n"
    );
    assert!(!p.path("outbox/y").exists());
    assert!(!p.path("mailshot.db").exists() || p.run(&["status", "--campaign", "y"]).code == 2);
}

#[test]
fn an_undefined_variable_names_the_template_line_and_the_members() {
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "Dear {{ first_name or \"colleague\" }},",
        "Dear {{ frist_name }},",
    );
    let line = t.lines().position(|l| l.contains("frist_name")).unwrap() + 1;
    let r = p.run(&["send", "--campaign", "x", "--yes"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!(
            "error: template `templates/bulletin.mjml` line {line}: undefined variable in `frist_name` \
             (all 12 members of `lists/members.csv`)\nnothing was sent: 1 problem found\n"
        )
    );
    assert!(!p.path("outbox").exists());
}

#[test]
fn an_undefined_variable_in_an_included_file_names_that_file() {
    let p = Project::example();
    let t = p.edit(
        "templates/partials/footer.mjml",
        "{{ postal_address }}",
        "{{ postal_adress }}",
    );
    let line = t.lines().position(|l| l.contains("postal_adress")).unwrap() + 1;
    let r = p.run(&["send", "--campaign", "x", "--dry-run"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(&format!(
            "error: template `templates/partials/footer.mjml` line {line}: undefined variable in `postal_adress` (all 12 members of `lists/members.csv`)"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_rows_are_all_named_and_nothing_is_sent() {
    let p = Project::example();
    p.write(
        "lists/members.csv",
        "email,first_name\nann@example.org,Ann\nbob@@example.org,Bob\nANN@example.org,Ann again\nno-at-sign,X\n",
    );
    let r = p.run(&["send", "--campaign", "x", "--yes"]);
    assert_eq!(r.code, 2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    // The template needs `organisation` (its fallback is for an empty one, not a missing
    // column), which this list lacks: found on the first member.
    assert!(
        lines[0].starts_with("error: template `templates/bulletin.mjml` line "),
        "{}",
        r.stderr
    );
    assert!(lines[0].ends_with(": undefined variable in `organisation or \"our members\"` (member on `lists/members.csv` line 2 (`ann@example.org`))"), "{}", r.stderr);
    assert_eq!(
        lines[1],
        "failed to read member list `lists/members.csv`: line 3: field `email`: `bob@@example.org` is not a valid address: Invalid email user"
    );
    assert_eq!(
        lines[2],
        "failed to read member list `lists/members.csv`: line 4: `ANN@example.org` appears twice in the list"
    );
    assert_eq!(
        lines[3],
        "failed to read member list `lists/members.csv`: line 5: field `email`: `no-at-sign` is not a valid address: no `@`"
    );
    assert_eq!(lines[4], "nothing was sent: 4 problems found");
    assert!(!p.path("outbox").exists());
}

#[test]
fn dry_run_contacts_no_server_and_records_nothing() {
    // Port 9 (discard) on loopback: nothing listens there.
    let p = Project::smtp(9, "");
    let r = p.run(&["send", "--campaign", "2023-04", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "dry run: would send «Cluster News – April 2023» to 12 of 12 members via 127.0.0.1:9 (0 skipped: already sent, failed or suppressed); MJML rendered once, variables per member\n\
         nothing was sent or recorded\n"
    );
    assert!(!p.path("mailshot.db").exists());
}

#[test]
fn test_to_sends_one_marked_copy_and_records_no_delivery() {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-04",
        "--test-to",
        "chair@example.org",
        "--as",
        "jose.alvarez@biolabs.example.org",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with(&format!(
        "test message (rendered for jose.alvarez@biolabs.example.org) sent to chair@example.org via 127.0.0.1:{}: 250 2.0.0 Ok: queued as 1\n",
        server.port
    )), "{}", r.stdout);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, vec!["chair@example.org"]);
    let m = parse(&got[0].bytes);
    assert_eq!(m.subject(), Some("[TEST] Cluster News – April 2023"));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("chair@example.org")
    );
    assert!(m.body_html(0).unwrap().contains("Dear Jos&#233;,"));
    let status = p.run(&["status", "--campaign", "2023-04"]);
    assert_eq!(status.code, 2);
    assert_eq!(
        status.stderr,
        "error: no campaign `2023-04` in `mailshot.db`\n"
    );
}

#[test]
fn without_a_terminal_it_refuses_to_send_unless_told_yes() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "2023-04"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: refusing to send without `--yes`: standard input is not a terminal, so nobody can confirm (check with `--dry-run`, then add `--yes`)\n"
    );
    assert!(!p.path("outbox").exists());
}

#[test]
fn limit_sends_part_and_the_next_run_continues() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("campaign `c`: 12 members, 5 accepted, 0 failed, 0 deferred, 7 pending\n7 members still pending: run the same command again to continue\n"), "{}", r.stdout);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("campaign `c`: 12 members, 12 accepted, 0 failed, 0 deferred, 0 pending"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read_dir(p.path("outbox/c")).unwrap().count(), 12);
    let status = p.run(&["status"]);
    let row = status.stdout.lines().nth(1).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..7], &["c", "12", "12", "0", "0", "0", "0"]);
    // ... pending, bounced, complained, started, finished.
    assert_eq!(&cols[7..10], &["0", "0", "0"]);
    assert_ne!(cols[11], "-", "finished");
}

#[test]
fn an_unknown_config_key_is_named() {
    let p = Project::example();
    let cfg = p.edit(
        "config.toml",
        "[rate]\n",
        "[rate]\nmessages_per_minute = 5\n",
    );
    let line = cfg
        .lines()
        .position(|l| l.starts_with("messages_per_minute"))
        .unwrap()
        + 1;
    let r = p.run(&["send", "--campaign", "c", "--dry-run"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(&format!(
            "error: invalid config `config.toml`: line {line}: unknown field `messages_per_minute`"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn the_smtp_password_comes_from_the_environment_only() {
    let p = Project::smtp(9, "");
    p.edit(
        "config.toml",
        "security = \"none\"",
        "security = \"none\"\nusername = \"news\"\npassword_env = \"MAILSHOT_TEST_PW\"",
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: environment variable `MAILSHOT_TEST_PW` is not set: it must hold the SMTP password for `news` (see `smtp.password_env` in `config.toml`)\n"
    );
}

#[test]
fn log_csv_has_the_documented_columns() {
    let p = Project::example();
    assert_eq!(
        p.run(&["send", "--campaign", "c", "--yes", "--limit", "1"])
            .code,
        0
    );
    let r = p.run(&["log", "--campaign", "c"]);
    assert_eq!(r.code, 0);
    let mut lines = r.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "email,status,attempts,smtp_code,enhanced_code,smtp_reply,message_id,first_attempt_at,last_attempt_at,reason"
    );
    let first = lines.next().unwrap();
    assert!(first.starts_with("zoe.hartley@medtech.example.org,accepted,1,,,written to outbox/c/zoe.hartley@medtech.example.org.eml,<c."), "{first}");
    let second = lines.next().unwrap();
    assert_eq!(second, "sian.pritchard@example.org,pending,0,,,,,,,");
}

#[test]
fn log_json_is_one_pretty_array_of_every_member() {
    let p = Project::example();
    assert_eq!(
        p.run(&["send", "--campaign", "c", "--yes", "--limit", "2"])
            .code,
        0
    );
    let r = p.run(&["log", "--campaign", "c", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0]["status"], "accepted");
    assert_eq!(rows[1]["status"], "accepted");
    assert_eq!(rows[2]["status"], "pending");
    assert_eq!(rows[2]["email"], "jose.alvarez@biolabs.example.org");
    // Written a row at a time, it is still one pretty-printed array, keys in column order.
    assert!(
        r.stdout.starts_with("[\n  {\n    \"email\": \"zoe.hartley@medtech.example.org\",\n    \"status\": \"accepted\",\n"),
        "{}",
        r.stdout
    );
    assert_eq!(r.stdout.matches("\n  },\n  {\n").count(), 11);
    assert!(r.stdout.ends_with("\n  }\n]\n"), "{}", r.stdout);
}

#[test]
fn without_a_terminal_progress_is_printed_as_plain_lines() {
    let p = Project::example();
    let r = p.run_hooked(
        &["send", "--campaign", "c", "--yes"],
        &[("MAILSHOT_PROGRESS_EVERY_MS", "0")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 13, "{}", r.stderr);
    assert!(
        lines[1].starts_with("progress: 1/12 (accepted 1, failed 0, deferred 0), "),
        "{}",
        lines[1]
    );
    assert!(
        lines[12].starts_with("progress: 12/12 (accepted 12, failed 0, deferred 0), "),
        "{}",
        lines[12]
    );
    assert!(lines[12].ends_with("/s, ETA 0 s"), "{}", lines[12]);
    assert!(!r.stderr.contains('\u{1b}'), "no terminal control codes");
}

#[test]
fn test_to_with_the_file_transport_writes_beside_the_campaign() {
    let p = Project::example();
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-04",
        "--test-to",
        "chair@example.org",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "test message (rendered for zoe.hartley@medtech.example.org) sent to chair@example.org via file transport `outbox/2023-04`: written to outbox/2023-04/test/chair@example.org.eml\n\
         not recorded as a delivery of campaign `2023-04`\n"
    );
    let m = std::fs::read(p.path("outbox/2023-04/test/chair@example.org.eml")).unwrap();
    assert_eq!(
        parse(&m).subject(),
        Some("[TEST] Cluster News – April 2023")
    );
    // The real send afterwards still goes to all twelve.
    let r = p.run(&["send", "--campaign", "2023-04", "--dry-run"]);
    assert!(
        r.stdout
            .starts_with("dry run: would send «Cluster News – April 2023» to 12 of 12 members"),
        "{}",
        r.stdout
    );
}

#[test]
fn dry_run_counts_what_a_resumed_campaign_would_skip() {
    let p = Project::example();
    assert_eq!(
        p.run(&["send", "--campaign", "c", "--yes", "--limit", "5"])
            .code,
        0
    );
    let r = p.run(&["send", "--campaign", "c", "--dry-run", "--limit", "3"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with(
            "dry run: would send «Cluster News – April 2023» to 3 of 12 members via file transport `outbox/c` (5 skipped: already sent, failed or suppressed);"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn repeated_policy_rejections_stop_the_campaign_without_blaming_members() {
    let policy = "550 5.7.1 Message rejected: sender domain has no valid DMARC alignment";
    let mut script = serde_json::Map::new();
    for i in 0..6 {
        script.insert(
            format!("member{i:04}@example.org"),
            serde_json::json!([policy]),
        );
    }
    let server = SmtpServer::start(Some(serde_json::Value::Object(script)));
    let p = Project::smtp(server.port, "");
    p.edit("config.toml", "connections = 4", "connections = 1");
    p.members("lists/members.csv", 6);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(&format!(
            "error: the campaign stopped early: the server refused 3 messages in a row for policy reasons (5.7.x), last: `{policy}`; check SPF, DKIM and DMARC for the From domain and the sending IP's reputation\n\
             fix the cause, then resume with: mailshot send --campaign c\n"
        )),
        "{}",
        r.stderr
    );
    // The third refusal stops it; the one connection may already have the next message on
    // the wire (at most one more), and nothing after that goes.
    let sent = server.attempts().len();
    assert!((3..=4).contains(&sent), "{sent} attempts");
    assert!(
        r.stdout.contains(&format!(
            "campaign `c`: 6 members, 0 accepted, {sent} failed, 0 deferred, {} pending",
            6 - sent
        )),
        "{}",
        r.stdout
    );
    let log = p.log("c");
    assert!(
        log.iter()
            .filter(|r| r["status"] == "failed")
            .all(|r| r["reason"] == "policy" && r["enhanced_code"] == "5.7.1")
    );
    // Not the members' fault: nobody is suppressed.
    assert_eq!(
        p.run(&["suppress", "list"]).stdout,
        "email,reason,source,at\n"
    );
}

#[test]
fn the_csv_log_neutralises_cells_a_spreadsheet_would_run_as_formulas() {
    let p = Project::example();
    // `=` and `-` are allowed at the start of an address (RFC 5322 atext).
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\n=1+2@example.org,A,B,C\n-2@example.org,D,E,F\nann@example.org,G,H,I\n",
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p.run(&["log", "--campaign", "c", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let emails: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        emails,
        vec![
            "email",
            "'=1+2@example.org",
            "'-2@example.org",
            "ann@example.org"
        ]
    );
    // JSON is for programs: the values as they are.
    let json = p.log("c");
    assert_eq!(json[0]["email"], "=1+2@example.org");
}

#[test]
fn the_csv_suppression_list_is_neutralised_and_reads_back_into_another_store() {
    let p = Project::example();
    for a in ["=1+2@example.org", "-2@example.org", "ann@example.org"] {
        assert_eq!(p.run(&["suppress", "add", "--", a]).code, 0);
    }
    let r = p.run(&["suppress", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut emails: Vec<&str> = (r.stdout.lines().skip(1))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        ["'-2@example.org", "'=1+2@example.org", "ann@example.org"]
    );
    // Moving the suppressions to another store: the same three addresses, none lost.
    p.write("exported.csv", &r.stdout);
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write(
        "other.toml",
        &config.replace("store = \"mailshot.db\"", "store = \"other.db\""),
    );
    let imported = p.run(&[
        "--config",
        "other.toml",
        "suppress",
        "import",
        "exported.csv",
    ]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let other = p.run(&[
        "--config",
        "other.toml",
        "suppress",
        "list",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&other.stdout).unwrap();
    let mut got: Vec<&str> = (v.as_array().unwrap().iter())
        .map(|s| s["email"].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        ["-2@example.org", "=1+2@example.org", "ann@example.org"]
    );
}

#[test]
fn log_and_status_into_a_closed_pipe_end_quietly() {
    // `mailshot log | head -1` and `mailshot status | head -1`: earlier builds panicked
    // (`failed printing to stdout: Broken pipe`) or reported an error with status 1.
    let p = Project::example();
    assert_eq!(p.run(&["send", "--campaign", "c", "--yes"]).code, 0);
    for args in [
        &["log", "--campaign", "c"][..],
        &["log", "--campaign", "c", "--format", "json"],
        &["status"],
        &["status", "--campaign", "c"],
    ] {
        let r = p.run_into_closed_pipe(args);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn commands_that_report_into_a_closed_pipe_still_do_their_work_and_keep_their_status() {
    // `mailshot send ... | head -1`: earlier builds panicked on the first line printed after
    // the reader had gone (exit 101), after the send, so the exit status lied about it.
    let p = Project::example();
    let into_closed_pipe = |args: &[&str]| {
        let r = p.run_into_closed_pipe(args);
        let panicked = r.stderr.contains("panicked");
        assert_eq!((r.code, panicked), (0, false), "{args:?}: {}", r.stderr);
    };
    into_closed_pipe(&["send", "--campaign", "c", "--yes"]);
    let log = p.run(&["log", "--campaign", "c"]);
    assert_eq!(
        log.stdout.matches(",accepted,").count(),
        12,
        "{}",
        log.stdout
    );
    into_closed_pipe(&["check", "--campaign", "c"]);
    into_closed_pipe(&["suppress", "add", "someone@example.org"]);
    let listed = p.run(&["suppress", "list"]);
    assert!(
        listed.stdout.contains("someone@example.org"),
        "{}",
        listed.stdout
    );
    // A send whose members are all skipped says so on the closed pipe, and exits 0.
    into_closed_pipe(&["send", "--campaign", "c", "--yes"]);
}
