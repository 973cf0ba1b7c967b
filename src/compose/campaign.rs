//! A campaign: the compiled bulletin, the sender, the tokens; what every path (send, the
//! `--test-to` proof, the dry run, `check`) renders members with.
//!
//! 1. **Prepare** ([`Campaign::open`] calls [`Campaign::prepare`]): the render mode is decided
//!    once, on the first few members of the list, before any path renders: the MJML rendered
//!    once per campaign with only the variables filled per member, or (where that would not
//!    give a full render's bytes, e.g. a `{% for %}` around `mj-column`) the MJML rendered per
//!    member. Every path then renders the same way: a proof is what the members get.
//! 2. **Preflight** ([`preflight`]): every member rendered and its message's inputs checked
//!    before anything leaves; any problem (bad row, undefined variable, MJML error) is named,
//!    and nothing is sent.
//! 3. **Build** ([`Campaign::build`]): one member's signed message, as the workers send it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::compose::clicks;
use crate::compose::images::{self, Published};
use crate::compose::markdown;
use crate::compose::message::{self, Outgoing, PerMember, Sender};
use crate::compose::opens::Pixel;
use crate::compose::render::{Bulletin, Mode, Partials, Rendered};
use crate::compose::sources::Sources;
use crate::compose::tokens::Tokens;
use crate::config::Config;
use crate::error::{Error, Result, show};
use crate::list::{Member, MemberList};

/// Members whose renderings decide the render mode (the first of the list that render).
pub const SAMPLE: usize = 3;

/// Members of the first few preflight builds into whole messages (MIME encoding is the same
/// for every member and costs far more than rendering).
const BUILT_IN_PREFLIGHT: u64 = 3;
/// How many members no envelope can carry preflight names (the rest are counted).
const MAX_NAMED_UNSENDABLE: usize = 5;

/// How a campaign renders its members, and why: decided by [`Campaign::prepare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The MJML rendered once, the variables filled per member: it gave a full render's
    /// bytes for the first `sampled` members (and for their values laced with markup).
    /// `sampled` is 0 when no member could be tried (an empty list, say).
    Precompiled { sampled: usize },
    /// The MJML rendered per member: it does not render once with its placeholders (a bare
    /// `<` in an `{% if %}`, say).
    FullUnrenderable,
    /// The MJML rendered per member: rendering it once gave other bytes than a full render
    /// for the member on `line` (a `{% for %}` around `mj-column`, say).
    FullDiffers { line: u64, email: String },
}

impl Prepared {
    pub fn mode(&self) -> Mode {
        match self {
            Prepared::Precompiled { .. } => Mode::Precompiled,
            Prepared::FullUnrenderable | Prepared::FullDiffers { .. } => Mode::Full,
        }
    }
}

/// Everything a member needs to become a message, shared by the workers. Made by
/// [`Campaign::open`], which prepares it: there is no unprepared campaign to render with.
pub struct Campaign {
    pub id: String,
    pub bulletin: Bulletin,
    pub vars: BTreeMap<String, String>,
    pub sender: Sender,
    /// Domain of the Message-IDs: the From address's.
    pub domain: String,
    /// Signs unsubscribe links and bounce addresses.
    pub tokens: Tokens,
    /// `bounces+{token}@domain`: the per-member envelope sender, if configured.
    pub bounce_address: Option<String>,
    /// The MJML file the bulletin is rendered from: the config's `template`, or its `layout`
    /// when the campaign has a Markdown issue (what `check` lints).
    pub template: PathBuf,
    /// The Markdown issue, if the campaign has one (`check` lints its links too).
    pub issue: Option<PathBuf>,
    /// For a Markdown issue: which line of the issue or the layout a template error means.
    lines: Option<markdown::LineMap>,
    /// Exactly what it is rendered from: stored at its first send, compared by later runs.
    pub sources: Sources,
    /// Its local images, published under content-hashed names (stored at its first send and
    /// with each `--test-to` copy), and what `check` says about them.
    pub images: Published,
    /// The render mode and why; see [`Campaign::prepare`].
    prepared: Prepared,
    /// `{{ web_url }}`: the campaign's web edition, when `[web] base_url` is set.
    pub web_url: Option<String>,
    /// The archive, `{base_url}/bulletins/`, when `[web] base_url` is set.
    pub archive_url: Option<String>,
    /// `[tracking] clicks` and `per_member`: each member's links carry `{{ click_member }}`.
    per_member_clicks: bool,
    /// `[tracking] opens`: each member's own copy carries this open pixel.
    pixel: Option<Pixel>,
}

