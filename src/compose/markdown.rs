//! A month's issue written in Markdown (`issues/<campaign>.md`), made into MJML blocks for the
//! layout's `{{ content }}` slot.
//!
//! The file opens with TOML front matter between `+++` lines: `subject`, `preview` and a
//! `[vars]` table (campaign values such as `month`, over the config's `[vars]`). The body is
//! CommonMark + GFM (comrak; bare URLs autolinked, raw HTML dropped), turned into blocks:
//!
//! - each `##` heading starts its own `mj-section`; paragraphs, lists, links and emphasis go
//!   into `mj-text` as comrak writes them;
//! - a paragraph that is only an image becomes an `mj-image` (its alt text is required), only a
//!   linked image a linked `mj-image`, only a link titled `"button"` an `mj-button`;
//! - an image titled with a width (`![Signature](sig.png "160px")`) is that wide, on the left;
//! - `---` becomes an `mj-divider`;
//! - an image titled `"beside"` and the text after it (up to the next heading, image, button
//!   or divider) become two columns, image beside text, stacking on phones.
//!
//! Template code (`{{ first_name }}`, `{% if %}`, `{# #}`) is set aside before parsing and put
//! back unchanged afterwards, so Markdown never mangles it and the per-member render still
//! fills and escapes it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use comrak::nodes::{AstNode, NodeLink, NodeValue};
use comrak::{Arena, Options};
use regex::Regex;
use serde::Deserialize;

use crate::error::{Error, Result, line_of, show};

/// The slot in the layout where the issue's blocks go (on a line of its own).
pub const CONTENT_SLOT: &str = "{{ content }}";
/// The slot in the layout where the preview text goes.
pub const PREVIEW_SLOT: &str = "{{ preview }}";

/// A month's issue, read and made into MJML blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The subject (a template: may use variables); none: the layout's `<mj-title>`.
    pub subject: Option<String>,
    /// The preview text shown after the subject in an inbox; empty when not given.
    pub preview: String,
    /// Campaign values, over the config's `[vars]`.
    pub vars: BTreeMap<String, String>,
    /// The body as MJML `mj-section`s.
    pub mjml: String,
    /// For each line of `mjml`, the line of the Markdown file it comes from.
    pub lines: Vec<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    subject: Option<String>,
    preview: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

/// `issues/<campaign>.md` under `folder`, if it exists.
pub fn issue_path(folder: &Path, campaign: &str) -> Option<PathBuf> {
    let path = folder.join(format!("{campaign}.md"));
    path.is_file().then_some(path)
}

/// Reads the issue at `path`.
pub fn load(path: &Path) -> Result<Issue> {
    let name = show(path);
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(format!("failed to read issue `{name}`: {e}")))?;
    parse(&text).map_err(|e| Error::input(format!("issue `{name}`: {e}")))
}

/// The MJML of the layout with the issue in it: its blocks in the `{{ content }}` slot, its
/// preview text in `{{ preview }}` and its subject (if given) as `<mj-title>`. `layout` names
/// the layout in messages.
pub fn fill_layout(layout: &str, source: &str, issue: &Issue) -> Result<String> {
    if !source.lines().any(|l| l.trim() == CONTENT_SLOT) {
        return Err(Error::input(format!(
            "layout `{layout}` has no `{CONTENT_SLOT}` line: put it on a line of its own inside `<mj-body>`"
        )));
    }
    let mut out = String::with_capacity(source.len() + issue.mjml.len());
    for line in source.split_inclusive('\n') {
        if line.trim() == CONTENT_SLOT {
            out.push_str(&issue.mjml);
        } else {
            out.push_str(line);
        }
    }
    // One line, so the lines after it stay where `LineMap` says.
    let preview = issue.preview.replace(['\r', '\n'], " ");
    let mut out = out.replace(PREVIEW_SLOT, &escape_text(&preview));
    if let Some(subject) = &issue.subject
        && let Some(start) = out.find("<mj-title>").map(|s| s + "<mj-title>".len())
        && let Some(len) = out[start..].find("</mj-title>")
    {
        out.replace_range(start..start + len, &escape_text(subject));
    }
    Ok(out)
}

