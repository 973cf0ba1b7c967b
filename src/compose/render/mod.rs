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
//!
//! One step a file: this one holds [`Bulletin`], compiled once per campaign
//! ([`Bulletin::compile`]) and rendering each member ([`Bulletin::render`]), its minijinja
//! environment, and the check that the shortcut is safe ([`Bulletin::verify`]); `html` the
//! MJML -> HTML step with mrml (the nesting check, includes, the once-per-campaign and the full
//! render, [`wire_html`]); `escape` how member data is escaped in the HTML; `fill` the fills by
//! copying; `text` the text part ([`html_to_text`]); `describe` minijinja's and mrml's errors
//! worded with the file and line.

mod balance;
mod describe;
mod escape;
pub(crate) mod fill;
mod html;
mod text;

pub use html::{MAX_NESTING, Partials, check_nesting, wire_html};
pub use text::html_to_text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::error::{Error, Result, show};

use describe::describe_jinja;
use escape::{ATTR_FILTER, TEXT_FILTER, escape_attr, escape_text, escaping_filter, html_formatter};
use fill::{Escape, Fill};

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
    /// Included files' text over what is on disk.
    partials: Arc<Partials>,
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
        Bulletin::with_partials(path, source, Partials::new(), subject, unsubscribe_url)
    }

    /// As [`Bulletin::from_source`], an included file's text taken from `partials` (by its
    /// canonical path) where it is there.
    pub fn with_partials(
        path: &Path,
        source: String,
        partials: Partials,
        subject: Option<&str>,
        unsubscribe_url: &str,
    ) -> Result<Bulletin> {
        let partials = Arc::new(partials);
        let name = show(path);
        check_nesting(&source).map_err(|e| Error::input(format!("template `{name}` {e}")))?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut env = new_env();
        add_sources(&mut env, &name, &source, subject, unsubscribe_url)?;
        let (mode, text_precompiled, warnings) =
            html::precompile(&mut env, &name, &source, &root, &partials);
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
            partials,
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

    /// The subject template (`--subject`, the issue's, or `<mj-title>`), as given.
    pub fn subject_template(&self) -> String {
        self.env
            .get_template(SUBJECT)
            .map(|t| t.source().to_string())
            .unwrap_or_default()
    }

    /// The once-per-campaign render: the HTML with the variables still as placeholders, as
    /// every member's copy is filled from; `None` when the campaign renders the MJML per
    /// member (there is no such render then).
    pub fn master_html(&self) -> Option<String> {
        match self.mode {
            Mode::Precompiled => self
                .env
                .get_template(self.html)
                .ok()
                .map(|t| t.source().to_string()),
            Mode::Full => None,
        }
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
        html::render_full(
            &mjml,
            &self.name,
            &self.root,
            &self.partials,
            &self.env,
            ctx,
        )
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