impl Campaign {
    /// Compiles the template, gathers sender, list headers, tokens and DKIM from `config`,
    /// opens the member list (`config.list`) and prepares the campaign on its first members.
    /// Returns the campaign, the list and the warnings to show.
    pub fn open(
        config: &Config,
        id: &str,
        subject: Option<&str>,
    ) -> Result<(Campaign, MemberList, Vec<String>)> {
        let (mut campaign, warnings) = Campaign::from_config(config, id, subject)?;
        let list = MemberList::open(&config.list)?;
        // Rows that do not read are preflight's to report; they decide nothing here.
        campaign.prepare(list.rows()?.flatten());
        Ok((campaign, list, warnings))
    }

    /// Decides, once, how every member is rendered: keeps the once-per-campaign render if it
    /// gives a full render's bytes for the first [`SAMPLE`] members that render (the first
    /// of `members`), else renders the MJML per member. Called by [`Campaign::open`]; once a
    /// campaign renders per member, it stays so.
    pub fn prepare(&mut self, members: impl IntoIterator<Item = Member>) -> &Prepared {
        if self.bulletin.mode() == Mode::Full {
            self.prepared = Prepared::FullUnrenderable;
            return &self.prepared;
        }
        let mut sampled = 0;
        for m in members {
            if sampled == SAMPLE {
                break;
            }
            // A member whose variables do not resolve proves nothing; preflight names it.
            let Ok(ctx) = self.context(&m) else { continue };
            sampled += 1;
            if !self.bulletin.verify(&ctx) {
                self.prepared = Prepared::FullDiffers {
                    line: m.line,
                    email: m.email,
                };
                return &self.prepared;
            }
        }
        self.prepared = Prepared::Precompiled { sampled };
        &self.prepared
    }

    /// How this campaign renders its members, and why.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The campaign before [`Campaign::prepare`]: not for rendering yet.
    fn from_config(
        config: &Config,
        id: &str,
        subject: Option<&str>,
    ) -> Result<(Campaign, Vec<String>)> {
        check_campaign_id(id)?;
        let compiled = compile(config, id, subject)?;
        if config.web.base_url.is_none() {
            crate::compose::edition::refuse_web_url(config, &compiled.sources)?;
        }
        let Compiled {
            bulletin,
            vars,
            template,
            issue,
            lines,
            sources,
            images,
        } = compiled;
        let mut warnings = bulletin.warnings.clone();
        let (tokens, warning) = Tokens::from_config(config, true)?;
        warnings.extend(warning);
        let t = &config.tracking;
        let pixel = match (t.opens, &config.web.base_url) {
            (true, Some(base)) => Some(Pixel::new(base, id, &tokens, t.per_member)),
            _ => None,
        };
        warnings.extend(pixel.as_ref().map(|p| p.reminder(t.per_member)));
        let dkim = match &config.dkim {
            Some(d) => Some(Arc::new(crate::compose::dkim::Signer::load(d)?)),
            None => None,
        };
        let list_id = match &config.list_name {
            Some(name) => format!("\"{}\" <{}>", name.replace(['"', '\\'], ""), config.list_id),
            None => format!("<{}>", config.list_id),
        };
        let sender = Sender {
            from: config.from.clone(),
            reply_to: config.reply_to.clone(),
            list_id,
            feedback_id: config
                .feedback_id
                .as_ref()
                .map(|f| f.replace("{campaign}", id)),
            unsubscribe_mailto: config.unsubscribe.mailto.clone(),
            dkim,
            inline: match config.web.inline_images {
                true => images
                    .images
                    .iter()
                    .map(|i| message::Inline::new(i.content_type, &i.name, &i.bytes))
                    .collect(),
                false => Arc::from([]),
            },
        };
        let campaign = Campaign {
            id: id.to_string(),
            bulletin,
            vars,
            template,
            issue,
            lines,
            sources,
            images,
            sender,
            domain: config.from_domain(),
            tokens,
            bounce_address: config.bounce_address.clone(),
            prepared: Prepared::Precompiled { sampled: 0 },
            web_url: config.web.web_url(id),
            archive_url: config.web.archive_url(),
            per_member_clicks: config.tracking.clicks && config.tracking.per_member,
            pixel,
        };
        Ok((campaign, warnings))
    }

    /// The variables of one member, unsubscribe token and URL included.
    pub fn context(&self, member: &Member) -> std::result::Result<minijinja::Value, String> {
        self.context_with(member, &self.tokens.token(&member.email))
    }

