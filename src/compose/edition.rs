//! The web edition: the bulletin as every member got it, but with no member's data and no
//! member's token, for `{base_url}/bulletins/<campaign>/` (see [`crate::web`]).
//!
//! It is rendered once, when the campaign is first sent (and at each `--accept-changes`),
//! from the same compiled bulletin the members' copies are filled from, with an anonymous
//! member: every column of the list empty (so the template's fallbacks show: `{{ first_name
//! or "colleague" }}` gives "Dear colleague"), `email` and `token` empty, and
//! `unsubscribe_url` the archive's note on unsubscribing (`{base_url}/bulletins/#unsubscribe`:
//! a public page cannot carry anyone's link; the note says the link in each email is the
//! reader's own). It is stored with the campaign ([`crate::store::Master`]), so a template
//! edited afterwards never changes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;

use crate::compose::campaign::Campaign;
use crate::compose::lint::{Finding, Severity};
use crate::compose::sources::Sources;
use crate::config::Config;
use crate::error::{Error, Result, line_of, show};
use crate::list::Member;
use crate::store::{Master, WebEdition};

/// The template variable holding the web edition's address.
pub const WEB_URL: &str = "web_url";

/// Refuses a campaign whose template (or partial, issue or subject) uses `{{ web_url }}`
/// when `[web] base_url` is not set: names the first such file and line.
pub fn refuse_web_url(config: &Config, sources: &Sources) -> Result<()> {
    for (name, text) in &sources.0 {
        let at = match name.split_once(' ') {
            Some(("file", path)) => format!("`{path}`"),
            None if name == "subject" => "the subject".to_string(),
            _ => continue,
        };
        if let Some(pos) = crate::compose::variables::first_use(text, WEB_URL) {
            let line = match name.as_str() {
                "subject" => String::new(),
                _ => format!(" line {}", line_of(text, pos)),
            };
            return Err(Error::input(format!(
                "{at}{line} uses `{{{{ {WEB_URL} }}}}` (the web edition's address), but `[web] base_url` is not set in `{}`: set it to the address `mailshot serve` answers on or `mailshot publish`'s files are served from (e.g. `base_url = \"https://example.org\"`)",
                show(&config.path)
            )));
        }
    }
    Ok(())
}

/// What `campaign` is sent as: its once-per-campaign HTML and subject template, the preview
/// text, and (when it has a web address) the web edition, rendered for an anonymous member of
/// a list with `columns`. The error is the web edition's render error, with file and line.
pub fn master(campaign: &Campaign, columns: &Arc<[String]>) -> std::result::Result<Master, String> {
    let web = match &campaign.archive_url {
        Some(archive) => {
            let ctx = anonymous_context(campaign, columns, &format!("{archive}#unsubscribe"))?;
            let r = campaign
                .render_context(&ctx)
                .map_err(|e| {
                    format!(
                        "the web edition (rendered with every member column empty) fails: {e}: give it a fallback (`{{{{ first_name or \"colleague\" }}}}`) or an `{{% if %}}`"
                    )
                })?;
            Some(WebEdition {
                subject: r.subject,
                html: linked_images(campaign, archive, r.html),
            })
        }
        None => None,
    };
    Ok(Master {
        subject_template: campaign.bulletin.subject_template(),
        preview: web
            .as_ref()
            .map(|w| preview_of(&w.html))
            .unwrap_or_default(),
        html: campaign.bulletin.master_html(),
        web,
    })
}

/// `check`'s and `send`'s finding about the web edition: an error when the campaign has one
/// and it does not render. Asked only when nothing else is wrong: a template that fails for
/// the members fails here too, and they say why.
pub fn finding(campaign: &Campaign, columns: &Arc<[String]>, found: &[Finding]) -> Option<Finding> {
    if campaign.web_url.is_none() || found.iter().any(|f| f.severity == Severity::Error) {
        return None;
    }
    master(campaign, columns).err().map(|message| Finding {
        severity: Severity::Error,
        message,
    })
}