/// Where each line of the MJML [`fill_layout`] makes comes from: the layout's lines before
/// the slot, the issue's (by [`Issue::lines`]), the layout's after. Turns the template errors
/// that name a line of that MJML into ones naming the issue's line or the layout's.
#[derive(Debug, Clone)]
pub struct LineMap {
    layout: String,
    issue: String,
    /// Lines of the layout before the `{{ content }}` line.
    before: usize,
    lines: Vec<usize>,
    at: Regex,
}

impl LineMap {
    /// For `issue` (named `issue_name`) in the layout `source` (named `layout`).
    pub fn new(layout: &str, source: &str, issue_name: &str, issue: &Issue) -> LineMap {
        let before = source
            .lines()
            .position(|l| l.trim() == CONTENT_SLOT)
            .unwrap_or(0);
        let at = Regex::new(&format!(r"template `{}` line (\d+)", regex::escape(layout)))
            .expect("an escaped name is a valid regex");
        LineMap {
            layout: layout.to_string(),
            issue: issue_name.to_string(),
            before,
            lines: issue.lines.clone(),
            at,
        }
    }

    /// Where line `n` (1-based) of the filled layout comes from, as `issue `x` line N` or
    /// `template `layout` line N`.
    fn place(&self, n: usize) -> String {
        let len = self.lines.len();
        match n {
            n if n <= self.before => format!("template `{}` line {n}", self.layout),
            n if n <= self.before + len => {
                format!(
                    "issue `{}` line {}",
                    self.issue,
                    self.lines[n - self.before - 1]
                )
            }
            n => format!("template `{}` line {}", self.layout, n + 1 - len),
        }
    }

    /// `msg` with every `template `layout` line N` pointing at the file and line it means.
    pub fn relocate(&self, msg: &str) -> String {
        self.at
            .replace_all(msg, |c: &regex::Captures| match c[1].parse() {
                Ok(n) => self.place(n),
                Err(_) => c[0].to_string(),
            })
            .into_owned()
    }
}

/// Template code: `{{ ... }}`, `{% ... %}`, `{# ... #}` on one line.
static SPAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}").expect("valid regex"));

/// Text with its template code replaced by placeholders Markdown leaves alone (letters and
/// digits only), and the code to put back.
struct Protected {
    text: String,
    spans: Vec<String>,
}

fn placeholder(i: usize) -> String {
    format!("mshottpl{i}z")
}

impl Protected {
    fn new(text: &str) -> Protected {
        let mut spans = Vec::new();
        let text = SPAN
            .replace_all(text, |c: &regex::Captures| {
                spans.push(c[0].to_string());
                placeholder(spans.len() - 1)
            })
            .into_owned();
        Protected { text, spans }
    }

    /// `s` with the template code put back; `attr`: inside a double-quoted attribute, so
    /// its string literals are written with single quotes.
    fn restore(&self, s: &str, attr: bool) -> String {
        let mut out = s.to_string();
        // Highest first, so `mshottpl1z` never matches inside `mshottpl10z`'s place.
        for (i, span) in self.spans.iter().enumerate().rev() {
            let p = placeholder(i);
            if out.contains(&p) {
                let span = if attr {
                    span.replace('"', "'")
                } else {
                    span.clone()
                };
                out = out.replace(&p, &span);
            }
        }
        out
    }
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn escape_attr(s: &str) -> String {
    escape_text(s).replace('"', "&quot;")
}

fn options() -> Options<'static> {
    let mut o = Options::default();
    o.extension.front_matter_delimiter = Some("+++".to_string());
    o.extension.autolink = true;
    o.extension.strikethrough = true;
    o.extension.table = true;
    o
}

