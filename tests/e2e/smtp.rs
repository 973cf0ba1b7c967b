//! The SMTP transport against a real server: TLS both ways, login, timeouts, refusals; and the
//! confirmation prompt on a real terminal; PIPELINING when offered.

use serde_json::json;

use crate::support::{Project, SmtpServer, make_certs};

fn one_member(p: &Project) {
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\nann@example.org,Ann,Lee,Org\n",
    );
}

#[test]
fn starttls_and_implicit_tls_deliver_with_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(certs.path());
    for (mode, extra) in [("starttls", vec![]), ("tls", vec!["--implicit-tls"])] {
        let mut args = vec![
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        args.extend(extra);
        let server = SmtpServer::start_with(None, &args);
        let p = Project::smtp(server.port, "");
        one_member(&p);
        p.edit(
            "config.toml",
            "host = \"127.0.0.1\"",
            "host = \"localhost\"",
        );
        p.edit(
            "config.toml",
            "security = \"none\"",
            &format!("security = \"{mode}\"\nca_file = \"{}\"", ca.display()),
        );
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 0, "{mode}: {}{}", r.stdout, r.stderr);
        assert_eq!(server.received().len(), 1, "{mode}");

        // Without the private CA the certificate is not trusted: nothing is sent.
        let p = Project::smtp(server.port, "max_attempts = 1");
        one_member(&p);
        p.edit(
            "config.toml",
            "host = \"127.0.0.1\"",
            "host = \"localhost\"",
        );
        p.edit(
            "config.toml",
            "security = \"none\"",
            &format!("security = \"{mode}\""),
        );
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 1, "{mode}");
        let log = p.log("c");
        assert_eq!(log[0]["status"], "deferred");
        assert!(
            log[0]["smtp_reply"]
                .as_str()
                .unwrap()
                .contains("certificate"),
            "{mode}: {}",
            log[0]["smtp_reply"]
        );
        assert_eq!(server.received().len(), 1, "{mode}");
    }
}

#[test]
fn starttls_is_required_by_default() {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    p.edit(
        "config.toml",
        "security = \"none\"",
        "security = \"starttls\"",
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(&format!(
            "error: the campaign stopped early: 127.0.0.1:{} does not offer STARTTLS; set `smtp.security` to \"tls\" or (for a local relay only) \"none\"\n\
             fix the cause, then resume with: mailshot send --campaign c\n",
            server.port
        )),
        "{}",
        r.stderr
    );
    assert!(server.attempts().is_empty());
    assert!(
        r.stdout
            .contains("campaign `c`: 12 members, 0 accepted, 0 failed, 0 deferred, 12 pending"),
        "{}",
        r.stdout
    );
}

#[test]
fn login_uses_the_password_from_the_environment_and_never_shows_it() {
    let secret = "correct-horse-battery-staple";
    let server = SmtpServer::start_with(None, &["--auth", &format!("news:{secret}")]);
    let p = Project::smtp(server.port, "");
    p.edit(
        "config.toml",
        "security = \"none\"",
        "security = \"none\"\nusername = \"news\"\npassword_env = \"MAILSHOT_TEST_PASSWORD\"",
    );
    let r = p.run_env(
        &["send", "--campaign", "c", "--yes"],
        &[("MAILSHOT_TEST_PASSWORD", secret)],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(server.received().len(), 12);

    // A wrong password stops the campaign at once; nobody is marked failed.
    let p = Project::smtp(server.port, "");
    p.edit(
        "config.toml",
        "security = \"none\"",
        "security = \"none\"\nusername = \"news\"\npassword_env = \"MAILSHOT_TEST_PASSWORD\"",
    );
    let wrong = "wrong-password-123";
    let r = p.run_env(
        &["send", "--campaign", "c", "--yes"],
        &[("MAILSHOT_TEST_PASSWORD", wrong)],
    );
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(&format!("error: the campaign stopped early: 127.0.0.1:{} refused the login for `news`: 535 5.7.8 Authentication credentials invalid", server.port)),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("12 pending"), "{}", r.stdout);
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains(wrong) && !text.contains(secret));
    }
    let db = std::fs::read(p.path("mailshot.db")).unwrap();
    assert!(!db.windows(wrong.len()).any(|w| w == wrong.as_bytes()));
    assert_eq!(server.received().len(), 12);
}

