//! What the page shows, loaded from the files as they are: the campaign opened as `check`
//! opens it, `check`'s findings, the first members of the list; or the error that stopped it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::compose::campaign::Campaign;
use crate::compose::lint::{self, Finding, Severity};
use crate::compose::render::Rendered;
use crate::config::Config;
use crate::error::{Error, Result, show};
use crate::list::{Member, MemberList};

/// Members listed in the page's picker, at most; any other is shown by its address (`?as=`).
pub const LISTED: usize = 200;

/// The address of "a member with empty fields": every column empty but this.
pub const EMPTY_MEMBER: &str = "member@example.org";

/// How the page names "a member with empty fields" in `?as=` (not an address, so no member's).
pub const EMPTY: &str = "(empty)";

/// How `preview` was started: what every reload opens.
pub struct Options {
    pub config_path: PathBuf,
    /// The command line's `--campaign`; `None`: the last issue, else `preview`.
    pub campaign: Option<String>,
    pub subject: Option<String>,
    /// The command line's overrides (`--template`, `--list`, `--var`), applied to every
    /// config read.
    pub overrides: Box<dyn Fn(&mut Config) + Send + Sync>,
}

impl Options {
    /// Reads the config as it is now, with the command line's overrides.
    pub fn config(&self) -> Result<Config> {
        let mut config = Config::load(&self.config_path)?;
        (self.overrides)(&mut config);
        Ok(config)
    }

    /// The campaign shown: `--campaign`, else the last Markdown issue by name, else `preview`.
    pub fn campaign(&self, config: &Config) -> String {
        if let Some(c) = &self.campaign {
            return c.clone();
        }
        let last = match config.use_issues {
            true => crate::compose::next_issue::previous(&config.issues, "\u{10FFFF}").ok(),
            false => None,
        };
        last.flatten()
            .and_then(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "preview".into())
    }
}

/// What the page shows: the files as last loaded, and `check`'s findings on them.
pub struct Snapshot {
    /// Counts what was published: the page asks for a newer one.
    pub generation: u64,
    /// The campaign as last loaded, or the error (as `check` prints it) that stopped it.
    pub loaded: std::result::Result<Arc<Ready>, String>,
    /// `check`'s findings on `loaded`, errors first; `None` while every member is being
    /// checked (the rendering is shown first: on a long list the check takes a while).
    pub findings: Option<Arc<Vec<Finding>>>,
}

/// A campaign that opened.
pub struct Ready {
    /// Which load this is (the frames' addresses carry it, so a new load reloads them and
    /// new findings alone do not).
    pub load: u64,
    config: Config,
    pub campaign: Campaign,
    pub list: MemberList,
    /// The warnings of opening it, for `check`'s list.
    warnings: Vec<String>,
    /// The From header, as the message carries it (before encoding).
    pub from: String,
    /// The first [`LISTED`] members that read.
    pub members: Vec<Member>,
    /// Whether the list has more members than `members`.
    pub more: bool,
    /// The last rendering asked for (the page asks for one member's three times: the inbox
    /// line, then each frame).
    last: Mutex<Option<(String, Arc<Shown>)>>,
}

impl Ready {
    /// `html` with the campaign's local images pointed at this page's own copies
    /// (`/bulletins/images/<name>`): their published address (`[web] base_url`) may not
    /// answer yet, and an inline part's `cid:` means nothing to a browser.
    pub fn local_images(&self, mut html: String) -> String {
        for image in &self.campaign.images.images {
            let here = format!("/bulletins/images/{}", image.name);
            if let Some(url) = self.config.web.image_url(&image.name) {
                html = html.replace(&url, &here);
            }
            let cid = format!("cid:{}", crate::compose::images::content_id(&image.name));
            html = html.replace(&cid, &here);
        }
        html
    }

    /// The campaign's local image published as `name`: its type and bytes.
    pub fn image(&self, name: &str) -> Option<(&'static str, Arc<Vec<u8>>)> {
        self.campaign
            .images
            .images
            .iter()
            .find(|i| i.name == name)
            .map(|i| (i.content_type, i.bytes.clone()))
    }
}

