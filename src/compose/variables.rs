//! `check`'s findings about the template's variables: a value given for the campaign (`--var`,
//! the issue's front matter) that nothing uses, and a list column used bare
//! (`{{ first_name }}`) that is empty for some members.
//!
//! Both read the template's source (with its includes, the issue and the subject) with
//! regular expressions, not minijinja's parse tree: a name counts as used when it appears
//! in any `{{ }}` or `{% %}`, and as bare in `{{ name }}` alone (no filter, no `or`) outside
//! every `{% if %}`. That errs towards saying nothing: a column tested by an `if` anywhere
//! around it, or given a filter, is not reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::compose::lint::{Finding, Severity, distance};
use crate::config::Config;
use crate::error::{line_of, show};

/// A `{{ }}` or `{% %}`, its inside in group 1 or 2.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)\{\{(.*?)\}\}|\{%(.*?)%\}").expect("valid"));
static STRING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""[^"]*"|'[^']*'"#).expect("valid"));
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("valid"));
static BARE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?$").expect("valid"));
static IF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^-?\s*if\b").expect("valid"));
static ENDIF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^-?\s*endif\b").expect("valid"));

/// Every name that appears in a `{{ }}` or `{% %}` of `texts` (string literals left out).
pub fn used_names<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for text in texts {
        for c in TAG.captures_iter(text) {
            let inside = c.get(1).or(c.get(2)).expect("one group").as_str();
            let code = STRING.replace_all(inside, " ");
            out.extend(NAME.find_iter(&code).map(|m| m.as_str().to_string()));
        }
    }
    out
}

/// The byte offset of the first `{{ }}` or `{% %}` of `text` that uses `name`.
pub fn first_use(text: &str, name: &str) -> Option<usize> {
    TAG.captures_iter(text).find_map(|c| {
        let inside = c.get(1).or(c.get(2)).expect("one group").as_str();
        let code = STRING.replace_all(inside, " ");
        NAME.find_iter(&code)
            .any(|m| m.as_str() == name)
            .then(|| c.get(0).expect("match").start())
    })
}

/// The first `{{ name }}` of `text` outside every `{% if %}`: name and byte offset each.
pub fn bare_uses(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut depth = 0usize;
    for c in TAG.captures_iter(text) {
        if let Some(stmt) = c.get(2) {
            if IF.is_match(stmt.as_str()) {
                depth += 1;
            } else if ENDIF.is_match(stmt.as_str()) {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        let expr = c.get(1).expect("group 1");
        if let Some(b) = BARE.captures(expr.as_str())
            && depth == 0
        {
            let at = c.get(0).expect("match").start();
            out.entry(b[1].to_string()).or_insert(at);
        }
    }
    out
}

/// What the findings read: the template files (with the issue, if any), the subject
/// template, the issue's front-matter values, and how many members have each column empty.
pub struct Inputs<'a> {
    pub files: &'a [(PathBuf, String)],
    pub subject: &'a str,
    pub issue: Option<(&'a Path, &'a BTreeMap<String, String>)>,
    pub empty: &'a BTreeMap<String, u64>,
}

/// Values nothing uses, and columns used bare that some members have empty.
pub fn findings(config: &Config, input: &Inputs) -> Vec<Finding> {
    let texts = input.files.iter().map(|(_, t)| t.as_str());
    let mut used = used_names(texts.chain([input.subject, &config.unsubscribe.url]));
    // The render supplies these; a value of that name is used through them.
    used.extend(["email", "campaign"].map(String::from));
    let mut out = unused(config, input, &used);
    out.extend(empty(input));
    out
}

/// A warning for each value nothing uses, with where it was given.
fn unused(config: &Config, input: &Inputs, used: &BTreeSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let front = input.issue.map(|(_, v)| v.keys().collect::<Vec<_>>());
    // The config's `[vars]` are shared by the template, the layout and every month's issue:
    // one of them not using a value is no mistake. A value given for this run is.
    let names: BTreeSet<&String> = config
        .cli_vars
        .keys()
        .chain(front.iter().flatten().copied())
        .collect();
    for name in names.into_iter().filter(|n| !used.contains(*n)) {
        let hint = used
            .iter()
            .filter(|u| distance(name, u) <= 2)
            .min_by_key(|u| distance(name, u))
            .map(|u| format!(" (did you mean `{u}`?)"))
            .unwrap_or_default();
        let message = match given_at(config, input, name) {
            None => format!("`--var {name}` is never used by the template{hint}"),
            Some(at) => format!("{at}: `{name}` is never used by the template{hint}"),
        };
        out.push(Finding {
            severity: Severity::Warning,
            message,
        });
    }
    out
}

/// Where the value `name` was given: the issue's front matter, with its line; `None` for
/// a `--var`.
fn given_at(config: &Config, input: &Inputs, name: &str) -> Option<String> {
    if config.cli_vars.contains_key(name) {
        return None;
    }
    let (path, _) = input.issue?;
    Some(format!("issue `{}`{}", show(path), line_in(path, name)))
}

/// ` line N` of the key `name` after the `[vars]` header of the file at `path`, if found.
fn line_in(path: &Path, name: &str) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let from = text.find("[vars]").unwrap_or(0);
    let key = Regex::new(&format!(r#"(?m)^\s*"?{}"?\s*="#, regex::escape(name))).expect("valid");
    match key.find_at(&text, from) {
        Some(m) => format!(" line {}", line_of(&text, m.start())),
        None => String::new(),
    }
}

/// A warning for each column used bare that some members have empty.
fn empty(input: &Inputs) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, text) in input.files {
        for (name, at) in bare_uses(text) {
            let Some(&n) = input.empty.get(&name).filter(|n| **n > 0) else {
                continue;
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            let line = line_of(text, at);
            out.push(Finding {
                severity: Severity::Warning,
                message: format!(
                    "{n} member{} an empty `{name}` (used in `{}` line {line}): write `{{{{ {name} or \"colleague\" }}}}` to give them a fallback",
                    if n == 1 { " has" } else { "s have" },
                    show(path)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_tags_count_as_used_but_not_string_literals() {
        let used = used_names(["Dear {{ first_name or \"month\" }} {% if vip %}x{% endif %}"]);
        let want: BTreeSet<String> = ["first_name", "or", "if", "vip", "endif"]
            .map(String::from)
            .into();
        assert_eq!(used, want);
    }

    #[test]
    fn only_bare_uses_outside_an_if_are_bare() {
        let text = "{{ a }}\n{{ b or \"x\" }}\n{{ c | upper }}\n{% if d %}{{ d }}{% endif %}\n{{ e }}{{ a }}";
        let uses: Vec<String> = bare_uses(text).into_keys().collect();
        assert_eq!(uses, ["a", "e"]);
        assert_eq!(bare_uses(text)["a"], 0, "the first use");
    }
}
