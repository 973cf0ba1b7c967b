//! `mailshot check`: what mailbox providers and the law want of a bulletin, checked before it
//! goes. `send` runs the same checks and refuses on an error.
//!
//! Source checks read the MJML (and every `mj-include`d file) and name file and line: unknown or
//! misspelt MJML tags (mrml passes them silently), images without alt text, `http://` links,
//! no unsubscribe link, an `mj-button` without `href`; warnings for links without a scheme
//! (in the Markdown issue too) and unknown MJML attributes ([`crate::compose::attributes`]);
//! MJML mrml does not render as mjml does (`mj-html-attributes`, an error; an HTML
//! `mj-include`, `border` on `mj-social-element`) and accordion or carousel icons left on
//! i.imgur.com (mjml's defaults, which SpamAssassin scores).
//! [`crate::compose::variables`] adds unused values and bare columns some members have
//! empty; [`crate::compose::images`] local images that are missing, not images, over 1 MB or
//! with no `[web] base_url` to be published at (carried in [`Preflight::images`]). Rendered checks look at one member's output: HTML of 100 KB or more
//! (Gmail clips it), no postal address near the end, an empty or overlong subject. Config checks:
//! a From domain that does not align with the DKIM domain, no DKIM for an SMTP transport.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::compose::campaign::{Campaign, Preflight, preflight};
use crate::compose::render::Rendered;
use crate::config::{Config, Transport};
use crate::error::{line_of, show};
use crate::list::MemberList;

/// Decoded HTML at or above this many bytes is an error: Gmail clips messages around 102 KB.
pub const MAX_HTML_BYTES: usize = 100 * 1024;
/// Subjects longer than this many characters are an error (inboxes show ~60-80).
pub const MAX_SUBJECT_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{s}: {}", self.message)
    }
}

/// Every tag MJML 4 defines.
const MJML_TAGS: &[&str] = &[
    "mjml",
    "mj-head",
    "mj-body",
    "mj-attributes",
    "mj-all",
    "mj-class",
    "mj-breakpoint",
    "mj-font",
    "mj-html-attributes",
    "mj-html-attribute",
    "mj-selector",
    "mj-preview",
    "mj-style",
    "mj-title",
    "mj-include",
    "mj-accordion",
    "mj-accordion-element",
    "mj-accordion-title",
    "mj-accordion-text",
    "mj-button",
    "mj-carousel",
    "mj-carousel-image",
    "mj-column",
    "mj-divider",
    "mj-group",
    "mj-hero",
    "mj-image",
    "mj-navbar",
    "mj-navbar-link",
    "mj-raw",
    "mj-section",
    "mj-social",
    "mj-social-element",
    "mj-spacer",
    "mj-table",
    "mj-text",
    "mj-wrapper",
];

static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"</?(mj[a-z0-9-]*)\b").expect("valid"));
static INCLUDE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<mj-include[^>]*\bpath\s*=\s*"([^"]+)""#).expect("valid"));
static IMAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<(mj-image|img)\b([^>]*)>").expect("valid"));
static ATTRIBUTES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<mj-attributes>.*?</mj-attributes>").expect("valid"));
static ALT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\balt\s*=\s*"\s*[^"\s]"#).expect("valid"));
static HTTP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(href|src|background|background-url)\s*=\s*"(http://[^"]*)""#).expect("valid")
});
static UNSUBSCRIBE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"href\s*=\s*"\{\{-?\s*unsubscribe_url\s*-?\}\}""#).expect("valid")
});
/// Any `href` value, quoted with `"`.
static HREF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\bhref\s*=\s*"([^"]*)""#).expect("valid"));
/// A URL's scheme (`https:`, `mailto:`), or a template expression that supplies one.
static SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|\{[{%]|#|$)").expect("valid"));
/// A Markdown link's destination (not an image's: `![alt](images/x.png)` may be a local file).
static MD_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^!\\])\[[^\]\[]*\]\(\s*<?([^)\s>]*)").expect("valid"));
static BUTTON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<mj-button\b([^>]*)>").expect("valid"));
static HAS_HREF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bhref\s*=").expect("valid"));
static HTML_ATTRIBUTES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<mj-html-attributes\b").expect("valid"));
static HTML_INCLUDE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<mj-include\b[^>]*\btype\s*=\s*["']html["']"#).expect("valid"));
/// A `border` attribute (not `border-radius`) on an `mj-social-element`.
static SOCIAL_BORDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<mj-social-element\b[^>]*?\s(border)\s*=\s*["']"#).expect("valid")
});
static FOOTNOTE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[\d+\]: ").expect("valid"));
/// Lines of text at the end of a message that count as its footer.
const FOOTER_LINES: usize = 12;
/// A UK postcode, a US ZIP code, or a European postcode before a town.
static POSTAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b|\b[A-Z]{2} \d{5}(-\d{4})?\b|\b\d{4,5} [A-Z][a-z]+")
        .expect("valid")
});