    /// [`Campaign::context`] with `token` for the unsubscribe link (and `web_url`, when
    /// there is a web edition).
    pub(crate) fn context_with(
        &self,
        member: &Member,
        token: &str,
    ) -> std::result::Result<minijinja::Value, String> {
        let mut extra = vec![("token", token), ("list", self.sender.list_id_bare())];
        if let Some(url) = &self.web_url {
            extra.push(("web_url", url));
        }
        // A member's own copy names the member; the web edition (no token) and a test copy
        // name nobody.
        let member_part = match self.per_member_clicks {
            true if !token.is_empty()
                && !token.starts_with(crate::compose::tokens::TEST_PREFIX) =>
            {
                format!("~{}", self.tokens.click_member(&self.id, &member.email))
            }
            _ => String::new(),
        };
        if self.per_member_clicks {
            extra.push((clicks::CLICK_MEMBER, &member_part));
        }
        self.bulletin.context(&self.vars, member, &self.id, &extra)
    }

    /// Renders the variables `ctx`; an error names the line of the issue or the layout.
    pub(crate) fn render_context(
        &self,
        ctx: &minijinja::Value,
    ) -> std::result::Result<Rendered, String> {
        self.bulletin.render(ctx).map_err(|e| match &self.lines {
            Some(lines) => lines.relocate(&e),
            None => e,
        })
    }

    /// Renders one member; also returns the member's unsubscribe URL (for the headers).
    fn render_with_url(
        &self,
        member: &Member,
        token: &str,
    ) -> std::result::Result<(Rendered, String), String> {
        let ctx = self.context_with(member, token)?;
        let rendered = self.render_context(&ctx)?;
        let url = ctx
            .get_attr("unsubscribe_url")
            .ok()
            .map(|v| v.to_string())
            .unwrap_or_default();
        Ok((rendered, url))
    }

    /// Renders one member and checks its headers as [`Campaign::build`] would write them,
    /// without building MIME. (Whether it can go on an envelope at all is
    /// [`Campaign::check_envelope`].)
    pub fn check(&self, member: &Member) -> std::result::Result<Rendered, String> {
        let (rendered, url) = self.render_with_url(member, &self.tokens.token(&member.email))?;
        let per = PerMember {
            to: &member.email,
            name: member.display_name(),
            message_id: "<check@localhost>",
            unsubscribe_url: &url,
            subject: None,
            envelope_from: None,
            pixel: None,
        };
        message::check_headers(&self.sender, &per, &rendered)?;
        Ok(rendered)
    }

    /// Renders one member as `send --test-to` would for them, for `mailshot preview`: the
    /// member's own rendering, its unsubscribe links carrying a test token (they unsubscribe
    /// nobody) instead of the member's.
    pub fn render_proof(&self, member: &Member) -> std::result::Result<Rendered, String> {
        let token = self.tokens.test_token(&self.id, &member.email);
        self.render_with_url(member, &token).map(|(r, _)| r)
    }

    /// Whether lettre can put `member` on an envelope. It reads the envelope back from the
    /// To header it writes, and some valid addresses do not survive that
    /// (`"d d"@example.org`); a configured bounce address must come out as an address too.
    /// The round trip alone, not a whole message: it runs for every member.
    pub fn check_envelope(&self, member: &Member) -> std::result::Result<(), String> {
        use lettre::message::{Mailbox, Mailboxes};
        let refused = |why: &dyn std::fmt::Display| {
            format!("`{}` cannot be put on an envelope: {why}", member.email)
        };
        let name = member.display_name();
        let user = member.email.rsplit_once('@').map_or("", |(u, _)| u);
        // A dot-atom address and a plain name are written and read back as they are; the
        // round trip (~50 us a member in a debug build) is for the rest.
        let plain =
            |s: &str, more: &[char]| s.chars().all(|c| c.is_alphanumeric() || more.contains(&c));
        if plain(
            user,
            &[
                '.', '-', '_', '+', '\'', '=', '!', '#', '$', '%', '&', '*', '/', '?', '^', '`',
                '{', '|', '}', '~',
            ],
        ) && name
            .as_deref()
            .is_none_or(|n| plain(n, &[' ', '.', '-', '\'']))
        {
            return self.check_bounce(member, &refused);
        }
        let to: lettre::Address = member.email.parse().map_err(|e| refused(&e))?;
        let written = Mailboxes::from(Mailbox::new(name, to.clone())).to_string();
        let read: Option<Mailboxes> = written.parse().ok();
        if !read.is_some_and(|r| r.iter().map(|m| &m.email).eq([&to])) {
            return Err(refused(&format_args!(
                "lettre cannot read back the To header it writes for it (`{written}`)"
            )));
        }
        self.check_bounce(member, &refused)
    }

    /// A configured bounce address must come out as an address for `member`.
    fn check_bounce(
        &self,
        member: &Member,
        refused: &dyn Fn(&dyn std::fmt::Display) -> String,
    ) -> std::result::Result<(), String> {
        if self.bounce_address.is_some() && self.envelope_from(member).is_none() {
            return Err(refused(&"the bounce address for it is not a valid address"));
        }
        Ok(())
    }

