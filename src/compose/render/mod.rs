//! Rendering: the MJML bulletin becomes, per member, a subject, an HTML body and a text body.
//!
//! minijinja fills the variables and mrml turns MJML into HTML. mrml passes `{{ }}`/`{% %}`
//! through untouched in text and attributes, so the MJML is rendered **once per campaign**
//! into an HTML template (and its text part into a text template), and only the variables are
//! filled in per member: ~1000x cheaper than a full render. Where that shortcut would not give
//! the same bytes as rendering the MJML per member (see `../shared/NOTES.md` for the traps),
//! [`Bulletin::verify`] finds out on real members and the campaign falls back to full renders.
//! A pre-rendered template that is only text and `{{ name }}` slots (the usual case) is filled
//! by copying (`crate::compose::render::fill`), without minijinja's VM: the same bytes, ~2.2x faster.
//!
//! Member data is untrusted: every value is HTML-escaped in the HTML (the `.mjml` templates are
//! escaped although minijinja would only do so for `.html` by default), and a misspelt
//! variable is an error naming the template line.

pub(crate) mod fill;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use mrml::prelude::parser::loader::{IncludeLoader, IncludeLoaderError};
use mrml::prelude::parser::{Origin, ParserOptions};
use mrml::prelude::render::RenderOptions;

use crate::compose::render::fill::{Escape, Fill};
use crate::error::{Error, Result, line_of, show};

/// The pre-rendered HTML, values escaped as minijinja does (`& < > " '`): equal to a full
/// render when mrml passes text through untouched.
const HTML: &str = "(pre-rendered html).html";
/// The same, values escaped as css-inline re-serializes a page (text: `& < >` and no-break
/// space; attributes: `& "` and no-break space): equal to a full render when the template has
/// `mj-style inline="inline"`, which makes mrml re-serialize the whole page.
const HTML_CONTEXT: &str = "(pre-rendered html, escaped by context).html";
const TEXT: &str = "(pre-rendered text).txt";
const SUBJECT: &str = "(subject).txt";
const UNSUBSCRIBE: &str = "(unsubscribe_url).txt";

/// One member's rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// How the HTML is produced per member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Variables filled into HTML pre-rendered once per campaign.
    Precompiled,
    /// MJML rendered per member (the fallback).
    Full,
}

/// A campaign's compiled bulletin.
pub struct Bulletin {
    env: Arc<Environment<'static>>,
    name: String,
    root: PathBuf,
    mode: Mode,
    /// Which pre-rendered HTML template the shortcut uses.
    html: &'static str,
    text_precompiled: bool,
    /// The fixed templates (subject, unsubscribe URL, pre-rendered HTML and text) that are
    /// only text and `{{ name }}` slots, filled without minijinja's VM.
    fills: Vec<(&'static str, Fill)>,
    /// The variables the fills read; a member's values are looked up once, in this order.
    slot_names: Vec<String>,
    /// Off: every template through minijinja (for comparisons).
    use_fills: bool,
    /// Warnings from mrml, each naming file and line.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Bulletin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bulletin")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Escapes for HTML text and quoted attributes; unlike minijinja's default it leaves `/`
/// alone, so URLs stay readable.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    if value.is_undefined() {
        // Strict mode raises before we get here; kept for completeness.
        return Ok(());
    }
    if *state.auto_escape() == AutoEscape::None || value.is_safe() {
        return write!(out, "{value}").map_err(minijinja::Error::from);
    }
    escape_html(&value.to_string(), out).map_err(minijinja::Error::from)
}

/// minijinja's HTML escaping (`& < > " '`), written as [`wire_html`] writes the rest.
pub(crate) fn escape_html(s: &str, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    let mut last = 0;
    let mut prev = 0u8;
    for (i, b) in s.bytes().enumerate() {
        if i < last {
            // The rest of a character already written as a reference.
            continue;
        }
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            b'\n' if prev != b'\r' => "\r\n",
            _ if b >= 0x80 => "",
            _ => {
                prev = b;
                continue;
            }
        };
        prev = b;
        out.write_str(&s[last..i])?;
        last = i + 1;
        if rep.is_empty() {
            // The first byte of a character beyond ASCII: a numeric reference for all of it.
            if let Some(c) = s[i..].chars().next() {
                write!(out, "&#{};", c as u32)?;
                last = i + c.len_utf8();
            }
            continue;
        }
        out.write_str(rep)?;
    }
    out.write_str(&s[last..])
}

