//! `mailshot check`, and `send` refusing what it finds.

use crate::support::Project;

#[test]
fn the_example_campaign_passes() {
    let p = Project::example();
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "check: no problems found (12 members rendered)\n");
}

#[test]
fn every_problem_is_named_with_file_and_line_and_send_refuses() {
    let p = Project::example();
    let t = p.edit("templates/bulletin.mjml", "  </mj-body>", "    <mj-section>\n      <mj-column>\n        <mj-txt>Hi</mj-txt>\n        <mj-image src=\"https://example.org/x.png\" />\n        <mj-text><a href=\"http://example.org/old\">old</a></mj-text>\n      </mj-column>\n    </mj-section>\n  </mj-body>");
    let line = |needle: &str| t.lines().position(|l| l.contains(needle)).unwrap() + 1;
    // A footer with neither an unsubscribe link nor a postal address.
    p.write(
        "templates/partials/footer.mjml",
        "<mj-section>\n  <mj-column>\n    <mj-text>{{ cluster_name }}</mj-text>\n  </mj-column>\n</mj-section>\n",
    );
    p.edit(
        "config.toml",
        "transport = \"file\"",
        "transport = \"smtp\"",
    );
    let r = p.run(&["check", "--subject", &"Long ".repeat(25)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let expected = [
        format!("error: template `templates/bulletin.mjml` line {}: unknown MJML tag `<mj-txt>` (did you mean `<mj-text>`?); mrml would drop it silently", line("<mj-txt>")),
        format!("error: template `templates/bulletin.mjml` line {}: unknown MJML tag `<mj-txt>` (did you mean `<mj-text>`?); mrml would drop it silently", line("<mj-txt>")),
        format!("error: template `templates/bulletin.mjml` line {}: `<mj-image>` has no alt text (Outlook blocks images by default)", line("x.png")),
        format!("error: template `templates/bulletin.mjml` line {}: `http://example.org/old` is not https", line("http://")),
        "error: template `templates/bulletin.mjml`: no unsubscribe link in the body: add `<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>` to the footer".to_string(),
        "error: template `templates/bulletin.mjml`: no postal address in the footer (UK law wants the sender's postal address in every message)".to_string(),
        "error: the subject is 124 characters long; keep it under 100 (inboxes show ~60-80)".to_string(),
        "warning: config `config.toml`: no [dkim] for an SMTP transport: Gmail, Yahoo and Outlook.com junk or reject unsigned bulk mail".to_string(),
        "check: 7 errors, 1 warning".to_string(),
    ];
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        expected,
        "{}",
        r.stdout
    );

    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown MJML tag `<mj-txt>`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.ends_with("nothing was sent: 6 problems found\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_undefined_variable_and_a_misaligned_dkim_domain_are_errors() {
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "Dear {{ first_name or \"colleague\" }},",
        "Dear {{ first_nam }},",
    );
    let key = p.path("dkim.pem");
    let out = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .unwrap();
    assert!(out.status.success());
    p.edit("config.toml", "\n[file]\n", "\n[dkim]\ndomain = \"other.example.net\"\nselector = \"s1\"\nkey_file = \"dkim.pem\"\n\n[file]\n");
    let r = p.run(&["check"]);
    assert_eq!(r.code, 2);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with(&format!("error: template `templates/bulletin.mjml` line {}: undefined variable in `first_nam` (all 12 members of `lists/members.csv`)", t.lines().position(|l| l.contains("first_nam")).unwrap() + 1)), "{}", r.stdout);
    assert_eq!(
        lines[1],
        "error: config `config.toml`: the From domain `example.org` does not align with the DKIM domain `other.example.net`: DMARC will fail"
    );
    assert_eq!(lines[2], "check: 2 errors, 0 warnings");
}

