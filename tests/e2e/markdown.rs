//! A month's issue in Markdown (`issues/<campaign>.md`) in the layout: sent, checked.

use crate::render::golden;
use crate::support::{Project, html_refs, repo};
use mail_parser::MessageParser;

fn html_of(p: &Project, rel: &str) -> (String, String) {
    let eml = std::fs::read(p.path(rel)).unwrap();
    let m = MessageParser::default().parse(&eml).unwrap();
    (
        m.subject().unwrap().to_string(),
        m.body_html(0).unwrap().into_owned(),
    )
}

#[test]
fn the_markdown_issue_is_sent_in_the_layout_with_its_front_matter() {
    let p = Project::with_issues();
    p.write(
        "lists/members.csv",
        "email,first_name,last_name,organisation\nann@example.org,<b>Ann</b>,Lee,Lee & Co\nbo@example.org,,Ng,Ng Ltd\n",
    );
    let r = p.run(&["send", "--campaign", "2023-05", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "sending «Cluster News – May 2023» to 2 members via file transport `outbox/2023-05`\n"
        ),
        "{}",
        r.stderr
    );
    let (subject, html) = html_of(&p, "outbox/2023-05/ann@example.org.eml");
    // The subject and the month from the front matter, over the config's April.
    assert_eq!(subject, "Cluster News – May 2023");
    assert!(
        html.contains(&html_refs("<title>Cluster News – May 2023</title>")),
        "{html}"
    );
    assert!(!html.contains("April 2023"));
    // The member's name filled, escaped.
    assert!(html.contains("Dear &lt;b&gt;Ann&lt;/b&gt;,"), "{html}");
    assert!(!html.contains("<b>Ann</b>"));
    assert!(html.contains("Lee &amp; Co"));
    // Every section, in order; the preview text; the layout's footer; button and images.
    let mut at = 0;
    for heading in [
        "Programme news, the next Topical Tuesday",
        "Cluster News – May 2023</h1>",
        ">Northvale Health Innovation Programme</h2>",
        ">Events</h2>",
        ">Health Technology Futures conference</h2>",
        ">Northvale Health Technology Awards</h2>",
        ">Regional news</h2>",
        ">Regulation and investment</h2>",
        ">People</h2>",
        ">Spotlight on: Brightwell Diagnostics</h2>",
        "Executive Chair, Northvale Health Technology Cluster",
        "Northvale Innovation Centre, 12 Quayside Road",
        "Unsubscribe</a>",
    ] {
        let heading = html_refs(heading);
        let found = html[at..]
            .find(&heading)
            .unwrap_or_else(|| panic!("`{heading}` not after byte {at}"));
        at += found + heading.len();
    }
    assert!(html.contains("Book your place"), "{html}");
    assert!(html.contains("alt=\"Delegates at the Health Technology Futures conference\""));
    // An image titled with a width is that wide, on the left: the signature.
    assert!(
        html.contains("alt=\"Signature of Dr Helen Marsh\" height=\"auto\" src=\"https://example.org/images/chair-signature.png\" width=\"160\""),
        "{html}"
    );
    // A blank name takes the fallback the Markdown gives.
    let (_, html) = html_of(&p, "outbox/2023-05/bo@example.org.eml");
    assert!(html.contains("Dear colleague,"), "{html}");
}