/// Escapes like css-inline's serializer does in text nodes.
/// Like every escaper here it also writes what [`wire_html`] would: characters beyond ASCII as
/// numeric references and line ends as CRLF.
pub(crate) fn escape_text(s: &str, out: &mut String) {
    escape_with(s, out, &[('&', "&amp;"), ('<', "&lt;"), ('>', "&gt;")]);
}

/// Escapes like css-inline's serializer does in attribute values.
pub(crate) fn escape_attr(s: &str, out: &mut String) {
    escape_with(s, out, &[('&', "&amp;"), ('"', "&quot;")]);
}

/// Writes `s` with each of `special` as its entity and the rest as [`push_wire`] does; a
/// value with none of them, nothing beyond ASCII and no line feed (most) is copied whole.
fn escape_with(s: &str, out: &mut String, special: &[(char, &str)]) {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii() && b != b'\n' && special.iter().all(|&(c, _)| c as u32 != b as u32));
    if plain {
        out.push_str(s);
        return;
    }
    let mut prev = '\0';
    for c in s.chars() {
        match special.iter().find(|(x, _)| *x == c) {
            Some((_, entity)) => out.push_str(entity),
            None => push_wire(c, prev, out),
        }
        prev = c;
    }
}

/// Pushes `c` as [`wire_html`] writes it outside `<style>`, `<script>` and tag names: the
/// no-break space as `&nbsp;` (as css-inline writes it), anything else beyond ASCII as a
/// numeric reference, LF as CRLF.
fn push_wire(c: char, prev: char, out: &mut String) {
    match c {
        '\u{a0}' => out.push_str("&nbsp;"),
        '\n' if prev != '\r' => out.push_str("\r\n"),
        c if !c.is_ascii() => {
            let _ = write!(out, "&#{};", c as u32);
        }
        c => out.push(c),
    }
}

fn escaping_filter(
    escape: fn(&str, &mut String),
) -> impl Fn(Value) -> Value + Send + Sync + 'static {
    move |v: Value| {
        if v.is_safe() || v.is_undefined() || v.is_none() {
            return v;
        }
        let s = v.to_string();
        let mut out = String::with_capacity(s.len() + 8);
        escape(&s, &mut out);
        Value::from_safe_string(out)
    }
}

const TEXT_FILTER: &str = "__mailshot_text";
const ATTR_FILTER: &str = "__mailshot_attr";

/// Where [`walk`] stands in the HTML.
#[derive(Clone, Copy, PartialEq)]
enum St {
    Text,
    /// `<name` of a start or end tag.
    TagName,
    /// Between a tag's name and its `>`, outside quotes.
    Tag,
    Dq,
    Sq,
    Comment,
    /// Inside `<style>` or `<script>`.
    Raw,
}

/// One piece of HTML as [`walk`] hands it on.
enum Piece<'a> {
    /// `{{ ... }}`, whole (template syntax only).
    Expr(&'a str),
    /// `{% ... %}` or `{# ... #}`, whole (template syntax only).
    Block(&'a str),
    /// The `-->` that ends a comment.
    CommentEnd,
    Char(char),
}

/// Walks `html` as an HTML tokenizer would, just far enough to tell text, tags, quoted
/// attribute values, comments and `<style>`/`<script>` apart, and calls `f` with each piece and
/// the state it stands in. With `template`, minijinja syntax is handed on whole. `None` when
/// template syntax is unterminated.
fn walk<'a>(html: &'a str, template: bool, mut f: impl FnMut(St, Piece<'a>)) -> Option<()> {
    let mut st = St::Text;
    let mut raw_end = "";
    let mut tag_is_raw = false;
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if template && rest.starts_with('{') {
            if rest.starts_with("{{") {
                let end = rest.find("}}")? + 2;
                f(st, Piece::Expr(&rest[..end]));
                i += end;
                continue;
            }
            if rest.starts_with("{%") || rest.starts_with("{#") {
                let close = if rest.starts_with("{%") { "%}" } else { "#}" };
                let end = rest.find(close)? + 2;
                f(st, Piece::Block(&rest[..end]));
                i += end;
                continue;
            }
        }
        let c = rest.chars().next()?;
        let at = st;
        match st {
            St::Text => {
                if rest.starts_with("<!--") {
                    st = St::Comment;
                } else if c == '<'
                    && rest[1..].starts_with(|n: char| n.is_ascii_alphabetic() || n == '/')
                {
                    st = St::TagName;
                    let name: String = rest[1..]
                        .chars()
                        .take_while(|n| n.is_ascii_alphanumeric())
                        .collect();
                    tag_is_raw =
                        name.eq_ignore_ascii_case("style") || name.eq_ignore_ascii_case("script");
                    if tag_is_raw {
                        raw_end = if name.eq_ignore_ascii_case("style") {
                            "</style"
                        } else {
                            "</script"
                        };
                    }
                }
            }
            St::TagName | St::Tag => match c {
                '"' if st == St::Tag => st = St::Dq,
                '\'' if st == St::Tag => st = St::Sq,
                '>' => st = if tag_is_raw { St::Raw } else { St::Text },
                c if c.is_ascii_whitespace() => st = St::Tag,
                _ => {}
            },
            St::Dq if c == '"' => st = St::Tag,
            St::Sq if c == '\'' => st = St::Tag,
            St::Comment if rest.starts_with("-->") => {
                f(St::Comment, Piece::CommentEnd);
                i += 3;
                st = St::Text;
                continue;
            }
            St::Raw
                if rest.len() >= raw_end.len()
                    && rest.as_bytes()[..raw_end.len()]
                        .eq_ignore_ascii_case(raw_end.as_bytes()) =>
            {
                st = St::TagName;
                tag_is_raw = false;
            }
            _ => {}
        }
        f(at, Piece::Char(c));
        i += c.len_utf8();
    }
    Some(())
}