#[test]
fn html_gmail_would_clip_is_an_error() {
    let p = Project::example();
    let filler = "Lorem ipsum dolor sit amet. ".repeat(4000);
    p.edit("templates/bulletin.mjml", "  </mj-body>", &format!("    <mj-section><mj-column><mj-text>{filler}</mj-text></mj-column></mj-section>\n  </mj-body>"));
    let r = p.run(&["check"]);
    assert_eq!(r.code, 2);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("error: template `templates/bulletin.mjml`: the HTML is 15"),
        "{}",
        r.stdout
    );
    assert!(
        lines[0].ends_with(" KB; Gmail clips messages over ~102 KB: keep it under 100 KB"),
        "{}",
        r.stdout
    );
    assert_eq!(lines[1], "check: 1 error, 0 warnings");
}

#[test]
fn every_number_in_the_config_is_range_checked_with_its_key_and_line() {
    for (from, to, want) in [
        (
            "messages_per_second = 10",
            "messages_per_second = 1e-30",
            "line 82: rate.messages_per_second: `0.000000000000000000000000000001` must be 0 (no limit) or between 0.001 and 1000000",
        ),
        (
            "burst = 1",
            "burst = 4294967295",
            "line 85: rate.burst: `4294967295` must be between 1 and 1000000",
        ),
        (
            "batch_pause_secs = 0",
            "batch_pause_secs = 1e30",
            "line 89: rate.batch_pause_secs: `1000000000000000000000000000000` must be between 0 and 604800",
        ),
        (
            "retry_delay_secs = 30",
            "retry_delay_secs = 1e30",
            "line 95: rate.retry_delay_secs: `1000000000000000000000000000000` must be between 0 and 604800",
        ),
        (
            "retry_delay_secs = 30",
            "retry_delay_secs = nan",
            "line 95: rate.retry_delay_secs: `NaN` must be between 0 and 604800",
        ),
        (
            "max_quota_wait_secs = 900",
            "max_quota_wait_secs = 9223372036854775807",
            "line 102: rate.max_quota_wait_secs: `9223372036854775807` must be between 0 and 604800",
        ),
    ] {
        let p = Project::example();
        p.edit("config.toml", from, to);
        for args in [
            &["check", "--campaign", "c"][..],
            &["send", "--campaign", "c", "--yes"],
            &["send", "--campaign", "c", "--dry-run"],
        ] {
            let r = p.run(args);
            assert_eq!(r.code, 2, "{to}: {args:?}: {}", r.stderr);
            assert_eq!(
                r.stderr,
                format!("error: invalid config `config.toml`: {want}\n"),
                "{to}"
            );
        }
        assert!(!p.path("outbox").exists(), "nothing was sent");
    }
}

#[test]
fn a_template_nested_too_deep_is_refused_with_its_line_not_a_crash() {
    let p = Project::example();
    let deep = |n: usize| {
        format!(
            "<mj-section><mj-column><mj-text>{}x{}</mj-text></mj-column></mj-section>\n",
            "<div>".repeat(n),
            "</div>".repeat(n)
        )
    };
    // 1,035 levels aborted the process with a stack overflow (exit 134) in check and send.
    let text = p.edit(
        "templates/bulletin.mjml",
        "</mj-body>",
        &format!("{}</mj-body>", deep(1035)),
    );
    let line = text[..text.find("<div>").unwrap()].lines().count();
    for args in [
        &["check", "--campaign", "c"][..],
        &["send", "--campaign", "c", "--dry-run"],
        &["send", "--campaign", "c", "--yes"],
    ] {
        let r = p.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "error: template `templates/bulletin.mjml` line {line}: `<div>` is nested more than 100 elements deep\n"
            )),
            "{args:?}: {}",
            r.stderr
        );
    }
    // In a partial, the partial is named.
    let p = Project::example();
    p.write("templates/partials/deep.mjml", &deep(1035));
    p.edit(
        "templates/bulletin.mjml",
        "</mj-body>",
        "<mj-include path=\"partials/deep.mjml\" /></mj-body>",
    );
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stdout.contains("cannot include `partials/deep.mjml`: line 1: `<div>` is nested more than 100 elements deep"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(!p.path("outbox").exists());
}

