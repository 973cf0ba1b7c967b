//! Click tracking (`[tracking] clicks = true`, off by default): the bulletin's links rewritten
//! to `{base_url}/c/<token>`, which `mailshot serve` counts and redirects (`serve::clicks`).
//!
//! The rewrite is done on the MJML source (and its partials), once per campaign, before it
//! is compiled: so the once-per-campaign render, the per-member fallback render, the text
//! part (made from the HTML) and the web edition all carry the same links, and a member's
//! copy costs nothing more. Rewritten: every `href="http(s)://..."` whose value is written
//! out in the template. Left alone: `mailto:` and every other scheme; a link whose address
//! comes from a variable (`{{ unsubscribe_url }}`, `{{ web_url }}`, a member's column), since
//! it is not known once per campaign (so the unsubscribe link never goes through the
//! redirect); `mj-social-element` (a share button's `href` is the page to share, not a link
//! to follow); a link already under `{base_url}/c/`.
//!
//! The token signs campaign and URL ([`Tokens::click_token`]), so the redirect goes only
//! where the bulletin pointed. With `per_member = true` the link also carries
//! `{{ click_member }}`: `~` and the member's part ([`Tokens::click_member`]), filled per
//! member like any variable (one more HMAC per member), empty in the web edition and in
//! test copies, which name nobody.

use crate::compose::edition::decode_entities;
use crate::compose::tokens::Tokens;

/// The variable that carries the member's part of a tracked link (with `per_member`).
pub const CLICK_MEMBER: &str = "click_member";

/// Where the tracked links of a campaign point, and how they are signed.
pub struct Rewriter<'a> {
    /// `{base_url}/c/`.
    prefix: String,
    campaign: &'a str,
    tokens: &'a Tokens,
    per_member: bool,
    /// Links rewritten so far, over every text given to [`Rewriter::rewrite`].
    done: std::cell::Cell<usize>,
}

impl<'a> Rewriter<'a> {
    pub fn new(base_url: &str, campaign: &'a str, tokens: &'a Tokens, per_member: bool) -> Self {
        Rewriter {
            prefix: format!("{}/c/", base_url.trim_end_matches('/')),
            campaign,
            tokens,
            per_member,
            done: std::cell::Cell::new(0),
        }
    }

    /// The consent reminder `check` and `send` show, with how many links were rewritten.
    pub fn reminder(&self) -> String {
        format!(
            "click tracking is on (`[tracking] clicks`{}): {} links go through `{}`; make sure the readers have consented (PECR; README, \"Click tracking\")",
            if self.per_member { ", per member" } else { "" },
            self.done.get(),
            self.prefix
        )
    }

    /// `source` with its trackable links rewritten (see the module's doc), and how many.
    pub fn rewrite(&self, source: &str) -> (String, usize) {
        let mut out = String::with_capacity(source.len() + source.len() / 4);
        let mut rest = source;
        let mut done = 0;
        while let Some((before, quote, value, after)) = next_href(rest) {
            out.push_str(before);
            out.push(quote);
            match self.tracked(before, source, rest, value) {
                Some(link) => {
                    out.push_str(&link);
                    done += 1;
                }
                None => out.push_str(value),
            }
            out.push(quote);
            rest = after;
        }
        out.push_str(rest);
        self.done.set(self.done.get() + done);
        (out, done)
    }

    /// The tracked link for `value` (an `href` as written), or `None` to leave it.
    /// `before` ends at the attribute's opening quote; `rest` is where it began in `source`.
    fn tracked(&self, before: &str, source: &str, rest: &str, value: &str) -> Option<String> {
        if value.contains("{{") || value.contains("{%") || value.contains("{#") {
            return None;
        }
        // The address a click goes to, so the one signed: `&amp;` is `&`.
        let url = decode_entities(value.trim());
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https")) || url.starts_with(&self.prefix) {
            return None;
        }
        let at = source.len() - rest.len() + before.len();
        if tag_name(&source[..at]).eq_ignore_ascii_case("mj-social-element") {
            return None;
        }
        let token = self.tokens.click_token(self.campaign, &url);
        Some(match self.per_member {
            true => format!("{}{token}{{{{ {CLICK_MEMBER} }}}}", self.prefix),
            false => format!("{}{token}", self.prefix),
        })
    }
}