/// Rewrites each `{{ expr }}` of pre-rendered HTML to escape by where it stands: in a tag
/// (attribute) or in text. Expressions in comments, `<style>` and `<script>` are left alone.
/// `None` when the HTML has unterminated template syntax.
fn escape_by_context(html: &str) -> Option<String> {
    let mut out = String::with_capacity(html.len() + 1024);
    walk(html, true, |st, piece| match piece {
        Piece::Expr(e) => {
            let inner = &e[2..e.len() - 2];
            let (lead, inner) = inner.strip_prefix('-').map_or(("", inner), |x| ("-", x));
            let (trail, inner) = inner.strip_suffix('-').map_or(("", inner), |x| ("-", x));
            let filter = match st {
                St::TagName | St::Tag | St::Dq | St::Sq => ATTR_FILTER,
                St::Text => TEXT_FILTER,
                St::Comment | St::Raw => {
                    out.push_str(e);
                    return;
                }
            };
            let _ = write!(out, "{{{{{lead} ({}) | {filter} {trail}}}}}", inner.trim());
        }
        Piece::Block(b) => out.push_str(b),
        Piece::CommentEnd => out.push_str("-->"),
        Piece::Char(c) => out.push(c),
    })?;
    Some(out)
}

/// The HTML as it goes on the wire, read by every client exactly as before:
/// - ASCII only: other characters become numeric references (`&#8211;`), except inside
///   `<style>` and `<script>`, where references mean nothing;
/// - CRLF line ends;
/// - a line break in place of the whitespace after each tag's name, so that no line comes near
///   SMTP's limit of 998 octets (mrml writes the whole body on one line).
///
/// Such HTML goes as 7bit, with no quoted-printable encoding per member. With `template`,
/// minijinja syntax is left as it is (the escapers write values the same way). When the
/// template syntax is unterminated the HTML is returned as it is.
pub fn wire_html(html: &str, template: bool) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut prev = '\0';
    let walked = walk(html, template, |st, piece| match piece {
        Piece::Expr(s) | Piece::Block(s) => out.push_str(s),
        Piece::CommentEnd => out.push_str("-->"),
        Piece::Char(c) => {
            match c {
                ' ' | '\t' | '\x0c' if st == St::TagName => out.push_str("\r\n"),
                '\n' if prev != '\r' => out.push_str("\r\n"),
                c if !c.is_ascii() && st != St::Raw => push_wire(c, prev, &mut out),
                c => out.push(c),
            }
            prev = c;
        }
    });
    match walked {
        Some(()) => out,
        None => html.to_string(),
    }
}

/// Whether a template is HTML-escaped by default: by its name, as minijinja decides.
fn auto_escaped(name: &str) -> bool {
    name.ends_with(".mjml") || name.ends_with(".html")
}