    /// The envelope sender for `member`: the bounce address with its token, if configured.
    pub fn envelope_from(&self, member: &Member) -> Option<lettre::Address> {
        let template = self.bounce_address.as_ref()?;
        template
            .replace(
                "{token}",
                &self.tokens.bounce_token(&self.id, &member.email),
            )
            .parse()
            .ok()
    }

    /// Renders and builds one member's message; `test_to` redirects it (and marks the subject,
    /// and gives its links a test token that unsubscribes nobody).
    pub fn build(
        &self,
        member: &Member,
        message_id: &str,
        test_to: Option<&str>,
    ) -> std::result::Result<Outgoing, String> {
        let token = match test_to {
            Some(to) => self.tokens.test_token(&self.id, to),
            None => {
                // No envelope can carry it: that member fails with the reason (preflight
                // said so), the campaign goes on.
                self.check_envelope(member)?;
                self.tokens.token(&member.email)
            }
        };
        let (rendered, url) = self.render_with_url(member, &token)?;
        // A member's own copy only: a test copy's open would be the chair's.
        let pixel = match (&self.pixel, test_to) {
            (Some(pixel), None) => Some(pixel.url(&self.tokens, &self.id, &member.email)),
            _ => None,
        };
        let test_subject = test_to.map(|_| format!("[TEST] {}", rendered.subject));
        let per = PerMember {
            to: test_to.unwrap_or(&member.email),
            name: if test_to.is_some() {
                None
            } else {
                member.display_name()
            },
            message_id,
            unsubscribe_url: &url,
            subject: test_subject.as_deref(),
            envelope_from: if test_to.is_some() {
                None
            } else {
                self.envelope_from(member)
            },
            pixel: pixel.as_deref(),
        };
        message::build(&self.sender, &per, &rendered)
    }

    pub fn new_message_id(&self) -> String {
        message::new_message_id(&self.id, &self.domain)
    }
}

/// What [`compile`] gives a campaign.
struct Compiled {
    bulletin: Bulletin,
    vars: BTreeMap<String, String>,
    /// The MJML file the bulletin is rendered from.
    template: PathBuf,
    /// The Markdown issue, if any.
    issue: Option<PathBuf>,
    /// For a Markdown issue: which line of the issue or the layout a template error means.
    lines: Option<markdown::LineMap>,
    sources: Sources,
    images: Published,
}

/// The campaign's bulletin, its variables and the MJML file it is rendered from. With a
/// Markdown issue (`<issues>/<id>.md`, unless `--template` was given), the issue in the
/// layout: its front matter's subject (unless `subject`) and values (over the config's
/// `[vars]`, under `--var`); else the config's template and `[vars]`.
fn compile(config: &Config, id: &str, subject: Option<&str>) -> Result<Compiled> {
    let issue = match config.use_issues {
        true => markdown::issue_path(&config.issues, id),
        false => None,
    };
    let base = config.path.parent().unwrap_or(std::path::Path::new(""));
    let mut sources = Sources::default();
    let tokens = match config.tracking.clicks {
        true => Some(Tokens::from_config(config, true)?.0),
        false => None,
    };
    let clicks = tokens
        .as_ref()
        .zip(config.web.base_url.as_deref())
        .map(|(t, base)| clicks::Rewriter::new(base, id, t, config.tracking.per_member));
    let clicks = clicks.as_ref();
    // Links tracked or not, and the pixel, are part of what members get: a later run may
    // not change them.
    if let Some(tracking) = tracked(&config.tracking) {
        sources.0.insert("tracking".into(), tracking);
    }
    match issue {
        None => compile_template(config, subject, base, sources, clicks),
        Some(path) => compile_issue(config, subject, base, sources, clicks, path),
    }
}

/// What a campaign's sources record of `[tracking]`: `clicks`, `opens`, `clicks and opens`,
/// each with ` per member` when so; `None` when nothing is tracked (as campaigns recorded
/// before open tracking say `clicks` or `clicks per member`).
fn tracked(t: &crate::config::TrackingConfig) -> Option<String> {
    let what = match (t.clicks, t.opens) {
        (true, true) => "clicks and opens",
        (true, false) => "clicks",
        (false, true) => "opens",
        (false, false) => return None,
    };
    Some(match t.per_member {
        true => format!("{what} per member"),
        false => what.to_string(),
    })
}