#[test]
fn a_server_slower_than_the_timeout_after_the_whole_message_leaves_it_uncertain() {
    // The delay is after the message has been read: it may be delivered, so it is not
    // sent again.
    let server = SmtpServer::start_with(None, &["--delay-ms", "2500"]);
    let p = Project::smtp(server.port, "max_attempts = 3");
    one_member(&p);
    p.edit("config.toml", "timeout_secs = 5", "timeout_secs = 1");
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1);
    let log = p.log("c");
    assert_eq!(log[0]["status"], "uncertain");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(
        log[0]["smtp_reply"],
        "timed out after 1 s waiting for the reply to the message: delivery unknown"
    );
}

#[test]
fn a_refused_connection_is_retried_then_deferred() {
    // Nothing listens on port 9 of loopback.
    let p = Project::smtp(9, "max_attempts = 2");
    one_member(&p);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1);
    let log = p.log("c");
    assert_eq!(log[0]["status"], "deferred");
    assert_eq!(log[0]["attempts"], 2);
    assert!(
        log[0]["smtp_reply"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect to 127.0.0.1:9: "),
        "{}",
        log[0]["smtp_reply"]
    );
    assert_eq!(log[0]["smtp_code"], serde_json::Value::Null);
}

#[test]
fn on_a_terminal_it_asks_first() {
    let p = Project::example();
    let r = p.run_on_terminal(&["send", "--campaign", "c"], "n\n");
    assert!(r.stdout.contains("Send «Cluster News – April 2023» to 12 members via file transport `outbox/c`? [y/N] n\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("error: cancelled: nothing was sent"),
        "{}",
        r.stdout
    );
    assert!(!p.path("outbox/c").exists());

    let r = p.run_on_terminal(&["send", "--campaign", "c"], "y\n");
    assert!(r.stdout.contains("? [y/N] y\n"), "{}", r.stdout);
    // The progress bar is drawn on the terminal, then the summary.
    assert!(
        r.stdout.contains("accepted 12, failed 0, deferred 0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("campaign `c`: 12 members, 12 accepted, 0 failed, 0 deferred, 0 pending"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read_dir(p.path("outbox/c")).unwrap().count(), 12);
}

#[test]
fn lines_starting_with_a_dot_arrive_intact() {
    let server = SmtpServer::start(None);
    let p = Project::smtp(server.port, "");
    one_member(&p);
    // In the text part these become lines of their own: ".NET ..." and a lone "." (which,
    // not doubled on the wire, would end the message there).
    p.edit(
        "templates/bulletin.mjml",
        "<p>Dear {{ first_name or \"colleague\" }},</p>",
        "<p>Dear {{ first_name }},</p>\n<p>.NET teams: this one is for you.</p>\n<p>.</p>",
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.log_row("c", "ann@example.org")["status"], "accepted");
    let got = server.received();
    assert_eq!(got.len(), 1);
    let raw = String::from_utf8(got[0].bytes.clone()).unwrap();
    assert!(
        raw.contains("\r\n.NET teams: this one is for you.\r\n"),
        "{raw}"
    );
    assert!(raw.contains("\r\n.\r\n"), "{raw}");
    assert!(!raw.contains("\r\n..NET"), "{raw}");
    // The whole message arrived: the footer is after the dots.
    assert!(raw.contains("Unsubscribe"), "{raw}");
    assert!(raw.trim_end().ends_with("--"), "{raw}");
}

#[test]
fn pipelining_is_used_when_offered_and_never_when_not() {
    // (server offers it, `smtp.pipelining`, what the server saw at each MAIL)
    for (offered, configured, seen) in [
        (true, true, "pipelined"),
        (false, true, "alone"),
        (true, false, "alone"),
    ] {
        let args: &[&str] = if offered { &[] } else { &["--no-pipelining"] };
        let server = SmtpServer::start_with(None, args);
        let p = Project::smtp(server.port, "");
        if !configured {
            p.edit(
                "config.toml",
                "timeout_secs = 5\n",
                "timeout_secs = 5\npipelining = false\n",
            );
        }
        let emails = p.members("lists/members.csv", 20);
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let mut want = emails.clone();
        want.sort();
        assert_eq!(server.recipients(), want);
        assert_eq!(
            server.pipelining(),
            vec![seen; 20],
            "offered {offered}, configured {configured}"
        );
    }
}

#[test]
fn refusals_at_rcpt_in_a_pipeline_are_recorded_and_the_rest_go() {
    let server = SmtpServer::start(Some(json!({
        "bob@example.org": ["RCPT 451 4.2.0 Greylisted, try again", "250 2.0.0 Ok: queued at last"],
        "eve@example.org": ["RCPT 550 5.1.1 <eve@example.org>: Recipient address rejected: User unknown"],
    })));
    let p = Project::smtp(server.port, "max_attempts = 3");
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\nann@example.org,Ann,A,Org\nbob@example.org,Bob,B,Org\neve@example.org,Eve,E,Org\ntim@example.org,Tim,T,Org\n",
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(": 3 accepted, 1 failed, 0 deferred (1 retries)"),
        "{}",
        r.stdout
    );
    let log = p.log("c");
    let row = |e: &str| log.iter().find(|r| r["email"] == e).unwrap().clone();
    assert_eq!(
        (
            row("bob@example.org")["status"].as_str(),
            row("bob@example.org")["attempts"].as_u64()
        ),
        (Some("accepted"), Some(2))
    );
    let eve = row("eve@example.org");
    assert_eq!(eve["status"], "failed");
    assert_eq!(eve["smtp_code"], 550);
    assert_eq!(eve["enhanced_code"], "5.1.1");
    assert_eq!(eve["reason"], "hard-bounce");
    assert_eq!(
        server.recipients(),
        ["ann@example.org", "bob@example.org", "tim@example.org"]
    );
    // Every message went pipelined, the refused ones too.
    assert_eq!(server.pipelining(), vec!["pipelined"; 5]);
}

#[test]
fn a_refused_mail_in_a_pipeline_drops_the_connection_and_the_member_is_retried() {
    // The RCPT and DATA sent with the refused MAIL get 503s: a connection reused after that
    // would be out of step, and every later reply on it wrong.
    let server =
        SmtpServer::start_with(None, &["--refuse-mail", "1:451 4.3.2 Too busy, try later"]);
    let p = Project::smtp(server.port, "");
    let mut emails = p.members("lists/members.csv", 10);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(": 10 accepted, 0 failed, 0 deferred (1 retries)"),
        "{}",
        r.stdout
    );
    emails.sort();
    assert_eq!(server.recipients(), emails);
    let log = p.log("c");
    assert!(
        log.iter()
            .all(|r| r["status"] == "accepted" && r["smtp_code"] == 250)
    );
    assert_eq!(log.iter().filter(|r| r["attempts"] == 2).count(), 1);
    assert_eq!(server.pipelining(), vec!["pipelined"; 11]);
}

/// A hostile server's project: three members, one connection, short timeouts, and no
/// circuit breaker to cut the run short.
fn against(server: &SmtpServer, max_attempts: u32) -> (Project, Vec<String>) {
    let p = Project::smtp(
        server.port,
        &format!("max_attempts = {max_attempts}\nmax_connection_failures = 100"),
    );
    p.edit("config.toml", "timeout_secs = 5", "timeout_secs = 1");
    let emails = p.members("lists/members.csv", 3);
    (p, emails)
}

#[test]
fn unasked_replies_are_a_protocol_error_never_an_acceptance() {
    for (fault, why) in [
        // MAIL answered three times: the extra 250s would pass for the replies to RCPT and
        // DATA, and one more for the message's.
        (
            "extra-after-mail",
            "unexpected reply `250 2.1.0 Ok` to DATA",
        ),
        // However many of the three have arrived when the check looks (one TCP segment or
        // several).
        ("extra-after-greeting", r"the server sent `250 2.0.0 OK"),
    ] {
        let server = SmtpServer::hostile(fault, &[]);
        let (p, _) = against(&server, 2);
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 1, "{fault}: {}{}", r.stdout, r.stderr);
        assert_eq!(server.copies(), Vec::<String>::new(), "{fault}");
        for row in p.log("c") {
            assert_eq!(row["status"], "deferred", "{fault}: {row}");
            assert_eq!(row["attempts"], 2, "{fault}: {row}");
            let reply = row["smtp_reply"].as_str().unwrap();
            assert!(
                reply.starts_with(&format!(
                    "protocol error before the message was complete: {why}"
                )) && reply.ends_with(": will retry"),
                "{fault}: {reply}"
            );
            // A 2.x.x code never stands beside a deferral.
            assert_eq!(row["enhanced_code"], serde_json::Value::Null, "{fault}");
            assert_eq!(row["smtp_code"], serde_json::Value::Null, "{fault}");
        }
    }
}

