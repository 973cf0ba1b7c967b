//! The preview page's HTML. Everything from the files and the list (member data, subjects,
//! error messages) is escaped here; the bulletin itself is never inlined: each frame loads
//! it from `/render`, where it is served as the message carries it.

use crate::compose::lint::{Finding, Severity};
use crate::web::escape;

use super::state::{EMPTY, LISTED, Ready, Snapshot};
use crate::compose::edition::preview_of;

/// The bulletin's widths shown side by side, in CSS pixels: a desktop mail client's reading
/// pane, and a phone.
pub const WIDTHS: [u32; 2] = [640, 375];

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#1f2d3d;background:#f4f6f8}\
header,main>section{padding:.6rem 1rem}\
header{background:#0b5e6b;color:#fff}header h1{font-size:1.1rem;margin:0}\
.inbox{background:#fff;border:1px solid #d5dde3;border-radius:4px;padding:.6rem 1rem;max-width:60rem}\
.inbox div{margin:.2rem 0}.inbox .label{display:inline-block;width:6rem;color:#5b6b7a}\
.frames{display:flex;gap:1rem;align-items:flex-start;overflow-x:auto}\
.frames figure{margin:0}.frames figcaption{font-size:.85rem;color:#5b6b7a}\
iframe{border:1px solid #d5dde3;background:#fff;height:900px;display:block}\
pre{white-space:pre-wrap;background:#fff;border:1px solid #d5dde3;padding:.6rem;max-width:60rem}\
.problem{background:#fdecea;border:1px solid #e0a39d;border-radius:4px;padding:.6rem 1rem;max-width:60rem}\
.findings li{margin:.2rem 0}.findings .error b{color:#b3261e}.findings .warning b{color:#8a5a00}\
form{display:inline-block;margin-right:1rem}";

/// The whole page for `who` (`?as=`): the panel inside, and the script that keeps it current.
pub fn document(snapshot: &Snapshot, who: Option<&str>) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mailshot preview</title><style>{STYLE}</style></head><body>\
         <header><h1>mailshot preview</h1></header>\
         <main id=\"app\">{}</main><script src=\"/app.js\"></script></body></html>",
        panel(snapshot, who)
    )
}

/// What `#app` holds: the inbox line, the picker, the frames, the text part and the findings;
/// or the error that stopped the campaign from opening.
pub fn panel(snapshot: &Snapshot, who: Option<&str>) -> String {
    let generation = snapshot.generation;
    let body = match &snapshot.loaded {
        Err(message) => problem("The campaign does not open", message),
        Ok(ready) => ready_panel(ready, who) + &findings(snapshot.findings.as_deref()),
    };
    format!("<div id=\"panel\" data-generation=\"{generation}\">{body}</div>")
}

/// An error, shown where the bulletin would be.
fn problem(title: &str, message: &str) -> String {
    format!(
        "<section id=\"problem\" class=\"problem\" role=\"alert\"><h2>{}</h2><pre class=\"error-text\">{}</pre>\
         <p>The page updates when the file is saved again.</p></section>",
        escape(title),
        escape(message)
    )
}

/// The picker, then the member's bulletin (or why it does not render).
fn ready_panel(ready: &Ready, who: Option<&str>) -> String {
    let shown = ready.show(who);
    let who_param = who.unwrap_or("");
    let load = ready.load;
    let mut out = format!("<section id=\"picker\">{}</section>", picker(ready, who));
    match shown.as_ref() {
        Err(message) => out.push_str(&problem("This member's bulletin does not render", message)),
        Ok(r) => {
            out.push_str(&format!(
                "<section id=\"inbox\" class=\"inbox\" aria-label=\"Inbox line\">\
                 <div><span class=\"label\">From</span> <span id=\"from\">{}</span></div>\
                 <div><span class=\"label\">Subject</span> <strong id=\"subject\">{}</strong></div>\
                 <div><span class=\"label\">Preview</span> <span id=\"preview-text\">{}</span></div>\
                 </section>",
                escape(&ready.from),
                escape(&r.subject),
                escape(&preview_of(&r.html))
            ));
            out.push_str("<section id=\"frames\" class=\"frames\">");
            for w in WIDTHS {
                out.push_str(&format!(
                    "<figure><figcaption>{w} px</figcaption><iframe id=\"frame-{w}\" title=\"The bulletin at {w} px\" \
                     width=\"{w}\" sandbox=\"allow-popups allow-popups-to-escape-sandbox allow-same-origin\" \
                     src=\"/render?as={}&amp;g={load}\"></iframe></figure>",
                    escape(&url_encode(who_param))
                ));
            }
            out.push_str("</section>");
            out.push_str(&format!(
                "<section id=\"text\"><h2>Text part</h2><pre id=\"text-part\">{}</pre></section>",
                escape(&r.text)
            ));
        }
    }
    out
}

/// The member picker: the first [`LISTED`] members and "a member with empty fields", and a
/// box for any address on the list. Works without the script (a GET of `/?as=`).
fn picker(ready: &Ready, who: Option<&str>) -> String {
    let current = who.unwrap_or("").trim();
    let mut options = String::new();
    for m in &ready.members {
        let selected = match m.email.eq_ignore_ascii_case(current) {
            true => " selected",
            false => "",
        };
        let name = m.display_name().unwrap_or_default();
        options.push_str(&format!(
            "<option value=\"{}\"{selected}>{}{}</option>",
            escape(&m.email),
            escape(&m.email),
            match name.is_empty() {
                true => String::new(),
                false => format!(" ({})", escape(&name)),
            }
        ));
    }
    let empty_selected = if current == EMPTY { " selected" } else { "" };
    options.push_str(&format!(
        "<option value=\"{EMPTY}\"{empty_selected}>a member with empty fields</option>"
    ));
    let more = match ready.more {
        true => format!(" (the first {LISTED}; type any other address)"),
        false => String::new(),
    };
    format!(
        "<form id=\"pick\" method=\"get\" action=\"/\"><label>Member{more} \
         <select id=\"member\" name=\"as\">{options}</select></label> \
         <button type=\"submit\">Show</button></form>\
         <form id=\"search\" method=\"get\" action=\"/\"><label>Any address \
         <input id=\"address\" type=\"search\" name=\"as\" value=\"{}\" placeholder=\"name@example.org\"></label> \
         <button type=\"submit\">Show</button></form>",
        match current == EMPTY {
            true => String::new(),
            false => escape(current),
        }
    )
}

/// `check`'s findings, as it prints them; `None`: still checking.
fn findings(found: Option<&Vec<Finding>>) -> String {
    let Some(found) = found else {
        return "<section id=\"check\"><h2>Check: checking every member…</h2></section>".into();
    };
    let errors = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = found.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut out = format!(
        "<section id=\"check\"><h2>Check: {}, {}</h2><ul id=\"findings\" class=\"findings\">",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    for f in found {
        let class = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "<li class=\"{class}\"><b>{class}</b>: {}</li>",
            escape(&f.message)
        ));
    }
    out.push_str("</ul></section>");
    out
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A page for a frame that has no bulletin to show.
pub fn frame_problem(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>No bulletin</title></head>\
         <body style=\"font-family:Helvetica,Arial,sans-serif;color:#b3261e\"><pre style=\"white-space:pre-wrap\">{}</pre></body></html>",
        escape(message)
    )
}

/// The script: waits for a newer load (a long poll on `/changes`), then fetches the panel
/// again for the member shown; the picker changes the member without reloading the page.
pub const SCRIPT: &str = r#""use strict";
const app = document.getElementById("app");
let generation = Number(document.getElementById("panel").dataset.generation);
let who = new URLSearchParams(location.search).get("as") || "";
// Replaces only the sections that changed: frames showing the same load are not reloaded,
// and the address being typed keeps its focus.
async function refresh() {
  const r = await fetch("/panel?as=" + encodeURIComponent(who), { cache: "no-store" });
  const holder = document.createElement("div");
  holder.innerHTML = await r.text();
  const fresh = holder.firstElementChild;
  const panel = document.getElementById("panel");
  const was = [...panel.children];
  const now = [...fresh.children];
  if (was.length === now.length && was.every((e, i) => e.id === now[i].id)) {
    was.forEach((e, i) => {
      if (e.outerHTML === now[i].outerHTML) return;
      // The same frames with a new address: navigated where they are, which is quicker
      // than new frames and keeps the old rendering on screen until the new one is in.
      const old = [...e.querySelectorAll("iframe")];
      const fresh = [...now[i].querySelectorAll("iframe")];
      if (old.length > 0 && old.length === fresh.length && old.every((f, k) => f.id === fresh[k].id)) {
        old.forEach((f, k) => f.setAttribute("src", fresh[k].getAttribute("src")));
        if (e.outerHTML === now[i].outerHTML) return;
      }
      e.replaceWith(now[i]);
    });
    panel.dataset.generation = fresh.dataset.generation;
  } else {
    panel.replaceWith(fresh);
  }
  generation = Number(fresh.dataset.generation);
}
function show(as) {
  who = as;
  history.replaceState(null, "", as ? "/?as=" + encodeURIComponent(as) : "/");
  refresh();
}
app.addEventListener("change", (e) => { if (e.target.id === "member") show(e.target.value); });
app.addEventListener("submit", (e) => {
  e.preventDefault();
  const input = e.target.querySelector("[name=as]");
  show(input ? input.value.trim() : "");
});
async function watch() {
  for (;;) {
    try {
      const r = await fetch("/changes?since=" + generation, { cache: "no-store" });
      // Refused or gone (stopped, restarted): try again in a second, never in a tight loop.
      if (!r.ok) throw new Error(`status ${r.status}`);
      const latest = Number(await r.text());
      if (latest !== generation) await refresh();
    } catch (e) {
      await new Promise((done) => setTimeout(done, 1000));
    }
  }
}
watch();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(message: &str) -> Snapshot {
        Snapshot {
            generation: 7,
            loaded: Err(message.to_string()),
            findings: None,
        }
    }

    #[test]
    fn an_error_is_shown_escaped_with_its_file_and_line() {
        let html = panel(
            &failed("issues/2023-05.md line 12: unexpected `<mj-text>` & \"more\""),
            None,
        );
        assert!(html.starts_with("<div id=\"panel\" data-generation=\"7\">"));
        assert!(html.contains(
            "<pre class=\"error-text\">issues/2023-05.md line 12: unexpected `&lt;mj-text&gt;` &amp; &quot;more&quot;</pre>"
        ));
        assert!(!html.contains("<mj-text>"));
    }

    #[test]
    fn the_document_loads_the_script_and_never_inlines_member_input() {
        let html = document(&failed("x"), Some("\"><script>alert(1)</script>"));
        assert!(html.contains("<script src=\"/app.js\"></script>"));
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn member_data_is_escaped_in_the_picker_the_inbox_line_and_the_text() {
        let body = "<mj-section><mj-column><mj-text>Dear {{ first_name }}</mj-text></mj-column></mj-section>";
        let csv = "email,first_name,last_name\nann@example.org,<img src=x onerror=alert(1)>,\"O\"\"Neil & co\"\n";
        let (_dir, config) = crate::compose::campaign::scratch(body, csv);
        let ready = super::super::state::ready(config, "c", None, 3).unwrap();
        let found = ready.check(&Default::default()).unwrap();
        let snapshot = Snapshot {
            generation: 4,
            loaded: Ok(std::sync::Arc::new(ready)),
            findings: Some(std::sync::Arc::new(found)),
        };
        let html = panel(&snapshot, Some("ann@example.org"));
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains(
            "<option value=\"ann@example.org\" selected>ann@example.org (&lt;img src=x onerror=alert(1)&gt; O&quot;Neil &amp; co)</option>"
        ), "{html}");
        // The subject is `Hi {{ first_name }}`: the inbox line shows it as text.
        assert!(
            html.contains("<strong id=\"subject\">Hi &lt;img src=x onerror=alert(1)&gt;</strong>"),
            "{html}"
        );
        assert!(html.contains("src=\"/render?as=ann@example.org&amp;g=3\""));
        // Someone not on the list: said, escaped, in place of the bulletin.
        let html = panel(&snapshot, Some("<x>@example.org"));
        assert!(
            html.contains("`&lt;x&gt;@example.org` is not in `"),
            "{html}"
        );
        assert!(!html.contains("<iframe"));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("a+b@example.org"), "a%2Bb@example.org");
        assert_eq!(url_encode("\"&<"), "%22%26%3C");
        assert_eq!(url_encode("(empty)"), "%28empty%29");
    }

    #[test]
    fn a_frame_problem_is_escaped() {
        let html = frame_problem("`<b>` & co");
        assert!(html.contains("`&lt;b&gt;` &amp; co"));
    }
}
