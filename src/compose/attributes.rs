//! The attributes MJML 4 defines on the tags the example templates use, from the MJML
//! documentation (mjml.io, each component's attribute table): mrml exposes no such list,
//! and drops an attribute it does not know without a word. `check` warns about the rest.
//! Tags not listed here (`mj-all`, `mj-class`, `mj-include`, ...) are not checked.

use std::sync::LazyLock;

use regex::Regex;

use crate::compose::lint::{Finding, Severity, distance};

const PADDING: &[&str] = &[
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
];
const BORDER: &[&str] = &[
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-radius",
];
const FONT: &[&str] = &[
    "color",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "line-height",
    "letter-spacing",
    "text-decoration",
    "text-transform",
];

/// Each checked tag: its own attributes, and whether it takes padding, borders and fonts.
const TAGS: &[(&str, &[&str], bool, bool, bool)] = &[
    (
        "mj-body",
        &["background-color", "width"],
        false,
        false,
        false,
    ),
    (
        "mj-section",
        &[
            "background-color",
            "background-position",
            "background-position-x",
            "background-position-y",
            "background-repeat",
            "background-size",
            "background-url",
            "direction",
            "full-width",
            "text-align",
        ],
        true,
        true,
        false,
    ),
    (
        "mj-column",
        &[
            "background-color",
            "inner-background-color",
            "inner-border",
            "inner-border-top",
            "inner-border-bottom",
            "inner-border-left",
            "inner-border-right",
            "inner-border-radius",
            "width",
            "vertical-align",
            "direction",
        ],
        true,
        true,
        false,
    ),
    (
        "mj-text",
        &["height", "align", "container-background-color"],
        true,
        false,
        true,
    ),
    (
        "mj-image",
        &[
            "align",
            "alt",
            "container-background-color",
            "fluid-on-mobile",
            "height",
            "href",
            "name",
            "rel",
            "sizes",
            "src",
            "srcset",
            "target",
            "title",
            "usemap",
            "width",
        ],
        true,
        true,
        false,
    ),
    (
        "mj-button",
        &[
            "align",
            "background-color",
            "container-background-color",
            "height",
            "href",
            "inner-padding",
            "name",
            "rel",
            "target",
            "text-align",
            "title",
            "vertical-align",
            "width",
        ],
        true,
        true,
        true,
    ),
    (
        "mj-divider",
        &[
            "align",
            "border-color",
            "border-style",
            "border-width",
            "container-background-color",
            "width",
        ],
        true,
        false,
        false,
    ),
    (
        "mj-spacer",
        &["container-background-color", "height"],
        true,
        false,
        false,
    ),
];

/// Every tag takes these.
const GLOBAL: &[&str] = &["mj-class", "css-class"];

static OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<(mj-[a-z-]+)\b([^>]*)>").expect("valid"));
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("[^"]*"|'[^']*')"#).expect("valid")
});

/// The attributes `tag` takes, or `None` when it is not checked.
fn known(tag: &str) -> Option<Vec<&'static str>> {
    let (_, own, padding, border, font) = TAGS.iter().find(|t| t.0 == tag)?;
    let mut all = own.to_vec();
    all.extend(GLOBAL);
    for (yes, more) in [(padding, PADDING), (border, BORDER), (font, FONT)] {
        if *yes {
            all.extend(more.iter().copied());
        }
    }
    Some(all)
}

/// A warning for each unknown attribute of a checked tag in `text`; `at` names a byte
/// offset's file and line.
pub fn lint(text: &str, at: &dyn Fn(usize) -> String) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in OPEN.captures_iter(text) {
        let Some(all) = known(&c[1]) else { continue };
        let attrs = c.get(2).expect("group 2");
        for a in ATTRIBUTE.captures_iter(attrs.as_str()) {
            let name = a.get(1).expect("group 1");
            if all.contains(&name.as_str()) {
                continue;
            }
            let hint = all
                .iter()
                .filter(|k| distance(name.as_str(), k) <= 2)
                .min_by_key(|k| distance(name.as_str(), k))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            out.push(Finding {
                severity: Severity::Warning,
                message: format!(
                    "{}: `<{}>` has no attribute `{}`{hint}; mrml ignores it",
                    at(attrs.start() + name.start()),
                    &c[1],
                    name.as_str()
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_attribute_is_named_with_a_suggestion_and_known_ones_pass() {
        let at = |pos: usize| format!("at {pos}");
        let text = "<mj-section bacground-color=\"#fff\" padding=\"0\" css-class=\"x\">\
                    <mj-button href=\"https://e.org/?a=b\" inner-padding=\"1px\">x</mj-button>\
                    <mj-all anything=\"1\" />";
        let found: Vec<String> = lint(text, &at).into_iter().map(|f| f.message).collect();
        assert_eq!(
            found,
            [
                "at 12: `<mj-section>` has no attribute `bacground-color` (did you mean `background-color`?); mrml ignores it"
            ]
        );
    }
}
