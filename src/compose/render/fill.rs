//! A pre-rendered template that is nothing but text and `{{ name }}` slots, filled per member
//! by copying: no template engine in the per-member path.
//!
//! The pre-rendered bulletin is ~40 KB of fixed HTML with a handful of variables. minijinja
//! renders it correctly but spends most of its ~5 us per member in its VM (instruction
//! dispatch, value clones, the formatter); the text itself is a few memcpys. [`Fill::parse`]
//! accepts a template only when every tag in it is `{{ name }}` or `{{ (name)|filter }}` with
//! one of our escaping filters, and declines anything else (`{% %}`, `{# #}`, whitespace control,
//! expressions, other filters), which minijinja then renders as before. A slot whose value is
//! missing or not a string also declines, per member, so minijinja reports the error in its
//! own words. The bytes are the same as minijinja's by construction (the same escapers) and by
//! test (`fill_matches_minijinja`); `Bulletin::verify` checks them against a full MJML render
//! besides.

use super::escape::{escape_attr, escape_html, escape_text};

/// How a slot's value is written: the escaper the template would apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As is (an auto-escape-off template: the text part, the subject).
    None,
    /// minijinja's HTML auto-escaping, as our formatter writes it.
    Html,
    /// The text-node escaping filter.
    Text,
    /// The attribute-value escaping filter.
    Attr,
}

#[derive(Debug)]
enum Piece {
    /// Fixed text: a range of the source.
    Text(usize, usize),
    /// A variable: its index in the names the campaign's templates share, its escaping,
    /// and the range of the source holding its fallback (`{{ name or "fallback" }}`): the
    /// text written, escaped alike, when the value is empty.
    Slot(usize, Escape, Option<(usize, usize)>),
}

/// A template reduced to fixed text and variable slots.
#[derive(Debug)]
pub(crate) struct Fill {
    source: String,
    pieces: Vec<Piece>,
    /// Bytes of fixed text, to size the output once.
    fixed: usize,
}

/// Keywords minijinja reads as literals, not variables.
const LITERALS: [&str; 6] = ["true", "false", "none", "True", "False", "None"];

impl Fill {
    /// Reduces `source`, a template of the environment `render::new_env` makes, to text and
    /// slots. `auto_html` says whether the template is HTML-escaped by default; `filter`
    /// names the escaping filters the environment defines. The variables' names are added to
    /// `names` (once each), which [`Fill::render`]'s values follow. `None` when the template
    /// holds anything else.
    pub(crate) fn parse(
        source: &str,
        auto_html: bool,
        filter: impl Fn(&str) -> Option<Escape>,
        names: &mut Vec<String>,
    ) -> Option<Fill> {
        let bytes = source.as_bytes();
        let mut slots = Vec::new();
        let mut pieces = Vec::new();
        let mut fixed = 0;
        let mut start = 0; // of the fixed text not yet pushed
        let mut at = 0; // where to look for the next `{`
        while let Some(i) = memchr::memchr(b'{', &bytes[at..]).map(|i| at + i) {
            match bytes.get(i + 1) {
                Some(b'{') => {}
                // A block or comment tag, or (`{%`-less) raw text: the engine's business.
                Some(b'%' | b'#') => return None,
                _ => {
                    at = i + 1;
                    continue;
                }
            }
            let body_start = i + 2;
            let end = body_start + memchr::memmem::find(&bytes[body_start..], b"}}")?;
            let (name, escape, fallback) =
                slot(source, &source[body_start..end], auto_html, &filter)?;
            if i > start {
                pieces.push(Piece::Text(start, i));
                fixed += i - start;
            }
            slots.push(name);
            pieces.push(Piece::Slot(slots.len() - 1, escape, fallback));
            start = end + 2;
            at = start;
        }
        if start < bytes.len() {
            pieces.push(Piece::Text(start, bytes.len()));
            fixed += bytes.len() - start;
        }
        // Only now that the whole template is accepted: slot numbers become name indices.
        let index: Vec<usize> = slots
            .iter()
            .map(|name| match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_string());
                    names.len() - 1
                }
            })
            .collect();
        for piece in &mut pieces {
            if let Piece::Slot(i, _, _) = piece {
                *i = index[*i];
            }
        }
        Some(Fill {
            source: source.to_string(),
            pieces,
            fixed,
        })
    }

    /// Fills the slots with one member's `values`, indexed as the names given to
    /// [`Fill::parse`]: each the text and whether it is marked safe. `None` when a slot has
    /// no value (missing, or not a string): render with minijinja instead, which says what is
    /// wrong.
    pub(crate) fn render(&self, values: &[Option<(&str, bool)>]) -> Option<String> {
        let mut out = String::with_capacity(self.fixed + 256);
        for piece in &self.pieces {
            match *piece {
                Piece::Text(a, b) => out.push_str(&self.source[a..b]),
                Piece::Slot(i, escape, fallback) => {
                    let (s, safe) = match ((*values.get(i)?)?, fallback) {
                        // minijinja's `or`: an empty string is false, the fallback is text.
                        (("", _), Some((a, b))) => (&self.source[a..b], false),
                        (value, _) => value,
                    };
                    match escape {
                        _ if safe => out.push_str(s),
                        Escape::None => out.push_str(s),
                        Escape::Html => escape_html(s, &mut out).ok()?,
                        Escape::Text => escape_text(s, &mut out),
                        Escape::Attr => escape_attr(s, &mut out),
                    }
                }
            }
        }
        Some(out)
    }
}