/// Parses an issue's text. Errors name the line (of the whole file).
pub fn parse(text: &str) -> std::result::Result<Issue, String> {
    let protected = Protected::new(text);
    let arena = Arena::new();
    let opts = options();
    let root = comrak::parse_document(&arena, &protected.text, &opts);
    let mut front = FrontMatter {
        subject: None,
        preview: None,
        vars: BTreeMap::new(),
    };
    if let Some(node) = root.first_child()
        && let NodeValue::FrontMatter(raw) = &node.data.borrow().value
    {
        front = front_matter(raw).map_err(|e| protected.restore(&e, false))?;
    } else if text.starts_with("+++") {
        return Err("line 1: the front matter has no closing `+++` line".into());
    }
    check_alt(root, &protected)?;
    let blocks = Converter::new(&arena, &opts, &protected).convert(root);
    let (blocks, lines) = unmark(&blocks);
    let restore = |s: String| protected.restore(&s, false);
    Ok(Issue {
        subject: front.subject.map(restore),
        preview: front.preview.map(restore).unwrap_or_default(),
        vars: front
            .vars
            .into_iter()
            .map(|(k, v)| (k, restore(v)))
            .collect(),
        mjml: protected.restore(&blocks, false),
        lines,
    })
}

/// The front matter (`+++` lines included, at the top of the file) as TOML.
fn front_matter(raw: &str) -> std::result::Result<FrontMatter, String> {
    let body = raw.split_once('\n').map_or("", |(_, rest)| rest);
    let body = body.trim_end().strip_suffix("+++").unwrap_or(body);
    let front: FrontMatter = toml::from_str(body).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            // The TOML starts on the file's second line.
            Some(s) => format!("line {}: front matter: {msg}", line_of(body, s.start) + 1),
            None => format!("front matter: {msg}"),
        }
    })?;
    for key in front.vars.keys() {
        if !crate::list::is_identifier(key) {
            return Err(format!(
                "front matter: vars: `{key}` is not a usable variable name (letters, digits and `_`)"
            ));
        }
    }
    Ok(front)
}

/// Every image must have alt text: the first without names its line.
fn check_alt<'a>(root: &'a AstNode<'a>, protected: &Protected) -> std::result::Result<(), String> {
    for node in root.descendants() {
        let data = node.data.borrow();
        if let NodeValue::Image(link) = &data.value
            && plain_text(node).trim().is_empty()
        {
            return Err(format!(
                "line {}: image `{}` has no alt text: write it as `![what the image shows]({})` (Outlook blocks images by default)",
                data.sourcepos.start.line,
                protected.restore(&link.url, false),
                protected.restore(&link.url, false),
            ));
        }
    }
    Ok(())
}

/// The text inside `node` (an image's alt text, a button's label).
fn plain_text<'a>(node: &'a AstNode<'a>) -> String {
    let mut out = String::new();
    for d in node.descendants() {
        match &d.data.borrow().value {
            NodeValue::Text(t) => out.push_str(t),
            NodeValue::Code(c) => out.push_str(&c.literal),
            NodeValue::SoftBreak | NodeValue::LineBreak => out.push(' '),
            _ => {}
        }
    }
    out
}

/// A block of a column.
enum Block {
    /// HTML for `mj-text`.
    Text(String),
    Image {
        link: NodeLink,
        alt: String,
        href: Option<String>,
    },
    Button {
        href: String,
        label: String,
    },
    Divider,
}

/// What a paragraph on its own is.
enum Special {
    Image {
        link: NodeLink,
        alt: String,
        href: Option<String>,
    },
    Button {
        href: String,
        label: String,
    },
}

/// The only child of `node` other than blank text, if it has exactly one.
fn only_child<'a>(node: &'a AstNode<'a>) -> Option<&'a AstNode<'a>> {
    let mut found = None;
    for c in node.children() {
        let blank = match &c.data.borrow().value {
            NodeValue::Text(t) => t.trim().is_empty(),
            NodeValue::SoftBreak | NodeValue::LineBreak => true,
            _ => false,
        };
        if blank {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(c);
    }
    found
}

/// A paragraph that is only an image, a linked image, or a button link.
fn special<'a>(para: &'a AstNode<'a>) -> Option<Special> {
    let child = only_child(para)?;
    let value = child.data.borrow().value.clone();
    match value {
        NodeValue::Image(link) => Some(Special::Image {
            alt: plain_text(child),
            link: *link,
            href: None,
        }),
        NodeValue::Link(outer) if outer.title == "button" => Some(Special::Button {
            href: outer.url,
            label: plain_text(child),
        }),
        NodeValue::Link(outer) => {
            let image = only_child(child)?;
            let NodeValue::Image(link) = image.data.borrow().value.clone() else {
                return None;
            };
            Some(Special::Image {
                alt: plain_text(image),
                link: *link,
                href: Some(outer.url),
            })
        }
        _ => None,
    }
}

