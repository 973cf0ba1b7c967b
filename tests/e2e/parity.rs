//! Parity with the official mjml: each fixture in tests/fixtures/parity rendered by mailshot
//! (its mrml, as `send` renders a member) and by the JavaScript mjml 5, both screenshotted
//! full-page in headless Chromium at 375 and 640 px. At most 1% of the pixels may differ and
//! the page heights may differ by at most 1%. A failure keeps both screenshots and a diff image
//! (differing pixels red) in a directory it names.

use std::collections::BTreeMap;
use std::path::Path;

use mailshot::compose::render::{Bulletin, Rendered};
use mailshot::list::{Rows, read_header};

use crate::support::repo;

/// The widths compared, px: a phone, and wider than the 600 px body.
const WIDTHS: [u32; 2] = [375, 640];
/// The share of pixels that may differ, and of page height.
const MAX_DIFF: f64 = 0.01;

/// What mailshot sends for `file`, for one member.
fn mailshot_render(file: &Path) -> Rendered {
    let b = Bulletin::compile(file, None, "https://example.org/u?t={{ token }}").unwrap();
    let csv = "email,first_name\nparity@example.org,Pat\n";
    let (cols, rows) = read_header(Path::new("parity.csv"), csv.as_bytes()).unwrap();
    let member = Rows::new(cols, rows).next().unwrap().unwrap();
    let ctx = b
        .context(&BTreeMap::new(), &member, "parity", &[("token", "T")])
        .unwrap();
    b.render(&ctx).unwrap()
}

/// Renders `tests/fixtures/parity/NAME.mjml` both ways and compares the screenshots.
fn parity(name: &str) {
    let file = repo().join(format!("tests/fixtures/parity/{name}.mjml"));
    let dir = tempfile::Builder::new()
        .prefix(&format!("parity-{name}-"))
        .tempdir()
        .unwrap();
    let (ours, theirs) = (
        dir.path().join("mailshot.html"),
        dir.path().join("mjml.html"),
    );
    std::fs::write(&ours, mailshot_render(&file).html).unwrap();
    std::fs::write(&theirs, crate::support::official_mjml(&file)).unwrap();
    let mut args: Vec<String> = [&ours, &theirs, &dir.path().to_path_buf()]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    args.extend(WIDTHS.map(|w| w.to_string()));
    let shots: Vec<serde_json::Value> =
        serde_json::from_value(crate::support::in_browser("parity.mjs", &args)).unwrap();
    assert_eq!(shots.len(), WIDTHS.len());
    let mut failures = Vec::new();
    for s in &shots {
        let n = |k: &str| s[k].as_f64().unwrap();
        let (h_ours, h_theirs) = (n("ours_height"), n("theirs_height"));
        let share = n("differing") / n("pixels");
        let heights = (h_ours - h_theirs).abs() / h_theirs;
        eprintln!(
            "{name} at {} px: {:.3}% of pixels differ, heights {h_ours} (mailshot) and {h_theirs} (mjml)",
            s["width"],
            share * 100.0
        );
        if share > MAX_DIFF || heights > MAX_DIFF {
            failures.push(format!(
                "at {} px {:.2}% of pixels differ, heights {h_ours} and {h_theirs} px",
                s["width"],
                share * 100.0
            ));
        }
    }
    if !failures.is_empty() {
        let kept = dir.keep();
        panic!(
            "`{name}.mjml` does not render as mjml does: {}; screenshots kept in {}",
            failures.join("; "),
            kept.display()
        );
    }
}

macro_rules! parity {
    ($($test:ident => $fixture:literal,)*) => {
        $(
            #[test]
            fn $test() {
                parity($fixture);
            }
        )*
    };
}

parity! {
    hero => "hero",
    navbar => "navbar",
    social => "social",
    table => "table",
    accordion => "accordion",
    accordion_font_family_over_mj_all => "accordion-font",
    columns_in_percent => "columns",
    columns_in_thirds => "thirds",
    unitless_zero_in_padding => "padding-zero",
    carousel => "carousel",
    group => "group",
    wrapper => "wrapper",
    include_of_a_body_partial => "include",
    include_of_a_whole_mjml_partial => "include-mjml",
    mj_attributes_and_mj_class => "attributes",
    mj_preview_stays_hidden => "preview",
    mj_raw => "raw",
    mj_style_inline_and_not => "style",
}

#[test]
fn navbar_links_are_separate_words_in_the_text_part() {
    // mrml 6.0.1 wrote the links back to back: "EventsProgrammeMembersContact".
    let text = mailshot_render(&repo().join("tests/fixtures/parity/navbar.mjml")).text;
    assert!(
        text.contains("[Events][1] [Programme][2] [Members][3] [Contact][4]\n"),
        "{text:?}"
    );
}