/// [`compile`] for a plain MJML template (the config's `template`).
fn compile_template(
    config: &Config,
    subject: Option<&str>,
    base: &std::path::Path,
    mut sources: Sources,
    clicks: Option<&clicks::Rewriter>,
) -> Result<Compiled> {
    let url = &config.unsubscribe.url;
    let name = show(&config.template);
    let source = std::fs::read_to_string(&config.template)
        .map_err(|e| Error::input(format!("failed to read template `{name}`: {e}")))?;
    let partials = sources.template(base, &config.template, &source, &root_of(&config.template));
    let place = |n: usize| format!("template `{name}` line {n}");
    let (source, partials, images) =
        with_images(config, &source, &place, partials, &mut sources, clicks);
    let mut bulletin = Bulletin::with_partials(&config.template, source, partials, subject, url)?;
    bulletin
        .warnings
        .extend(clicks.map(clicks::Rewriter::reminder));
    sources.values(&config.vars, &bulletin.subject_template());
    Ok(Compiled {
        bulletin,
        vars: config.vars.clone(),
        template: config.template.clone(),
        issue: None,
        lines: None,
        sources,
        images,
    })
}

/// [`compile`] for the Markdown issue at `path`, in the config's `layout`.
fn compile_issue(
    config: &Config,
    subject: Option<&str>,
    base: &std::path::Path,
    mut sources: Sources,
    clicks: Option<&clicks::Rewriter>,
    path: PathBuf,
) -> Result<Compiled> {
    let url = &config.unsubscribe.url;
    let issue = markdown::load(&path)?;
    // Read again for the record and the placeholders left: `load` keeps only what it parsed.
    let text = std::fs::read_to_string(&path).ok();
    if let Some(text) = &text {
        sources.file(base, &path, text);
    }
    let layout = show(&config.layout);
    let source = std::fs::read_to_string(&config.layout)
        .map_err(|e| Error::input(format!("failed to read layout `{layout}`: {e}")))?;
    let partials = sources.template(base, &config.layout, &source, &root_of(&config.layout));
    let lines = markdown::LineMap::new(&layout, &source, &show(&path), &issue);
    let source = markdown::fill_layout(&layout, &source, &issue)?;
    let place = |n: usize| lines.relocate(&format!("template `{layout}` line {n}"));
    let (source, partials, images) =
        with_images(config, &source, &place, partials, &mut sources, clicks);
    let mut bulletin = Bulletin::with_partials(&config.layout, source, partials, subject, url)
        .map_err(|e| match e {
            Error::Input(msg) => Error::Input(lines.relocate(&msg)),
            e => e,
        })?;
    for w in &mut bulletin.warnings {
        *w = lines.relocate(w);
    }
    bulletin
        .warnings
        .extend(clicks.map(clicks::Rewriter::reminder));
    if let Some(text) = &text {
        let left = crate::compose::next_issue::leftover_warnings(&show(&path), text);
        bulletin.warnings.extend(left);
    }
    let mut vars = config.vars.clone();
    vars.extend(issue.vars);
    vars.extend(config.cli_vars.clone());
    sources.values(&vars, &bulletin.subject_template());
    Ok(Compiled {
        bulletin,
        vars,
        template: config.layout.clone(),
        issue: Some(path),
        lines: Some(lines),
        sources,
        images,
    })
}

/// The MJML `source` and its `partials` (each path with its text) with their local images
/// published ([`images::Publisher`]; `place` names the lines of `source`): the source, the
/// partials that changed (for the render, by canonical path) and what was published, each
/// image's digest added to `sources`. With `clicks`, their links are then rewritten through
/// the click counter ([`clicks::Rewriter`]).
fn with_images(
    config: &Config,
    source: &str,
    place: &dyn Fn(usize) -> String,
    partials: Vec<(PathBuf, String)>,
    sources: &mut Sources,
    clicks: Option<&clicks::Rewriter>,
) -> (String, Partials, Published) {
    let base = images::project_folder(&config.path);
    let mut publisher = images::Publisher::new(&base, &config.web, source);
    let track = |text: String| match clicks {
        Some(c) => c.rewrite(&text).0,
        None => text,
    };
    let source = track(publisher.rewrite(source, place));
    let mut changed = Partials::new();
    for (path, text) in partials {
        let name = show(&path);
        let out = track(publisher.rewrite(&text, &|n| format!("template `{name}` line {n}")));
        if out != text
            && let Ok(canon) = path.canonicalize()
        {
            changed.insert(canon, out);
        }
    }
    let published = publisher.finish();
    for image in &published.images {
        sources.image(&image.path, &image.sha256);
    }
    (source, changed, published)
}