/// A line marker: the Markdown line the text after it comes from, taken out by [`unmark`].
fn mark(line: usize) -> String {
    format!("mshotline{line}z")
}

static MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"mshotline(\d+)z").expect("valid regex"));

/// Takes the line markers out of `mjml`: the text, and for each of its lines the Markdown
/// line it comes from (a line without a marker: the line before's).
fn unmark(mjml: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(mjml.len());
    let mut lines = Vec::new();
    let mut current = 1;
    for line in mjml.split_inclusive('\n') {
        if let Some(c) = MARK.captures(line) {
            current = c[1].parse().unwrap_or(current);
        }
        lines.push(current);
        out.push_str(&MARK.replace_all(line, ""));
    }
    (out, lines)
}

/// Puts line markers into the paragraphs and headings under `node` (each at its start and
/// after each line break), so its HTML says which line each of its lines comes from.
fn mark_lines<'a>(arena: &'a Arena<'a>, node: &'a AstNode<'a>) {
    let text = |line: usize| arena.alloc(AstNode::from(NodeValue::Text(mark(line).into())));
    let blocks: Vec<_> = node
        .descendants()
        .filter(|d| {
            matches!(
                d.data.borrow().value,
                NodeValue::Paragraph | NodeValue::Heading(_)
            )
        })
        .collect();
    for block in blocks {
        let start = block.data.borrow().sourcepos.start.line;
        let breaks: Vec<_> = block
            .children()
            .filter(|c| {
                matches!(
                    c.data.borrow().value,
                    NodeValue::SoftBreak | NodeValue::LineBreak
                )
            })
            .collect();
        for (k, b) in breaks.into_iter().enumerate() {
            b.insert_after(text(start + k + 1));
        }
        block.prepend(text(start));
    }
}

/// Turns the document into `mj-section`s.
struct Converter<'o, 'a> {
    arena: &'a Arena<'a>,
    opts: &'o Options<'static>,
    protected: &'o Protected,
    out: String,
    /// The open column's blocks (an `mj-section` of one column), each with its line.
    column: Vec<(Block, usize)>,
    /// The line of the node being converted.
    line: usize,
    /// The line `text` starts on.
    text_line: usize,
    /// Text not yet closed into an `mj-text`.
    text: String,
}

impl<'o, 'a> Converter<'o, 'a> {
    fn new(arena: &'a Arena<'a>, opts: &'o Options<'static>, protected: &'o Protected) -> Self {
        Converter {
            arena,
            line: 1,
            text_line: 1,
            opts,
            protected,
            out: String::new(),
            column: Vec::new(),
            text: String::new(),
        }
    }

    fn convert(mut self, root: &'a AstNode<'a>) -> String {
        let nodes: Vec<&'a AstNode<'a>> = root.children().collect();
        let mut i = 0;
        while i < nodes.len() {
            let node = nodes[i];
            i += 1;
            self.line = node.data.borrow().sourcepos.start.line;
            let value = node.data.borrow().value.clone();
            match value {
                NodeValue::FrontMatter(_) => {}
                NodeValue::Heading(h) if h.level == 2 => {
                    self.close_section();
                    self.push_html(node);
                }
                NodeValue::ThematicBreak => self.push(Block::Divider),
                NodeValue::Paragraph => match special(node) {
                    Some(Special::Image { link, alt, href }) if link.title == "beside" => {
                        let start = i;
                        while i < nodes.len() && is_plain_text(nodes[i]) {
                            i += 1;
                        }
                        self.beside(&link, &alt, href.as_deref(), &nodes[start..i]);
                    }
                    Some(Special::Image { link, alt, href }) => {
                        self.push(Block::Image { link, alt, href })
                    }
                    Some(Special::Button { href, label }) => {
                        self.push(Block::Button { href, label })
                    }
                    None => self.push_html(node),
                },
                _ => self.push_html(node),
            }
        }
        self.close_section();
        self.out
    }