fn new_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.set_auto_escape_callback(|name| {
        if auto_escaped(name) {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(html_formatter);
    env.add_filter(TEXT_FILTER, escaping_filter(escape_text));
    env.add_filter(ATTR_FILTER, escaping_filter(escape_attr));
    env
}

/// How deep elements may nest in a template, and in each file it includes. Bulletins nest
/// under 20; mrml, html2text and the fills recurse once a level, and a template nested a
/// thousand deep overflowed the stack (the process aborted).
pub const MAX_NESTING: usize = 100;

/// How many files one parse of a template may include (a partial that includes itself would
/// never end).
const MAX_INCLUDES: usize = 100;

/// HTML elements that never have a closing tag.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Checks that no element of `src` is nested more than [`MAX_NESTING`] deep, before any
/// recursive parser sees it; `Err` names the line and the tag that went too deep.
pub fn check_nesting(src: &str) -> std::result::Result<(), String> {
    let bytes = src.as_bytes();
    let (mut depth, mut at) = (0usize, 0usize);
    let skip_to = |from: usize, end: &str| {
        src[from..]
            .find(end)
            .map_or(src.len(), |i| from + i + end.len())
    };
    while let Some(i) = memchr::memchr(b'<', &bytes[at..]).map(|i| at + i) {
        let rest = &src[i..];
        if rest.starts_with("<!--") {
            at = skip_to(i, "-->");
        } else if rest.starts_with("<![CDATA[") {
            at = skip_to(i, "]]>");
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            at = skip_to(i, ">");
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            at = skip_to(i, ">");
        } else {
            let name: String = rest[1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_'))
                .collect();
            // The end of the tag, past quoted attribute values.
            let (mut j, mut quote) = (i + 1 + name.len(), None);
            while j < bytes.len() {
                match (bytes[j], quote) {
                    (b'"' | b'\'', None) => quote = Some(bytes[j]),
                    (q, Some(open)) if q == open => quote = None,
                    (b'>', None) => break,
                    _ => {}
                }
                j += 1;
            }
            let closed = j > 0 && bytes.get(j - 1) == Some(&b'/');
            if !name.is_empty() && !closed && !VOID.contains(&name.to_ascii_lowercase().as_str()) {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "line {}: `<{name}>` is nested more than {MAX_NESTING} elements deep",
                        line_of(src, i)
                    ));
                }
            }
            at = (j + 1).min(src.len());
        }
    }
    Ok(())
}

