//! Rendering: golden files, the once-per-campaign shortcut proven equal to full renders,
//! hostile member values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mailshot::compose::render::{Bulletin, Mode, Rendered};
use mailshot::list::{MemberList, read_header};

use crate::support::{Project, repo};

const UNSUBSCRIBE: &str = "https://example.org/unsubscribe?list=cluster-news&email={{ email | urlencode }}&token={{ token }}";

fn vars() -> BTreeMap<String, String> {
    [
        ("month", "April 2023"),
        ("cluster_name", "Northvale Health Technology Cluster"),
        (
            "postal_address",
            "Northvale Innovation Centre, 12 Quayside Road, Northvale NV1 4AB, United Kingdom",
        ),
        ("chair_name", "Dr Helen Marsh"),
        ("chair_email", "chair@example.org"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn members_of(csv: &str) -> Vec<mailshot::list::Member> {
    let (cols, rdr) = read_header(Path::new("t.csv"), csv.as_bytes()).unwrap();
    mailshot::list::Rows::new(cols, rdr)
        .map(|r| r.unwrap())
        .collect()
}

fn example_members() -> Vec<mailshot::list::Member> {
    MemberList::open(&repo().join("lists/members.csv"))
        .unwrap()
        .rows()
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn bulletin() -> Bulletin {
    Bulletin::compile(&repo().join("templates/bulletin.mjml"), None, UNSUBSCRIBE).unwrap()
}

fn render(b: &Bulletin, m: &mailshot::list::Member) -> Rendered {
    let ctx = b
        .context(
            &vars(),
            m,
            "2023-04",
            &[
                ("token", "TOKEN"),
                ("web_url", "https://example.org/bulletins/2023-04/"),
            ],
        )
        .unwrap();
    b.render(&ctx).unwrap()
}

pub fn golden(name: &str, actual: &str) {
    let path: PathBuf = repo().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {} (UPDATE_GOLDEN=1 cargo test writes it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendering (UPDATE_GOLDEN=1 cargo test rewrites it)",
        path.display()
    );
}

#[test]
fn the_example_bulletin_renders_without_warnings_to_its_golden_files() {
    let b = bulletin();
    assert_eq!(b.warnings, Vec::<String>::new());
    assert_eq!(b.mode(), Mode::Precompiled);
    let r = render(&b, &example_members()[0]);
    assert_eq!(r.subject, "Cluster News – April 2023");
    golden("bulletin.html", &r.html);
    golden("bulletin.txt", &r.text);
    // Gmail clips HTML over ~102 KB: stay well below.
    assert!(r.html.len() < 100_000, "{} bytes of HTML", r.html.len());
}

#[test]
fn precompiled_rendering_equals_a_full_render_for_every_member() {
    let fast = bulletin();
    let mut full = bulletin();
    full.force_full();
    assert_eq!(fast.mode(), Mode::Precompiled);
    let mut members = example_members();
    members.extend(members_of(
        "email,first_name,last_name,organisation\n\
         mal@example.org,<script>alert('x')</script>,\"O\"\"Neil\",\"A & B <i>Ltd</i>, \"\"quoted\"\"\"\n\
         amp@example.org,&amp;,{{ not_a_var }},{% raw %}\n",
    ));
    for m in &members {
        assert_eq!(render(&fast, m), render(&full, m), "member {}", m.email);
    }
}

#[test]
fn member_values_are_html_escaped_and_never_interpreted() {
    let b = bulletin();
    let m = &members_of(
        "email,first_name,last_name,organisation\nmal@example.org,<script>alert('x')</script>,L,{{ 7*7 }} & \"Co\"\n",
    )[0];
    let r = render(&b, m);
    // Escaped the way the page's serializer (css-inline) escapes text: `& < >`.
    assert!(
        r.html
            .contains("Dear &lt;script&gt;alert('x')&lt;/script&gt;,")
    );
    assert!(!r.html.contains("<script>"));
    assert!(
        r.html.contains("{{ 7*7 }} &amp; \"Co\""),
        "values are data, not template code"
    );
    assert!(!r.html.contains("49"));
    assert!(r.text.contains("Dear <script>alert('x')</script>,"));
    // The unsubscribe URL is percent-encoded in the URL and entity-escaped in the attribute.
    assert!(r.html.contains(
        "href=\"https://example.org/unsubscribe?list=cluster-news&amp;email=mal%40example.org&amp;token=TOKEN\""
    ));
}

fn scratch_template(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.mjml");
    std::fs::write(
        &path,
        format!("<mjml><mj-head><mj-title>Hi {{{{ first_name }}}}</mj-title></mj-head><mj-body>{body}</mj-body></mjml>"),
    )
    .unwrap();
    (dir, path)
}

#[test]
fn a_loop_around_columns_falls_back_to_full_renders_with_the_same_output() {
    // mrml would size the one column in the loop as if it were alone: the shortcut differs.
    let (_dir, path) = scratch_template(
        "<mj-section>{% for i in range(3) %}<mj-column><mj-text>{{ first_name }} {{ i }}</mj-text></mj-column>{% endfor %}</mj-section>",
    );
    let mut b = Bulletin::compile(&path, None, UNSUBSCRIBE).unwrap();
    let m = &members_of("email,first_name\nann@example.org,Ann\n")[0];
    let ctx = b
        .context(&BTreeMap::new(), m, "c", &[("token", "TOKEN")])
        .unwrap();
    assert_eq!(b.mode(), Mode::Precompiled);
    assert!(!b.verify(&ctx), "the shortcut must be found unequal");
    assert_eq!(b.mode(), Mode::Full);
    let r = b.render(&ctx).unwrap();
    assert_eq!(r.html.matches("Ann 2").count(), 1);
    assert!(
        r.html.contains("width:33.33"),
        "three columns of a third each"
    );
    assert_eq!(r.subject, "Hi Ann");
}

#[test]
fn a_conditional_section_keeps_the_shortcut() {
    let (_dir, path) = scratch_template(
        "{% if vip == \"yes\" %}<mj-section><mj-column><mj-text>VIP {{ first_name }}</mj-text></mj-column></mj-section>{% endif %}\
         <mj-section><mj-column><mj-text>Hello {{ first_name }}</mj-text></mj-column></mj-section>",
    );
    let mut b = Bulletin::compile(&path, None, UNSUBSCRIBE).unwrap();
    let members =
        members_of("email,first_name,vip\nann@example.org,Ann,yes\nbob@example.org,Bob,no\n");
    for m in &members {
        let ctx = b
            .context(&BTreeMap::new(), m, "c", &[("token", "TOKEN")])
            .unwrap();
        assert!(b.verify(&ctx));
    }
    let mut full = Bulletin::compile(&path, None, UNSUBSCRIBE).unwrap();
    full.force_full();
    for m in &members {
        let ctx = b
            .context(&BTreeMap::new(), m, "c", &[("token", "TOKEN")])
            .unwrap();
        assert_eq!(b.render(&ctx).unwrap(), full.render(&ctx).unwrap());
    }
    let ann = b
        .render(
            &b.context(&BTreeMap::new(), &members[0], "c", &[("token", "TOKEN")])
                .unwrap(),
        )
        .unwrap();
    assert!(ann.html.contains("VIP Ann"));
    let bob = b
        .render(
            &b.context(&BTreeMap::new(), &members[1], "c", &[("token", "TOKEN")])
                .unwrap(),
        )
        .unwrap();
    assert!(!bob.html.contains("VIP"));
}

#[test]
fn a_line_break_reaching_the_subject_is_refused() {
    let (_dir, path) =
        scratch_template("<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>");
    let b = Bulletin::compile(&path, Some("News for {{ org }}"), UNSUBSCRIBE).unwrap();
    let mut vars = BTreeMap::new();
    vars.insert(
        "org".to_string(),
        "Acme\r\nBcc: victim@example.net".to_string(),
    );
    let m = &members_of("email,first_name\nann@example.org,Ann\n")[0];
    let ctx = b.context(&vars, m, "c", &[("token", "TOKEN")]).unwrap();
    assert_eq!(
        b.render(&ctx).unwrap_err(),
        "subject `News for Acme\\r\\nBcc: victim@example.net` contains a control character"
    );
}

#[test]
fn an_mjml_error_names_the_line() {
    let (_dir, path) = scratch_template(
        "<mj-section>\n<mj-column>\n<mj-text>a < b</mj-text></mj-column></mj-section>",
    );
    let b = Bulletin::compile(&path, None, UNSUBSCRIBE).unwrap();
    let m = &members_of("email,first_name\nann@example.org,Ann\n")[0];
    let err = b
        .render(
            &b.context(&BTreeMap::new(), m, "c", &[("token", "TOKEN")])
                .unwrap(),
        )
        .unwrap_err();
    assert!(
        err.starts_with(&format!("template `{}` line 3: ", path.display())),
        "{err}"
    );
}

/// The HTML part of `eml`, with its unsubscribe token (taken from `List-Unsubscribe`)
/// written `TOKEN`: a test copy's token differs from the member's by design.
fn html_without_token(eml: &[u8]) -> String {
    use mail_parser::MessageParser;
    let m = MessageParser::default()
        .parse(eml)
        .expect("an RFC 5322 message");
    let header = m.header_raw("List-Unsubscribe").expect("List-Unsubscribe");
    let url = header.split('<').nth(1).unwrap().split('>').next().unwrap();
    let token = url.rsplit('/').next().unwrap();
    assert!(token.len() > 8, "{url}");
    m.body_html(0).unwrap().replace(token, "TOKEN")
}

#[test]
fn a_test_copy_renders_as_the_members_copy_of_a_loop_around_columns() {
    // Reported: a three-column `{% for %}` loop went out as one full-width column in the
    // `--test-to` proof (`width:100%`) and as three thirds to members (`33.333332%`): only
    // the real send had checked the once-per-campaign render against a full one.
    let p = Project::example();
    p.edit(
        "templates/bulletin.mjml",
        "    <!-- Programme news -->",
        "    <mj-section>{% for i in range(3) %}<mj-column><mj-text>{{ first_name }} {{ i }}</mj-text></mj-column>{% endfor %}</mj-section>\n    <!-- Programme news -->",
    );
    let member = "sian.pritchard@example.org";
    let r = p.run(&[
        "send",
        "--campaign",
        "c",
        "--test-to",
        "chair@example.org",
        "--as",
        member,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let proof =
        html_without_token(&std::fs::read(p.path("outbox/c/test/chair@example.org.eml")).unwrap());
    let sent =
        html_without_token(&std::fs::read(p.path(&format!("outbox/c/{member}.eml"))).unwrap());
    assert!(sent.contains("width:33.33"), "members get three thirds");
    assert_eq!(proof, sent, "the proof is the member's copy");
}

/// Whether Python's html.parser reads `a` and `b` the same (tests/support/same_html.py).
fn same_to_a_parser(a: &str, b: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.html"), dir.path().join("b.html"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/support/same_html.py"))
        .args([&pa, &pb])
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!("{}", String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn html_on_the_wire_reads_the_same_to_an_html_parser_and_fits_7bit() {
    use mailshot::compose::render::wire_html;
    // The example bulletin as mrml writes it, placeholders and all.
    let root = repo().join("templates");
    let source = std::fs::read_to_string(root.join("bulletin.mjml")).unwrap();
    let opts = mrml::prelude::parser::ParserOptions {
        include_loader: Box::new(
            mrml::prelude::parser::local_loader::LocalIncludeLoader::new(
                root.canonicalize().unwrap(),
            ),
        ),
    };
    let bulletin = mrml::parse_with_options(&source, &opts)
        .unwrap()
        .element
        .render(&Default::default())
        .unwrap();
    assert!(
        bulletin.lines().any(|l| l.len() > 998),
        "mrml writes long lines"
    );
    // The cases a careless rewrite gets wrong.
    let tricky = "<!DOCTYPE html><html><head><title>Caf\u{e9} \u{2013} news</title>\
        <style type=\"text/css\">p::before { content: \"\u{2022}\"; }\n.a>b { color: red }</style></head>\
        <body><!--[if mso | IE]><table role=\"presentation\" width=\"600\"><tr><td>\u{e9}<![endif]-->\
        <p class='x' title=\"a > b\" data-x=\"it's\">Zo\u{eb}\u{a0}&amp; 1 < 2 <br/>x<img alt=\"\u{f1}\" src=\"https://e.org/caf\u{e9}\"/></p>\
        <!-- a comment with <b>tags</b> and \u{e9} --></p ><a\nhref=\"#\"\n>link</a></body></html>";
    for (name, html) in [("bulletin", bulletin.as_str()), ("tricky", tricky)] {
        let wire = wire_html(html, name == "bulletin");
        if let Err(diff) = same_to_a_parser(html, &wire) {
            panic!("{name}: {diff}\n{wire}");
        }
        let outside_style = wire.split("<style").next().unwrap();
        assert!(outside_style.is_ascii(), "{name}: {outside_style}");
        assert!(
            !wire.replace("\r\n", "").contains('\n'),
            "{name}: LF without CR"
        );
        let longest = wire.split("\r\n").map(str::len).max().unwrap();
        assert!(longest < 998, "{name}: a line of {longest} octets");
        assert_eq!(wire_html(&wire, false), wire, "{name}: twice is once");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, .. Default::default() })]

    /// The fills (text and slots copied, no template engine) give minijinja's bytes for any
    /// member values, markup, line breaks and non-ASCII included.
    #[test]
    fn filled_templates_equal_minijinja_for_any_values(
        first in "[a-zA-Z&<>\"' \r\n\u{a0}é☃{}%#|-]{0,12}",
        org in "[a-zA-Z&<>\"' \r\n\u{a0}é☃{}%#|-]{0,12}",
    ) {
        let fast = bulletin();
        // All but the unsubscribe URL, whose `urlencode` filter is minijinja's to apply.
        proptest::prop_assert_eq!(fast.fills(), 4);
        let mut engine = bulletin();
        engine.without_fills();
        let csv = format!(
            "email,first_name,last_name,organisation\nann@example.org,\"{}\",L,\"{}\"\n",
            first.replace('"', "\"\""),
            org.replace('"', "\"\""),
        );
        let (cols, rdr) = read_header(Path::new("t.csv"), csv.as_bytes()).unwrap();
        // Values the list refuses (a line break) never reach rendering.
        if let Some(Ok(m)) = mailshot::list::Rows::new(cols, rdr).next() {
            proptest::prop_assert_eq!(render(&fast, &m), render(&engine, &m));
        }
    }
}