/// The template and its includes, each with its text.
fn sources(template: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![template.to_path_buf()];
    let root = template.parent().map(Path::to_path_buf).unwrap_or_default();
    while let Some(p) = todo.pop() {
        if out.iter().any(|(q, _)| *q == p) || out.len() > 50 {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        for c in INCLUDE.captures_iter(&text) {
            todo.push(root.join(c[1].trim_start_matches("file://")));
        }
        out.push((p, text));
    }
    out
}

/// The edit distance (Levenshtein) between `a` and `b`, in characters.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Everything `check` and `send` check: preflight's problems (errors), then the rules on the
/// rendering preflight found sound, and members that need SMTPUTF8; errors first.
pub fn findings(config: &Config, pre: &Preflight) -> Vec<Finding> {
    let mut out: Vec<Finding> = pre
        .problems
        .iter()
        .map(|p| Finding {
            severity: Severity::Error,
            message: p.clone(),
        })
        .collect();
    out.extend(pre.images.iter().cloned());
    // The rendered checks need a rendering that preflight found sound.
    let rendered = if pre.problems.is_empty() {
        pre.first.as_ref()
    } else {
        None
    };
    let template = pre.template.as_deref().unwrap_or(&config.template);
    out.extend(lint(config, template, rendered));
    if let Some(issue) = &pre.issue {
        lint_issue(issue, &mut out);
    }
    out.extend(variables(config, template, pre));
    out.extend(smtputf8(config, &pre.utf8_local));
    out.extend(unsendable(&pre.unsendable));
    if rendered.is_some() {
        out.extend(long_subjects(pre));
    }
    out.sort_by_key(|f| f.severity);
    out
}

/// What `mailshot check` prints for a prepared campaign: every member preflighted, then
/// [`findings`], with `sent_from_other_sources` (a campaign already sent from other sources:
/// the refusal `send` would give) first and the campaign's `warnings` last. Also run by
/// `mailshot preview` on every reload. `stop` is asked before each member: once it says
/// true the check ends with an error (the preview's check of a load a newer one replaced:
/// on a big list it would run on for nothing).
pub fn check_campaign(
    config: &Config,
    campaign: &Campaign,
    list: &MemberList,
    warnings: Vec<String>,
    sent_from_other_sources: Option<String>,
    stop: &dyn Fn() -> bool,
) -> crate::error::Result<(Preflight, Vec<Finding>)> {
    let pre = preflight(campaign, list, |_| match stop() {
        true => Err(crate::error::Error::runtime("the check was stopped")),
        false => Ok(true),
    })?;
    let mut found = findings(config, &pre);
    found.extend(crate::compose::edition::finding(
        campaign,
        &list.columns,
        &found,
    ));
    if let Some(message) = sent_from_other_sources {
        found.insert(
            0,
            Finding {
                severity: Severity::Error,
                message,
            },
        );
    }
    found.extend(warnings.into_iter().map(|message| Finding {
        severity: Severity::Warning,
        message,
    }));
    Ok((pre, found))
}

/// [`crate::compose::variables`]'s findings, over the template, its includes and the issue.
fn variables(config: &Config, template: &Path, pre: &Preflight) -> Vec<Finding> {
    let mut files = sources(template);
    let issue = pre.issue.as_deref().and_then(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        let vars = crate::compose::markdown::load(p).ok()?.vars;
        files.push((p.to_path_buf(), text));
        Some((p, vars))
    });
    let input = crate::compose::variables::Inputs {
        files: &files,
        subject: &pre.subject_template,
        issue: issue.as_ref().map(|(p, v)| (*p, v)),
        empty: &pre.empty,
    };
    crate::compose::variables::findings(config, &input)
}

/// A warning when members' addresses need SMTPUTF8 and the transport is SMTP.
fn smtputf8(config: &Config, (n, some): &(u64, Vec<String>)) -> Option<Finding> {
    let n = *n;
    if n == 0 || config.transport != Transport::Smtp {
        return None;
    }
    let more = if n > some.len() as u64 {
        format!(" and {} more", n - some.len() as u64)
    } else {
        String::new()
    };
    Some(Finding {
        severity: Severity::Warning,
        message: format!(
            "{n} member{} an address whose part before the `@` is not ASCII ({}{more}): {} SMTPUTF8 on the server, and fail{} without it",
            if n == 1 { " has" } else { "s have" },
            some.iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if n == 1 { "it needs" } else { "they need" },
            if n == 1 { "s" } else { "" },
        ),
    })
}

