//! What a campaign is rendered from, exactly: the template (or the layout and the Markdown
//! issue), every `mj-include`d partial, the local images (by SHA-256), the resolved values
//! and the subject template. A
//! campaign's sources are stored at its first send ([`crate::store::Store::begin_campaign_frozen`], as
//! [`Sources::frozen`] gives them)
//! and every later run of it compares its own with them ([`Sources::changes`]), so members of
//! one campaign all get the same bulletin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::show;

/// How many partials are followed (a partial that includes itself stops here; the render
/// reports it).
const MAX_PARTIALS: usize = 64;

/// A campaign's sources by name: `file <path>` (its text; the path relative to the config's
/// folder, so a run from elsewhere names it alike), `image <path>` (a local image's SHA-256,
/// hex), `value <name>` (its value as resolved), `subject` (the subject template) and,
/// with `[tracking] clicks` or `opens`, `tracking` (`clicks`, `opens` or `clicks and opens`,
/// each maybe ` per member`: see [`crate::compose::clicks`] and [`crate::compose::opens`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(pub BTreeMap<String, String>);

/// The name of the file `path` among a campaign's sources (`base`: the config's folder).
fn file_name(base: &Path, path: &Path) -> String {
    format!("file {}", show(path.strip_prefix(base).unwrap_or(path)))
}

impl Sources {
    /// Adds the text of the file `path`, named relative to `base`.
    pub fn file(&mut self, base: &Path, path: &Path, text: &str) {
        self.0.insert(file_name(base, path), text.to_string());
    }

    /// Adds the template `path` with `text` and the partials it includes (resolved under
    /// `root`, as the render resolves them), each read once; a partial that does not read is
    /// left out (the render names it). Returns the partials read, each path with its text.
    pub fn template(
        &mut self,
        base: &Path,
        path: &Path,
        text: &str,
        root: &Path,
    ) -> Vec<(PathBuf, String)> {
        let mut read = Vec::new();
        self.file(base, path, text);
        let mut todo: Vec<String> = includes(text);
        let mut seen = 0;
        while let Some(rel) = todo.pop() {
            let full = root.join(rel.trim_start_matches("file://"));
            let key = file_name(base, &full);
            if seen == MAX_PARTIALS || self.0.contains_key(&key) {
                continue;
            }
            seen += 1;
            if let Ok(text) = std::fs::read_to_string(&full) {
                todo.extend(includes(&text));
                self.0.insert(key, text.clone());
                read.push((full, text));
            }
        }
        read
    }

    /// Adds a local image (`path` relative to the config's folder) by the SHA-256 of its
    /// bytes: a changed image is a changed source.
    pub fn image(&mut self, path: &str, sha256: &str) {
        self.0.insert(format!("image {path}"), sha256.to_string());
    }

    /// Adds the resolved values and the subject template.
    pub fn values(&mut self, vars: &BTreeMap<String, String>, subject: &str) {
        for (k, v) in vars {
            self.0.insert(format!("value {k}"), v.clone());
        }
        self.0.insert("subject".into(), subject.to_string());
    }

    /// SHA-256 of every name and content (length-prefixed), as hex: equal digests, equal
    /// sources.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (name, content) in &self.0 {
            for part in [name, content] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Their digest and themselves, as the store records them (`store::Frozen`).
    pub fn frozen(&self) -> (String, BTreeMap<String, String>) {
        (self.digest(), self.0.clone())
    }

    /// What differs from `was` (the stored sources) to these, each said for a person: a file
    /// changed (with the first line that differs), added or removed; a value changed, added
    /// or removed; the subject changed. Empty: the same sources.
    pub fn changes(&self, was: &Sources) -> Vec<String> {
        let mut out = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            was.0.keys().chain(self.0.keys()).collect();
        for name in names {
            match (was.0.get(name), self.0.get(name)) {
                (Some(a), Some(b)) if a != b => out.push(changed(name, a, b)),
                (Some(a), None) => out.push(match name.split_once(' ') {
                    Some(("value", k)) => format!("value `{k}` removed (was `{a}`)"),
                    Some(("image", path)) => format!("image `{path}` removed"),
                    Some((_, path)) => format!("`{path}` removed"),
                    None => format!("{name} removed"),
                }),
                (None, Some(b)) => out.push(match name.split_once(' ') {
                    Some(("value", k)) => format!("value `{k}` added (`{b}`)"),
                    Some(("image", path)) => format!("image `{path}` added"),
                    Some((_, path)) => format!("`{path}` added"),
                    None => format!("{name} added"),
                }),
                _ => {}
            }
        }
        out
    }
}