/// Renders `mj-include`d files; with a context, fills their variables first (full mode).
#[derive(Debug)]
struct Loader {
    root: PathBuf,
    fill: Option<(Arc<Environment<'static>>, Value)>,
    /// Files included so far by this parse.
    included: std::sync::atomic::AtomicUsize,
}

impl IncludeLoader for Loader {
    fn resolve(&self, path: &str) -> std::result::Result<String, IncludeLoaderError> {
        let rel = path.trim_start_matches("file://");
        let full = self.root.join(rel);
        let canon = full
            .canonicalize()
            .map_err(|e| IncludeLoaderError::new(path, e.kind()))?;
        let root = self
            .root
            .canonicalize()
            .map_err(|e| IncludeLoaderError::new(path, e.kind()))?;
        if !canon.starts_with(&root) {
            return Err(
                IncludeLoaderError::new(path, std::io::ErrorKind::PermissionDenied)
                    .with_message("an included file must be inside the template's folder"),
            );
        }
        let source =
            std::fs::read_to_string(&canon).map_err(|e| IncludeLoaderError::new(path, e.kind()))?;
        let refuse = |msg: String| {
            Err(
                IncludeLoaderError::new(path, std::io::ErrorKind::InvalidData)
                    .with_cause(Arc::new(std::io::Error::other(msg))),
            )
        };
        if self
            .included
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            >= MAX_INCLUDES
        {
            return refuse(format!(
                "more than {MAX_INCLUDES} files included (does a partial include itself?)"
            ));
        }
        if let Err(e) = check_nesting(&source) {
            return refuse(e);
        }
        match &self.fill {
            None => Ok(source),
            Some((env, ctx)) => {
                let name = show(&self.root.join(rel));
                env.render_named_str(&name, &source, ctx).map_err(|e| {
                    IncludeLoaderError::new(path, std::io::ErrorKind::InvalidData)
                        .with_cause(Arc::new(e))
                })
            }
        }
    }
}

/// Describes a minijinja error as `template `x` line N: what`.
fn describe_jinja(err: &minijinja::Error) -> String {
    let mut msg = String::new();
    if let Some(name) = err.name() {
        let _ = write!(msg, "template `{name}`");
        if let Some(line) = err.line() {
            let _ = write!(msg, " line {line}");
        }
        msg.push_str(": ");
    }
    match err.kind() {
        ErrorKind::UndefinedError => {
            msg.push_str("undefined variable");
            if let Some(src) = err.template_source()
                && let Some(r) = err.range()
                && let Some(snippet) = src.get(r)
            {
                let _ = write!(msg, " in `{}`", snippet.trim());
            }
        }
        kind => {
            msg.push_str(&kind.to_string());
            if let Some(d) = err.detail() {
                let _ = write!(msg, ": {d}");
            }
        }
    }
    msg
}

/// Describes an mrml parse error with the file and line it points at.
fn describe_mrml(
    err: &mrml::prelude::parser::Error,
    root_name: &str,
    root_src: &str,
    root: &Path,
) -> String {
    use mrml::prelude::parser::Error as E;
    if let E::IncludeLoaderError { source, .. } = err
        && let Some(cause) = &source.cause
        && let Some(j) = cause.downcast_ref::<minijinja::Error>()
    {
        return describe_jinja(j);
    }
    let located = |origin: &Origin, pos: usize| -> String {
        match origin {
            Origin::Root => format!("template `{root_name}` line {}", line_of(root_src, pos)),
            Origin::Include { path } => {
                let p = root.join(path.trim_start_matches("file://"));
                let line = std::fs::read_to_string(&p)
                    .map(|s| line_of(&s, pos))
                    .unwrap_or(0);
                format!("template `{}` line {line}", show(&p))
            }
        }
    };
    match err {
        E::UnexpectedElement { origin, position } => {
            format!("{}: unexpected element", located(origin, position.start))
        }
        E::UnexpectedToken { origin, position } => {
            format!("{}: unexpected token", located(origin, position.start))
        }
        E::MissingAttribute {
            name,
            origin,
            position,
        } => {
            format!(
                "{}: missing attribute `{name}`",
                located(origin, position.start)
            )
        }
        E::InvalidAttribute { origin, position } => {
            format!("{}: invalid attribute", located(origin, position.start))
        }
        E::InvalidFormat { origin, position } => {
            format!("{}: invalid format", located(origin, position.start))
        }
        E::IncludeLoaderError {
            origin,
            position,
            source,
        } => match &source.cause {
            Some(cause) => format!(
                "{}: cannot include `{}`: {cause}",
                located(origin, position.start),
                source.path,
            ),
            None => format!(
                "{}: cannot include `{}`: {}",
                located(origin, position.start),
                source.path,
                source.reason
            ),
        },
        E::ParserError { origin, source } => {
            let row = source.pos().row as usize;
            let at = match origin {
                Origin::Root => format!("template `{root_name}` line {row}"),
                Origin::Include { path } => format!(
                    "template `{}` line {row}",
                    show(&root.join(path.trim_start_matches("file://")))
                ),
            };
            format!("{at}: {source}")
        }
        other => format!("template `{root_name}`: {other}"),
    }
}

/// Converts rendered HTML into the text/plain part: no wrapping, links as footnotes.
pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain()
        .no_table_borders()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 100_000)
        .unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Reads `<mj-title>` from MJML source, decoding the XML entities allowed there.