/// A warning naming the members no envelope can carry: each is recorded failed, with the
/// reason, and the others are sent.
fn unsendable((n, some): &(u64, Vec<String>)) -> Option<Finding> {
    let n = *n;
    if n == 0 {
        return None;
    }
    let more = match n > some.len() as u64 {
        true => format!("; and {} more", n - some.len() as u64),
        false => String::new(),
    };
    Some(Finding {
        severity: Severity::Warning,
        message: format!(
            "{n} member{} cannot be sent, and {} recorded `failed` with the reason while the others are sent: {}{more}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            some.join("; "),
        ),
    })
}

/// Checks the template source (`template`, with its includes), one member's rendering and the config.
pub fn lint(config: &Config, template: &Path, rendered: Option<&Rendered>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut has_unsubscribe = false;
    for (path, text) in &sources(template) {
        has_unsubscribe |= lint_source(path, text, &mut out);
    }
    if !has_unsubscribe {
        error(
            &mut out,
            format!(
                "template `{}`: no unsubscribe link in the body: add `<a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a>` to the footer",
                show(template)
            ),
        );
    }
    if let Some(r) = rendered {
        lint_rendered(&show(template), r, &mut out);
    }
    lint_dkim(config, &mut out);
    out
}

fn error(out: &mut Vec<Finding>, message: String) {
    out.push(Finding {
        severity: Severity::Error,
        message,
    });
}

/// One template file's tags, images and links; returns whether it has an unsubscribe link.
fn lint_source(path: &Path, text: &str, out: &mut Vec<Finding>) -> bool {
    let mut err = |message: String| error(out, message);
    let at = |pos: usize| format!("template `{}` line {}", show(path), line_of(text, pos));
    for c in TAG.captures_iter(text) {
        let tag = &c[1];
        if !MJML_TAGS.contains(&tag) {
            let m = c.get(1).expect("group 1");
            let best = MJML_TAGS
                .iter()
                .min_by_key(|t| distance(tag, t))
                .expect("non-empty");
            let hint = if distance(tag, best) <= 3 {
                format!(" (did you mean `<{best}>`?)")
            } else {
                String::new()
            };
            err(format!(
                "{}: unknown MJML tag `<{tag}>`{hint}; mrml would drop it silently",
                at(m.start())
            ));
        }
    }
    // `<mj-image>` inside `<mj-attributes>` sets defaults; it is not an image.
    let defaults: Vec<(usize, usize)> = ATTRIBUTES
        .find_iter(text)
        .map(|m| (m.start(), m.end()))
        .collect();
    for c in IMAGE.captures_iter(text) {
        let start = c.get(0).expect("match").start();
        if defaults.iter().any(|(a, b)| (*a..*b).contains(&start)) {
            continue;
        }
        if !ALT.is_match(&c[2]) {
            let m = c.get(0).expect("match");
            err(format!(
                "{}: `<{}>` has no alt text (Outlook blocks images by default)",
                at(m.start()),
                &c[1]
            ));
        }
    }
    for c in HTTP.captures_iter(text) {
        let m = c.get(2).expect("group 2");
        err(format!("{}: `{}` is not https", at(m.start()), &c[2]));
    }
    lint_links(text, &defaults, &at, out);
    out.extend(crate::compose::attributes::lint(text, &at));
    lint_unsupported(text, &at, out);
    UNSUBSCRIBE.is_match(text)
}