/// Where the text of `lit` (a slice of `source`), a string literal in single or double
/// quotes with no escapes in it, lies in `source`; `None` for anything else.
/// A range of the template's source.
type Span = (usize, usize);

/// A tag's `body` (between `{{` and `}}`) as a slot: its variable's name, its escaping and
/// its fallback's range in `source`; `None` when it is anything but a name, an escaping
/// filter and a quoted fallback.
fn slot<'a>(
    source: &str,
    body: &'a str,
    auto_html: bool,
    filter: &impl Fn(&str) -> Option<Escape>,
) -> Option<(&'a str, Escape, Option<Span>)> {
    let (name, escape) = match body.split_once('|') {
        None => (
            body.trim(),
            if auto_html {
                Escape::Html
            } else {
                Escape::None
            },
        ),
        Some((name, f)) => (name.trim(), filter(f.trim())?),
    };
    // `escape_by_context` writes `{{ (expr) | filter }}`.
    let name = name
        .strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .map_or(name, str::trim);
    let (name, fallback) = match name.split_once(" or ") {
        Some((name, lit)) => (name.trim(), Some(literal(source, lit)?)),
        None => (name, None),
    };
    if !is_name(name) || LITERALS.contains(&name) {
        return None;
    }
    Some((name, escape, fallback))
}

fn literal(source: &str, lit: &str) -> Option<(usize, usize)> {
    let lit = lit.trim();
    let q = lit.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let inner = lit.strip_prefix(q)?.strip_suffix(q)?;
    if inner.contains([q, '\\']) {
        return None;
    }
    let at = inner.as_ptr() as usize - source.as_ptr() as usize;
    Some((at, at + inner.len()))
}

/// An ASCII identifier as minijinja lexes one.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Option<(Fill, Vec<String>)> {
        let mut names = vec!["first".to_string()];
        let filter = |f: &str| (f == "esc_text").then_some(Escape::Text);
        Fill::parse(source, true, filter, &mut names).map(|f| (f, names))
    }

    #[test]
    fn text_and_names_are_accepted_and_share_one_name_table() {
        let (fill, names) =
            parse("<p>{{ name }} and {{(name) | esc_text}} at {{org}}{{ first }}</p>").unwrap();
        assert_eq!(names, ["first", "name", "org"]);
        let values = [
            Some(("F", false)),
            Some(("<b>", false)),
            Some(("A&B", true)),
        ];
        assert_eq!(
            fill.render(&values).unwrap(),
            "<p>&lt;b&gt; and &lt;b&gt; at A&BF</p>"
        );
        // A missing value declines, for minijinja to report.
        assert_eq!(fill.render(&[Some(("F", false)), None, None]), None);
        assert_eq!(
            parse("no tags { at } all }}")
                .unwrap()
                .0
                .render(&[])
                .unwrap(),
            "no tags { at } all }}"
        );
    }

    #[test]
    fn a_string_fallback_is_written_when_the_value_is_empty() {
        let (fill, names) =
            parse("Dear {{ first or \"col<league>\" }}, {{ (org or 'x') | esc_text }}").unwrap();
        assert_eq!(names, ["first", "org"]);
        let both = [Some(("Ann", false)), Some(("A&B", false))];
        assert_eq!(fill.render(&both).unwrap(), "Dear Ann, A&amp;B");
        // Empty: the fallback, escaped as the value would be; a space is not empty.
        let none = [Some(("", false)), Some(("", true))];
        assert_eq!(fill.render(&none).unwrap(), "Dear col&lt;league&gt;, x");
        let space = [Some((" ", false)), Some(("", false))];
        assert_eq!(fill.render(&space).unwrap(), "Dear  , x");
    }

    #[test]
    fn anything_but_a_name_is_left_to_minijinja() {
        for source in [
            "{% if a %}x{% endif %}",
            "{# comment #}",
            "{{- a }}",
            "{{ a -}}",
            "{{ a|upper }}",
            "{{ a | esc_text | upper }}",
            "{{ a.b }}",
            "{{ a ~ b }}",
            "{{ true }}",
            "{{ None }}",
            "{{ 'x' }}",
            "{{ a",
            "{{ }}",
            "{{ (a }}",
            "{{ a or b }}",
            "{{ a or 'it\\'s' }}",
            "{{ a or \"x\" or \"y\" }}",
            "{{ a or 1 }}",
        ] {
            assert!(parse(source).is_none(), "{source}");
        }
    }
}