fn mj_title(src: &str) -> Option<String> {
    let start = src.find("<mj-title>")? + "<mj-title>".len();
    let end = start + src[start..].find("</mj-title>")?;
    let t = src[start..end].trim();
    Some(
        t.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// Adds the subject (`subject`, else the template's `<mj-title>`), the unsubscribe URL and the
/// MJML source to `env` as templates.
fn add_sources(
    env: &mut Environment<'static>,
    name: &str,
    source: &str,
    subject: Option<&str>,
    unsubscribe_url: &str,
) -> Result<()> {
    let bad =
        |e: minijinja::Error| Error::input(format!("invalid template: {}", describe_jinja(&e)));
    let subject = match subject {
        Some(s) => s.to_string(),
        None => mj_title(source).ok_or_else(|| {
            Error::input(format!(
                "template `{name}` has no `<mj-title>`: add one or pass `--subject`"
            ))
        })?,
    };
    env.add_template_owned(SUBJECT.to_string(), subject)
        .map_err(bad)?;
    env.add_template_owned(UNSUBSCRIBE.to_string(), unsubscribe_url.to_string())
        .map_err(|e| {
            Error::input(format!(
                "invalid config: unsubscribe.url: {}",
                describe_jinja(&e)
            ))
        })?;
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(bad)?;
    Ok(())
}

/// The once-per-campaign render: the MJML rendered to HTML with the variables left in, added
/// to `env` with its text part. Returns the mode it allows, whether the text part could be
/// precompiled, and mrml's warnings. Any problem here just means full renders.
fn precompile(
    env: &mut Environment<'static>,
    name: &str,
    source: &str,
    root: &Path,
) -> (Mode, bool, Vec<String>) {
    let opts = ParserOptions {
        include_loader: Box::new(Loader {
            root: root.to_path_buf(),
            fill: None,
            included: Default::default(),
        }),
    };
    let mut warnings = Vec::new();
    // A bare `<` in a `{% if %}` and the like fails to parse: full renders may still work.
    let Ok(parsed) = mrml::parse_with_options(source, &opts) else {
        return (Mode::Full, false, warnings);
    };
    for w in &parsed.warnings {
        let at = match &w.origin {
            Origin::Root => format!("template `{name}` line {}", line_of(source, w.span.start)),
            Origin::Include { path } => format!("template `{path}`"),
        };
        warnings.push(format!("{at}: {}", w.kind.as_str()));
    }
    let Ok(html) = parsed.element.render(&RenderOptions::default()) else {
        return (Mode::Full, false, warnings);
    };
    if env
        .add_template_owned(HTML.to_string(), wire_html(&html, true))
        .is_err()
    {
        return (Mode::Full, false, warnings);
    }
    if let Some(by_context) = escape_by_context(&html) {
        let _ = env.add_template_owned(HTML_CONTEXT.to_string(), wire_html(&by_context, true));
    }
    let text_precompiled = env
        .add_template_owned(TEXT.to_string(), html_to_text(&html))
        .is_ok();
    (Mode::Precompiled, text_precompiled, warnings)
}

/// The templates among the precompiled ones that are only text and `{{ name }}` slots, as
/// fills, and the slot names they use.
fn fills_of(env: &Environment<'static>) -> (Vec<(&'static str, Fill)>, Vec<String>) {
    let mut fills = Vec::new();
    let mut slot_names = Vec::new();
    for name in [SUBJECT, UNSUBSCRIBE, HTML, HTML_CONTEXT, TEXT] {
        let filter = |f: &str| match f {
            TEXT_FILTER => Some(Escape::Text),
            ATTR_FILTER => Some(Escape::Attr),
            _ => None,
        };
        if let Ok(t) = env.get_template(name)
            && let Some(fill) = Fill::parse(t.source(), auto_escaped(name), filter, &mut slot_names)
        {
            fills.push((name, fill));
        }
    }
    (fills, slot_names)
}

impl Bulletin {
    /// Loads and compiles the template at `path`. `subject` overrides `<mj-title>`;
    /// `unsubscribe_url` is the config's URL template.
    pub fn compile(path: &Path, subject: Option<&str>, unsubscribe_url: &str) -> Result<Bulletin> {
        let name = show(path);
        let source = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("failed to read template `{name}`: {e}")))?;
        Bulletin::from_source(path, source, subject, unsubscribe_url)
    }

    /// As [`Bulletin::compile`], with the MJML given; includes resolve beside `path`.
    pub fn from_source(
        path: &Path,
        source: String,
        subject: Option<&str>,
        unsubscribe_url: &str,
    ) -> Result<Bulletin> {
        let name = show(path);
        check_nesting(&source).map_err(|e| Error::input(format!("template `{name}` {e}")))?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut env = new_env();
        add_sources(&mut env, &name, &source, subject, unsubscribe_url)?;
        let (mode, text_precompiled, warnings) = precompile(&mut env, &name, &source, &root);
        // Until `verify` says otherwise, assume the page is re-serialized when it has
        // inline styles.
        let html = if env.get_template(HTML_CONTEXT).is_ok() && source.contains("inline=\"inline\"")
        {
            HTML_CONTEXT
        } else {
            HTML
        };
        let (fills, slot_names) = fills_of(&env);
        Ok(Bulletin {
            env: Arc::new(env),
            name,
            root,
            mode,
            html,
            text_precompiled,
            fills,
            slot_names,
            use_fills: true,
            warnings,
        })
    }

    /// A member's values for the fills, looked up once: `None` unless `ctx` is a map made by
    /// [`Bulletin::context`] (or shaped like one) and the fills are in use.
    fn slot_values<'a>(&self, ctx: &'a Value) -> Option<Vec<Option<(&'a str, bool)>>> {
        let map = ctx.downcast_object_ref::<BTreeMap<String, Value>>()?;
        self.values_in(map)
    }

    fn values_in<'a>(
        &self,
        map: &'a BTreeMap<String, Value>,
    ) -> Option<Vec<Option<(&'a str, bool)>>> {
        if !self.use_fills || self.fills.is_empty() {
            return None;
        }
        let value = |name: &String| {
            let v = map.get(name)?;
            Some((v.as_str()?, v.is_safe()))
        };
        Some(self.slot_names.iter().map(value).collect())
    }

    /// Renders one of the fixed templates: filled by copying where it is only text and
    /// slots and `values` has every one, else (to report a missing value, say) by minijinja.
    fn fill(
        &self,
        name: &str,
        values: Option<&[Option<(&str, bool)>]>,
        ctx: impl FnOnce() -> Value,
    ) -> std::result::Result<String, minijinja::Error> {
        if let Some(values) = values
            && let Some((_, fill)) = self.fills.iter().find(|(n, _)| *n == name)
            && let Some(out) = fill.render(values)
        {
            return Ok(out);
        }
        self.env.get_template(name).and_then(|t| t.render(ctx()))
    }

    /// Renders every template through minijinja, even where `Fill` could copy: the
    /// reference for benchmarks and tests.
    pub fn without_fills(&mut self) {
        self.use_fills = false;
    }

    /// How many of the fixed templates are filled by copying (of subject, unsubscribe URL,
    /// the two pre-rendered HTML forms and the text part).
    pub fn fills(&self) -> usize {
        self.fills.len()
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Forces full renders per member (for tests and comparisons).
    pub fn force_full(&mut self) {
        self.mode = Mode::Full;
        self.text_precompiled = false;
    }

    /// The variables of one member: campaign `vars`, then the member's columns, then
    /// `email`, `campaign`, `extra` (the unsubscribe `token` and `list`) and `unsubscribe_url`
    /// (which nothing overrides).
    pub fn context(
        &self,
        vars: &BTreeMap<String, String>,
        member: &crate::list::Member,
        campaign: &str,
        extra: &[(&str, &str)],
    ) -> std::result::Result<Value, String> {
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in vars {
            map.insert(k.clone(), Value::from(v.as_str()));
        }
        for (k, v) in member.columns.iter().zip(&member.values) {
            map.insert(k.clone(), Value::from(v.as_str()));
        }
        map.insert("email".into(), Value::from(member.email.as_str()));
        map.insert("campaign".into(), Value::from(campaign));
        for (k, v) in extra {
            map.insert(k.to_string(), Value::from(*v));
        }
        let url = self
            .fill(UNSUBSCRIBE, self.values_in(&map).as_deref(), || {
                Value::from(map.clone())
            })
            .map_err(|e| format!("unsubscribe.url: {}", describe_jinja(&e)))?;
        if url.chars().any(char::is_control) {
            return Err("unsubscribe.url renders with a control character".into());
        }
        map.insert("unsubscribe_url".into(), Value::from(url));
        Ok(Value::from(map))
    }

    /// Fills the MJML template and renders it with mrml: the reference path. The HTML is
    /// returned as [`wire_html`] writes it, as the pre-rendered templates are.
    fn full_html(&self, ctx: &Value) -> std::result::Result<String, String> {
        let mjml = self
            .env
            .get_template(&self.name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| describe_jinja(&e))?;
        let opts = ParserOptions {
            include_loader: Box::new(Loader {
                root: self.root.clone(),
                fill: Some((self.env.clone(), ctx.clone())),
                included: Default::default(),
            }),
        };
        let parsed = mrml::parse_with_options(&mjml, &opts)
            .map_err(|e| describe_mrml(&e, &self.name, &mjml, &self.root))?;
        let html = parsed
            .element
            .render(&RenderOptions::default())
            .map_err(|e| format!("template `{}`: {e}", self.name))?;
        Ok(wire_html(&html, false))
    }

    fn html(
        &self,
        ctx: &Value,
        values: Option<&[Option<(&str, bool)>]>,
    ) -> std::result::Result<String, String> {
        match self.mode {
            Mode::Full => self.full_html(ctx),
            Mode::Precompiled => match self.fill(self.html, values, || ctx.clone()) {
                Ok(html) => Ok(html),
                // Line numbers of the pre-rendered HTML mean nothing to the user: find the
                // error again on the MJML source.
                Err(e) => Err(self
                    .full_html(ctx)
                    .err()
                    .unwrap_or_else(|| describe_jinja(&e))),
            },
        }
    }

    /// Renders one member. The error names the template file and line.
    pub fn render(&self, ctx: &Value) -> std::result::Result<Rendered, String> {
        let values = self.slot_values(ctx);
        let values = values.as_deref();
        let html = self.html(ctx, values)?;
        let text = if self.text_precompiled {
            self.fill(TEXT, values, || ctx.clone())
                .map_err(|e| describe_jinja(&e))?
        } else {
            html_to_text(&html)
        };
        let subject = self
            .fill(SUBJECT, values, || ctx.clone())
            .map_err(|e| format!("subject: {}", describe_jinja(&e)))?;
        let subject = subject.trim().to_string();
        if subject.chars().any(char::is_control) {
            return Err(format!(
                "subject `{}` contains a control character",
                subject.escape_debug()
            ));
        }
        if subject.is_empty() {
            return Err("the subject is empty".into());
        }
        Ok(Rendered {
            subject,
            html,
            text,
        })
    }

    /// Checks the shortcut against a full render for `ctx`, and for `ctx` with every value
    /// laced with the characters escaping treats differently (`& < > " '`, `é`).
    /// Picks the pre-rendered HTML that matches, or switches this campaign to full renders.
    /// Returns whether the shortcut is still in use.
    pub fn verify(&mut self, ctx: &Value) -> bool {
        if self.mode == Mode::Full {
            return false;
        }
        let probe = laced(ctx);
        let text_was = self.text_precompiled;
        self.force_full();
        let full = self.render(ctx);
        let full_probe = self.render(&probe);
        let mut chosen = None;
        for html in [self.html, HTML, HTML_CONTEXT] {
            if self.env.get_template(html).is_err() {
                continue;
            }
            self.mode = Mode::Precompiled;
            self.html = html;
            let html_ok =
                |b: &Bulletin, c: &Value, want: &std::result::Result<Rendered, String>| {
                    match want {
                        Ok(w) => b
                            .html(c, b.slot_values(c).as_deref())
                            .is_ok_and(|h| h == w.html),
                        // A value the probe broke (a number filter, say) proves nothing.
                        Err(_) => true,
                    }
                };
            if full.is_ok() && html_ok(self, ctx, &full) && html_ok(self, &probe, &full_probe) {
                chosen = Some(html);
                break;
            }
        }
        match chosen {
            Some(html) => {
                self.html = html;
                self.mode = Mode::Precompiled;
                self.text_precompiled = text_was;
                let text_ok =
                    |b: &Bulletin, c: &Value, want: &std::result::Result<Rendered, String>| {
                        match want {
                            Ok(w) => b.render(c).is_ok_and(|r| r == *w),
                            Err(_) => true,
                        }
                    };
                if self.text_precompiled
                    && !(text_ok(self, ctx, &full) && text_ok(self, &probe, &full_probe))
                {
                    self.text_precompiled = false;
                }
                true
            }
            None => {
                self.force_full();
                false
            }
        }
    }
}