/// The MJML that mrml (our renderer) does not render as the official mjml does, and that
/// vendor/mrml does not patch (README "MJML support"): `mj-html-attributes` is refused, an HTML
/// `mj-include` and mjml 5's `border` on `mj-social-element` render differently or not at all.
/// (mjml 5's `gutter` on `mj-section` is an unknown attribute to [`crate::compose::attributes`].)
fn lint_unsupported(text: &str, at: &dyn Fn(usize) -> String, out: &mut Vec<Finding>) {
    for m in HTML_ATTRIBUTES.find_iter(text) {
        error(
            out,
            format!(
                "{}: `<mj-html-attributes>` is not supported by mrml, which refuses the template; add the attributes with `css-class` and an `<mj-style>`",
                at(m.start())
            ),
        );
    }
    let warn = |pos: usize, what: &str| Finding {
        severity: Severity::Warning,
        message: format!("{}: {what}", at(pos)),
    };
    for m in HTML_INCLUDE.find_iter(text) {
        out.push(warn(
            m.start(),
            "`<mj-include type=\"html\">` is not rendered as mjml renders it; put the HTML in an `<mj-raw>` in an MJML partial",
        ));
    }
    // mjml's (and mrml's) default icons are on i.imgur.com: SpamAssassin scores two or
    // more such images HOSTED_IMG_MULTI_PUB_01 (+1).
    for (tag, icons) in [
        ("<mj-accordion", ["icon-wrapped-url", "icon-unwrapped-url"]),
        ("<mj-carousel", ["left-icon", "right-icon"]),
    ] {
        let first = text
            .match_indices(tag)
            .find(|(i, _)| !text[i + tag.len()..].starts_with('-'));
        if let Some((at_tag, _)) = first
            && icons.iter().any(|icon| !text.contains(&format!("{icon}=")))
        {
            out.push(warn(
                at_tag,
                &format!(
                    "`{tag}>` uses mjml's default icons, hosted on i.imgur.com, which SpamAssassin scores (HOSTED_IMG_MULTI_PUB_01, +1): set `{}` and `{}` to images on your own site",
                    icons[0], icons[1]
                ),
            ));
        }
    }
    for c in SOCIAL_BORDER.captures_iter(text) {
        out.push(warn(
            c.get(1).expect("group 1").start(),
            "`border` on `<mj-social-element>` (mjml 5) is not supported by mrml: it is ignored",
        ));
    }
}

/// The Markdown issue's links without a scheme (a warning), naming the issue's line.
fn lint_issue(path: &Path, out: &mut Vec<Finding>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for c in MD_LINK.captures_iter(&text) {
        let m = c.get(1).expect("group 1");
        if !SCHEME.is_match(m.as_str()) {
            out.push(no_scheme(
                &format!("issue `{}` line {}", show(path), line_of(&text, m.start())),
                m.as_str(),
            ));
        }
    }
}

/// The warning for a link without a scheme at `at`. A path (`/events`) has no host to
/// suggest `https://` before.
fn no_scheme(at: &str, link: &str) -> Finding {
    let fix = match link.trim() {
        path if path.starts_with('/') || path.starts_with('.') => {
            "write the whole address, `https://` and host included".to_string()
        }
        host => format!("write `https://{host}`"),
    };
    Finding {
        severity: Severity::Warning,
        message: format!(
            "{at}: the link `{link}` has no scheme, so mail clients treat it as a relative path: {fix}"
        ),
    }
}

/// Links without a scheme (a warning) and `mj-button`s without `href` (an error), outside
/// `<mj-attributes>` (`defaults`). `at` names a byte offset's file and line.
fn lint_links(
    text: &str,
    defaults: &[(usize, usize)],
    at: &dyn Fn(usize) -> String,
    out: &mut Vec<Finding>,
) {
    for c in HREF.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        if !SCHEME.is_match(m.as_str()) {
            out.push(no_scheme(&at(m.start()), m.as_str()));
        }
    }
    for c in BUTTON.captures_iter(text) {
        let start = c.get(0).expect("match").start();
        let default = defaults.iter().any(|(a, b)| (*a..*b).contains(&start));
        if !default && !HAS_HREF.is_match(&c[1]) {
            error(
                out,
                format!(
                    "{}: `<mj-button>` has no `href`: it is a button that goes nowhere in every member's copy",
                    at(start)
                ),
            );
        }
    }
}

/// One member's rendering: the size of the HTML, the postal address in the footer, the subject.
fn lint_rendered(name: &str, r: &Rendered, out: &mut Vec<Finding>) {
    let mut err = |message: String| error(out, message);
    if r.html.len() >= MAX_HTML_BYTES {
        err(format!(
            "template `{name}`: the HTML is {} KB; Gmail clips messages over ~102 KB: keep it under {} KB",
            r.html.len() / 1024,
            MAX_HTML_BYTES / 1024
        ));
    }
    // The footer is the end of the text, before the link footnotes (`[1]: https://...`).
    let lines: Vec<&str> = r
        .text
        .lines()
        .filter(|l| !l.trim().is_empty() && !FOOTNOTE.is_match(l))
        .collect();
    let tail = lines[lines.len().saturating_sub(FOOTER_LINES)..].join("\n");
    if !POSTAL.is_match(&tail) {
        err(format!(
            "template `{name}`: no postal address in the footer (UK law wants the sender's postal address in every message)"
        ));
    }
}

