//! The public side: each sent campaign's web edition, the archive of past issues and its
//! Atom feed, as pages (path, content type, bytes) built from the store. `mailshot serve`
//! answers them over HTTP ([`crate::serve`]) and `mailshot publish` writes them as files
//! (`commands::publish`): one builder, so both give the same bytes.
//!
//! | page | path under the output folder | URL |
//! |---|---|---|
//! | the archive | `bulletins/index.html` | `{base_url}/bulletins/` |
//! | the Atom feed (RFC 4287) | `bulletins/feed.atom` | `{base_url}/bulletins/feed.atom` |
//! | a web edition | `bulletins/<campaign>/index.html` | `{base_url}/bulletins/<campaign>/` |
//!
//! Links are absolute, from `[web] base_url`: the feed must give absolute IRIs anyway, the
//! web editions themselves link with absolute addresses (`{{ web_url }}`, images), and the
//! same bytes then work wherever they are copied from (a feed reader, a saved page).
//! Every subject and preview is escaped (they hold the campaign's values, not a member's:
//! web editions carry no member data; see [`crate::compose::edition`]).

use crate::config::Config;
use crate::error::Result;
use crate::store::{Edition, Store};

pub const HTML: &str = "text/html; charset=utf-8";
pub const ATOM: &str = "application/atom+xml; charset=utf-8";

/// One file of the public side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Where it goes under the output folder (`bulletins/feed.atom`), `/`-separated.
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The archive as the store has it: every campaign with a web edition, newest first.
pub struct Site {
    /// `[web] base_url`, no trailing `/`.
    base: String,
    /// The list's name (`list_name`, else `list_id`): the archive's and the feed's title.
    title: String,
    /// `[unsubscribe] mailto`, offered on the archive's note on unsubscribing.
    mailto: Option<String>,
    editions: Vec<Edition>,
}

/// `s` escaped for HTML text and attribute values, and for XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML 1.0 at all, and meaningless in a title.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

impl Site {
    /// The archive of `store` (`None`: no store yet, an empty archive) at `base` (`[web]
    /// base_url`).
    pub fn load(config: &Config, base: &str, store: Option<&Store>) -> Result<Site> {
        Ok(Site {
            base: base.trim_end_matches('/').to_string(),
            title: config
                .list_name
                .clone()
                .unwrap_or_else(|| config.list_id.clone()),
            mailto: config.unsubscribe.mailto.clone(),
            editions: match store {
                Some(s) => s.editions()?,
                None => Vec::new(),
            },
        })
    }

    /// Campaign `id`'s web edition address.
    fn web_url(&self, id: &str) -> String {
        format!("{}/bulletins/{id}/", self.base)
    }

    /// Every page: the archive, the feed, and each web edition (read from `store`).
    pub fn pages(&self, store: Option<&Store>) -> Result<Vec<Page>> {
        let mut out = vec![self.index(), self.feed()];
        for e in &self.editions {
            let html = match store {
                Some(s) => s.edition_html(&e.campaign)?,
                None => None,
            };
            if let Some(html) = html {
                out.push(edition(&e.campaign, html));
            }
        }
        Ok(out)
    }

    /// The archive: each issue's subject (linked), date and preview, newest first; then a
    /// note on unsubscribing, which the web editions' unsubscribe links point at.
    pub fn index(&self) -> Page {
        let title = escape(&format!("{}: past issues", self.title));
        let mut items = String::new();
        for e in &self.editions {
            let date = e.published.get(..10).unwrap_or(&e.published);
            items.push_str(&format!(
                "<li><a href=\"{}\">{}</a> <time datetime=\"{}\">{}</time>{}</li>\n",
                escape(&self.web_url(&e.campaign)),
                escape(&e.subject),
                escape(&e.published),
                escape(date),
                match e.preview.is_empty() {
                    true => String::new(),
                    false => format!("<br><span>{}</span>", escape(&e.preview)),
                }
            ));
        }
        let list = match items.is_empty() {
            true => "<p>No issues yet.</p>\n".to_string(),
            false => format!("<ul>\n{items}</ul>\n"),
        };
        let mailto = match &self.mailto {
            Some(m) => format!(
                " Or write to <a href=\"mailto:{0}?subject=unsubscribe\">{0}</a>.",
                escape(m)
            ),
            None => String::new(),
        };
        let feed = escape(&format!("{}/bulletins/feed.atom", self.base));
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n\
             <link rel=\"alternate\" type=\"application/atom+xml\" title=\"{feed_title}\" href=\"{feed}\">\n\
             <style>body{{font-family:Helvetica,Arial,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1f2d3d;line-height:1.5}}\
             li{{margin:0 0 1rem}}time{{color:#5b6b7a;margin-left:.5rem}}span{{color:#5b6b7a}}a{{color:#0b6e74}}</style>\n\
             </head>\n<body>\n<h1>{title}</h1>\n{list}\
             <h2 id=\"unsubscribe\">Unsubscribing</h2>\n\
             <p>Each email has its own unsubscribe link at its foot: use the one in an issue you \
             received. These pages are the same for everyone and carry nobody's link.{mailto}</p>\n\
             <p><a href=\"{feed}\">Atom feed</a></p>\n</body>\n</html>\n",
            feed_title = escape(&self.title),
        );
        Page {
            path: "bulletins/index.html".into(),
            content_type: HTML,
            body: body.into_bytes(),
        }
    }

    /// The Atom feed (RFC 4287): one entry per issue, newest first, its summary the preview
    /// text (or the subject). `updated` is the latest issue's (the Unix epoch when none).
    pub fn feed(&self) -> Page {
        let updated = self
            .editions
            .iter()
            .map(|e| e.updated.as_str())
            .max()
            .unwrap_or("1970-01-01T00:00:00Z");
        let archive = format!("{}/bulletins/", self.base);
        let mut entries = String::new();
        for e in &self.editions {
            let url = escape(&self.web_url(&e.campaign));
            let summary = match e.preview.is_empty() {
                true => &e.subject,
                false => &e.preview,
            };
            entries.push_str(&format!(
                "  <entry>\n    <id>{url}</id>\n    <title>{}</title>\n    <published>{}</published>\n    \
                 <updated>{}</updated>\n    <link rel=\"alternate\" type=\"text/html\" href=\"{url}\"/>\n    \
                 <summary>{}</summary>\n  </entry>\n",
                escape(&e.subject),
                escape(&e.published),
                escape(&e.updated),
                escape(summary),
            ));
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  \
             <id>{archive}</id>\n  <title>{title}</title>\n  <updated>{updated}</updated>\n  \
             <author><name>{title}</name></author>\n  \
             <link rel=\"self\" type=\"application/atom+xml\" href=\"{archive}feed.atom\"/>\n  \
             <link rel=\"alternate\" type=\"text/html\" href=\"{archive}\"/>\n{entries}</feed>\n",
            archive = escape(&archive),
            title = escape(&self.title),
            updated = escape(updated),
        );
        Page {
            path: "bulletins/feed.atom".into(),
            content_type: ATOM,
            body: body.into_bytes(),
        }
    }
}