#[test]
fn a_test_copy_of_the_markdown_issue_is_what_members_get() {
    let p = Project::with_issues();
    let r = p.run(&[
        "send",
        "--campaign",
        "2023-05",
        "--test-to",
        "chair@example.org",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (subject, html) = html_of(&p, "outbox/2023-05/test/chair@example.org.eml");
    assert_eq!(subject, "[TEST] Cluster News – May 2023");
    assert!(html.contains("Dear Zo&#235;,"), "{html}");
    assert!(html.contains(&html_refs("Spotlight on: Brightwell Diagnostics</h2>")));
}

#[test]
fn without_an_issue_the_template_is_used_as_before() {
    let p = Project::with_issues();
    let r = p.run(&["send", "--campaign", "2023-03", "--dry-run"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("«Cluster News – April 2023»")
            || r.stderr.contains("«Cluster News – April 2023»"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let r = p.run(&["check", "--campaign", "2023-05"]);
    assert_eq!(
        r.stdout, "check: no problems found (12 members rendered)\n",
        "{}",
        r.stderr
    );
}

#[test]
fn an_image_without_alt_text_stops_check_naming_file_and_line() {
    let p = Project::with_issues();
    let text = p.edit(
        "issues/2023-05.md",
        "![Delegates at the Health Technology Futures conference]",
        "![]",
    );
    let line = text.lines().position(|l| l.starts_with("![](")).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "2023-05"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "error: issue `issues/2023-05.md`: line {line}: image `https://example.org/images/conference-photo.jpg` has no alt text: write it as `![what the image shows](https://example.org/images/conference-photo.jpg)` (Outlook blocks images by default)\n"
        )
    );
}

#[test]
fn a_front_matter_error_names_the_line_in_the_issue() {
    let p = Project::with_issues();
    p.edit(
        "issues/2023-05.md",
        "month = \"May 2023\"",
        "month = May 2023",
    );
    let r = p.run(&["send", "--campaign", "2023-05", "--dry-run"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .starts_with("error: issue `issues/2023-05.md`: line 6: front matter: "),
        "{}",
        r.stderr
    );
}

#[test]
fn the_issues_folder_is_configurable_and_template_wins_over_it() {
    let p = Project::with_issues();
    let md = p.read("issues/2023-05.md");
    std::fs::remove_dir_all(p.path("issues")).unwrap();
    p.write("months/2023-05.md", &md);
    let subject = |p: &Project, args: &[&str]| {
        let r = p.run(args);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let at = r.stdout.find('«').expect(&r.stdout);
        r.stdout[at..r.stdout.find('»').unwrap() + '»'.len_utf8()].to_string()
    };
    let dry = ["send", "--campaign", "2023-05", "--dry-run"];
    assert_eq!(subject(&p, &dry), "«Cluster News – April 2023»");
    p.edit(
        "config.toml",
        "transport = \"file\"",
        "transport = \"file\"\nissues = \"months\"",
    );
    assert_eq!(subject(&p, &dry), "«Cluster News – May 2023»");
    let with_template = [&dry[..], &["--template", "templates/bulletin.mjml"]].concat();
    assert_eq!(subject(&p, &with_template), "«Cluster News – April 2023»");
    // `--var` overrides the front matter.
    let with_var = [&dry[..], &["--var", "month=June 2023"]].concat();
    assert_eq!(subject(&p, &with_var), "«Cluster News – June 2023»");
}

#[test]
fn the_official_mjml_shows_the_same_text_as_mrml_for_the_markdown_issue() {
    use mailshot::compose::markdown;
    // The issue in the layout, the footer partial inlined: one self-contained MJML for both.
    let templates = repo().join("templates");
    let issue = markdown::load(&repo().join("issues/2023-05.md")).unwrap();
    let layout = std::fs::read_to_string(templates.join("layout.mjml")).unwrap();
    let footer = std::fs::read_to_string(templates.join("partials/footer.mjml")).unwrap();
    let mjml = markdown::fill_layout("layout.mjml", &layout, &issue)
        .unwrap()
        .replace("<mj-include path=\"partials/footer.mjml\" />", &footer);
    assert!(!mjml.contains("mj-include"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("issue.mjml");
    std::fs::write(&file, &mjml).unwrap();

    let ours = mrml::parse(&mjml)
        .unwrap()
        .element
        .render(&Default::default())
        .unwrap();
    let theirs = crate::support::official_mjml(&file);

    let ours = crate::support::visible_text(ours.as_bytes());
    let theirs = crate::support::visible_text(theirs.as_bytes());
    assert_eq!(ours, theirs);
    // And it is the issue's text, placeholders and all (filled per member later).
    for want in [
        "Dear {{ first_name or \"colleague\" }},",
        "Northvale Health Innovation Programme",
        "Book your place",
        "Outstanding Contribution to the Cluster",
        "Spotlight on: Brightwell Diagnostics",
        "Unsubscribe",
    ] {
        assert!(ours.contains(want), "`{want}` not in {ours}");
    }
}

#[test]
fn a_template_error_in_the_markdown_names_the_issue_and_its_line() {
    let p = Project::with_issues();
    let text = p.edit(
        "issues/2023-05.md",
        "Dear {{ first_name or \"colleague\" }},",
        "Dear {{ frist_name }},",
    );
    let line = text.lines().position(|l| l.contains("frist_name")).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "2023-05"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with(&format!(
            "error: issue `issues/2023-05.md` line {line}: undefined variable in `frist_name` (all 12 members of `lists/members.csv`)"
        )),
        "{}",
        r.stdout
    );
    p.edit("issues/2023-05.md", "{{ frist_name }}", "{{ first_name }");
    let r = p.run(&["send", "--campaign", "2023-05", "--dry-run"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: invalid template: issue `issues/2023-05.md` line {line}: syntax error"
        )),
        "{}",
        r.stderr
    );
}

/// The `#`, `##` and `###` heading lines and `---` dividers of a Markdown issue, in order.
fn skeleton_of(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.starts_with("# ") || l.starts_with("## ") || l.starts_with("### ") || *l == "---"
        })
        .collect()
}

#[test]
fn new_starts_next_month_from_the_last_issue_with_placeholders_that_check_warns_about() {
    let p = Project::with_issues();
    let r = p.run(&["new", "2023-06"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "wrote `issues/2023-06.md` from `issues/2023-05.md`: 14 sections to write\n\
         next:\n  $EDITOR issues/2023-06.md\n  mailshot check --campaign 2023-06\n  \
         mailshot send --campaign 2023-06 --test-to you@example.org\n"
    );
    let old = p.read("issues/2023-05.md");
    let new = p.read("issues/2023-06.md");
    // The same front matter keys, the month moved on.
    assert!(
        new.starts_with(
            "+++\nsubject = \"Cluster News – {{ month }}\"\npreview = \"Programme news,"
        ),
        "{new}"
    );
    assert!(
        new.contains("\n[vars]\nmonth = \"June 2023\"\n+++\n"),
        "{new}"
    );
    assert!(!new.contains("May 2023"));
    // The same headings and dividers; greeting and sign-off kept; every body a placeholder.
    assert_eq!(skeleton_of(&new), skeleton_of(&old));
    assert!(new.contains("\n\nDear {{ first_name or \"colleague\" }},\n\n<!-- write the introduction section here -->\n"));
    assert!(new.contains(
        "## Events\n\n<!-- write the Events section here -->\n\n### Next Topical Tuesday"
    ));
    assert!(new.ends_with("With best wishes,\n\n![Signature of {{ chair_name }}](https://example.org/images/chair-signature.png \"160px\")\n\n**{{ chair_name }}**\\\nExecutive Chair, {{ cluster_name }}\n"));
    for gone in [
        "Welcome to this month",
        "Topical Tuesday, where",
        "Brightwell Diagnostics develops",
        "[Book your place]",
    ] {
        assert!(!new.contains(gone), "{gone}");
    }
    let placeholders = new
        .lines()
        .filter(|l| l.starts_with("<!-- write the "))
        .count();
    assert_eq!(placeholders, 14);

    let r = p.run(&["check", "--campaign", "2023-06"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let line = new
        .lines()
        .position(|l| l == "<!-- write the Events section here -->")
        .unwrap()
        + 1;
    assert!(
        r.stdout.contains(&format!(
            "warning: issue `issues/2023-06.md` line {line}: section `Events` still has its placeholder\n"
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.matches("still has its placeholder").count(),
        14,
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("check: 0 errors, 14 warnings\n"),
        "{}",
        r.stdout
    );
    // The placeholders never reach a member.
    let r = p.run(&["send", "--campaign", "2023-06", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (subject, html) = html_of(&p, "outbox/2023-06/zoe.hartley@medtech.example.org.eml");
    assert_eq!(subject, "Cluster News – June 2023");
    assert!(html.contains("Digital Health Working Group"), "{html}");
    assert!(!html.contains("write the"), "{html}");
}

#[test]
fn new_never_overwrites_an_existing_issue() {
    let p = Project::with_issues();
    assert_eq!(p.run(&["new", "2023-06"]).code, 0);
    let edited = p.edit(
        "issues/2023-06.md",
        "<!-- write the Events section here -->",
        "Our events.",
    );
    let r = p.run(&["new", "2023-06"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        "error: issue `issues/2023-06.md` already exists: edit it, or remove it to start again\n"
    );
    assert_eq!(r.stdout, "");
    assert_eq!(p.read("issues/2023-06.md"), edited);
    // Nor the one it would start from.
    let r = p.run(&["new", "2023-05"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        p.read("issues/2023-05.md"),
        std::fs::read_to_string(repo().join("issues/2023-05.md")).unwrap()
    );
}

#[test]
fn new_without_an_earlier_issue_says_so() {
    let p = Project::example();
    let r = p.run(&["new", "2023-06"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        "error: no issue before `2023-06` in `issues` to start from: write the first one by hand (or name one with --from)\n"
    );
    assert!(!p.path("issues/2023-06.md").exists());
    let p = Project::with_issues();
    let r = p.run(&["new", "2023-03"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.starts_with("error: no issue before `2023-03`"),
        "{}",
        r.stderr
    );
    let r = p.run(&["new", "2023-03", "--from", "2022-01"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        "error: no issue `issues/2022-01.md` to start from\n"
    );
}

#[test]
fn new_from_a_named_issue_moves_its_month_on() {
    let p = Project::with_issues();
    p.edit(
        "issues/2023-05.md",
        "month = \"May 2023\"",
        "month = \"December 2023\"",
    );
    let r = p.run(&["new", "2024-01", "--from", "2023-05"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        p.read("issues/2024-01.md")
            .contains("\nmonth = \"January 2024\"\n")
    );
}

#[test]
fn a_link_without_a_scheme_in_the_issue_is_a_warning_naming_its_line() {
    let p = Project::with_issues();
    let text = p.edit(
        "issues/2023-05.md",
        "[read more here](https://example.org/programme)",
        "[read more here](www.example.org/programme)",
    );
    let line = text.lines().position(|l| l.contains("(www.")).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "2023-05"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "warning: issue `issues/2023-05.md` line {line}: the link `www.example.org/programme` has no scheme, so mail clients treat it as a relative path: write `https://www.example.org/programme`"
            ),
            "check: 0 errors, 1 warning".to_string(),
        ],
        "{}",
        r.stdout
    );
}

#[test]
fn a_front_matter_value_the_issue_never_uses_is_a_warning_with_its_line() {
    let p = Project::with_issues();
    let text = p.edit(
        "issues/2023-05.md",
        "month = \"May 2023\"",
        "month = \"May 2023\"\nmnth = \"May\"",
    );
    let line = text.lines().position(|l| l.starts_with("mnth")).unwrap() + 1;
    let r = p.run(&["check", "--campaign", "2023-05"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        [
            format!(
                "warning: issue `issues/2023-05.md` line {line}: `mnth` is never used by the template (did you mean `month`?)"
            ),
            "check: 0 errors, 1 warning".to_string(),
        ],
        "{}",
        r.stdout
    );
}

fn text_of(p: &Project, rel: &str) -> String {
    let eml = std::fs::read(p.path(rel)).unwrap();
    let m = MessageParser::default().parse(&eml).unwrap();
    m.body_text(0).unwrap().into_owned()
}

/// A text part without its link footnotes (`[3]: https://...`) and their markers, which
/// number links as they come, and without blank lines.
fn words_of(text: &str) -> Vec<String> {
    let marker = regex::Regex::new(r"\[(\d+)\]").unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !regex::Regex::new(r"^\[\d+\]: ").unwrap().is_match(l))
        .map(|l| marker.replace_all(l, "").into_owned())
        .collect()
}

#[test]
fn the_april_issue_in_markdown_reads_as_the_mjml_bulletin_did() {
    let p = Project::with_issues();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.run(&[
        "send",
        "--campaign",
        "mjml",
        "--template",
        "templates/bulletin.mjml",
        "--yes",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for member in ["zoe.hartley@medtech.example.org", "hannah.obi@example.org"] {
        let md = text_of(&p, &format!("outbox/2023-04/{member}.eml"));
        let mjml = text_of(&p, &format!("outbox/mjml/{member}.eml"));
        assert_eq!(words_of(&md), words_of(&mjml), "{member}");
        assert!(md.contains("Cluster News – April 2023"), "{md}");
    }
    // The same links, in the same order, but the web edition's (it names the campaign).
    let links = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| regex::Regex::new(r"^\[\d+\]: ").unwrap().is_match(l))
            .map(|l| {
                l.split_once(": ")
                    .unwrap()
                    .1
                    .replace("/bulletins/mjml", "/bulletins/2023-04")
            })
            .collect()
    };
    let member = "zoe.hartley@medtech.example.org";
    assert_eq!(
        links(&text_of(&p, &format!("outbox/2023-04/{member}.eml"))),
        links(&text_of(&p, &format!("outbox/mjml/{member}.eml")))
    );
}

#[test]
fn the_april_issue_in_markdown_sends_to_its_golden_files() {
    let p = Project::with_issues();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rel = "outbox/2023-04/zoe.hartley@medtech.example.org.eml";
    let (subject, html) = html_of(&p, rel);
    assert_eq!(subject, "Cluster News – April 2023");
    golden("issue-2023-04.html", &html);
    golden("issue-2023-04.txt", &text_of(&p, rel));
}