/// The folder a template's `mj-include`s resolve in, as the render resolves them.
fn root_of(template: &std::path::Path) -> std::path::PathBuf {
    template
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

/// Checks a campaign ID: it names a folder of the outbox, so no path characters.
pub fn check_campaign_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(Error::input(format!(
            "invalid campaign ID `{id}`: use letters, digits, `-`, `_` and `.` (e.g. `2023-04`)"
        )));
    }
    // The public side's own names under /bulletins/ (see `crate::web`).
    if RESERVED_IDS.iter().any(|r| r.eq_ignore_ascii_case(id)) {
        return Err(Error::input(format!(
            "campaign ID `{id}` is reserved: the web archive uses `/bulletins/{id}` (choose another, e.g. `2023-04`)"
        )));
    }
    Ok(())
}

/// Names under `/bulletins/` the web archive uses itself: the published images' folder, the
/// feed, the index page.
const RESERVED_IDS: &[&str] = &["images", "feed.atom", "index.html"];

/// The outcome of preflight.
#[derive(Debug, Default)]
pub struct Preflight {
    /// The MJML file the campaign renders (the layout, for a Markdown issue): what the
    /// inbox rules check. None: the config's `template`.
    pub template: Option<PathBuf>,
    /// The campaign's Markdown issue, if any: its links are checked too.
    pub issue: Option<PathBuf>,
    /// The subject as a template (it may use values).
    pub subject_template: String,
    /// For each list column, how many members that read have it empty (blank).
    pub empty: BTreeMap<String, u64>,
    /// Members that rendered cleanly.
    pub members: u64,
    /// Members that read and that the caller's `eligible` kept (the run would send to).
    pub eligible: u64,
    /// The first member's subject, for the prompt.
    pub subject: Option<String>,
    /// The first member's rendering, for the checks.
    pub first: Option<Rendered>,
    /// Every problem found, each naming its file and line; nothing may be sent unless empty.
    pub problems: Vec<String>,
    /// What publishing the campaign's local images found (see [`crate::compose::images`]).
    pub images: Vec<crate::compose::lint::Finding>,
    /// Members whose address has a non-ASCII local part (they need SMTPUTF8), and the first
    /// few of them.
    pub utf8_local: (u64, Vec<String>),
    /// Members whose address cannot go on an envelope (`"d d"@example.org`: lettre cannot
    /// read back the To header it writes): a send records them failed and goes on. How
    /// many, and the first few, each with its line and why.
    pub unsendable: (u64, Vec<String>),
    /// Members whose subject is longer than [`crate::compose::lint::MAX_SUBJECT_CHARS`]
    /// (a member's values can make it so): how many, and the first few, each with its line
    /// and length.
    pub long_subjects: (u64, Vec<String>),
}

/// Renders every member of `list` and checks its message's inputs; counts them, and those
/// `eligible` keeps (asked of every member that reads), and lists every problem. One pass
/// over the list.
pub fn preflight(
    campaign: &Campaign,
    list: &MemberList,
    mut eligible: impl FnMut(&str) -> Result<bool>,
) -> Result<Preflight> {
    let list_name = show(&list.path);
    let mut pre = Preflight {
        template: Some(campaign.template.clone()),
        issue: campaign.issue.clone(),
        subject_template: campaign.bulletin.subject_template(),
        images: campaign.images.findings.clone(),
        ..Preflight::default()
    };
    let mut problems = Problems::default();
    let mut read = 0;
    for row in list.rows()? {
        let m = match row {
            Ok(m) => m,
            Err(e) => {
                problems.add(e.in_list(&list.path).to_string(), None);
                continue;
            }
        };
        read += 1;
        if eligible(&m.email)? {
            pre.eligible += 1;
        }
        pre.count_empty(&m);
        // A member no envelope can carry fails alone when its turn comes (its message is
        // not built): said here, up front, and its rendering still checked.
        let sendable = match campaign.check_envelope(&m) {
            Ok(()) => true,
            Err(why) => {
                pre.unsendable.0 += 1;
                if pre.unsendable.1.len() < MAX_NAMED_UNSENDABLE {
                    let at = format!("{} line {}", list_name, m.line);
                    pre.unsendable.1.push(format!("{why} ({at})"));
                }
                false
            }
        };
        let checked = if sendable && pre.members < BUILT_IN_PREFLIGHT {
            campaign
                .build(&m, "<preflight@localhost>", None)
                .and_then(|_| campaign.check(&m))
        } else {
            campaign.check(&m)
        };
        match checked {
            Ok(r) => pre.rendered(&m, r),
            Err(e) => problems.add(e, Some(format!("line {} (`{}`)", m.line, m.email))),
        }
    }
    pre.problems = problems.named(&list_name, read);
    Ok(pre)
}

impl Preflight {
    /// Counts the columns `m` has blank.
    fn count_empty(&mut self, m: &Member) {
        for (c, v) in m.columns.iter().zip(&m.values) {
            if v.trim().is_empty() {
                *self.empty.entry(c.clone()).or_default() += 1;
            }
        }
    }

