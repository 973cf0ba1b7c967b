//! What `preview` watches, and when a burst of file events becomes one reload.
//!
//! The folders are watched, not the files: editors save by writing a new file and renaming it
//! over the old one, which a watch on the old file would miss. [`Watch::relevant`] then keeps
//! the events that touch the campaign's files: `config.toml`, the member list, the Markdown
//! issues, everything in the template's and layout's folders (partials included) and the
//! campaign's local images ([`Watch::with_images`], known once a load has read them), and
//! drops the rest of those folders. The store (`mailshot.db` and its `-wal`, `-shm`,
//! `.unsubscribes` companions) and the outbox never count, even inside a watched folder (a
//! template in the project folder watches it all). A folder missing at the start is armed
//! by watching its nearest existing parent for it to appear (then the reload watches it).
//! [`Debounce`] is the decision when to reload, with an explicit `now`; the shell around it
//! is in `super`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};

/// How long the files must stay quiet before a reload: an editor's save is several events
/// (write, rename, attributes) within a millisecond or two. 10 ms.
pub const QUIET: Duration = Duration::from_millis(10);
/// The longest a reload waits under a steady stream of events. 250 ms.
pub const MAX_WAIT: Duration = Duration::from_millis(250);

/// When a burst of events is over: [`QUIET`] after the last event, and never more than
/// [`MAX_WAIT`] after the first.
#[derive(Debug, Default)]
pub struct Debounce {
    /// The first and the last event of the burst not yet reloaded.
    burst: Option<(Instant, Instant)>,
}

impl Debounce {
    /// Notes an event at `now`.
    pub fn event(&mut self, now: Instant) {
        self.burst = Some(match self.burst {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the pending burst is due to be reloaded; `None` with nothing pending.
    pub fn due(&self) -> Option<Instant> {
        self.burst
            .map(|(first, last)| (last + QUIET).min(first + MAX_WAIT))
    }

    /// Whether to reload at `now`: true once, when the pending burst is due.
    pub fn fire(&mut self, now: Instant) -> bool {
        match self.due() {
            Some(due) if due <= now => {
                self.burst = None;
                true
            }
            _ => false,
        }
    }
}

/// One folder watched, and which of its files count.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The folder, canonical (events name canonical paths).
    dir: PathBuf,
    /// Its subfolders too (a template's partials).
    recursive: bool,
    /// Only files with these names; empty: any file not hidden (`.` first) nor a backup (`~`
    /// last), the editors' temporary files.
    names: Vec<std::ffi::OsString>,
    /// Only files with this extension (`md`).
    ext: Option<&'static str>,
}

/// The folders a campaign's files are in, and which of their files count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    rules: Vec<Rule>,
    /// The project folder (local images' paths are relative to it).
    base: PathBuf,
    /// The store: its folder (canonical) and file name; any file of that folder whose name
    /// starts with it is the store's (`-wal`, `-shm`, `-journal`, `.unsubscribes`).
    store: Option<(PathBuf, std::ffi::OsString)>,
    /// The outbox (its parent canonical): nothing under it counts.
    outbox: Option<PathBuf>,
}

/// The canonical form of `dir` (or of the current folder for an empty one); `None` if it
/// does not exist.
fn canonical(dir: &Path) -> Option<PathBuf> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).ok()
}

/// `path` with its parent folder canonical (the path itself may not exist yet).
fn canonical_parent(path: &Path) -> Option<PathBuf> {
    Some(canonical(path.parent()?)?.join(path.file_name()?))
}

/// The rule that notices `dir` (which does not exist) appear: its nearest existing
/// ancestor, watched for the name of the folder on the way down.
fn arming(dir: &Path) -> Option<Rule> {
    let dir = std::path::absolute(dir).ok()?;
    let mut child = dir.as_path();
    for ancestor in dir.ancestors().skip(1) {
        if let Some(found) = canonical(ancestor) {
            return Some(Rule {
                dir: found,
                recursive: false,
                names: vec![child.file_name()?.to_owned()],
                ext: None,
            });
        }
        child = ancestor;
    }
    None
}

/// Adds `rule` to `rules` unless it is there; a names rule joins one on the same folder.
fn add(rules: &mut Vec<Rule>, rule: Rule) {
    if !rule.names.is_empty()
        && let Some(r) = rules
            .iter_mut()
            .find(|r| r.dir == rule.dir && !r.names.is_empty() && !r.recursive)
    {
        for n in rule.names {
            if !r.names.contains(&n) {
                r.names.push(n);
            }
        }
        return;
    }
    if !rules.contains(&rule) {
        rules.push(rule);
    }
}

