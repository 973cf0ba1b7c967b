//! Open tracking (`[tracking] opens = true`, off by default): each member's copy carries a
//! 1x1 transparent image, `{base_url}/o/<token>.gif`, which `mailshot serve` answers and
//! counts (`serve::opens`).
//!
//! The pixel is put into the HTML of a member's own message, just before `</body>`, as the
//! message is built (`compose::message` writes it in while copying the HTML into the
//! message, so the HTML is never copied for it): never into the web edition
//! (a web reader is not a member opening their mail), a `--test-to` copy (the chair's test
//! would count), the preview, or the text part (it is made from the bulletin before, and an
//! image with an empty `alt` has no text anyway). It is not MJML, so the once-per-campaign
//! render and its equivalence check are untouched.
//!
//! The token ([`Tokens::open_token`]) signs the campaign, and with `per_member` the member's
//! address key: without `per_member` one token serves the whole campaign (computed once),
//! and an open names nobody. An open is a weak signal, counted as such: images are blocked
//! by default in many clients (no open seen), Apple Mail Privacy Protection fetches every
//! image of every message on arrival (an open seen that nobody made), and proxies cache.

use crate::compose::tokens::Tokens;

/// How a campaign's members' copies get their pixel.
pub struct Pixel {
    /// `{base_url}/o/`.
    prefix: String,
    /// The campaign's one token, without `per_member`; `None`: one per member.
    shared: Option<String>,
}

impl Pixel {
    pub fn new(base_url: &str, campaign: &str, tokens: &Tokens, per_member: bool) -> Pixel {
        Pixel {
            prefix: format!("{}/o/", base_url.trim_end_matches('/')),
            shared: (!per_member).then(|| tokens.open_token(campaign, None)),
        }
    }

    /// The pixel's address for `email`'s copy.
    pub fn url(&self, tokens: &Tokens, campaign: &str, email: &str) -> String {
        let token = match &self.shared {
            Some(t) => t.clone(),
            None => tokens.open_token(campaign, Some(email)),
        };
        format!("{}{token}.gif", self.prefix)
    }

    /// The reminder `check` and `send` show while open tracking is on.
    pub fn reminder(&self, per_member: bool) -> String {
        format!(
            "open tracking is on (`[tracking] opens`{}): each member's copy loads an image from `{}`; opens are unreliable (Apple Mail Privacy Protection loads every image, many clients block images) and need the readers' consent (PECR; README, \"Open tracking\")",
            if per_member { ", per member" } else { "" },
            self.prefix
        )
    }

    /// The pixel for `url` as a line of its own (CRLF-ended): what [`Pixel::position`] says
    /// where to put.
    pub fn img(url: &str) -> String {
        format!(
            "<img src=\"{url}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0;\" />\r\n"
        )
    }

    /// Where in `html` the pixel goes: just before the last `</body>` (any case), or at the
    /// end when there is none; and whether a line break must come first (the place is not
    /// at a line's start).
    pub fn position(html: &[u8]) -> (usize, bool) {
        let at = html
            .windows(7)
            .rposition(|w| w.eq_ignore_ascii_case(b"</body>"))
            .unwrap_or(html.len());
        (at, at > 0 && html[at - 1] != b'\n')
    }

    /// `img` with the line break [`Pixel::position`] asked for.
    pub fn line(url: &str, break_first: bool) -> String {
        match break_first {
            true => format!("\r\n{}", Pixel::img(url)),
            false => Pixel::img(url),
        }
    }

    /// Puts the pixel for `url` into `html` (wire HTML: CRLF lines), on a line of its own
    /// just before the last `</body>`, or at the end when there is none. (A message being
    /// built writes it in as it copies the HTML instead: `compose::message`.)
    pub fn insert(html: &mut String, url: &str) {
        let (at, break_first) = Pixel::position(html.as_bytes());
        html.insert_str(at, &Pixel::line(url, break_first));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(b"0123456789abcdef-secret", "news.example.org")
    }

    #[test]
    fn the_pixel_goes_on_its_own_line_before_the_last_body_end() {
        let mut html = "<body>\r\n<p>a</p>\r\n</BODY>\r\n</html>\r\n".to_string();
        Pixel::insert(&mut html, "https://x.org/o/t.gif");
        assert_eq!(
            html,
            "<body>\r\n<p>a</p>\r\n<img src=\"https://x.org/o/t.gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0;\" />\r\n</BODY>\r\n</html>\r\n"
        );
        let mut html = "<p>a</p></body>".to_string();
        Pixel::insert(&mut html, "u");
        assert!(html.starts_with("<p>a</p>\r\n<img src=\"u\""), "{html}");
        assert!(html.ends_with("/>\r\n</body>"), "{html}");
        let mut html = "<p>no body end</p>".to_string();
        Pixel::insert(&mut html, "u");
        assert!(html.starts_with("<p>no body end</p>\r\n<img src=\"u\""));
    }

    #[test]
    fn one_token_serves_the_campaign_unless_per_member() {
        let t = tokens();
        let shared = Pixel::new("https://x.org/", "2023-04", &t, false);
        let ann = shared.url(&t, "2023-04", "ann@example.org");
        assert_eq!(ann, shared.url(&t, "2023-04", "bob@example.org"));
        let token = ann
            .strip_prefix("https://x.org/o/")
            .and_then(|s| s.strip_suffix(".gif"))
            .unwrap();
        assert_eq!(
            t.verify_open(token),
            Some(("2023-04".into(), String::new()))
        );
        let each = Pixel::new("https://x.org", "2023-04", &t, true);
        let ann = each.url(&t, "2023-04", "Ann@Example.org");
        assert_ne!(ann, each.url(&t, "2023-04", "bob@example.org"));
        let token = &ann["https://x.org/o/".len()..ann.len() - 4];
        assert_eq!(
            t.verify_open(token),
            Some(("2023-04".into(), "ann@example.org".into()))
        );
    }
}