    fn html(&self, node: &'a AstNode<'a>) -> String {
        mark_lines(self.arena, node);
        let mut html = String::new();
        comrak::format_html(node, self.opts, &mut html).expect("writing to a String");
        // Raw HTML is dropped (a placeholder comment from `mailshot new`, say); comrak leaves
        // a comment saying so, which has no business in a member's message.
        html.replace("<!-- raw HTML omitted -->\n", "")
            .replace("<!-- raw HTML omitted -->", "")
    }

    fn push_html(&mut self, node: &'a AstNode<'a>) {
        let html = self.html(node);
        if self.text.is_empty() {
            self.text_line = self.line;
        }
        self.text.push_str(&html);
    }

    fn push(&mut self, block: Block) {
        self.close_text();
        self.column.push((block, self.line));
    }

    fn close_text(&mut self) {
        if !self.text.trim().is_empty() {
            let text = Block::Text(std::mem::take(&mut self.text));
            self.column.push((text, self.text_line));
        }
        self.text.clear();
    }

    fn close_section(&mut self) {
        self.close_text();
        if self.column.is_empty() {
            return;
        }
        let _ = write!(
            self.out,
            "{}<mj-section>\n<mj-column>\n",
            mark(self.column[0].1)
        );
        for (block, line) in std::mem::take(&mut self.column) {
            let mjml = self.block(&block, "8px 24px");
            if !matches!(block, Block::Text(_)) {
                self.out.push_str(&mark(line));
            }
            self.out.push_str(&mjml);
        }
        self.out.push_str("</mj-column>\n</mj-section>\n");
    }

    fn attr(&self, s: &str) -> String {
        self.protected.restore(&escape_attr(s), true)
    }

    fn block(&self, block: &Block, image_padding: &str) -> String {
        match block {
            Block::Text(html) => format!("<mj-text>\n{html}</mj-text>\n"),
            Block::Divider => "<mj-divider />\n".to_string(),
            Block::Button { href, label } => format!(
                "<mj-button href=\"{}\">{}</mj-button>\n",
                self.attr(href),
                escape_text(label.trim())
            ),
            Block::Image { link, alt, href } => {
                let mut s = format!(
                    "<mj-image src=\"{}\" alt=\"{}\"",
                    self.attr(&link.url),
                    self.attr(alt.trim())
                );
                if let Some(h) = href {
                    let _ = write!(s, " href=\"{}\"", self.attr(h));
                }
                if let Some(width) = pixel_width(&link.title) {
                    let _ = write!(s, " width=\"{width}\" align=\"left\"");
                }
                let _ = writeln!(s, " padding=\"{image_padding}\" />");
                s
            }
        }
    }

    /// The image in a third, the text after it in two thirds: two columns that stack on a
    /// phone. Closes the open section first: columns cannot nest.
    fn beside(&mut self, link: &NodeLink, alt: &str, href: Option<&str>, text: &[&'a AstNode<'a>]) {
        self.close_section();
        let image = Block::Image {
            link: link.clone(),
            alt: alt.to_string(),
            href: href.map(str::to_string),
        };
        let html: String = text.iter().map(|n| self.html(n)).collect();
        let _ = write!(
            self.out,
            "{}<mj-section padding=\"0 0 8px\">\n<mj-column width=\"33%\" vertical-align=\"top\">\n{}</mj-column>\n<mj-column width=\"67%\" vertical-align=\"top\">\n{}</mj-column>\n</mj-section>\n",
            mark(self.line),
            self.block(&image, "8px 24px"),
            self.block(&Block::Text(html), "")
        );
    }
}

/// An image's title that is a width in pixels (`"160px"`): the image that wide, on the left.
fn pixel_width(title: &str) -> Option<&str> {
    let digits = title.strip_suffix("px")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(title)
}