/// `ctx` with every string value suffixed by the characters escaping treats differently
/// (`é` stands for everything beyond ASCII, written as a numeric reference).
///
/// Not the no-break space or `\`: mrml writes attribute values with Rust's `{:?}`, which
/// mangles them (`\u{a0}`, `\\`) in a full render; the shortcut leaves them intact.
fn laced(ctx: &Value) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    if let Ok(keys) = ctx.try_iter() {
        for k in keys {
            let v = ctx.get_item(&k).unwrap_or_default();
            let v = match v.as_str() {
                Some(s) => Value::from(format!("{s}&<>\"'é")),
                None => v,
            };
            map.insert(k.to_string(), v);
        }
    }
    Value::from(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_elements_not_void_tags_comments_or_self_closing_ones() {
        let ok = |n: usize, inner: &str| {
            check_nesting(&format!(
                "{}{inner}{}",
                "<div>".repeat(n),
                "</div>".repeat(n)
            ))
        };
        assert!(ok(100, "").is_ok());
        assert!(
            ok(
                99,
                "<br><img src=\"a>b\"><hr/><mj-image src='x' /><!-- <div> -->"
            )
            .is_ok()
        );
        assert_eq!(
            ok(100, "\n<p>x</p>"),
            Err("line 2: `<p>` is nested more than 100 elements deep".into())
        );
        assert!(
            check_nesting("a < b and <").is_ok(),
            "a bare `<` is not a tag"
        );
    }
}