    /// Counts a member that rendered cleanly as `r`.
    fn rendered(&mut self, m: &Member, r: Rendered) {
        self.members += 1;
        if m.email
            .rsplit_once('@')
            .is_some_and(|(user, _)| !user.is_ascii())
        {
            self.utf8_local.0 += 1;
            if self.utf8_local.1.len() < 3 {
                self.utf8_local.1.push(m.email.clone());
            }
        }
        let n = r.subject.chars().count();
        if n > crate::compose::lint::MAX_SUBJECT_CHARS {
            self.long_subjects.0 += 1;
            if self.long_subjects.1.len() < 3 {
                self.long_subjects
                    .1
                    .push(format!("line {} (`{}`): {n} characters", m.line, m.email));
            }
        }
        if self.first.is_none() {
            self.subject = Some(r.subject.clone());
            self.first = Some(r);
        }
    }
}

/// Problems grouped by their text, so one template error is reported once, with its members.
#[derive(Default)]
struct Problems {
    list: Vec<(String, Vec<String>)>,
    index: HashMap<String, usize>,
}

impl Problems {
    /// Adds `problem`, hit by the member `who` (`None`: a row that does not read).
    fn add(&mut self, problem: String, who: Option<String>) {
        let i = *self.index.entry(problem.clone()).or_insert_with(|| {
            self.list.push((problem, Vec::new()));
            self.list.len() - 1
        });
        self.list[i].1.extend(who);
    }

    /// Each problem once, with the members it hit (a few by name; "all" when it hit every
    /// one of the `read` members: the template's fault, not a member's).
    fn named(self, list_name: &str, read: usize) -> Vec<String> {
        self.list
            .into_iter()
            .map(|(problem, who)| {
                if who.is_empty() {
                    return problem;
                }
                if who.len() == read && read > 1 {
                    return format!("{problem} (all {read} members of `{list_name}`)");
                }
                let more = if who.len() > 3 {
                    format!(" and {} more", who.len() - 3)
                } else {
                    String::new()
                };
                format!(
                    "{problem} (member on `{list_name}` {}{more})",
                    who[..who.len().min(3)].join(", ")
                )
            })
            .collect()
    }
}

