//! Member data in HTML: minijinja's auto-escaping as our formatter writes it, and the filters
//! that escape a value as css-inline writes text nodes and attribute values. Every escaper
//! writes the value as [`wire_html`](super::wire_html) writes the rest of the page, so a filled
//! template is wire-ready as it is.

use std::fmt::Write as _;

use minijinja::AutoEscape;
use minijinja::value::Value;

/// Escapes for HTML text and quoted attributes; unlike minijinja's default it leaves `/`
/// alone, so URLs stay readable.
pub(super) fn html_formatter(
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

/// minijinja's HTML escaping (`& < > " '`), written as [`wire_html`](super::wire_html)
/// writes the rest.
pub(super) fn escape_html(s: &str, out: &mut impl std::fmt::Write) -> std::fmt::Result {
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
/// Like every escaper here it also writes what [`wire_html`](super::wire_html) would:
/// characters beyond ASCII as numeric references and line ends as CRLF.
pub(super) fn escape_text(s: &str, out: &mut String) {
    escape_with(s, out, &[('&', "&amp;"), ('<', "&lt;"), ('>', "&gt;")]);
}

/// Escapes like css-inline's serializer does in attribute values.
pub(super) fn escape_attr(s: &str, out: &mut String) {
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

/// Pushes `c` as [`wire_html`](super::wire_html) writes it outside `<style>`, `<script>` and
/// tag names: the no-break space as `&nbsp;` (as css-inline writes it), anything else beyond
/// ASCII as a numeric reference, LF as CRLF.
pub(super) fn push_wire(c: char, prev: char, out: &mut String) {
    match c {
        '\u{a0}' => out.push_str("&nbsp;"),
        '\n' if prev != '\r' => out.push_str("\r\n"),
        c if !c.is_ascii() => {
            let _ = write!(out, "&#{};", c as u32);
        }
        c => out.push(c),
    }
}

pub(super) fn escaping_filter(
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

pub(super) const TEXT_FILTER: &str = "__mailshot_text";
pub(super) const ATTR_FILTER: &str = "__mailshot_attr";