/// `html` with each inline image's `cid:` reference (`[web] inline_images`: the image
/// travels in the message) replaced by its published address under `archive`
/// (`{base_url}/bulletins/`): a web page has no parts to refer to. The images are stored
/// and published with the campaign either way.
fn linked_images(campaign: &Campaign, archive: &str, mut html: String) -> String {
    for image in &campaign.images.images {
        let cid = format!("cid:{}", crate::compose::images::content_id(&image.name));
        html = html.replace(&cid, &format!("{archive}images/{}", image.name));
    }
    html
}

/// The variables of a member of a list with `columns` whose every value is empty, with no
/// address and no token, the unsubscribe link `unsubscribe_url`. A column that is also a
/// campaign value (`[vars]`, front matter, `--var`) is left out: a member's column overrides
/// the campaign's value, and an empty one would blank it in the web edition.
fn anonymous_context(
    campaign: &Campaign,
    columns: &Arc<[String]>,
    unsubscribe_url: &str,
) -> std::result::Result<Value, String> {
    let columns: Arc<[String]> = columns
        .iter()
        .filter(|c| !campaign.vars.contains_key(c.as_str()))
        .cloned()
        .collect();
    let nobody = Member {
        line: 0,
        email: String::new(),
        values: vec![String::new(); columns.len()],
        columns,
    };
    let ctx = campaign.context_with(&nobody, "")?;
    let mut map = ctx
        .downcast_object_ref::<BTreeMap<String, Value>>()
        .cloned()
        .ok_or("the web edition's variables are not a map")?;
    map.insert("unsubscribe_url".into(), Value::from(unsubscribe_url));
    Ok(Value::from(map))
}

/// The inbox preview text of a rendered bulletin: the text of its first element with
/// `style="display:none..."` (what `<mj-preview>` renders to, and the shipped templates'
/// `mj-raw` preview), tags dropped, entities decoded, spaces collapsed; empty when none.
pub fn preview_of(html: &str) -> String {
    // The wire HTML breaks lines between a tag's name and its attributes: find the style.
    let Some(start) = html.find("style=\"display:none") else {
        return String::new();
    };
    let Some(open_end) = html[start..].find('>') else {
        return String::new();
    };
    // The element's end is looked for after its tag: a `</div>` inside the attribute would
    // end before it begins.
    let rest = &html[start + open_end + 1..];
    let inner = &rest[..rest.find("</div>").unwrap_or(rest.len())];
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = decode_entities(&text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with HTML's character references decoded: numeric ones and the five XML names
/// (and `&nbsp;`); anything else is left as written. (Also how `compose::clicks` reads a
/// link's address.)
pub(crate) fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&e| e <= 12);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let n = match name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => name.strip_prefix('#').and_then(|d| d.parse().ok()),
                    };
                    n.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_is_the_first_hidden_div_as_plain_text() {
        let html = "<body><div\r\nstyle=\"display:none;font-size:1px\">Awards &amp; <b>more</b>\r\n  caf&#233; &#x2019;</div><div>Body</div>";
        assert_eq!(preview_of(html), "Awards & more caf\u{e9} \u{2019}");
        assert_eq!(preview_of("<div>No preview</div>"), "");
        // What `preview` shows too: references decoded after tags are dropped, so an escaped
        // `<news>` stays; an unknown name stays as written.
        let html = "<html><head><style>div{}</style></head><body style=\"x\">\r\n<div\r\nstyle=\"display:none;font-size:1px\">Awards\r\n&amp; more &#x2f; &lt;news&gt; &#233;t&eacute;</div><div>Body</div></body></html>";
        assert_eq!(preview_of(html), "Awards & more / <news> \u{e9}t&eacute;");
        // Regression: a `</div>` before the tag's end sliced backwards (a panic).
        assert_eq!(preview_of("<div style=\"display:none</div>"), "");
        // An unknown or unterminated reference stays as written.
        assert_eq!(
            decode_entities("a &bogus; b & c &#99999999;"),
            "a &bogus; b & c &#99999999;"
        );
    }
}