/// A scratch project for unit tests: a config with the file transport, a template whose
/// `<mj-body>` is `body`, and the member list `csv`.
#[cfg(test)]
pub(crate) fn scratch(body: &str, csv: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "t.mjml",
        &format!(
            "<mjml><mj-head><mj-title>Hi {{{{ first_name }}}}</mj-title></mj-head>\
             <mj-body>{body}<mj-section><mj-column><mj-text>\
             <a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a><br>12 Quayside Road, Northvale NV1 4AB</mj-text>\
             </mj-column></mj-section></mj-body></mjml>"
        ),
    );
    write("members.csv", csv);
    let path = dir.path().join("config.toml");
    let config = Config::parse(
        &path,
        "template = \"t.mjml\"\nlist = \"members.csv\"\nstore = \"m.db\"\n\
         [sender]\nfrom = \"News <news@example.org>\"\nlist_id = \"news.example.org\"\n\
         [unsubscribe]\nurl = \"https://example.org/u/{{ token }}\"\n",
    )
    .unwrap();
    (dir, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids_are_checked_and_the_archives_own_names_are_reserved() {
        assert!(check_campaign_id("2023-04").is_ok());
        assert!(check_campaign_id("spring.2024_b").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(101)] {
            assert!(check_campaign_id(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_campaign_id("Images").unwrap_err().to_string(),
            "campaign ID `Images` is reserved: the web archive uses `/bulletins/Images` (choose another, e.g. `2023-04`)"
        );
        assert!(check_campaign_id("feed.atom").is_err());
    }

    const FOUR: &str = "email,first_name\nann@example.org,Ann\nbob@example.org,Bob\n\
                        cat@example.org,Cat\ndan@example.org,Dan\n";

    fn prepared(body: &str, csv: &str) -> Prepared {
        let (_dir, config) = scratch(body, csv);
        let (campaign, _, _) = Campaign::open(&config, "c", None).unwrap();
        campaign.prepared().clone()
    }

    #[test]
    fn text_and_slots_keep_the_once_per_campaign_render_checked_on_three_members() {
        let body = "<mj-section><mj-column><mj-text>Dear {{ first_name }}</mj-text></mj-column></mj-section>";
        assert_eq!(
            prepared(body, FOUR),
            Prepared::Precompiled { sampled: SAMPLE }
        );
        assert_eq!(prepared(body, FOUR).mode(), Mode::Precompiled);
    }

    #[test]
    fn a_loop_around_columns_renders_per_member_naming_the_member_it_differed_for() {
        let body = "<mj-section>{% for i in range(3) %}<mj-column><mj-text>{{ first_name }} {{ i }}</mj-text></mj-column>{% endfor %}</mj-section>";
        assert_eq!(
            prepared(body, FOUR),
            Prepared::FullDiffers {
                line: 2,
                email: "ann@example.org".into()
            }
        );
    }

    #[test]
    fn a_template_mrml_cannot_read_with_its_placeholders_renders_per_member() {
        // A bare `<` is an MJML parse error until minijinja has evaluated the condition.
        let body = "<mj-section><mj-column><mj-text>{% if 1 < 2 %}yes{% endif %}</mj-text></mj-column></mj-section>";
        assert_eq!(prepared(body, FOUR), Prepared::FullUnrenderable);
        assert_eq!(prepared(body, FOUR).mode(), Mode::Full);
    }

    #[test]
    fn rows_that_do_not_read_decide_nothing_and_an_empty_list_keeps_the_shortcut() {
        let body = "<mj-section><mj-column><mj-text>Dear {{ first_name }}</mj-text></mj-column></mj-section>";
        assert_eq!(
            prepared(body, "email,first_name\n"),
            Prepared::Precompiled { sampled: 0 }
        );
        // Line 2 is not an address: the sample is the one good member.
        assert_eq!(
            prepared(
                body,
                "email,first_name\nnot-an-address,X\nann@example.org,Ann\n"
            ),
            Prepared::Precompiled { sampled: 1 }
        );
    }

    #[test]
    fn a_member_the_shortcut_differs_for_after_the_first_turns_the_campaign_over() {
        // Only a member with `vip` = `y` gets the loop: the second member decides.
        let body = "{% if vip == \"y\" %}<mj-section>{% for i in range(2) %}<mj-column><mj-text>{{ i }}</mj-text></mj-column>{% endfor %}</mj-section>{% endif %}";
        let csv = "email,first_name,vip\nann@example.org,Ann,\nbob@example.org,Bob,y\n";
        assert_eq!(
            prepared(body, csv),
            Prepared::FullDiffers {
                line: 3,
                email: "bob@example.org".into()
            }
        );
    }

    #[test]
    fn the_proof_renders_as_the_members_copy() {
        let body = "<mj-section>{% for i in range(3) %}<mj-column><mj-text>{{ first_name }} {{ i }}</mj-text></mj-column>{% endfor %}</mj-section>";
        let (_dir, config) = scratch(body, FOUR);
        let (campaign, list, _) = Campaign::open(&config, "c", None).unwrap();
        let ann = list.rows().unwrap().next().unwrap().unwrap();
        let html = |token: String| {
            let (rendered, _) = campaign.render_with_url(&ann, &token).unwrap();
            rendered.html.replace(&token, "TOKEN")
        };
        let sent = html(campaign.tokens.token(&ann.email));
        let proof = html(campaign.tokens.test_token("c", "chair@example.org"));
        assert!(
            sent.contains("width:33.33"),
            "three columns of a third each"
        );
        assert_eq!(proof, sent);
    }

    #[test]
    fn per_member_click_links_keep_the_once_per_campaign_render_and_name_each_member() {
        let body = "<mj-section><mj-column><mj-button href=\"https://example.org/a?x=1&amp;y=2\">Go</mj-button>\
                    <mj-text>Dear {{ first_name }}, <a href=\"https://example.org/b\">b</a></mj-text></mj-column></mj-section>";
        let (_dir, mut config) = scratch(body, FOUR);
        config.web.base_url = Some("https://example.org".into());
        config.tracking.clicks = true;
        config.tracking.per_member = true;
        let (campaign, list, _) = Campaign::open(&config, "c", None).unwrap();
        assert_eq!(
            campaign.prepared(),
            &Prepared::Precompiled { sampled: SAMPLE }
        );
        let members: Vec<Member> = list.rows().unwrap().flatten().collect();
        for m in &members[..2] {
            let html = campaign.check(m).unwrap().html;
            let member = format!("~{}", campaign.tokens.click_member("c", &m.email));
            let links: Vec<&str> = html
                .split("href=\"https://example.org/c/")
                .skip(1)
                .map(|s| &s[..s.find('"').unwrap()])
                .collect();
            assert_eq!(links.len(), 2, "{html}");
            let urls: Vec<String> = links
                .iter()
                .map(|l| {
                    let (link, part) = l.split_once('~').unwrap();
                    assert_eq!(format!("~{part}"), member);
                    campaign.tokens.verify_click(link).unwrap().1
                })
                .collect();
            assert_eq!(
                urls,
                ["https://example.org/a?x=1&y=2", "https://example.org/b"]
            );
        }
    }
}