#[test]
fn a_lost_late_or_garbled_reply_to_a_whole_message_is_uncertain_and_never_resent() {
    let garbled =
        |why: &str| format!("garbled reply after the message was sent ({why}): delivery unknown");
    for (fault, reply) in [
        (
            "stall-after-data",
            "timed out after 1 s waiting for the reply to the message: delivery unknown"
                .to_string(),
        ),
        (
            "bare-lf",
            garbled("a reply line ended by a bare LF, not CRLF"),
        ),
        ("non-utf8", garbled("a reply line that is not UTF-8")),
        ("huge-line", garbled("a reply line over 4096 bytes")),
        ("code-299", garbled("`299` is not an SMTP reply code")),
        ("code-600", garbled("`600` is not an SMTP reply code")),
        ("code-150", garbled("`150` is not an SMTP reply code")),
        (
            "two-replies",
            garbled("`250 2.0.0 Ok` and more replies to the end of the message"),
        ),
        // Reset or closed, as the kernel reports it.
        (
            "drop-after-data",
            "connection lost after the message was sent".to_string(),
        ),
    ] {
        let server = SmtpServer::hostile(fault, &[]);
        let (p, emails) = against(&server, 3);
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 1, "{fault}: {}{}", r.stdout, r.stderr);
        // One copy each: the message was never sent a second time.
        assert_eq!(server.copies(), emails, "{fault}");
        assert!(
            r.stdout.contains(
                "campaign `c`: 3 members, 0 accepted, 0 failed, 0 deferred, 3 uncertain, 0 pending"
            ),
            "{fault}: {}",
            r.stdout
        );
        for row in p.log("c") {
            assert_eq!(row["status"], "uncertain", "{fault}: {row}");
            assert_eq!(row["reason"], "uncertain", "{fault}");
            assert_eq!(row["attempts"], 1, "{fault}");
            let text = row["smtp_reply"].as_str().unwrap();
            assert!(
                text.starts_with(&reply) && text.ends_with(": delivery unknown"),
                "{fault}: {text}"
            );
        }
        // A plain re-run leaves them alone too.
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 1, "{fault}");
        assert!(r.stdout.contains("3 uncertain"), "{fault}: {}", r.stdout);
        assert_eq!(server.copies().len(), 3, "{fault}");
    }
}