#[test]
fn a_link_without_a_scheme_is_a_warning_and_a_button_without_href_an_error() {
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "  </mj-body>",
        "    <mj-section>\n      <mj-column>\n        <mj-text><a href=\"www.example.org/events\">events</a></mj-text>\n        <mj-button>Book</mj-button>\n      </mj-column>\n    </mj-section>\n  </mj-body>",
    );
    let line = |needle: &str| t.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let expected = [
        format!(
            "error: template `templates/bulletin.mjml` line {}: `<mj-button>` has no `href`: it is a button that goes nowhere in every member's copy",
            line("<mj-button>Book")
        ),
        format!(
            "warning: template `templates/bulletin.mjml` line {}: the link `www.example.org/events` has no scheme, so mail clients treat it as a relative path: write `https://www.example.org/events`",
            line("www.example.org")
        ),
        "check: 1 error, 1 warning".to_string(),
    ];
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        expected,
        "{}",
        r.stdout
    );
    // `send` refuses on the error alone.
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.ends_with("nothing was sent: 1 problem found\n"),
        "{}",
        r.stderr
    );

    // A link without a scheme alone is a warning: check passes, send goes on.
    let p = Project::example();
    p.edit(
        "templates/bulletin.mjml",
        "  </mj-body>",
        "    <mj-section><mj-column><mj-text><a href=\"www.example.org\">x</a></mj-text></mj-column></mj-section>\n  </mj-body>",
    );
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.lines().last(), Some("check: 0 errors, 1 warning"));
}

#[test]
fn a_column_empty_for_some_members_and_used_bare_is_a_warning_with_a_fallback() {
    let p = Project::example();
    p.edit("lists/members.csv", ",Zoë,", ",,");
    p.edit("lists/members.csv", ",Siân,", ", ,");
    // The shipped greeting has a fallback: used bare.
    let t = p.edit(
        "templates/bulletin.mjml",
        "Dear {{ first_name or \"colleague\" }},",
        "Dear {{ first_name }},",
    );
    let line = t
        .lines()
        .position(|l| l.contains("Dear {{ first_name }}"))
        .unwrap()
        + 1;
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "warning: 2 members have an empty `first_name` (used in `templates/bulletin.mjml` line {line}): write `{{{{ first_name or \"colleague\" }}}}` to give them a fallback"
            ),
            "check: 0 errors, 1 warning".to_string(),
        ],
        "{}",
        r.stdout
    );
    // With a fallback, or inside an `if`, nothing is said.
    for to in [
        "Dear {{ first_name or \"colleague\" }},",
        "{% if first_name %}Dear {{ first_name }},{% endif %}",
    ] {
        p.write(
            "templates/bulletin.mjml",
            &t.replace("Dear {{ first_name }},", to),
        );
        let r = p.run(&["check", "--campaign", "c"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout, "check: no problems found (12 members rendered)\n",
            "{to}"
        );
    }
}

