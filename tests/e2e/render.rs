//! Rendering: golden files, the once-per-campaign shortcut proven equal to full renders,
//! hostile member values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mailshot::members::{MemberList, read_header};
use mailshot::render::{Bulletin, Mode, Rendered};

use crate::support::repo;

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

fn members_of(csv: &str) -> Vec<mailshot::members::Member> {
    let (cols, rdr) = read_header(Path::new("t.csv"), csv.as_bytes()).unwrap();
    mailshot::members::Rows::new(cols, rdr)
        .map(|r| r.unwrap())
        .collect()
}

fn example_members() -> Vec<mailshot::members::Member> {
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

fn render(b: &Bulletin, m: &mailshot::members::Member) -> Rendered {
    let ctx = b
        .context(&vars(), m, "2023-04", &[("token", "TOKEN")])
        .unwrap();
    b.render(&ctx).unwrap()
}

fn golden(name: &str, actual: &str) {
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