/// The rule for the file `path` by name, or for its folder to appear.
fn file_rule(path: &Path) -> Option<Rule> {
    let parent = path.parent()?;
    match canonical(parent) {
        Some(dir) => Some(Rule {
            dir,
            recursive: false,
            names: vec![path.file_name()?.to_owned()],
            ext: None,
        }),
        None => arming(parent),
    }
}

impl Watch {
    /// What to watch for `config`: the config file and the member list by name, the issues
    /// folder's `.md` files, and the template's and layout's folders with their subfolders.
    pub fn of(config: &Config) -> Watch {
        let mut rules: Vec<Rule> = Vec::new();
        for path in [&config.path, &config.list] {
            if let Some(rule) = file_rule(path) {
                add(&mut rules, rule);
            }
        }
        let folders = [
            (config.issues.as_path(), false, Some("md")),
            (
                config.template.parent().unwrap_or(Path::new("")),
                true,
                None,
            ),
            (config.layout.parent().unwrap_or(Path::new("")), true, None),
        ];
        for (dir, recursive, ext) in folders {
            let rule = match canonical(dir) {
                Some(dir) => Some(Rule {
                    dir,
                    recursive,
                    names: Vec::new(),
                    ext,
                }),
                None => arming(dir),
            };
            if let Some(rule) = rule {
                add(&mut rules, rule);
            }
        }
        let store = canonical_parent(&config.store)
            .and_then(|p| Some((p.parent()?.to_path_buf(), p.file_name()?.to_owned())));
        Watch {
            rules,
            base: crate::compose::images::project_folder(&config.path),
            store,
            outbox: canonical_parent(&config.file.outbox),
        }
    }

    /// This watch and the campaign's local `images` (paths relative to the project folder),
    /// each by name in its folder.
    pub fn with_images<'i>(mut self, images: impl IntoIterator<Item = &'i str>) -> Watch {
        for image in images {
            if let Some(rule) = file_rule(&self.base.join(image)) {
                add(&mut self.rules, rule);
            }
        }
        self
    }

    /// Whether `path` is the store's or the outbox's: written by mailshot, never a source.
    fn written(&self, path: &Path, parent: &Path, name: &std::ffi::OsStr) -> bool {
        let store = self.store.as_ref().is_some_and(|(dir, file)| {
            parent == dir && name.as_encoded_bytes().starts_with(file.as_encoded_bytes())
        });
        store || self.outbox.as_ref().is_some_and(|o| path.starts_with(o))
    }

    /// Whether an event on `path` (canonical, as the watcher gives it) means a reload.
    pub fn relevant(&self, path: &Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        if self.written(path, parent, name) {
            return false;
        }
        let shown = name.to_string_lossy();
        self.rules.iter().any(|r| {
            let inside = match r.recursive {
                true => parent.starts_with(&r.dir),
                false => parent == r.dir,
            };
            inside
                && match r.names.is_empty() {
                    false => r.names.iter().any(|n| n == name),
                    true => {
                        !shown.starts_with('.')
                            && !shown.ends_with('~')
                            && r.ext.is_none_or(|e| {
                                path.extension().is_some_and(|x| x.eq_ignore_ascii_case(e))
                            })
                    }
                }
        })
    }

    /// Starts watching; each relevant event is sent on `events` (dropped when one is already
    /// waiting: a reload is coming anyway). The watch ends when the watcher is dropped.
    pub fn start(&self, events: mpsc::Sender<()>) -> Result<RecommendedWatcher> {
        let me = self.clone();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            // An error (the queue overflowed, say) may hide a change: reload.
            let wanted = e.map_or(true, |e| {
                changes(&e.kind) && e.paths.iter().any(|p| me.relevant(p))
            });
            if wanted {
                let _ = events.try_send(());
            }
        })
        .map_err(|e| Error::runtime(format!("failed to watch the campaign's files: {e}")))?;
        for r in &self.rules {
            let mode = match r.recursive {
                true => RecursiveMode::Recursive,
                false => RecursiveMode::NonRecursive,
            };
            watcher.watch(&r.dir, mode).map_err(|e| {
                Error::runtime(format!(
                    "failed to watch `{}` for changes: {e}",
                    r.dir.display()
                ))
            })?;
        }
        Ok(watcher)
    }
}