#[test]
fn a_value_the_template_never_uses_is_a_warning_naming_where_it_was_given() {
    let p = Project::example();
    // A config `[vars]` value is shared by every template and month: not reported.
    p.edit(
        "config.toml",
        "chair_name = ",
        "chair_nmae = \"x\"\nchair_name = ",
    );
    let r = p.run(&["check", "--campaign", "c", "--var", "montth=May 2023"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            "warning: `--var montth` is never used by the template (did you mean `month`?)"
                .to_string(),
            "check: 0 errors, 1 warning".to_string(),
        ],
        "{}",
        r.stdout
    );
    // `send` warns and goes on.
    let r = p.run(&[
        "send",
        "--campaign",
        "c",
        "--yes",
        "--var",
        "montth=May 2023",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: `--var montth` is never used by the template"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unknown_mjml_attribute_is_a_warning_with_a_suggestion() {
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "  </mj-body>",
        "    <mj-section bacground-color=\"#ffffff\">\n      <mj-column>\n        <mj-text colour=\"#000000\">Hi</mj-text>\n      </mj-column>\n    </mj-section>\n  </mj-body>",
    );
    let line = |needle: &str| t.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "warning: template `templates/bulletin.mjml` line {}: `<mj-section>` has no attribute `bacground-color` (did you mean `background-color`?); mrml ignores it",
                line("bacground")
            ),
            format!(
                "warning: template `templates/bulletin.mjml` line {}: `<mj-text>` has no attribute `colour` (did you mean `color`?); mrml ignores it",
                line("colour=")
            ),
            "check: 0 errors, 2 warnings".to_string(),
        ],
        "{}",
        r.stdout
    );
}

#[test]
fn every_members_subject_is_checked_not_only_the_first() {
    let p = Project::example();
    // The ninth member's organisation makes the subject too long for that member alone.
    let long =
        "Brennan Rehabilitation Technologies and Community Devices Partnership of Northvale Ltd";
    p.edit("lists/members.csv", "Brennan Rehab Technologies", long);
    let subject = "Cluster News for {{ organisation }}";
    let r = p.run(&["check", "--campaign", "2023-04", "--subject", subject]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "warning: the subject is longer than 100 characters for 1 member (inboxes show ~60-80): line 10 (`aoife.obriain@example.org`): 103 characters\n\
         check: 0 errors, 1 warning\n"
    );
    // Their data, not the bulletin: a warning, and the campaign goes.
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-04",
        "--yes",
        "--subject",
        subject,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: the subject is longer than 100 characters for 1 member"),
        "{}",
        r.stderr
    );
    // A subject the template makes too long for every member is an error: nothing goes.
    let subject = format!("{}{{{{ organisation }}}}", "Long ".repeat(20));
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-05",
        "--yes",
        "--subject",
        &subject,
    ]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("error: the subject is 127 characters long; keep it under 100"),
        "{}",
        r.stderr
    );
    assert!(!p.path("outbox/2023-05").exists());
}

#[test]
fn an_unclosed_tag_is_named_where_it_opens_with_line_and_column() {
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "<p>Dear {{ first_name or \"colleague\" }},</p>",
        "<p>Dear {{ first_name or \"colleague\" }},",
    );
    let line = |needle: &str| t.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let opened = line("<p>Dear {{ first_name");
    let closed = opened + 2;
    assert!(t.lines().nth(closed - 1).unwrap().contains("</mj-text>"));
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "error: template `templates/bulletin.mjml` line {opened} column 11: `<p>` is never closed \
             (`</mj-text>` at line {closed} column 9 closes `<mj-text>` first) (all 12 members of `lists/members.csv`)\n\
             check: 1 error, 0 warnings\n"
        )
    );
}

#[test]
fn mjml_that_mrml_does_not_render_as_mjml_is_a_warning_naming_the_line() {
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "  </mj-body>",
        "    <mj-section gutter=\"8px\">\n      <mj-column>\n        <mj-social>\n          <mj-social-element name=\"x\" href=\"https://example.org/x\" border=\"1px solid #000\">X</mj-social-element>\n        </mj-social>\n      </mj-column>\n    </mj-section>\n  </mj-body>",
    );
    let line = |needle: &str| t.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "2023-04"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "warning: template `templates/bulletin.mjml` line {}: `<mj-section>` has no attribute `gutter`; mrml ignores it",
                line("gutter")
            ),
            format!(
                "warning: template `templates/bulletin.mjml` line {}: `border` on `<mj-social-element>` (mjml 5) is not supported by mrml: it is ignored",
                line("border=")
            ),
            "check: 0 errors, 2 warnings".to_string(),
        ],
        "{}",
        r.stdout
    );
}