/// The next `href=` attribute with a quoted value in `s`: the text before its value (up to
/// and without the quote), the quote, the value, and the text after the closing quote.
fn next_href(s: &str) -> Option<(&str, char, &str, &str)> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    loop {
        let at = from + lower[from..].find("href")?;
        from = at + 4;
        let preceded = at > 0 && s.as_bytes()[at - 1].is_ascii_whitespace();
        let after = s[from..].trim_start();
        let Some(after) = after.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        let quote = match after.chars().next() {
            Some(q @ ('"' | '\'')) if preceded => q,
            _ => continue,
        };
        let open = s.len() - after.len();
        let len = s[open + 1..].find(quote)?;
        let value = &s[open + 1..open + 1 + len];
        return Some((&s[..open], quote, value, &s[open + 2 + len..]));
    }
}

/// The name of the tag the text `before` ends inside (after its last `<`).
fn tag_name(before: &str) -> &str {
    let start = before.rfind('<').map_or(before.len(), |i| i + 1);
    let tag = &before[start..];
    let end = tag
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(tag.len());
    &tag[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(b"0123456789abcdef-secret", "news.example.org")
    }

    /// The URL each tracked link of `out` stands for, in order.
    fn targets(t: &Tokens, out: &str) -> Vec<String> {
        out.split("https://example.org/c/")
            .skip(1)
            .map(|s| {
                let tok = &s[..s.find(['"', '\'', '{']).unwrap()];
                t.verify_click(tok).unwrap().1
            })
            .collect()
    }

    #[test]
    fn written_out_http_links_are_rewritten_and_the_rest_left_alone() {
        let t = tokens();
        let r = Rewriter::new("https://example.org/", "2023-04", &t, false);
        let src = concat!(
            "<mj-button href=\"https://example.org/book\">Book</mj-button>\n",
            "<a href='HTTP://Example.org/x?a=1&amp;b=2&#38;c=&#x33;'>x</a>\n",
            "<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> <a href=\"{{ web_url }}\">web</a>\n",
            "<a href=\"mailto:chair@example.org\">chair</a> <a href=\"ftp://x.org/\">ftp</a>\n",
            "<mj-social-element name=\"facebook\" href=\"https://example.org/share\" />\n",
            "<p data-href=\"https://example.org/no\">href is a word</p>\n",
            "<mj-image src=\"https://example.org/i.png\" alt=\"\" href = \" https://example.org/ \" />\n",
        );
        let (out, n) = r.rewrite(src);
        assert_eq!(n, 3, "{out}");
        assert_eq!(
            targets(&t, &out),
            [
                "https://example.org/book",
                "HTTP://Example.org/x?a=1&b=2&c=3",
                "https://example.org/",
            ]
        );
        for kept in [
            "href=\"{{ unsubscribe_url }}\"",
            "href=\"{{ web_url }}\"",
            "href=\"mailto:chair@example.org\"",
            "href=\"ftp://x.org/\"",
            "href=\"https://example.org/share\"",
            "data-href=\"https://example.org/no\"",
            "href is a word",
        ] {
            assert!(out.contains(kept), "{kept} in {out}");
        }
        assert!(out.contains("<a href='https://example.org/c/"), "{out}");
        // Rewriting again changes nothing: the links are already tracked.
        assert_eq!(r.rewrite(&out), (out.clone(), 0));
    }

    #[test]
    fn per_member_links_carry_the_members_part_as_a_variable() {
        let t = tokens();
        let r = Rewriter::new("https://example.org", "2023-04", &t, true);
        let (out, n) = r.rewrite("<a href=\"https://example.org/a\">a</a>");
        assert_eq!(n, 1);
        assert!(out.ends_with("{{ click_member }}\">a</a>"), "{out}");
        assert_eq!(targets(&t, &out), ["https://example.org/a"]);
    }

    #[test]
    fn an_unclosed_attribute_or_a_stray_ampersand_is_kept_as_written() {
        let t = tokens();
        let r = Rewriter::new("https://example.org", "c", &t, false);
        let src = "<a href=\"https://example.org/a";
        assert_eq!(r.rewrite(src), (src.to_string(), 0));
        assert_eq!(decode_entities("a&b&amp;c&#xZZ;&;"), "a&b&c&#xZZ;&;");
    }
}