/// Whether an event of `kind` can change what a file holds. Reading a file is an event too
/// (inotify's open and close): the reload's own reads must not start another.
fn changes(kind: &notify::EventKind) -> bool {
    use notify::EventKind::{Access, Modify};
    use notify::event::{MetadataKind, ModifyKind};
    !matches!(
        kind,
        Access(_) | Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_reloads_once_when_quiet() {
        let t0 = Instant::now();
        let mut d = Debounce::default();
        assert_eq!(d.due(), None);
        assert!(!d.fire(t0 + ms(1000)), "nothing pending");
        d.event(t0);
        d.event(t0 + ms(5));
        d.event(t0 + ms(10));
        assert_eq!(d.due(), Some(t0 + ms(10) + QUIET));
        assert!(!d.fire(t0 + ms(10) + QUIET - ms(1)));
        assert!(d.fire(t0 + ms(10) + QUIET));
        assert!(!d.fire(t0 + ms(100)), "fired once");
        assert_eq!(d.due(), None);
    }

    #[test]
    fn a_steady_stream_still_reloads_within_the_maximum_wait() {
        let t0 = Instant::now();
        let mut d = Debounce::default();
        let mut fired = Vec::new();
        // An event every 5 ms for a second: never quiet for QUIET (10 ms).
        for i in 0..200 {
            let now = t0 + ms(i * 5);
            if d.fire(now) {
                fired.push(i * 5);
            }
            d.event(now);
        }
        // Each reload at most 250 ms after the first event it covers.
        assert_eq!(fired, vec![250, 500, 750]);
    }

    fn config_in(dir: &Path) -> Config {
        for d in ["templates/partials", "issues", "lists", "images"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        Config::parse(
            &dir.join("config.toml"),
            "template = \"templates/bulletin.mjml\"\nlist = \"lists/members.csv\"\n\
             [sender]\nfrom = \"News <news@example.org>\"\nlist_id = \"news.example.org\"\n\
             [unsubscribe]\nurl = \"https://example.org/u/{{ token }}\"\n",
        )
        .unwrap()
    }

    #[test]
    fn reading_a_file_is_no_change() {
        use notify::EventKind;
        use notify::event::{
            AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RenameMode,
        };
        assert!(!changes(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!changes(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(changes(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(changes(&EventKind::Create(CreateKind::File)));
    }

    #[test]
    fn only_the_campaigns_files_count() {
        let tmp = tempfile::tempdir().unwrap();
        let config = config_in(tmp.path());
        let w = Watch::of(&config).with_images(["images/banner.png"]);
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for yes in [
            "images/banner.png",
            "config.toml",
            "lists/members.csv",
            "issues/2023-05.md",
            "templates/layout.mjml",
            "templates/partials/footer.mjml",
        ] {
            assert!(w.relevant(&root.join(yes)), "{yes}");
        }
        for no in [
            "mailshot.db",
            "mailshot.db-wal",
            "lists/other.csv",
            "images/other.png",
            "issues/notes.txt",
            "issues/.2023-05.md.swp",
            "templates/layout.mjml~",
            "outbox/x/a@example.org.eml",
        ] {
            assert!(!w.relevant(&root.join(no)), "{no}");
        }
    }

    /// Regression: with the template in the project folder the whole folder is watched, and
    /// the store's writes (`mailshot.db-wal`) and the outbox's `.eml` files reloaded the
    /// preview; the images folder was not watched at all.
    #[test]
    fn the_store_and_the_outbox_never_count_and_the_images_do() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("images")).unwrap();
        let config = Config::parse(
            &tmp.path().join("config.toml"),
            "template = \"bulletin.mjml\"\nlist = \"members.csv\"\n\
             [sender]\nfrom = \"News <news@example.org>\"\nlist_id = \"news.example.org\"\n\
             [unsubscribe]\nurl = \"https://example.org/u/{{ token }}\"\n",
        )
        .unwrap();
        let w = Watch::of(&config).with_images(["images/banner.png"]);
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        for yes in ["bulletin.mjml", "partials/footer.mjml", "images/banner.png"] {
            assert!(w.relevant(&root.join(yes)), "{yes}");
        }
        for no in [
            "mailshot.db",
            "mailshot.db-wal",
            "mailshot.db-shm",
            "mailshot.db-journal",
            "mailshot.db.unsubscribes",
            "outbox/c/a@example.org.eml",
        ] {
            assert!(!w.relevant(&root.join(no)), "{no}");
        }
    }

    #[test]
    fn a_folder_missing_at_the_start_is_watched_for_from_its_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let config = config_in(tmp.path());
        std::fs::remove_dir(tmp.path().join("issues")).unwrap();
        let w = Watch::of(&config);
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        // `issues` appearing is a reload, which then watches it.
        assert!(w.relevant(&root.join("issues")));
        assert!(!w.relevant(&root.join("notes")));
    }
}