/// A block that goes into `mj-text` (not a heading that starts a section, an image, a button
/// or a divider): what an image `"beside"` takes as its text.
fn is_plain_text<'a>(node: &'a AstNode<'a>) -> bool {
    match &node.data.borrow().value {
        NodeValue::Paragraph => special(node).is_none(),
        NodeValue::List(_) | NodeValue::BlockQuote => true,
        NodeValue::Heading(h) => h.level > 2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mjml(md: &str) -> String {
        parse(md).unwrap().mjml
    }

    #[test]
    fn each_level_two_heading_starts_a_section() {
        let out = mjml("Hello.\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n");
        assert_eq!(out.matches("<mj-section>").count(), 3, "{out}");
        let one = out.find("<h2>One</h2>").unwrap();
        let two = out.find("<h2>Two</h2>").unwrap();
        let between = &out[one..two];
        assert!(
            between.contains("<p>First.</p>") && between.contains("</mj-section>\n<mj-section>")
        );
        assert!(out[two..].contains("<p>Second.</p>\n</mj-text>"));
    }

    #[test]
    fn a_standalone_image_is_an_mj_image_with_its_alt() {
        let out = mjml("## A\n\n![Delegates & guests](https://example.org/p.jpg)\n");
        assert!(
            out.contains(
                "<mj-image src=\"https://example.org/p.jpg\" alt=\"Delegates &amp; guests\" padding=\"8px 24px\" />"
            ),
            "{out}"
        );
        assert!(!out.contains("<img"), "{out}");
    }

    #[test]
    fn an_image_titled_with_a_width_is_that_wide_on_the_left() {
        let out = mjml("![Signature](https://example.org/s.png \"160px\")\n");
        assert!(
            out.contains("alt=\"Signature\" width=\"160px\" align=\"left\" padding="),
            "{out}"
        );
        // Any other title is no width.
        let out = mjml("![Signature](https://example.org/s.png \"wide\")\n");
        assert!(!out.contains("width"), "{out}");
    }

    #[test]
    fn a_linked_image_is_a_linked_mj_image() {
        let out = mjml("[![Banner](https://example.org/b.png)](https://example.org/e)\n");
        assert!(
            out.contains("<mj-image src=\"https://example.org/b.png\" alt=\"Banner\" href=\"https://example.org/e\""),
            "{out}"
        );
    }

    #[test]
    fn an_image_without_alt_is_an_error_naming_its_line() {
        let e =
            parse("+++\nsubject = \"S\"\n+++\n\n## A\n\nText.\n\n![](https://example.org/x.png)\n")
                .unwrap_err();
        assert!(
            e.starts_with("line 9: image `https://example.org/x.png` has no alt text"),
            "{e}"
        );
        // Inline, too.
        let e = parse("Text ![ ](a.png) more.\n").unwrap_err();
        assert!(
            e.starts_with("line 1: image `a.png` has no alt text"),
            "{e}"
        );
    }

    #[test]
    fn a_link_titled_button_is_an_mj_button() {
        let out = mjml("[Book your place](https://example.org/book \"button\")\n");
        assert!(
            out.contains(
                "<mj-button href=\"https://example.org/book\">Book your place</mj-button>"
            ),
            "{out}"
        );
        // Any other link stays a link in the text.
        let out = mjml("[Book](https://example.org/book \"Booking\")\n");
        assert!(
            out.contains(
                "<mj-text>\n<p><a href=\"https://example.org/book\" title=\"Booking\">Book</a></p>"
            ),
            "{out}"
        );
    }

    #[test]
    fn every_line_of_the_mjml_knows_its_markdown_line() {
        let md = "+++\nsubject = \"S\"\n+++\n\nDear {{ x }},\nwelcome.\n\n## News\n\n- one\n- two\n\n---\n\n![Photo](p.png)\n";
        let issue = parse(md).unwrap();
        let line_of = |needle: &str| {
            let i = issue
                .mjml
                .lines()
                .position(|l| l.contains(needle))
                .expect(needle);
            issue.lines[i]
        };
        assert_eq!(issue.mjml.lines().count(), issue.lines.len());
        assert!(!issue.mjml.contains("mshotline"), "{}", issue.mjml);
        assert_eq!(line_of("Dear {{ x }},"), 5);
        assert_eq!(line_of("welcome."), 6);
        assert_eq!(line_of("<h2>News</h2>"), 8);
        assert_eq!(line_of("<li>one</li>"), 10);
        assert_eq!(line_of("<li>two</li>"), 11);
        assert_eq!(line_of("<mj-divider />"), 13);
        assert_eq!(line_of("<mj-image src=\"p.png\""), 15);
    }

    #[test]
    fn errors_in_the_filled_layout_name_the_issue_or_the_layout_line() {
        let issue = parse("Hello.\n\n## News\n\n{{ frist_name }}\n").unwrap();
        let layout =
            "<mjml>\n<mj-body>\n{{ content }}\n<mj-text>{{ x }}</mj-text>\n</mj-body>\n</mjml>\n";
        let filled = fill_layout("l.mjml", layout, &issue).unwrap();
        let map = LineMap::new("l.mjml", layout, "issues/x.md", &issue);
        let line_of = |needle: &str| filled.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let at = |needle: &str| {
            map.relocate(&format!("template `l.mjml` line {}: boom", line_of(needle)))
        };
        assert_eq!(at("<mj-body>"), "template `l.mjml` line 2: boom");
        assert_eq!(at("frist_name"), "issue `issues/x.md` line 5: boom");
        assert_eq!(at("{{ x }}"), "template `l.mjml` line 4: boom");
        assert_eq!(at("</mjml>"), "template `l.mjml` line 6: boom");
        assert_eq!(
            map.relocate("template `other.mjml` line 3"),
            "template `other.mjml` line 3"
        );
    }

    #[test]
    fn a_thematic_break_is_a_divider() {
        let out = mjml("One.\n\n---\n\nTwo.\n");
        assert_eq!(
            out,
            "<mj-section>\n<mj-column>\n<mj-text>\n<p>One.</p>\n</mj-text>\n<mj-divider />\n<mj-text>\n<p>Two.</p>\n</mj-text>\n</mj-column>\n</mj-section>\n"
        );
    }

    #[test]
    fn an_image_beside_text_makes_two_columns() {
        let out = mjml(
            "## Spotlight\n\n![Logo](https://example.org/l.png \"beside\")\n\nFirst.\n\nSecond.\n\n---\n",
        );
        let beside = out.find("<mj-section padding=\"0 0 8px\">").expect(&out);
        let section = &out[beside..];
        let end = section.find("</mj-section>").unwrap();
        let section = &section[..end];
        assert!(section.contains("<mj-column width=\"33%\" vertical-align=\"top\">\n<mj-image src=\"https://example.org/l.png\" alt=\"Logo\""), "{out}");
        assert!(section.contains("<mj-column width=\"67%\" vertical-align=\"top\">\n<mj-text>\n<p>First.</p>\n<p>Second.</p>\n</mj-text>"), "{out}");
        // The heading before it is its own section, the divider after it another.
        assert!(out[..beside].contains("<h2>Spotlight</h2>"));
        assert!(out[beside..].contains("<mj-divider />"));
    }

    #[test]
    fn lists_links_emphasis_and_bare_urls_are_html_in_mj_text() {
        let out = mjml(
            "Some *emphasis*, **strong** and [a link](https://example.org/a).\n\n- one\n- two\n\n1. first\n\nSee https://example.org/b today.\n",
        );
        for want in [
            "<em>emphasis</em>",
            "<strong>strong</strong>",
            "<a href=\"https://example.org/a\">a link</a>",
            "<ul>\n<li>one</li>\n<li>two</li>\n</ul>",
            "<ol>\n<li>first</li>\n</ol>",
            "<a href=\"https://example.org/b\">https://example.org/b</a>",
        ] {
            assert!(out.contains(want), "{want} not in {out}");
        }
        assert_eq!(out.matches("<mj-text>").count(), 1, "{out}");
    }

    #[test]
    fn raw_html_is_not_passed_through() {
        let out = mjml("Hello <script>alert(1)</script> there.\n\n<div>block</div>\n");
        assert!(!out.contains("<script>") && !out.contains("<div>"), "{out}");
        // Not even comrak's note that it dropped them (`mailshot new`'s placeholders are
        // HTML comments).
        assert!(!out.contains("omitted"), "{out}");
        let out = mjml("Text.\n\n<!-- write the Events section here -->\n");
        assert!(
            !out.contains("<!--") && out.contains("<p>Text.</p>"),
            "{out}"
        );
    }

    #[test]
    fn template_code_reaches_the_mjml_unchanged_quotes_and_all() {
        let md = "Dear {{ first_name or \"colleague\" }},\n\n{% if organisation %}For *{{ organisation }}*.{% endif %}\n\n[Archive](https://example.org/bulletins/{{ campaign }})\n\n![Signature of {{ chair_name }}](https://example.org/s.png)\n";
        let out = mjml(md);
        assert!(
            out.contains("<p>Dear {{ first_name or \"colleague\" }},</p>"),
            "{out}"
        );
        assert!(
            out.contains("<p>{% if organisation %}For <em>{{ organisation }}</em>.{% endif %}</p>"),
            "{out}"
        );
        assert!(
            out.contains("<a href=\"https://example.org/bulletins/{{ campaign }}\">Archive</a>"),
            "{out}"
        );
        assert!(
            out.contains("alt=\"Signature of {{ chair_name }}\""),
            "{out}"
        );
        // Inside an attribute, a string literal takes single quotes.
        let out = mjml("![Photo of {{ name or \"us\" }}](p.png)\n");
        assert!(out.contains("alt=\"Photo of {{ name or 'us' }}\""), "{out}");
    }

    #[test]
    fn front_matter_gives_subject_preview_and_vars() {
        let issue = parse(
            "+++\nsubject = \"Cluster News – {{ month }}\"\npreview = \"Awards & more\"\n\n[vars]\nmonth = \"May 2023\"\n+++\n\nHello.\n",
        )
        .unwrap();
        assert_eq!(issue.subject.as_deref(), Some("Cluster News – {{ month }}"));
        assert_eq!(issue.preview, "Awards & more");
        assert_eq!(issue.vars["month"], "May 2023");
        assert!(issue.mjml.contains("<p>Hello.</p>") && !issue.mjml.contains("subject"));
        let none = parse("Hello.\n").unwrap();
        assert_eq!((none.subject, none.preview.as_str()), (None, ""));
    }

    #[test]
    fn a_front_matter_error_names_its_line_in_the_file() {
        let e = parse("+++\nsubject = \"S\"\npreview = \"P\"\nmonth = \"May\"\n+++\n\nHello.\n")
            .unwrap_err();
        assert!(
            e.starts_with("line 4: front matter: unknown field `month`"),
            "{e}"
        );
        let e = parse("+++\nsubject = \"S\n+++\n\nHello.\n").unwrap_err();
        assert!(e.starts_with("line 2: front matter:"), "{e}");
        let e = parse("+++\n[vars]\n\"bad key\" = \"x\"\n+++\n").unwrap_err();
        assert!(e.contains("`bad key` is not a usable variable name"), "{e}");
    }

    #[test]
    fn the_layout_takes_content_preview_and_subject() {
        let issue =
            parse("+++\nsubject = \"May & more\"\npreview = \"<News>\"\n+++\n\nHello.\n").unwrap();
        let layout = "<mjml><mj-head><mj-title>Old</mj-title></mj-head><mj-body>\n<mj-raw><div>{{ preview }}</div></mj-raw>\n  {{ content }}\n</mj-body></mjml>\n";
        let out = fill_layout("l.mjml", layout, &issue).unwrap();
        assert!(out.contains("<mj-title>May &amp; more</mj-title>"), "{out}");
        assert!(out.contains("<div>&lt;News&gt;</div>"), "{out}");
        assert!(
            out.contains("<mj-body>\n<mj-raw>") && out.contains("<p>Hello.</p>"),
            "{out}"
        );
        let e = fill_layout("l.mjml", "<mjml><mj-body></mj-body></mjml>", &issue).unwrap_err();
        assert!(
            e.to_string()
                .contains("layout `l.mjml` has no `{{ content }}` line"),
            "{e}"
        );
    }
}
