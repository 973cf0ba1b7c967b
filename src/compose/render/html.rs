//! The MJML -> HTML step, with mrml: the check that no element nests too deep for its
//! recursive parser, the loader of `mj-include`d files, the once-per-campaign render that keeps
//! the variables in, the full render of one member's MJML, and the HTML as it goes on the wire.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;
use minijinja::value::Value;
use mrml::prelude::parser::loader::{IncludeLoader, IncludeLoaderError};
use mrml::prelude::parser::{Origin, ParserOptions};
use mrml::prelude::render::RenderOptions;

use super::describe::describe_mrml;
use super::escape::{ATTR_FILTER, TEXT_FILTER, push_wire};
use super::text::html_to_text;
use super::{HTML, HTML_CONTEXT, Mode, TEXT};
use crate::error::{line_of, show};

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

/// Text to use for `mj-include`d files instead of what is on disk, by canonical path: the
/// partials whose local images were made absolute ([`crate::compose::images`]).
pub type Partials = std::collections::HashMap<PathBuf, String>;

/// Renders `mj-include`d files; with a context, fills their variables first (full mode).
#[derive(Debug)]
struct Loader {
    root: PathBuf,
    partials: Arc<Partials>,
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
        let source = match self.partials.get(&canon) {
            Some(text) => text.clone(),
            None => std::fs::read_to_string(&canon)
                .map_err(|e| IncludeLoaderError::new(path, e.kind()))?,
        };
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

/// The once-per-campaign render: the MJML rendered to HTML with the variables left in, added
/// to `env` with its text part. Returns the mode it allows, whether the text part could be
/// precompiled, and mrml's warnings. Any problem here just means full renders.
pub(super) fn precompile(
    env: &mut Environment<'static>,
    name: &str,
    source: &str,
    root: &Path,
    partials: &Arc<Partials>,
) -> (Mode, bool, Vec<String>) {
    let opts = ParserOptions {
        include_loader: Box::new(Loader {
            root: root.to_path_buf(),
            partials: partials.clone(),
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

/// Renders `mjml`, the bulletin filled with one member's variables `ctx`, with mrml: the
/// reference path. Included files resolve under `root` (`partials` over their files) and are
/// filled from `env`. The HTML is
/// returned as [`wire_html`] writes it, as the pre-rendered templates are.
pub(super) fn render_full(
    mjml: &str,
    name: &str,
    root: &Path,
    partials: &Arc<Partials>,
    env: &Arc<Environment<'static>>,
    ctx: &Value,
) -> std::result::Result<String, String> {
    let opts = ParserOptions {
        include_loader: Box::new(Loader {
            root: root.to_path_buf(),
            partials: partials.clone(),
            fill: Some((env.clone(), ctx.clone())),
            included: Default::default(),
        }),
    };
    let parsed =
        mrml::parse_with_options(mjml, &opts).map_err(|e| describe_mrml(&e, name, mjml, root))?;
    let html = parsed
        .element
        .render(&RenderOptions::default())
        .map_err(|e| format!("template `{name}`: {e}"))?;
    Ok(wire_html(&html, false))
}

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