/// Campaign `id`'s web edition, `html` as stored.
pub fn edition(id: &str, html: String) -> Page {
    Page {
        path: format!("bulletins/{id}/index.html"),
        content_type: HTML,
        body: html.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(editions: Vec<Edition>) -> Site {
        Site {
            base: "https://news.example.org".into(),
            title: "News & <Views>".into(),
            mailto: None,
            editions,
        }
    }

    fn issue(id: &str, subject: &str, preview: &str, at: &str) -> Edition {
        Edition {
            campaign: id.into(),
            subject: subject.into(),
            preview: preview.into(),
            published: at.into(),
            updated: at.into(),
        }
    }

    fn text(p: &Page) -> String {
        String::from_utf8(p.body.clone()).unwrap()
    }

    #[test]
    fn subjects_and_previews_are_escaped_in_the_archive_and_the_feed() {
        let s = site(vec![issue(
            "2023-05",
            "Q&A: <script>alert(1)</script> \"x\" 'y'",
            "a < b & c\u{1}",
            "2023-05-02T09:00:00.000Z",
        )]);
        let index = text(&s.index());
        assert!(index.contains(
            "<li><a href=\"https://news.example.org/bulletins/2023-05/\">Q&amp;A: &lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot; &#39;y&#39;</a> \
             <time datetime=\"2023-05-02T09:00:00.000Z\">2023-05-02</time><br><span>a &lt; b &amp; c</span></li>"
        ), "{index}");
        assert!(index.contains("<title>News &amp; &lt;Views&gt;: past issues</title>"));
        assert!(!index.contains("<script>"));
        let feed = text(&s.feed());
        assert!(feed.contains(
            "<title>Q&amp;A: &lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot; &#39;y&#39;</title>"
        ));
        // A control character is not allowed in XML 1.0: left out.
        assert!(
            feed.contains("<summary>a &lt; b &amp; c</summary>"),
            "{feed}"
        );
        assert!(feed.contains("<updated>2023-05-02T09:00:00.000Z</updated>\n  <author>"));
        assert_eq!(s.feed().content_type, ATOM);
        assert_eq!(s.feed().path, "bulletins/feed.atom");
    }

    #[test]
    fn an_empty_archive_says_so_and_its_feed_is_still_valid() {
        let s = site(Vec::new());
        assert!(text(&s.index()).contains("<p>No issues yet.</p>"));
        let feed = text(&s.feed());
        assert!(feed.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
        assert!(feed.contains("<updated>1970-01-01T00:00:00Z</updated>"));
        assert!(feed.contains("<link rel=\"self\" type=\"application/atom+xml\" href=\"https://news.example.org/bulletins/feed.atom\"/>"));
        assert!(!feed.contains("<entry>"));
    }

    #[test]
    fn the_feed_is_as_new_as_its_newest_issue_and_lists_newest_first() {
        let s = site(vec![
            issue("b", "B", "", "2023-06-01T00:00:00.000Z"),
            issue("a", "A", "", "2023-05-01T00:00:00.000Z"),
        ]);
        let feed = text(&s.feed());
        assert!(feed.contains("<updated>2023-06-01T00:00:00.000Z</updated>\n  <author>"));
        // No preview: the subject is the summary.
        assert!(
            feed.find("<summary>B</summary>").unwrap() < feed.find("<summary>A</summary>").unwrap()
        );
        assert_eq!(
            edition("a", "<html></html>".into()).path,
            "bulletins/a/index.html"
        );
    }
}