#[test]
fn a_drop_before_the_end_of_the_data_is_retried_and_says_so() {
    // Closed on DATA: the envelope went, the content never did.
    let server = SmtpServer::hostile("drop-at-data", &[]);
    let (p, _) = against(&server, 2);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(server.copies().is_empty());
    for row in p.log("c") {
        assert_eq!(
            (row["status"].as_str(), row["attempts"].as_u64()),
            (Some("deferred"), Some(2)),
            "{row}"
        );
        let text = row["smtp_reply"].as_str().unwrap();
        assert!(
            text.starts_with("connection lost before the message was complete")
                && text.ends_with(": will retry"),
            "{text}"
        );
    }
}

#[test]
fn a_multi_line_reply_is_logged_on_one_line() {
    let server = SmtpServer::hostile("multi-line-451", &[]);
    let (p, _) = against(&server, 1);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let row = &p.log("c")[0];
    assert_eq!(row["status"], "deferred");
    assert_eq!(
        row["smtp_reply"],
        "451 4.3.0 Local problem, please try again later"
    );
    assert_eq!(row["enhanced_code"], "4.3.0");
    let csv = p.run(&["log", "--campaign", "c", "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), 4, "{}", csv.stdout);
}

#[test]
fn a_member_whose_message_cannot_be_written_fails_alone_and_the_campaign_goes_on() {
    // A valid address whose file name is over the file system's 255 bytes.
    let long = format!(
        "{}@{}.{}.{}.org",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(60)
    );
    let p = Project::example();
    p.write(
        "lists/members.csv",
        &format!("email,first_name,last_name,organisation\nann@example.org,Ann,A,Org\n{long},Lee,L,Org\nbob@example.org,Bob,B,Org\n"),
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("campaign `c`: 3 members, 2 accepted, 1 failed, 0 deferred, 0 pending"),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains("stopped early"), "{}", r.stderr);
    let row = p.log_row("c", &long);
    assert_eq!(
        (row["status"].as_str(), row["reason"].as_str()),
        (Some("failed"), Some("unsendable"))
    );
    assert_eq!(
        row["smtp_reply"],
        format!("cannot write `outbox/c/{long}.eml`: File name too long (os error 36)")
    );
    assert!(p.path("outbox/c/bob@example.org.eml").exists());
    // The next run does not stop there either: there is nothing left to send.
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("nothing to send"), "{}", r.stdout);
}

#[test]
fn a_member_no_envelope_can_carry_is_named_up_front_and_fails_alone() {
    // Valid, but lettre cannot read it back from the To header it writes; the fifth member,
    // where only the first three used to be built (and a send then stopped at it, every run).
    let p = Project::example();
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\na@example.org,A,A,O\nb@example.org,B,B,O\nc@example.org,C,C,O\nd@example.org,D,D,O\n\"\"\"d d\"\"@example.org\",E,E,O\n",
    );
    let why = "`\"d d\"@example.org` cannot be put on an envelope: lettre cannot read back the To header it writes for it (`E E <\"d d\"@example.org>`)";
    let want = format!(
        "warning: 1 member cannot be sent, and is recorded `failed` with the reason while the others are sent: {why} (lists/members.csv line 6)\n"
    );
    for args in [&["check"][..], &["send", "--campaign", "c", "--dry-run"]] {
        let r = p.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
        // `check` prints its findings on standard output, `send` on standard error.
        let shown = format!("{}{}", r.stdout, r.stderr);
        assert!(shown.contains(&want), "{args:?}: {shown}");
    }
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    assert!(
        r.stdout.contains("4 accepted, 1 failed, 0 deferred"),
        "{}",
        r.stdout
    );
    let mut written: Vec<_> = std::fs::read_dir(p.path("outbox/c"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "a@example.org.eml",
            "b@example.org.eml",
            "c@example.org.eml",
            "d@example.org.eml"
        ]
    );
    let row = p.log_row("c", "\"d d\"@example.org");
    assert_eq!(row["status"], "failed");
    assert_eq!(row["reason"], "unsendable");
    assert_eq!(row["smtp_reply"], why);
}

