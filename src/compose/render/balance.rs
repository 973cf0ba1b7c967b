//! Where a template's tags stop matching: mrml says only "unexpected end of stream in root
//! template" for an unclosed `<p>`, and points past the mistake for a `<mj-divider>` left
//! open. This scan finds the tag itself, with its line and column. Written by hand: it is
//! a tag-matching pass over MJML's XML-like syntax (comments, quoted attributes, HTML's void
//! elements), not HTML parsing, and no crate reports an XML error at the opening tag.

use crate::error::line_of;

/// HTML elements that never have a closing tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Where `src`'s tags first stop matching, as `line L column C: what`, or None when every
/// tag is closed in order.
pub(crate) fn unbalanced(src: &str) -> Option<String> {
    let mut open: Vec<(&str, usize)> = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while let Some(off) = src[i..].find('<') {
        let start = i + off;
        if src[start..].starts_with("<!--") {
            i = src[start..]
                .find("-->")
                .map_or(src.len(), |e| start + e + 3);
            continue;
        }
        let closing = bytes.get(start + 1) == Some(&b'/');
        let name_at = start + 1 + usize::from(closing);
        let name_len = src[name_at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
            .unwrap_or(src.len() - name_at);
        if name_len == 0 || !bytes[name_at].is_ascii_alphabetic() {
            i = start + 1;
            continue;
        }
        let name = &src[name_at..name_at + name_len];
        let Some(end) = tag_end(src, name_at + name_len) else {
            return Some(format!(
                "{}: `<{name}` is never ended with `>`",
                at(src, start)
            ));
        };
        i = end + 1;
        let self_closing = bytes[end - 1] == b'/';
        let lower = name.to_ascii_lowercase();
        if closing {
            if let Some(problem) = close(src, &mut open, name, start) {
                return Some(problem);
            }
        } else if !self_closing && !VOID.contains(&lower.as_str()) {
            open.push((name, start));
            // mj-raw and mj-style hold raw text, and end at their own closing tag.
            if matches!(name, "mj-raw" | "mj-style" | "style" | "script") {
                let close_tag = format!("</{name}>");
                match src[i..].find(&close_tag) {
                    Some(e) => i += e,
                    None => break,
                }
            }
        }
    }
    open.last()
        .map(|(name, pos)| format!("{}: `<{name}>` is never closed", at(src, *pos)))
}

/// The `>` ending the tag whose attributes start at `from`, skipping quoted values.
fn tag_end(src: &str, from: usize) -> Option<usize> {
    let mut quote = None;
    for (k, c) in src[from..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(from + k),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

/// A closing tag `</name>` at `pos` against the open ones: matched, or what is wrong.
fn close(src: &str, open: &mut Vec<(&str, usize)>, name: &str, pos: usize) -> Option<String> {
    match open.iter().rposition(|(n, _)| *n == name) {
        Some(k) if k + 1 == open.len() => {
            open.pop();
            None
        }
        Some(_) => {
            let (inner, at_inner) = open[open.len() - 1];
            Some(format!(
                "{}: `<{inner}>` is never closed (`</{name}>` at {} closes `<{name}>` first)",
                at(src, at_inner),
                at(src, pos)
            ))
        }
        None => Some(format!(
            "{}: `</{name}>` closes nothing{}",
            at(src, pos),
            match open.last() {
                Some((n, _)) => format!(" (the open tag is `<{n}>`)"),
                None => String::new(),
            }
        )),
    }
}

/// `line L column C` of byte offset `pos` (columns counted in characters, from 1).
fn at(src: &str, pos: usize) -> String {
    let line_start = src[..pos].rfind('\n').map_or(0, |n| n + 1);
    format!(
        "line {} column {}",
        line_of(src, pos),
        src[line_start..pos].chars().count() + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_paragraph_is_named_where_it_opens() {
        let src = "<mjml>\n  <mj-body>\n    <mj-text>\n      <p>Dear {{ name }},\n    </mj-text>\n  </mj-body>\n</mjml>\n";
        assert_eq!(
            unbalanced(src).as_deref(),
            Some(
                "line 4 column 7: `<p>` is never closed (`</mj-text>` at line 5 column 5 closes `<mj-text>` first)"
            )
        );
    }

    #[test]
    fn balanced_templates_pass_with_comments_void_elements_quotes_and_raw_text() {
        let src = "<mjml><mj-head><mj-style>p > a { x: 1 } </p></mj-style></mj-head>\n<mj-body>\
                   <!-- <p> not a tag --><mj-text title=\"a > b\">a < b<br><img src=x><hr/></mj-text>\
                   <mj-raw><div>raw</mj-raw><mj-divider /></mj-body></mjml>";
        assert_eq!(unbalanced(src), None);
    }

    #[test]
    fn an_unopened_close_and_an_unended_tag_are_named() {
        assert_eq!(
            unbalanced("<mjml>\n</p></mjml>").as_deref(),
            Some("line 2 column 1: `</p>` closes nothing (the open tag is `<mjml>`)")
        );
        assert_eq!(
            unbalanced("<mjml><mj-body>\n<mj-divider>\n</mj-body></mjml>").as_deref(),
            Some(
                "line 2 column 1: `<mj-divider>` is never closed (`</mj-body>` at line 3 column 1 closes `<mj-body>` first)"
            )
        );
        assert_eq!(
            unbalanced("<mjml>\n  <mj-text color=\"red\"\n</mjml>").as_deref(),
            Some("line 2 column 3: `<mj-text` is never ended with `>`")
        );
        assert_eq!(
            unbalanced("<mjml>\n<mj-body>").as_deref(),
            Some("line 2 column 1: `<mj-body>` is never closed")
        );
    }
}