/// One source that is in both, differing.
fn changed(name: &str, a: &str, b: &str) -> String {
    match name.split_once(' ') {
        Some(("value", k)) => format!("value `{k}` changed (`{a}` -> `{b}`)"),
        Some(("image", path)) => format!("image `{path}` changed (its bytes differ)"),
        Some((_, path)) => format!("`{path}` changed (line {} first differs)", first_diff(a, b)),
        None => format!("{name} changed (`{a}` -> `{b}`)"),
    }
}

/// The first line (from 1) on which `a` and `b` differ; where one ends first, the line after
/// it.
fn first_diff(a: &str, b: &str) -> usize {
    let (mut la, mut lb) = (a.split('\n'), b.split('\n'));
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            _ => return n,
        }
    }
}

/// The paths of the `<mj-include path="...">` tags in `mjml`.
fn includes(mjml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = mjml;
    while let Some(at) = rest.find("<mj-include") {
        rest = &rest[at + "<mj-include".len()..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(p) = tag.find("path=") {
            let v = &tag[p + "path=".len()..];
            if let Some(q) = v.chars().next().filter(|c| matches!(c, '"' | '\'')) {
                let v = &v[1..];
                out.push(v[..v.find(q).unwrap_or(v.len())].to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(entries: &[(&str, &str)]) -> Sources {
        Sources(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_same_sources_pass_and_share_a_digest() {
        let a = sources(&[
            ("file t.mjml", "a\nb"),
            ("value month", "May"),
            ("subject", "Hi"),
        ]);
        assert!(a.changes(&a.clone()).is_empty());
        assert_eq!(a.digest(), a.clone().digest());
        assert_eq!(a.digest().len(), 64);
        // Length-prefixed: moving a byte between name and content changes the digest.
        assert_ne!(
            sources(&[("ab", "c")]).digest(),
            sources(&[("a", "bc")]).digest()
        );
    }

    #[test]
    fn a_changed_file_names_its_first_differing_line() {
        let was = sources(&[("file templates/b.mjml", "one\ntwo\nDear x\nfour")]);
        let now = sources(&[("file templates/b.mjml", "one\ntwo\nHello x\nfour")]);
        assert_eq!(
            now.changes(&was),
            ["`templates/b.mjml` changed (line 3 first differs)"]
        );
        // One ends first: the line after it.
        let longer = sources(&[("file templates/b.mjml", "one\ntwo\nDear x\nfour\nfive")]);
        assert_eq!(
            longer.changes(&was),
            ["`templates/b.mjml` changed (line 5 first differs)"]
        );
    }

    #[test]
    fn partials_added_and_removed_are_named() {
        let was = sources(&[("file t.mjml", "x"), ("file parts/old.mjml", "o")]);
        let now = sources(&[("file t.mjml", "x"), ("file parts/new.mjml", "n")]);
        assert_eq!(
            now.changes(&was),
            ["`parts/new.mjml` added", "`parts/old.mjml` removed"]
        );
    }

    #[test]
    fn values_and_the_subject_say_what_they_were_and_are() {
        let was = sources(&[
            ("value month", "April 2023"),
            ("value gone", "g"),
            ("subject", "News"),
        ]);
        let now = sources(&[
            ("value month", "May 2023"),
            ("value new", "n"),
            ("subject", "News for {{ month }}"),
        ]);
        assert_eq!(
            now.changes(&was),
            [
                "subject changed (`News` -> `News for {{ month }}`)",
                "value `gone` removed (was `g`)",
                "value `month` changed (`April 2023` -> `May 2023`)",
                "value `new` added (`n`)",
            ]
        );
    }

    #[test]
    fn images_are_named_as_images_changed_added_or_removed() {
        let mut was = Sources::default();
        was.image("images/a.png", "aaaa");
        was.image("images/old.png", "oooo");
        let mut now = Sources::default();
        now.image("images/a.png", "bbbb");
        now.image("images/new.png", "nnnn");
        assert_eq!(
            now.changes(&was),
            [
                "image `images/a.png` changed (its bytes differ)",
                "image `images/new.png` added",
                "image `images/old.png` removed",
            ]
        );
    }

    #[test]
    fn a_template_brings_the_partials_it_includes_and_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("parts")).unwrap();
        std::fs::write(
            root.join("parts/a.mjml"),
            "<mj-include path='parts/b.mjml' />",
        )
        .unwrap();
        std::fs::write(root.join("parts/b.mjml"), "<mj-text>b</mj-text>").unwrap();
        let main = "<mjml><mj-body><mj-include path=\"parts/a.mjml\"/>\
                    <mj-include path=\"parts/missing.mjml\"/></mj-body></mjml>";
        let mut s = Sources::default();
        s.template(root, &root.join("t.mjml"), main, root);
        let names: Vec<_> = s.0.keys().collect();
        assert_eq!(
            names,
            ["file parts/a.mjml", "file parts/b.mjml", "file t.mjml"]
        );
    }
}