/// One member's rendering, or why there is none.
pub type Shown = std::result::Result<Rendered, String>;

/// Opens the campaign of `config` (as [`Options::config`] read it) as `check` does (never
/// the store for writing, never its lock), as load number `load`; the error message (as
/// `check` prints it) when it does not open. The findings are [`Ready::check`]'s.
pub fn load(
    options: &Options,
    config: Result<Config>,
    load: u64,
) -> std::result::Result<Ready, String> {
    config
        .and_then(|config| {
            let id = options.campaign(&config);
            let subject = options.subject.clone();
            ready(config, &id, subject.as_deref(), load)
        })
        .map_err(|e| e.to_string())
}

/// Campaign `id` of `config`, opened as `check` opens it.
pub(crate) fn ready(config: Config, id: &str, subject: Option<&str>, load: u64) -> Result<Ready> {
    let (campaign, list, warnings) = Campaign::open(&config, id, subject)?;
    let mut members = Vec::new();
    let mut more = false;
    for m in list.rows()?.flatten() {
        if members.len() == LISTED {
            more = true;
            break;
        }
        members.push(m);
    }
    Ok(Ready {
        load,
        from: config.from.to_string(),
        config,
        campaign,
        list,
        warnings,
        members,
        more,
        last: Mutex::new(None),
    })
}

/// `check`'s refusal for a campaign already sent from other sources, read from the store
/// opened read-only (a store that cannot be read says so instead).
fn sent_from_other_sources(store: &Path, campaign: &Campaign) -> Option<String> {
    let read = || -> Result<Option<String>> {
        match crate::store::Store::open_read_only(store)? {
            Some(s) => crate::deliver::run::changed_sources(&s, campaign),
            None => Ok(None),
        }
    };
    read().unwrap_or_else(|e| {
        Some(format!(
            "the campaign's first sources could not be compared: {e}"
        ))
    })
}

impl Ready {
    /// The member `who` names (an address, any case; [`EMPTY`]; `None`: the first member).
    pub fn member(&self, who: Option<&str>) -> std::result::Result<Member, String> {
        let list_name = show(&self.list.path);
        let Some(who) = who.map(str::trim).filter(|w| !w.is_empty()) else {
            return match self.members.first() {
                Some(m) => Ok(m.clone()),
                None => Ok(self.empty_member()),
            };
        };
        if who == EMPTY {
            return Ok(self.empty_member());
        }
        let same = |m: &Member| m.email.eq_ignore_ascii_case(who);
        if let Some(m) = self.members.iter().find(|m| same(m)) {
            return Ok(m.clone());
        }
        if self.more {
            let rows = self.list.rows().map_err(|e| e.to_string())?;
            if let Some(m) = rows.flatten().find(same) {
                return Ok(m);
            }
        }
        Err(format!("`{who}` is not in `{list_name}`"))
    }

    /// "A member with empty fields": every column of the list empty but the address.
    fn empty_member(&self) -> Member {
        let values = self
            .list
            .columns
            .iter()
            .map(|c| match c.as_str() {
                "email" => EMPTY_MEMBER.to_string(),
                _ => String::new(),
            })
            .collect();
        Member {
            line: 0,
            email: EMPTY_MEMBER.into(),
            columns: self.list.columns.clone(),
            values,
        }
    }

    /// The rendering the page shows for `who` (see [`Ready::member`]), as `send --test-to`
    /// renders it; the last one is kept.
    pub fn show(&self, who: Option<&str>) -> Arc<Shown> {
        let key = who.unwrap_or("").trim().to_lowercase();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, shown)) = last.as_ref()
            && *k == key
        {
            return shown.clone();
        }
        let shown = Arc::new(
            self.member(who)
                .and_then(|m| self.campaign.render_proof(&m)),
        );
        *last = Some((key, shown.clone()));
        shown
    }

    /// What `mailshot check` prints for this campaign: every member rendered, the inbox
    /// rules, errors first (an error reading the list is one).
    /// `None` when `stop` was set before the check ended: it stops within a member of that
    /// (a newer load replaced this one; `spawn_blocking` work cannot be aborted).
    pub fn check(&self, stop: &AtomicBool) -> Option<Vec<Finding>> {
        let changed = sent_from_other_sources(&self.config.store, &self.campaign);
        let warnings = self.warnings.clone();
        let stopped = || stop.load(Ordering::Relaxed);
        let found = lint::check_campaign(
            &self.config,
            &self.campaign,
            &self.list,
            warnings,
            changed,
            &stopped,
        );
        match found {
            _ if stopped() => None,
            Ok((_, found)) => Some(found),
            Err(e) => Some(vec![Finding {
                severity: Severity::Error,
                message: e.to_string(),
            }]),
        }
    }
}