/// Subjects over [`MAX_SUBJECT_CHARS`], counted over every member: an error when every
/// member's is (the template's subject is too long), else a warning naming the members whose
/// values make it so (their data, not the bulletin: they are sent, the chair told).
/// (An empty subject is already an error for the member who has it.)
fn long_subjects(pre: &Preflight) -> Option<Finding> {
    let (n, some) = &pre.long_subjects;
    let (severity, message) = match (*n, &pre.first) {
        (0, _) => return None,
        (n, Some(first)) if n == pre.members => (
            Severity::Error,
            format!(
                "the subject is {} characters long; keep it under {MAX_SUBJECT_CHARS} (inboxes show ~60-80)",
                first.subject.chars().count()
            ),
        ),
        (n, _) => {
            let more = match n > some.len() as u64 {
                true => format!(" and {} more", n - some.len() as u64),
                false => String::new(),
            };
            (
                Severity::Warning,
                format!(
                    "the subject is longer than {MAX_SUBJECT_CHARS} characters for {n} member{} (inboxes show ~60-80): {}{more}",
                    if n == 1 { "" } else { "s" },
                    some.join(", ")
                ),
            )
        }
    };
    Some(Finding { severity, message })
}

/// The From domain against the DKIM domain (DMARC alignment), or no DKIM at all.
fn lint_dkim(config: &Config, out: &mut Vec<Finding>) {
    let from_domain = config.from_domain().to_lowercase();
    match &config.dkim {
        Some(d) => {
            let d_domain = d.domain.to_lowercase();
            let aligned = from_domain == d_domain
                || from_domain.ends_with(&format!(".{d_domain}"))
                || d_domain.ends_with(&format!(".{from_domain}"));
            if !aligned {
                error(out, format!(
                    "config `{}`: the From domain `{from_domain}` does not align with the DKIM domain `{d_domain}`: DMARC will fail",
                    show(&config.path)
                ));
            }
        }
        None if config.transport == Transport::Smtp => out.push(Finding {
            severity: Severity::Warning,
            message: format!(
                "config `{}`: no [dkim] for an SMTP transport: Gmail, Yahoo and Outlook.com junk or reject unsigned bulk mail",
                show(&config.path)
            ),
        }),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_mrml_does_not_render_as_mjml_is_named_by_line() {
        let text = "<mjml>\n<mj-head><mj-html-attributes /></mj-head>\n<mj-body>\n\
                    <mj-include path=\"x.html\" type=\"html\" />\n\
                    <mj-social-element border-radius=\"3px\" name=\"x\" />\n\
                    <mj-social-element name=\"x\" border=\"1px solid red\" />\n\
                    <mj-accordion><mj-accordion-element /></mj-accordion>\n\
                    <mj-carousel left-icon=\"https://example.org/l.png\" right-icon=\"https://example.org/r.png\" />\n\
                    </mj-body></mjml>";
        let mut out = Vec::new();
        lint_unsupported(
            text,
            &|pos| format!("line {}", line_of(text, pos)),
            &mut out,
        );
        let found: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "error: line 2: `<mj-html-attributes>` is not supported by mrml, which refuses the template; add the attributes with `css-class` and an `<mj-style>`",
                "warning: line 4: `<mj-include type=\"html\">` is not rendered as mjml renders it; put the HTML in an `<mj-raw>` in an MJML partial",
                "warning: line 7: `<mj-accordion>` uses mjml's default icons, hosted on i.imgur.com, which SpamAssassin scores (HOSTED_IMG_MULTI_PUB_01, +1): set `icon-wrapped-url` and `icon-unwrapped-url` to images on your own site",
                "warning: line 6: `border` on `<mj-social-element>` (mjml 5) is not supported by mrml: it is ignored",
            ]
        );
    }

    #[test]
    fn misspelt_tags_get_a_suggestion() {
        assert_eq!(distance("mj-txt", "mj-text"), 1);
        let best = MJML_TAGS
            .iter()
            .min_by_key(|t| distance("mj-colum", t))
            .unwrap();
        assert_eq!(*best, "mj-column");
    }

    #[test]
    fn a_path_without_a_host_gets_no_made_up_address() {
        let f = no_scheme("here", "/events");
        assert_eq!(
            f.message,
            "here: the link `/events` has no scheme, so mail clients treat it as a relative path: write the whole address, `https://` and host included"
        );
        assert!(
            no_scheme("here", "www.x.org")
                .message
                .ends_with("write `https://www.x.org`")
        );
    }

    #[test]
    fn postal_addresses_are_recognised() {
        for a in [
            "12 Quayside Road, Northvale NV1 4AB",
            "London SW1A 1AA",
            "Springfield, IL 62704",
            "75001 Paris",
        ] {
            assert!(POSTAL.is_match(a), "{a}");
        }
        assert!(!POSTAL.is_match("Unsubscribe · Privacy notice"));
    }
}