#[test]
fn international_domains_go_as_punycode_and_a_utf8_local_part_needs_smtputf8() {
    let list = "email,first_name,last_name,organisation\nann@bücher.example,Ann,A,Org\nünal@example.org,Ünal,U,Org\nbob@example.org,Bob,B,Org\n";
    // Without SMTPUTF8: that member fails at once, with the reason; the others go.
    let server = SmtpServer::hostile("none", &["--no-smtputf8"]);
    let (p, _) = against(&server, 3);
    p.write("lists/members.csv", list);
    let r = p.run(&["check"]);
    assert!(
        r.stdout.contains("warning: 1 member has an address whose part before the `@` is not ASCII (`ünal@example.org`): it needs SMTPUTF8 on the server, and fails without it"),
        "{}",
        r.stdout
    );
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        server.copies(),
        ["ann@xn--bcher-kva.example", "bob@example.org"]
    );
    let row = p.log_row("c", "ünal@example.org");
    assert_eq!(
        (
            row["status"].as_str(),
            row["attempts"].as_u64(),
            row["reason"].as_str()
        ),
        (Some("failed"), Some(1), Some("unsendable"))
    );
    assert_eq!(
        row["smtp_reply"],
        format!(
            "`ünal@example.org` has a non-ASCII local part, which needs SMTPUTF8, and 127.0.0.1:{} does not offer it",
            server.port
        )
    );
    assert_eq!(p.log_row("c", "ann@bücher.example")["status"], "accepted");

    // With it: MAIL asks for SMTPUTF8, and the local part goes as it is.
    let server = SmtpServer::hostile("none", &[]);
    let (p, _) = against(&server, 3);
    p.write("lists/members.csv", list);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        server.copies(),
        [
            "ann@xn--bcher-kva.example",
            "bob@example.org",
            "ünal@example.org"
        ]
    );
    let mails = std::fs::read_to_string(server.dump.path().join("mail.log")).unwrap();
    assert!(mails.lines().any(|l| l.ends_with(" SMTPUTF8")), "{mails}");
}