/// `--as`: the address must be on the list, as for `send --test-to --as`.
pub fn check_as(config: &Config, who: &str) -> Result<()> {
    let list = MemberList::open(&config.list)?;
    let found = list
        .rows()?
        .flatten()
        .any(|m| m.email.eq_ignore_ascii_case(who.trim()));
    match found {
        true => Ok(()),
        false => Err(Error::input(format!(
            "--as: `{who}` is not in `{}`",
            show(&list.path)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_lists_the_first_members_and_finds_any_other_by_address() {
        let body = "<mj-section><mj-column><mj-text>Dear {{ first_name or \"colleague\" }}</mj-text></mj-column></mj-section>";
        let mut csv = String::from("email,first_name\n");
        for i in 0..LISTED + 5 {
            csv.push_str(&format!("m{i}@example.org,Name{i}\n"));
        }
        let (_dir, config) = crate::compose::campaign::scratch(body, &csv);
        let ready = ready(config, "c", None, 1).unwrap();
        assert_eq!(ready.members.len(), LISTED);
        assert!(ready.more);
        // Past the listed ones: read from the list; any case.
        let last = ready.member(Some("M204@example.org")).unwrap();
        assert_eq!((last.line, last.email.as_str()), (206, "m204@example.org"));
        assert_eq!(ready.member(None).unwrap().email, "m0@example.org");
        assert_eq!(
            ready.member(Some("nobody@example.org")).unwrap_err(),
            format!(
                "`nobody@example.org` is not in `{}`",
                show(&ready.list.path)
            )
        );
        // Every column empty but the address: the fallback shows.
        let empty = ready.member(Some(EMPTY)).unwrap();
        assert_eq!(empty.values, vec![EMPTY_MEMBER.to_string(), String::new()]);
        let shown = ready.show(Some(EMPTY));
        assert!(
            shown
                .as_ref()
                .as_ref()
                .unwrap()
                .text
                .contains("Dear colleague")
        );
    }

    /// Regression: a check of a load a newer one replaced ran to the end of the list (its
    /// task was aborted, not its blocking work): on a big list they piled up.
    #[test]
    fn a_check_stops_within_a_member_once_told_to() {
        let body = "<mj-section><mj-column><mj-text>Dear {{ first_name }}</mj-text></mj-column></mj-section>";
        let mut csv = String::from("email,first_name\n");
        for i in 0..2000 {
            csv.push_str(&format!("m{i}@example.org,Name{i}\n"));
        }
        let (_dir, config) = crate::compose::campaign::scratch(body, &csv);
        let ready = Arc::new(ready(config, "c", None, 1).unwrap());
        assert!(ready.check(&AtomicBool::new(false)).is_some());
        // Told to stop while it runs: it ends long before its 2000 members are done.
        let stop = Arc::new(AtomicBool::new(false));
        let whole = {
            let t = std::time::Instant::now();
            ready.check(&AtomicBool::new(false));
            t.elapsed()
        };
        let worker = std::thread::spawn({
            let (ready, stop) = (ready.clone(), stop.clone());
            move || {
                let t = std::time::Instant::now();
                (ready.check(&stop), t.elapsed())
            }
        });
        std::thread::sleep(whole / 10);
        stop.store(true, Ordering::Relaxed);
        let (found, took) = worker.join().unwrap();
        assert_eq!(found, None);
        assert!(
            took < whole / 2,
            "stopped after {took:?}; the whole check takes {whole:?}"
        );
    }
}
